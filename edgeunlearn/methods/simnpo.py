"""SimNPO (Fan et al. 2024): NPO without a reference model, on the length-normalized NLL with a margin:
−(2/β)·log σ(β·ℓθ/|y| − γ)."""

import mlx.nn as nn

from edgeunlearn.methods import Method, register
from edgeunlearn.methods.terms import length_normalized_nll
from edgeunlearn.training.batching import batch_rows, batch_tokens


def simnpo_objective(normalized_nll, beta: float, gamma: float, rows: int | None = None):
    per_row = -(2.0 / beta) * nn.log_sigmoid(beta * normalized_nll - gamma)
    return per_row.sum() / rows if rows else per_row.mean()


def simnpo_loss(model, batches, args):
    forget = batches["forget"]
    loss = simnpo_objective(length_normalized_nll(model, forget), args.simnpo_beta, args.gamma, batch_rows(forget))
    return loss, batch_tokens(forget)


register(Method("simnpo", simnpo_loss, "reference-free, length-normalized NPO with margin γ"))
