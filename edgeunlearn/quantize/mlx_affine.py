"""MLX's own affine quantization (group-wise scale and bias), applied to an in-memory model."""

from __future__ import annotations

VALID_BITS = (2, 3, 4, 5, 6, 8)
GROUP_SIZE = 64


def round_to_affine_grid(model, bits: int, group_size: int = GROUP_SIZE) -> None:
    """Round every matrix to MLX's affine grid (mx.quantize → mx.dequantize), in place.

    The weights are exactly those an `nn.quantize`d model computes with, but the matmuls stay in fp32:
    MLX's quantized CPU kernels are far slower than BLAS here, and the check needs the values, not the
    memory saving."""
    import mlx.core as mx
    from mlx.utils import tree_flatten, tree_unflatten

    rounded = [
        (name, mx.dequantize(*mx.quantize(w, group_size=group_size, bits=bits), group_size=group_size, bits=bits))
        for name, w in tree_flatten(model.parameters())
        if w.ndim == 2 and w.shape[-1] % group_size == 0
    ]
    model.update(tree_unflatten(rounded))
    mx.eval(model.parameters())


def validate_bits(bits) -> list[int]:
    from edgeunlearn.errors import UserError

    out = []
    for b in bits:
        try:
            value = int(b)
        except (TypeError, ValueError):
            value = -1
        if value not in VALID_BITS:
            raise UserError(f"unknown MLX quantization width {b!r}: choose from {', '.join(map(str, VALID_BITS))}")
        out.append(value)
    return out


def variant_name(bits: int) -> str:
    return f"MLX-{bits}bit"
