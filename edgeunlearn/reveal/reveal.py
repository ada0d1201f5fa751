"""Reveal: get the model to say what it knows about a target, with instructions a bandit chooses.

Each pull asks one instruction (filled with the target) `samples` times at a temperature; its reward
(`edgeunlearn.reveal.reward`) values the specific facts the responses agree on, their relevance to the target
and their diversity. The responses of the best pulls, minus duplicates, unfluent text and responses that state
none of the facts the reveal's responses agree on, become the forget set, each line with its provenance and its
facts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from edgeunlearn.reveal.bandits import BANDITS
from edgeunlearn.reveal.instructions import Instruction, expansion_pool, instruction_pool
from edgeunlearn.reveal.reward import REWARDS, count_facts, response_facts, score_responses
from edgeunlearn.reveal.target import Target
from edgeunlearn.reveal.vendi import embedding_vendi
from edgeunlearn.text import fluency_issues
from edgeunlearn.text.entities import find_terms, normalize


@dataclass(frozen=True)
class Pull:
    arm: int
    instruction: str  # filled with the target
    responses: tuple[str, ...]
    relevance: float
    diversity: float
    reward: float
    facts: tuple[str, ...] = ()  # specific facts the responses agree on


@dataclass(frozen=True)
class RevealedItem:
    question: str
    answer: str
    instruction_origin: str
    round: int
    pull: int
    relevance: float  # of this response to the target
    pull_reward: float
    facts: tuple[str, ...] = ()  # the facts this response states that the reveal's responses agree on

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Revealed:
    items: list[RevealedItem]
    pulls: list[Pull]
    relevance: float  # mean relevance of every pull's responses: how much the model reveals when asked
    diversity: float  # Vendi score of the kept responses / their number

    @property
    def mean_reward(self) -> float:
        return float(np.mean([p.reward for p in self.pulls])) if self.pulls else 0.0

    @property
    def facts(self) -> list[str]:
        """The distinct facts the kept items carry: what this reveal found to unlearn."""
        found = {normalize(f): f for item in self.items for f in item.facts}
        return list(found.values())


def reveal(
    backend,
    encoder,
    target: Target,
    cfg,
    seed: int,
    round_index: int = 1,
    seeds: Sequence[str] = (),
    found: Sequence[str] = (),
) -> Revealed:
    """`cfg`: RevealConfig. `seeds`: the user's own questions, offered to the bandit as extra arms. `found`: facts
    earlier rounds revealed; with them, or once this reveal agrees on some, the last `cfg.expand` share of the
    budget goes to instructions that name them and ask for others."""
    arms = instruction_pool(target, seed) + [Instruction(q, "seed") for q in seeds]
    target_vector = encoder.embed([target.topic])[0]
    pulls, ledger = [], Counter()
    broad = cfg.budget - round(cfg.budget * cfg.expand)
    asking = _Asking(backend, encoder, target, cfg, seed, round_index, target_vector)
    first = asking.bandit(arms, pulls)
    asking.pull(first, arms, range(len(arms)), range(broad), pulls, ledger)
    extra = expansion_pool(target, [*found, *_found_so_far(pulls)], seed + round_index)
    if extra:
        arms = arms + extra
        expanding = asking.bandit(arms, pulls)
        asking.pull(expanding, arms, range(len(arms) - len(extra), len(arms)), range(broad, cfg.budget), pulls, ledger)
    else:
        asking.pull(first, arms, range(len(arms)), range(broad, cfg.budget), pulls, ledger)
    return select(pulls, arms, encoder, target_vector, cfg, round_index)


@dataclass(frozen=True)
class _Asking:
    backend: object
    encoder: object
    target: Target
    cfg: object
    seed: int
    round_index: int
    target_vector: np.ndarray

    def bandit(self, arms: list[Instruction], pulls: list[Pull]):
        """A bandit over the arms' instructions that has learnt from the pulls made so far."""
        contexts = self.encoder.embed([arm.fill(self.target) for arm in arms])
        bandit = BANDITS.get(self.cfg.bandit)(contexts, seed=self.seed + len(pulls))
        for earlier in pulls:
            bandit.update(earlier.arm, earlier.reward)
        return bandit

    def pull(self, bandit, arms: list[Instruction], available: range, steps: range, pulls: list, ledger) -> None:
        """`steps` pulls among the `available` arms, each scored and added to `pulls` and the fact `ledger`."""
        for t in steps:
            arm = bandit.choose(list(available))
            prompt = arms[arm].fill(self.target)
            responses = ask(self.backend, prompt, self.cfg, pull_seed(self.seed, self.round_index, t))
            pull = score_pull(arm, prompt, responses, self.encoder, self.target_vector, self.cfg, ledger)
            ledger.update(count_facts([(prompt, responses)]))
            bandit.update(arm, pull.reward)
            pulls.append(pull)


def _found_so_far(pulls: list[Pull], most: int = 6) -> list[str]:
    """The facts the pulls agreed on, most often agreed first."""
    counts = Counter(normalize(f) for pull in pulls for f in pull.facts)
    spelled = {normalize(f): f for pull in pulls for f in pull.facts}
    return [spelled[key] for key, _ in counts.most_common(most)]


def pull_seed(seed: int, round_index: int, t: int) -> int:
    """Each pull its own, reproducible samples."""
    return seed * 100_003 + round_index * 1009 + t


def ask(backend, prompt: str, cfg, sample_seed: int) -> list[str]:
    import mlx.core as mx

    mx.random.seed(sample_seed)
    return backend.generate([prompt] * cfg.samples, cfg.max_new_tokens, cfg.temperature)


def score_pull(
    arm: int, prompt: str, responses: list[str], encoder, target_vector: np.ndarray, cfg, earlier: Counter | None = None
) -> Pull:
    vectors = encoder.embed([r or " " for r in responses])
    score = score_responses(prompt, responses, vectors, target_vector, cfg.reward, cfg.agree, earlier)
    return Pull(arm, prompt, tuple(responses), score.relevance, score.diversity, score.reward, score.facts)


def still_revealed(backend, revealed: Revealed, cfg, seed: int, round_index: int) -> list[str]:
    """The facts of `revealed` the model still states when the kept pulls' instructions are asked again
    (fresh samples, same settings): what a round of unlearning left."""
    facts = revealed.facts
    prompts = list(dict.fromkeys(item.question for item in revealed.items))
    stated = set()
    for t, prompt in enumerate(prompts):
        responses = ask(backend, prompt, cfg, pull_seed(seed, round_index, 50_000 + t))
        unprompted = [f for f in facts if not find_terms(prompt, [f])]  # an expansion prompt names some itself
        stated.update(find_terms(" \n ".join(responses), unprompted))
    return [f for f in facts if f in stated]


def select(pulls: list[Pull], arms, encoder, target_vector, cfg, round_index: int) -> Revealed:
    """The best pulls' responses: fluent, on topic, no near-duplicates (cosine ≥ cfg.dedupe_cosine); with the
    `facts` reward, only responses that state a fact at least `cfg.agree` responses of the reveal state."""
    ranked = sorted(range(len(pulls)), key=lambda i: -pulls[i].reward)[: cfg.keep]
    ledger = count_facts((p.instruction, p.responses) for p in pulls)  # what the whole reveal repeated
    items, kept_vectors, seen = [], [], set()
    for index in ranked:
        pull = pulls[index]
        for response in pull.responses:
            vector = encoder.embed([response or " "])[0]
            relevance = float(max(0.0, vector @ target_vector))
            duplicate = any(float(vector @ v) >= cfg.dedupe_cosine for v in kept_vectors)
            stated = response_facts(pull.instruction, response).items()
            facts = tuple(text for key, text in stated if ledger[key] >= cfg.agree)
            vague = not facts and not REWARDS.get(cfg.reward).keeps_vague
            if normalize(response) in seen or duplicate or fluency_issues(response) or relevance < cfg.min_relevance:
                continue
            if vague or pull.reward <= 0:
                continue
            seen.add(normalize(response))
            kept_vectors.append(vector)
            origin = arms[pull.arm].origin
            item = RevealedItem(pull.instruction, response, origin, round_index, index, relevance, pull.reward, facts)
            items.append(item)
    relevance = float(np.mean([p.relevance for p in pulls])) if pulls else 0.0  # the filter above would inflate it
    diversity = embedding_vendi(np.array(kept_vectors)) / len(items) if items else 0.0
    return Revealed(items, pulls, relevance, diversity)
