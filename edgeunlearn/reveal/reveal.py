"""Reveal: get the model to say what it knows about a target, with instructions a bandit chooses.

Each pull asks one instruction (filled with the target) `samples` times at a temperature. Its reward is the
harmonic mean of relevance (mean cosine similarity of the responses to the target description, MiniLM)
and diversity (Vendi score of the responses / their number). The responses of the best pulls, minus
duplicates and unfluent text, become the forget set, each line with its provenance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import harmonic_mean

import numpy as np

from edgeunlearn.reveal.bandits import BANDITS
from edgeunlearn.reveal.instructions import Instruction, instruction_pool
from edgeunlearn.reveal.vendi import embedding_vendi
from edgeunlearn.text import fluency_issues
from edgeunlearn.text.entities import normalize


@dataclass(frozen=True)
class Pull:
    arm: int
    instruction: str  # filled with the target
    responses: tuple[str, ...]
    relevance: float
    diversity: float
    reward: float


@dataclass(frozen=True)
class RevealedItem:
    question: str
    answer: str
    instruction_origin: str
    round: int
    pull: int
    relevance: float  # of this response to the target
    pull_reward: float

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


def reveal(backend, encoder, target: str, cfg, seed: int, round_index: int = 1, seeds: Sequence[str] = ()) -> Revealed:
    """`cfg`: RevealConfig. `seeds`: the user's own questions, offered to the bandit as extra arms."""
    import mlx.core as mx

    arms = instruction_pool(seed) + [Instruction(q, "seed") for q in seeds]
    prompts = [arm.fill(target) for arm in arms]
    target_vector = encoder.embed([target])[0]
    bandit = BANDITS.get(cfg.bandit)(encoder.embed(prompts), seed=seed)
    pulls = []
    for t in range(cfg.budget):
        arm = bandit.choose(list(range(len(arms))))
        mx.random.seed(seed * 100_003 + round_index * 1009 + t)  # each pull its own, reproducible samples
        responses = backend.generate([prompts[arm]] * cfg.samples, cfg.max_new_tokens, cfg.temperature)
        pull = score_pull(arm, prompts[arm], responses, encoder, target_vector)
        bandit.update(arm, pull.reward)
        pulls.append(pull)
    return select(pulls, arms, encoder, target_vector, cfg, round_index)


def score_pull(arm: int, prompt: str, responses: list[str], encoder, target_vector: np.ndarray) -> Pull:
    vectors = encoder.embed([r or " " for r in responses])
    relevance = float(np.clip(vectors @ target_vector, 0, 1).mean())
    diversity = embedding_vendi(vectors) / len(responses)
    reward = harmonic_mean([relevance, diversity]) if relevance > 0 else 0.0
    return Pull(arm, prompt, tuple(responses), relevance, diversity, reward)


def select(pulls: list[Pull], arms, encoder, target_vector, cfg, round_index: int) -> Revealed:
    """The best pulls' responses: fluent, on topic, no near-duplicates (cosine ≥ cfg.dedupe_cosine)."""
    ranked = sorted(range(len(pulls)), key=lambda i: -pulls[i].reward)[: cfg.keep]
    items, kept_vectors, seen = [], [], set()
    for index in ranked:
        pull = pulls[index]
        for response in pull.responses:
            vector = encoder.embed([response or " "])[0]
            relevance = float(max(0.0, vector @ target_vector))
            duplicate = any(float(vector @ v) >= cfg.dedupe_cosine for v in kept_vectors)
            if normalize(response) in seen or duplicate or fluency_issues(response) or relevance < cfg.min_relevance:
                continue
            seen.add(normalize(response))
            kept_vectors.append(vector)
            origin = arms[pull.arm].origin
            items.append(RevealedItem(pull.instruction, response, origin, round_index, index, relevance, pull.reward))
    relevance = float(np.mean([p.relevance for p in pulls])) if pulls else 0.0  # the filter above would inflate it
    diversity = embedding_vendi(np.array(kept_vectors)) / len(items) if items else 0.0
    return Revealed(items, pulls, relevance, diversity)
