"""MLX's own affine quantization (group-wise scale and bias), applied to an in-memory model."""

from __future__ import annotations

VALID_BITS = (2, 3, 4, 5, 6, 8)


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
