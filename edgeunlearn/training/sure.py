"""SURE-style saliency masking, an option any method can switch on (`train.sure`).

Saliency of an output row = the norm of the forget loss's gradient on the LoRA weights feeding that row
(the columns of `lora_b`, shape (r, out)). Rows at or above the chosen percentile, over all LoRA layers,
stay trainable; the rest get zero gradient before every optimizer step, so the update touches only the
rows that carry the forget knowledge. The map is computed once, before training, with the same weights.
"""

from __future__ import annotations

import numpy as np

from edgeunlearn.training.batching import length_buckets, make_batch


def saliency_masks(backend, forget_pairs, percentile: float, batch_size: int = 8) -> dict[str, object]:
    """{parameter path of each lora_b: (1, out) 0/1 mask}."""
    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_flatten

    from edgeunlearn.errors import UserError
    from edgeunlearn.methods.terms import mean_nll

    if not 0 <= percentile < 100:
        raise UserError(f"sure_percentile must be in [0, 100), got {percentile}: e.g. 90 keeps the top 10% rows")
    loss_and_grad = nn.value_and_grad(backend.model, lambda m, b: mean_nll(m, b)[0])
    norms: dict[str, np.ndarray] = {}
    for bucket in length_buckets([len(p[0]) + len(p[1]) for p in forget_pairs], batch_size):
        _, grads = loss_and_grad(backend.model, make_batch([forget_pairs[i] for i in bucket], bucket, backend.pad_id))
        for path, g in tree_flatten(grads):
            if path.endswith("lora_b"):
                norms[path] = norms.get(path, 0.0) + np.array(mx.sum(g * g, axis=0))  # (out,)
    threshold = np.percentile(np.concatenate([np.sqrt(n) for n in norms.values()]), percentile)
    return {path: mx.array((np.sqrt(n) >= threshold)[None, :].astype(np.float32)) for path, n in norms.items()}


def apply_masks(grads, masks: dict[str, object]):
    """Zero the gradient of every non-salient output row."""
    from mlx.utils import tree_flatten, tree_unflatten

    return tree_unflatten([(p, g * masks[p] if p in masks else g) for p, g in tree_flatten(grads)])


def kept_share(masks: dict[str, object]) -> float:
    kept = sum(float(m.sum()) for m in masks.values())
    return kept / sum(m.size for m in masks.values())
