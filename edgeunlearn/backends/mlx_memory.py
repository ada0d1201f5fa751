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


def reduce_base(model, precision: str) -> bool:
    """Cast (bf16) or quantize (q8, q4: MLX affine, group 64) the model's weights in place; fp32 leaves them.
    True when the layers compute through fp32 widenings of the reduced weights (on CPU)."""
    import mlx.core as mx
    from mlx.utils import tree_map

    if precision == "fp32":
        return False
    # bf16 first also for q8/q4: their scales and biases then take 2 bytes each, not 4
    model.update(
        tree_map(lambda p: p.astype(mx.bfloat16) if mx.issubdtype(p.dtype, mx.floating) else p, model.parameters())
    )
    if precision != "bf16":
        quantize_in_place(model, int(precision[1:]))
    mx.eval(model.parameters())
    from edgeunlearn.backends.mlx_fast import on_cpu

    if on_cpu():
        compute_in_fp32(model)
        return True
    return False


def quantize_in_place(module, bits: int) -> None:
    """MLX affine quantization (group 64) of every layer in `module` that has a quantized form and rows of a
    multiple of 64 (embeddings included: the output head of tied models reads them)."""
    import mlx.nn as nn

    def quantizable(_, layer) -> bool:
        weight = getattr(layer, "weight", None)
        return hasattr(layer, "to_quantized") and weight is not None and weight.shape[-1] % GROUP_SIZE == 0

    nn.quantize(module, group_size=GROUP_SIZE, bits=bits, class_predicate=quantizable)


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


PROCESS_BYTES = 0.45 * 2**30  # Python, MLX, llama.cpp and the tokenizer loaded, before any model


def predicted_training_peak(
    config: dict, parameters: int, precision: str, checkpoint: bool, tokens: int, rank: int = 8, on_cpu: bool = True
) -> dict[str, float]:
    """Bytes a LoRA step needs, by part: the base as stored, the LoRA matrices with their gradients and AdamW
    moments, the activations kept for the backward pass (per token and layer: the inputs of every product,
    attention probabilities), the vocabulary logits of the answer window, and on CPU the fp32 widening of a
    reduced base's weights (all layers without checkpointing, one with). A plan, not a measurement:
    benchmarks/memory_scale.py measures."""
    h, layers = config["hidden_size"], config["num_hidden_layers"]
    inner = config.get("intermediate_size", 4 * h)
    heads = config.get("num_attention_heads", 1)
    kv = config.get("num_key_value_heads", heads) * config.get("head_dim", h // heads)
    lora = rank * layers * (8 * h + 2 * kv + 3 * inner) * 16
    per_token_layer = 4 * (10 * h + 4 * inner) + 8 * heads * tokens
    kept_layers = 1 if checkpoint else layers
    activations = tokens * (4 * h * layers + per_token_layer * kept_layers)
    logits = tokens * config.get("vocab_size", 32000) * 4 * 3
    per_layer_params = max(parameters - config.get("vocab_size", 0) * h, 0) / max(layers, 1)
    widened = 4 * per_layer_params * kept_layers if (precision != "fp32" and on_cpu) else 0.0
    return {
        "process": PROCESS_BYTES,
        "base weights": parameters * bytes_per_parameter(precision),
        "LoRA, gradients, AdamW": float(lora),
        "activations": float(activations),
        "logits": float(logits),
        "fp32 widening (CPU)": float(widened),
    }


def predicted_check_peak(config: dict, parameters: int, parallel: int = 16, seq_tokens: int = 512) -> dict[str, float]:
    """Bytes the check needs: llama.cpp holding an F16 GGUF and its KV cache (F16, every sequence), or the
    MLX model at fp32 (the larger of the two; one variant is open at a time)."""
    h, layers = config["hidden_size"], config["num_hidden_layers"]
    heads = config.get("num_attention_heads", 1)
    kv = config.get("num_key_value_heads", heads) * config.get("head_dim", h // heads)
    llama_cpp = parameters * 2 + parallel * seq_tokens * layers * 2 * kv * 2
    return {"process": PROCESS_BYTES, "model being checked": float(max(llama_cpp, parameters * 4))}
