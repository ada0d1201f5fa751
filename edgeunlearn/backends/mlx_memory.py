"""Bigger models on one laptop: LoRA over a bf16 or MLX-quantized (8/4-bit) base, gradient checkpointing,
and a fuse that lands in full precision.

Training keeps the base in the reduced form (the reference model of KL and NPO terms is the same weights with
LoRA switched off, so both sides see the same base). The unlearned model is the *original* full-precision
weights plus the LoRA update, computed in fp32 from the weights on disk: adding a small update to a bf16 weight
rounds most of it away, and the reduced copy is only the training's stand-in.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

PRECISIONS = ("fp32", "bf16", "q8", "q4")
GROUP_SIZE = 64


def reduce_base(model, precision: str) -> None:
    """Cast (bf16) or quantize (q8, q4: MLX affine, group 64) the model's weights in place; fp32 leaves them."""
    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_map

    if precision == "fp32":
        return
    # bf16 first also for q8/q4: their scales and biases then take 2 bytes each, not 4
    model.update(
        tree_map(lambda p: p.astype(mx.bfloat16) if mx.issubdtype(p.dtype, mx.floating) else p, model.parameters())
    )
    if precision != "bf16":
        bits = int(precision[1:])

        def quantizable(_, module) -> bool:
            weight = getattr(module, "weight", None)
            return hasattr(module, "to_quantized") and weight is not None and weight.shape[-1] % GROUP_SIZE == 0

        nn.quantize(model, group_size=GROUP_SIZE, bits=bits, class_predicate=quantizable)
    mx.eval(model.parameters())
    from edgeunlearn.backends.mlx_fast import on_cpu

    if on_cpu():
        compute_in_fp32(model)


def compute_in_fp32(model) -> None:
    """On CPU, MLX's bf16 and quantized matmuls run 35-80× slower than fp32 BLAS: each reduced linear layer
    widens its weight to fp32 for the product (transient, one layer at a time) and keeps only the compact
    form. On Apple Silicon the native kernels are the fast ones and this is not applied."""
    import mlx.nn as nn

    for _, module in model.named_modules():
        if type(module) is nn.QuantizedLinear:
            module.__class__ = _widened_class(nn.QuantizedLinear)
        elif type(module) is nn.Linear:
            module.__class__ = _widened_class(nn.Linear)


@cache
def _widened_class(base):
    import mlx.core as mx
    import mlx.nn as nn

    def call(self, x):
        if isinstance(self, nn.QuantizedLinear):
            weight = mx.dequantize(self.weight, self.scales, self.biases, self.group_size, self.bits)
        else:
            weight = self.weight
        y = x.astype(mx.float32) @ weight.astype(mx.float32).T
        return y + self.bias.astype(mx.float32) if "bias" in self else y

    return type(f"Widened{base.__name__}", (base,), {"__call__": call})


def checkpoint_layers(model) -> None:
    """Recompute each transformer block's activations in the backward pass instead of keeping them: memory
    for one block's activations instead of all of them, at about one more forward pass of compute. Each block
    instance gets a subclass of its own class, so other models in the process are untouched."""
    import mlx.core as mx

    for layer in model.layers:
        base = type(layer)
        if getattr(base, "checkpointed", False):
            continue

        def call(self, *args, _inner=base.__call__, **kwargs):
            def run(params, *args, **kwargs):
                self.update(params)
                return _inner(self, *args, **kwargs)

            return mx.checkpoint(run)(self.trainable_parameters(), *args, **kwargs)

        layer.__class__ = type(f"Checkpointed{base.__name__}", (base,), {"__call__": call, "checkpointed": True})


def original_weights(model, model_dir: Path) -> dict[str, np.ndarray]:
    """The full-precision weights on disk under the model's parameter names (mlx-lm's own sanitize), fp32."""
    import mlx.core as mx

    weights = {}
    for path in sorted(Path(model_dir).glob("model*.safetensors")):
        weights.update(mx.load(str(path)))
    if hasattr(model, "sanitize"):
        weights = model.sanitize(weights)
    return {k: np.array(v.astype(mx.float32)) for k, v in weights.items()}


def fused_full_precision(named_lora_layers, originals: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """W0 + s·(A B)ᵀ in fp32 for each LoRA layer, W0 the original weight: {parameter name: fused weight}."""
    import mlx.core as mx

    fused = {}
    for name, layer in named_lora_layers:
        update = (layer.scale * layer.lora_b.T.astype(mx.float32)) @ layer.lora_a.T.astype(mx.float32)
        fused[f"{name}.weight"] = originals[f"{name}.weight"] + np.array(update)
    return fused


def bytes_per_parameter(precision: str) -> float:
    """The base's storage per weight: fp32 4, bf16 2, q8/q4 the bits plus a bf16 scale and bias per group of 64."""
    if precision == "fp32":
        return 4.0
    if precision == "bf16":
        return 2.0
    return int(precision[1:]) / 8 + 2 * 2 / GROUP_SIZE
