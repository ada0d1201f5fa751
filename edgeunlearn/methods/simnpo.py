"""SimNPO (Fan et al. 2024): NPO without a reference model, on the length-normalized NLL with a margin:
−(2/β)·log σ(β·ℓθ/|y| − γ)."""

import mlx.nn as nn

from edgeunlearn.methods import Method, register
from edgeunlearn.methods.terms import length_normalized_nll


def simnpo_objective(normalized_nll, beta: float, gamma: float):
    return -(2.0 / beta) * nn.log_sigmoid(beta * normalized_nll - gamma).mean()


def simnpo_loss(model, batches, args):
    forget = batches["forget"]
    loss = simnpo_objective(length_normalized_nll(model, forget), args.simnpo_beta, args.gamma)
    return loss, forget.mask.sum()


register(Method("simnpo", simnpo_loss, "reference-free, length-normalized NPO with margin γ"))
