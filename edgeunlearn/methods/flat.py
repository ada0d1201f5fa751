"""FLAT (Wang et al. 2025): unlearning from forget data only, by an f-divergence between a template
answer e (a refusal) and the forget answer f to the same question.

Per sequence P̄ = mean answer-token probability. Loss = −g(P̄_e) + f*(g(P̄_f)), with the activation g
and conjugate f* of the chosen divergence (the f-GAN pairs); `good` is g, `bad` is f*∘g in closed form.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn

from edgeunlearn.errors import UserError
from edgeunlearn.methods import Method, register
from edgeunlearn.methods.terms import mean_token_prob
from edgeunlearn.training.batching import batch_rows, batch_tokens

LN2 = math.log(2.0)


def lambert_w(x: mx.array, iterations: int = 12) -> mx.array:
    """Principal branch of Lambert W for x > 0, by Newton steps (differentiable through the steps)."""
    w = mx.log1p(x)
    for _ in range(iterations):
        ew = mx.exp(w)
        w = w - (w * ew - x) / (ew * (w + 1.0))
    return w


def _jeffrey_bad(p: mx.array) -> mx.array:
    w = lambert_w(mx.exp(1.0 - p))
    return w + 1.0 / w + p - 2.0


# name -> (g(P̄_e), f*(g(P̄_f)))
DIVERGENCES = {
    "tv": (lambda p: 0.5 * mx.tanh(p), lambda p: 0.5 * mx.tanh(p)),
    "kl": (lambda p: p, lambda p: mx.exp(p - 1.0)),
    "js": (lambda p: LN2 - nn.softplus(-p), lambda p: nn.softplus(p) - LN2),
    "pearson": (lambda p: p, lambda p: p**2 / 4.0 + p),
    "reverse_kl": (lambda p: -mx.exp(-p), lambda p: p - 1.0),
    "jeffrey": (lambda p: p, _jeffrey_bad),
    "squared_hellinger": (lambda p: 1.0 - mx.exp(-p), lambda p: mx.exp(p) - 1.0),
    "neyman": (lambda p: 1.0 - mx.exp(-p), lambda p: 2.0 - 2.0 * mx.exp(-p / 2.0)),
}


def flat_objective(p_template: mx.array, p_forget: mx.array, divergence: str, rows: int | None = None) -> mx.array:
    """−g(P̄_e) + f*(g(P̄_f)), averaged over the batch (over `rows`, the global batch's, when given)."""
    good, bad = DIVERGENCES[divergence]
    per_row = -good(p_template) + bad(p_forget)
    return per_row.sum() / rows if rows else per_row.mean()


def flat_loss(model, batches, args):
    forget = batches["forget"]
    p_forget = mean_token_prob(model, forget)
    p_template = mean_token_prob(model, batches["template"])
    return flat_objective(p_template, p_forget, args.divergence, batch_rows(forget)), batch_tokens(forget)


TEMPLATE_SOURCES = ("refusal", "relearn")  # project refusals, or ReLearn's vague answers to the same questions


def check_flat_args(args) -> None:
    if args.divergence not in DIVERGENCES:
        valid = ", ".join(DIVERGENCES)
        raise UserError(f"unknown divergence {args.divergence!r}: choose one of {valid}")
    if args.template not in TEMPLATE_SOURCES:
        raise UserError(f"unknown FLAT template {args.template!r}: use {' or '.join(TEMPLATE_SOURCES)}")


register(
    Method(
        "flat",
        flat_loss,
        "f-divergence between a refusal template and the forget answer (forget data only)",
        needs_template=True,
        needs_augmented=lambda args: args.template == "relearn",
        check_args=check_flat_args,
    )
)
