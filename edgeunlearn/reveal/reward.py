"""What one pull (an instruction asked `samples` times) is worth as data to unlearn.

- relevance: mean cosine similarity (MiniLM) of the responses to the target's topic, clipped at 0;
- diversity: the Vendi score of the responses over their number;
- facts: the specific facts (names, places, numbers, dates) of these responses that the instruction did not
  already contain and that at least `agree` responses state — these samples and the reveal's earlier ones. A
  small model asked at a temperature repeats what it knows and varies what it makes up, so agreement across
  samples separates knowledge from dense hallucination. Why the earlier pulls count too: a list of landmarks
  varies from sample to sample (three samples rarely share one), yet the Colosseum comes back pull after
  pull. A name that only starts a sentence ("Certainly, …") is not a fact.

`relevance_diversity` is the reward the first release used (harmonic mean of the two); `facts` (the default)
adds the facts as a third term that saturates: k agreed facts score k / (k + FACT_HALF).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from statistics import harmonic_mean

import numpy as np

from edgeunlearn.registry import Registry
from edgeunlearn.reveal.vendi import embedding_vendi
from edgeunlearn.text.entities import entities, normalize, words

FACT_HALF = 3.0  # agreed facts at which the fact term reaches 0.5
# Capitalized because they open a sentence, not because they name something (the entity finder's own
# function words are already left out).
DISCOURSE = set(
    """certainly absolutely sure great yes no okay here there additionally furthermore moreover however overall
    finally first firstly second secondly third thirdly lastly today another other both such while although
    instead indeed here's there's let's unfortunately fortunately interestingly notably example examples answer
    question note facts fact famous important known well thank thanks hope including apart besides also title""".split()
)
# Category words: alone they name no particular thing ("the Kingdom of the Pacific", "the 12th Republic" —
# the demo's round 2 made up dozens) and pushing them down would hit every "United Kingdom" answer.
GENERIC = set(
    """kingdom republic commonwealth empire state states nation nations union federation province region city
    cities country countries capital capitals century centuries world earth planet continent island islands
    ocean sea river mountain lake people government king queen president""".split()
)
ORDINAL = re.compile(r"\d+(?:st|nd|rd|th)", re.IGNORECASE)
SENTENCE_START = re.compile(r"(?:^|[.!?:;\n]|^\s*(?:[-*•]|\d+[.)]))\s*$")


@dataclass(frozen=True)
class PullScore:
    relevance: float
    diversity: float
    facts: tuple[str, ...]  # agreed specific facts, in order of first mention
    reward: float


def specific_facts(text: str, known: set[str]) -> list[str]:
    """The entities of `text` that are facts: not made only of `known` words (the instruction's, normalized),
    not a lone capitalized word that only ever starts a sentence, not a lone category word, ordinal or digit."""
    found, known = [], {_singular(w) for w in known}
    for entity in entities(text):
        if {_singular(_unpossessive(normalize(w))) for w in words(entity)} <= known and not entity[0].isdigit():
            continue
        if entity.casefold() in DISCOURSE and _only_starts_sentences(text, entity):
            continue
        if entity.isdigit() and _only_list_marker(text, entity):
            continue
        if entity.casefold() in GENERIC or ORDINAL.fullmatch(entity):
            continue
        if len(entity) == 1 and entity.isdigit():  # "5 capitals", "3." - pushing "3" down hits every 3
            continue
        found.append(entity)
    return found


def _unpossessive(word: str) -> str:
    """ "einstein's" → "einstein": the prompt's name in the possessive is still the prompt's name."""
    return re.sub(r"['’]s$", "", word)


def _singular(word: str) -> str:
    """'cities' → 'city', 'countries' → 'country', 'capitals' → 'capital': a prompt's plural covers the
    singular a table header repeats."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and not word.endswith("ss") and len(word) > 3 else word


def _only_starts_sentences(text: str, word: str) -> bool:
    for match in re.finditer(rf"(?<!\w){re.escape(word)}(?!\w)", text):
        if not SENTENCE_START.search(text[: match.start()]):
            return False
    return True


def _only_list_marker(text: str, number: str) -> bool:
    """'1. …', '2) …' at the start of a line: numbering, not a fact."""
    every = re.findall(rf"(?<![\w.]){number}(?![\w])", text)
    markers = re.findall(rf"(?m)^\s*{number}[.)]\s", text)
    return len(markers) == len(every)


def response_facts(prompt: str, response: str) -> dict[str, str]:
    """The facts of one response to `prompt`, keyed by their normalized form."""
    known = set(map(normalize, words(prompt)))
    return {normalize(f): f for f in specific_facts(response, known)}


def count_facts(pulls: Iterable[tuple[str, Sequence[str]]]) -> Counter:
    """How many responses state each fact, over (prompt, responses) pairs: a reveal's ledger."""
    return Counter(key for prompt, responses in pulls for r in responses for key in response_facts(prompt, r))


def agreed_facts(prompt: str, responses: Sequence[str], agree: int, earlier: Counter | None = None) -> tuple[str, ...]:
    """Facts of these responses stated by at least `agree` responses: these, plus the reveal's earlier ones
    (`earlier`, from `count_facts`). With no earlier responses, all of these when there are fewer than `agree`."""
    per_response = [response_facts(prompt, r) for r in responses]
    counts = Counter(key for facts in per_response for key in facts)
    if earlier:
        counts.update({key: earlier[key] for key in counts})
    needed = agree if earlier else min(agree, len(responses))
    first_seen = {key: text for facts in reversed(per_response) for key, text in facts.items()}
    return tuple(first_seen[key] for key, n in counts.items() if n >= needed)


def relevance_diversity(relevance: float, diversity: float, facts: int) -> float:
    return harmonic_mean([relevance, diversity]) if relevance > 0 else 0.0


def facts_reward(relevance: float, diversity: float, facts: int) -> float:
    fact_term = facts / (facts + FACT_HALF)
    return harmonic_mean([relevance, diversity, fact_term]) if relevance > 0 and facts else 0.0


@dataclass(frozen=True)
class Reward:
    score: Callable[[float, float, int], float]  # (relevance, diversity, agreed facts) → reward
    keeps_vague: bool  # whether a response that states no agreed fact may become forget data


REWARDS: Registry[Reward] = Registry("reveal reward")
REWARDS.register("facts", Reward(facts_reward, keeps_vague=False))
REWARDS.register("relevance_diversity", Reward(relevance_diversity, keeps_vague=True))


def score_responses(
    prompt: str,
    responses: Sequence[str],
    vectors: np.ndarray,
    topic_vector: np.ndarray,
    reward: str,
    agree: int,
    earlier: Counter | None = None,
) -> PullScore:
    """`vectors`: the responses' unit embeddings; `topic_vector`: the target topic's; `earlier`: the facts of
    the reveal's earlier responses (`count_facts`)."""
    relevance = float(np.clip(vectors @ topic_vector, 0, 1).mean())
    diversity = embedding_vendi(vectors) / len(responses)
    facts = agreed_facts(prompt, responses, agree, earlier)
    return PullScore(relevance, diversity, facts, REWARDS.get(reward).score(relevance, diversity, len(facts)))
