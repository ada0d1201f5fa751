"""Small loss terms that methods compose. All work on a `Batch` and return MLX arrays.

Shapes: B sequences, W positions: the batch's answer window (`Batch.start` onwards; only there are logits
computed, the output head being a large share of a small model's step); `mask` is 1 where the target is an answer
token.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from edgeunlearn.backends import mlx_fast
from edgeunlearn.backends.mlx_prefix import hidden_states
from edgeunlearn.training.batching import batch_tokens


def window_logits(model, batch) -> mx.array:
    """Logits at the answer window's positions only: the transformer runs on every position, the output head
    (hidden → vocabulary) only where a target is scored. (B, W, V)"""
    head = model.lm_head if hasattr(model, "lm_head") else model.model.embed_tokens.as_linear  # else tied
    hidden = hidden_states(model, batch.inputs, batch.prefix)  # positions from `prefix` on
    return head(hidden[:, batch.start - batch.prefix :]).astype(mx.float32)


def _logsumexp(logits: mx.array) -> mx.array:
    """log Σ_v exp(logits) over the vocabulary, keepdims (MLX's own is slow on CPU: see mlx_fast)."""
    if mlx_fast.on_cpu():
        return mlx_fast.logsumexp(logits)
    return mx.logsumexp(logits, axis=-1, keepdims=True)


def vocab_logprobs(model, batch) -> mx.array:
    """log p(v | prefix) for every vocabulary entry at every window position. (B, W, V)"""
    logits = window_logits(model, batch)
    return logits - _logsumexp(logits)


def token_logprobs(model, batch) -> mx.array:
    """log p(target_t | prefix) at every window position. (B, W)"""
    logits = window_logits(model, batch)  # (B, W, V)
    logz = _logsumexp(logits).squeeze(-1)  # (B, W)
    picked = mx.take_along_axis(logits, batch.targets[..., None], axis=-1).squeeze(-1)
    return picked - logz


def sequence_nll(model, batch) -> mx.array:
    """Summed answer NLL per sequence, ℓ in NPO's notation. (B,)"""
    return -(token_logprobs(model, batch) * batch.mask).sum(axis=1)


def mean_nll(model, batch) -> tuple[mx.array, mx.array]:
    """Token-averaged answer NLL over the batch, and the token count. (scalar, scalar)"""
    ntoks = batch_tokens(batch)
    return -(token_logprobs(model, batch) * batch.mask).sum() / ntoks, ntoks


def npo_loss(nll: mx.array, ref_nll: mx.array, beta: float, rows: int | None = None) -> mx.array:
    """NPO: −(2/β)·log σ(β·(ℓθ − ℓref)), averaged over sequences (over `rows`, the global batch's, when given);
    ℓ are summed sequence NLLs."""
    per_row = -(2.0 / beta) * nn.log_sigmoid(beta * (nll - ref_nll))
    return per_row.sum() / rows if rows else per_row.mean()


def mean_token_prob(model, batch) -> mx.array:
    """P̄: mean over answer tokens of p(y_t | x, y_<t) — probabilities, not log-probs. (B,)"""
    probs = mx.exp(token_logprobs(model, batch)) * batch.mask
    return probs.sum(axis=1) / batch.mask.sum(axis=1)


def length_normalized_nll(model, batch) -> mx.array:
    """Summed answer NLL divided by the answer length, ℓ/|y| in SimNPO's notation. (B,)"""
    return sequence_nll(model, batch) / batch.mask.sum(axis=1)


def kl_to_reference(model, batch) -> mx.array:
    """KL(ref ‖ θ) per answer token, averaged; `batch.ref_logprobs` (B, T, V) came from the base with LoRA
    switched off. (scalar)"""
    ref = batch.ref_logprobs
    kl = (mx.exp(ref) * (ref - vocab_logprobs(model, batch))).sum(axis=-1)  # (B, W)
    return (kl * batch.mask).sum() / batch_tokens(batch)


def orthogonality_penalty(model, earlier: dict) -> mx.array:
    """O-LoRA: Σ_layers Σ_i ‖A_iᵀ A_new‖²_F, with `earlier[name]` the earlier modules' A matrices of that
    layer side by side (in, Σ r_i) — one product per layer covers every earlier module. (scalar)"""
    from mlx_lm.tuner.lora import LoRALinear

    total = mx.array(0.0)
    for name, module in model.named_modules():
        if isinstance(module, LoRALinear) and name in earlier:
            total = total + (mx.matmul(earlier[name].T, module.lora_a) ** 2).sum()
    return total
