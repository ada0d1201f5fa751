"""Membership inference on answers: how well a score tells forget items (seen in training) from a holdout
set (never seen). Scores are "higher = more likely a member":

    loss      mean token log-prob of the answer
    zlib      mean token log-prob (minus the log-perplexity) / zlib-compressed length in bytes of the text
              (Carlini et al. 2021; MUSE and open-unlearning divide the mean, not the sum)
    min-k%    mean of the lowest k% token log-probs (Shi et al. 2024), k = 20
    min-k%++  the same over z-scored log-probs: (log p(x_t) − μ_t) / σ_t, with μ_t and σ_t the mean and
              standard deviation of log p under the model's own next-token distribution (Zhang et al. 2025)

AUC is the Mann-Whitney probability that a member outscores a non-member (ties count half).
PrivLeak follows MUSE, whose AUC is the other way round (1 − ours: the probability that a forget item looks
*less* like a member than a holdout item): PrivLeak = (AUC'_unlearned − AUC'_retain) / AUC'_retain. A model
that kept the data reads near −100%, an over-unlearned one positive, a perfect unlearning 0.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np

MIN_K = 0.2


def loss_score(logprobs: np.ndarray) -> float:
    return float(np.mean(logprobs))


def zlib_score(logprobs: np.ndarray, text: str) -> float:
    return float(np.mean(logprobs)) / len(zlib.compress(text.encode("utf-8")))


def min_k_score(logprobs: np.ndarray, k: float = MIN_K) -> float:
    lowest = np.sort(np.asarray(logprobs))[: max(1, math.ceil(k * len(logprobs)))]
    return float(np.mean(lowest))


def min_k_plus_plus_score(logprobs: np.ndarray, mu: np.ndarray, sigma: np.ndarray, k: float = MIN_K) -> float:
    z = (np.asarray(logprobs) - np.asarray(mu)) / np.maximum(np.asarray(sigma), 1e-6)
    return min_k_score(z, k)


def auc(members: Sequence[float], non_members: Sequence[float]) -> float | None:
    from scipy.stats import mannwhitneyu

    if not len(members) or not len(non_members):
        return None
    u = mannwhitneyu(members, non_members, alternative="two-sided").statistic
    return float(u) / (len(members) * len(non_members))


def priv_leak(auc_unlearned: float | None, auc_retain_model: float | None) -> float | None:
    """MUSE's PrivLeak from our member-detection AUCs (see the module note); None where undefined."""
    if auc_unlearned is None or auc_retain_model is None or auc_retain_model >= 1.0:
        return None
    muse_unlearned, muse_retain = 1.0 - auc_unlearned, 1.0 - auc_retain_model
    return (muse_unlearned - muse_retain) / muse_retain
