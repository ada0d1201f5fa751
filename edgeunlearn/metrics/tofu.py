"""TOFU's figures: truth ratio, forget quality (a KS test against a retain model) and model utility.

Per item, with answers scored as mean per-token NLL (length-normalised, as TOFU's code does):
    truth ratio R = exp(NLL(paraphrased) − mean_j NLL(perturbed_j))  — the perturbed answers' geometric
    per-token probability over the paraphrased one; R well below 1 means the model prefers the truth.
Forget quality = p-value of the two-sample KS test between the R values of the unlearned model and of a
retain model (never trained on the forget set) on the forget items: high = indistinguishable.
Model utility = harmonic mean of the retain set's mean answer probability (per-token geometric), ROUGE-L
recall of greedy answers, and mean max(0, 1 − R).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import harmonic_mean


def truth_ratio(paraphrased_nll: float, perturbed_nlls: Sequence[float]) -> float | None:
    if not perturbed_nlls:
        return None
    return math.exp(paraphrased_nll - sum(perturbed_nlls) / len(perturbed_nlls))


def forget_quality(unlearned_ratios: Sequence[float], retain_model_ratios: Sequence[float]) -> float | None:
    from scipy.stats import ks_2samp

    a, b = _present(unlearned_ratios), _present(retain_model_ratios)
    if not a or not b:
        return None
    return float(ks_2samp(a, b).pvalue)


def model_utility(answer_nlls: Sequence[float], rouge_recalls: Sequence[float], ratios: Sequence[float]) -> dict:
    probability = _mean([math.exp(-n) for n in _present(answer_nlls)])
    rouge = _mean(_present(rouge_recalls))
    truth = _mean([max(0.0, 1.0 - r) for r in _present(ratios)])
    parts = [probability, rouge, truth]
    utility = harmonic_mean(parts) if None not in parts else None
    return {"probability": probability, "rouge_l_recall": rouge, "truth_ratio_stat": truth, "model_utility": utility}


def _present(values) -> list[float]:
    return [v for v in values if v is not None]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
