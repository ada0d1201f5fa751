"""Membership inference per variant: can answer-likelihood scores tell the forget set (members) from a
holdout set the model never trained on? AUC 0.5 = indistinguishable, the goal of unlearning."""

from __future__ import annotations

from collections.abc import Sequence

from edgeunlearn.data import QAItem
from edgeunlearn.metrics.privacy import auc, loss_score, min_k_plus_plus_score, min_k_score, zlib_score


def membership(backend, forget: Sequence[QAItem], holdout: Sequence[QAItem]) -> dict:
    members = _scores(backend, forget)
    others = _scores(backend, holdout)
    return {name: auc(members[name], others[name]) for name in members}


def _scores(backend, items: Sequence[QAItem]) -> dict[str, list[float]]:
    stats = backend.score_stats(items)
    return {
        "loss": [loss_score(s.logprobs) for s in stats],
        "zlib": [zlib_score(s.logprobs, item.answer) for s, item in zip(stats, items)],
        "min_k": [min_k_score(s.logprobs) for s in stats],
        "min_k_plus_plus": [min_k_plus_plus_score(s.logprobs, s.mu, s.sigma) for s in stats],
    }
