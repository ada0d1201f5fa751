"""Membership inference on answers: how well a score tells forget items (seen in training) from a holdout
set (never seen). Scores are "higher = more likely a member":

    loss      mean token log-prob of the answer
    zlib      summed log-prob / zlib-compressed length of the text (Carlini et al. 2021)
    min-k%    mean of the lowest k% token log-probs (Shi et al. 2024), k = 20
    min-k%++  the same over z-scored log-probs: (log p(x_t) − μ_t) / σ_t, with μ_t and σ_t the mean and
              standard deviation of log p under the model's own next-token distribution (Zhang et al. 2025)

AUC is the Mann-Whitney probability that a member outscores a non-member (ties count half);
PrivLeak = (AUC_unlearned − AUC_retain_model) / AUC_retain_model, 0 being a perfect unlearning.
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
    return float(np.sum(logprobs)) / len(zlib.compress(text.encode("utf-8")))


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
    if auc_unlearned is None or not auc_retain_model:
        return None
    return (auc_unlearned - auc_retain_model) / auc_retain_model
