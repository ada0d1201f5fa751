"""SURE-style saliency masking, an option any method can switch on (`train.sure`).

Saliency of an output row, as SURE defines it: the norm of that row of the forget loss's gradient with respect
to the base weight W (out, in), the gradient summed over the whole forget set. Rows at or above the chosen
percentile, over all LoRA'd layers, stay trainable: the matching columns of `lora_b` (shape (r, out)) keep
their gradient, the rest get zero before every optimizer step, so the update touches only the rows that carry
the forget knowledge. The map is computed once, before training. (The LoRA B gradient would only be W's
gradient seen through LoRA's random A: a random projection of each row, not its norm.)
"""

from __future__ import annotations

import numpy as np

from edgeunlearn.training.batching import length_buckets, make_batch


def saliency_masks(backend, forget_pairs, percentile: float, batch_size: int = 8) -> dict[str, object]:
    """{parameter path of each lora_b: (1, out) 0/1 mask}."""
    import mlx.core as mx

    from edgeunlearn.errors import UserError

    if not 0 <= percentile < 100:
        raise UserError(f"sure_percentile must be in [0, 100), got {percentile}: e.g. 90 keeps the top 10% rows")
    norms = row_saliency(backend, forget_pairs, batch_size)
    threshold = np.percentile(np.concatenate(list(norms.values())), percentile)
    return {path: mx.array((n >= threshold)[None, :].astype(np.float32)) for path, n in norms.items()}


def row_saliency(backend, forget_pairs, batch_size: int = 8) -> dict[str, np.ndarray]:
    """{lora_b path: (out,) row norms of Σ over the forget set of ∂ forget NLL / ∂ W}, W each LoRA'd layer's
    base weight (trainable only while this runs)."""
    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_flatten

    from edgeunlearn.methods.terms import sequence_nll

    layers = dict(backend.named_lora_layers())
    _require_float_bases(layers)
    for layer in layers.values():
        layer.linear.unfreeze(keys=["weight"], recurse=False)
    try:
        # summed sequence NLLs: the batch split does not change the sum over the forget set
        loss_and_grad = nn.value_and_grad(backend.model, lambda m, b: sequence_nll(m, b).sum())
        sums: dict[str, object] = {}
        for bucket in length_buckets([len(p[0]) + len(p[1]) for p in forget_pairs], batch_size):
            batch = make_batch([forget_pairs[i] for i in bucket], bucket, backend.pad_id)
            _, grads = loss_and_grad(backend.model, batch)
            for path, g in tree_flatten(grads):
                if path.endswith(".linear.weight"):
                    sums[path] = g if path not in sums else sums[path] + g
            mx.eval(list(sums.values()))
    finally:
        for layer in layers.values():
            layer.linear.freeze(keys=["weight"], recurse=False)
    suffix = len(".linear.weight")
    return {path[:-suffix] + ".lora_b": np.array(mx.sqrt(mx.sum(g * g, axis=1))) for path, g in sums.items()}


def _require_float_bases(layers: dict) -> None:
    import mlx.nn as nn

    from edgeunlearn.errors import UserError

    if any(isinstance(layer.linear, nn.QuantizedLinear) for layer in layers.values()):
        raise UserError("SURE needs the base weights in full precision to take their gradient: train.sure false")


def apply_masks(grads, masks: dict[str, object]):
    """Zero the gradient of every non-salient output row."""
    from mlx.utils import tree_flatten, tree_unflatten

    return tree_unflatten([(p, g * masks[p] if p in masks else g) for p, g in tree_flatten(grads)])


def kept_share(masks: dict[str, object]) -> float:
    kept = sum(float(m.sum()) for m in masks.values())
    return kept / sum(m.size for m in masks.values())
