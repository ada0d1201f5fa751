"""Figures measured against a *retain model* (one never trained on the forget set): TOFU's forget quality
and PrivLeak. The retain model is checked once, in MLX at full precision; every variant is compared to it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgeunlearn.check.evaluate import VariantResult, truth_ratios
from edgeunlearn.data import QAItem
from edgeunlearn.metrics.privacy import priv_leak
from edgeunlearn.metrics.tofu import forget_quality

NO_REFERENCE_NOTE = (
    "forget quality and PrivLeak need a retain model (never trained on the forget set): "
    "pass --reference MODEL_DIR (make one with `edgeunlearn finetune --data RETAIN`)"
)


@dataclass(frozen=True)
class ReferenceFigures:
    model: str
    forget_truth_ratios: list[float | None]
    membership_auc: dict | None  # forget vs holdout, per membership score; None without a holdout set


def measure_reference(source, name: str, forget: Sequence[QAItem], holdout: Sequence[QAItem]) -> ReferenceFigures:
    from edgeunlearn.backends.mlx_backend import MLXBackend
    from edgeunlearn.check.membership import membership

    backend = MLXBackend.of(source)
    try:
        ratios = truth_ratios(backend, forget)
        auc = membership(backend, forget, holdout) if holdout else None
    finally:
        backend.close()
    return ReferenceFigures(name, ratios, auc)


def add_reference_figures(results: Sequence[VariantResult], reference: ReferenceFigures) -> None:
    """`forget_quality` (KS p-value of truth ratios) and `priv_leak` (per membership score) on each variant."""
    for result in results:
        quality = forget_quality([r.truth_ratio for r in result.forget], reference.forget_truth_ratios)
        result.metrics["forget_quality"] = quality
        aucs = result.metrics.get("membership_auc")
        if aucs and reference.membership_auc:
            result.metrics["priv_leak"] = {k: priv_leak(v, reference.membership_auc.get(k)) for k, v in aucs.items()}


def reference_summary(reference: ReferenceFigures | None) -> dict:
    if reference is None:
        return {"model": None, "note": NO_REFERENCE_NOTE}
    ratios = [r for r in reference.forget_truth_ratios if r is not None]
    note = None if ratios else "the forget set has no paraphrased_answer / perturbed_answer: no forget quality"
    return {
        "model": reference.model,
        "forget_truth_ratios": ratios,
        "membership_auc": reference.membership_auc,
        "note": note,
    }
