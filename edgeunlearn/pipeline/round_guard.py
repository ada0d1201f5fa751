"""The release loop's retain guard: after each round, is knowledge outside the revealed data still there?

Why: a round's reveal can find facts worth unlearning while the push they need costs knowledge far from them —
on the demo target, round 2 revealed 14 facts (other cities, mostly made up) and training on them took the
held-out retain set from 92% to 71% known. A rule on round 1's fact count stopped that, but it also stopped
targets whose round 2 was useful. So every round runs while its reveal finds facts, and the guard undoes a
round that leaves too little of what the base knew.

It reads training-side data only, as the stop rule does (`edgeunlearn.training.until`): a seeded share of
`--retain` that the rounds never train on, and the built-in general facts that share no keyword with anything
revealed so far. Never `--retain-eval`: that set is the check's. Greedy answers, judged as the check judges them,
scored as `known_ratio` against the base (the model before round 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgeunlearn.data import QAItem


@dataclass(frozen=True)
class GuardReading:
    retain_kept: float | None  # watched --retain items stated now over those the base states (None: none watched)
    general_kept: float  # the same for the general facts unrelated to what was revealed

    @property
    def worst(self) -> float:
        return min(x for x in (self.retain_kept, self.general_kept) if x is not None)

    def text(self) -> str:
        retain = "" if self.retain_kept is None else f"watched retain {self.retain_kept:.0%}, "
        return f"{retain}general facts {self.general_kept:.0%} of the base's"


class RoundGuard:
    def __init__(self, watched: Sequence[QAItem], tokens: int):
        from edgeunlearn.check.judge import Judge
        from edgeunlearn.data.general import general_knowledge

        self.watched = list(watched)
        self.general = general_knowledge()
        self.tokens = tokens
        self._judge = Judge()
        self._base: tuple[np.ndarray, np.ndarray] | None = None

    def start(self, backend) -> None:
        """Answer as the base, before any round."""
        self._base = self._states(backend)

    def read(self, backend, revealed: Sequence[QAItem]) -> GuardReading:
        """The model now against the base; general facts that anything revealed so far mentions are left out
        (forgetting "Paris" rightly takes "The Eiffel Tower is in Paris" with it)."""
        from edgeunlearn.data.general import general_knowledge
        from edgeunlearn.training.until import known_ratio

        retain, general = self._states(backend)
        retain_base, general_base = self._base
        unrelated = {item.question for item in general_knowledge(revealed)}
        keep = np.array([item.question in unrelated for item in self.general], dtype=bool)
        retain_kept = known_ratio(retain, retain_base) if self.watched else None
        return GuardReading(retain_kept, known_ratio(general[keep], general_base[keep]))

    def _states(self, backend) -> tuple[np.ndarray, np.ndarray]:
        items = [*self.watched, *self.general]
        answers = backend.generate(items, self.tokens)
        states = np.array([self._judge.verdict(i, a).knows for i, a in zip(items, answers)], dtype=bool)
        return states[: len(self.watched)], states[len(self.watched) :]
