"""Phi-3 / Phi-4-mini: q, k and v are one fused `qkv_proj` and gate and up one `gate_up_proj`, in HF, mlx-lm
and GGUF alike (llama.cpp splits them in its graph), rotated NeoX-style (no row permutation); LongRoPE's
per-frequency factors travel as `rope_factors_long` / `rope_factors_short` tensors with the original context
and the attention factor as metadata."""

from __future__ import annotations

import math

import numpy as np

from edgeunlearn.models.architectures import Architecture, register
from edgeunlearn.models.architectures.common import head_dim

PROJECTIONS = ("self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj", "mlp.down_proj")
LORA_ALIASES = (
    ("self_attn.q_proj", "self_attn.qkv_proj"),
    ("self_attn.k_proj", "self_attn.qkv_proj"),
    ("self_attn.v_proj", "self_attn.qkv_proj"),
    ("mlp.gate_proj", "mlp.gate_up_proj"),
    ("mlp.up_proj", "mlp.gate_up_proj"),
)
LONG, SHORT = "rope_factors_long.weight", "rope_factors_short.weight"


def _long_rope(config: dict) -> dict | None:
    scaling = config.get("rope_scaling") or {}
    return scaling if scaling.get("rope_type", scaling.get("type")) in ("longrope", "su") else None


def _extra_tensors(config: dict) -> dict[str, np.ndarray]:
    scaling = _long_rope(config)
    if scaling is None:
        return {}
    return {LONG: np.array(scaling["long_factor"], np.float32), SHORT: np.array(scaling["short_factor"], np.float32)}


def _attn_factor(context: int, original: int) -> float:
    """LongRoPE's magnitude correction, as HF and mlx-lm compute it."""
    return math.sqrt(1 + math.log(context / original) / math.log(original)) if context > original else 1.0


def _metadata(config: dict) -> dict[str, object]:
    context = int(config.get("max_position_embeddings", 4096))
    original = int(config.get("original_max_position_embeddings", context))
    rotary = int(head_dim(config) * config.get("partial_rotary_factor", 1.0))
    values: dict[str, object] = {
        "phi3.rope.scaling.original_context_length": original,
        "phi3.rope.dimension_count": rotary,
    }
    if _long_rope(config) is not None:
        values["phi3.rope.scaling.attn_factor"] = float(_attn_factor(context, original))
    return values


def _config(fields: dict, tensors: dict) -> dict:
    context = int(fields.get("phi3.context_length", 4096))
    original = int(fields.get("phi3.rope.scaling.original_context_length", context))
    dims = int(
        fields.get("phi3.attention.key_length")
        or fields["phi3.embedding_length"] // fields["phi3.attention.head_count"]
    )
    rotary = int(fields.get("phi3.rope.dimension_count", dims))
    config = {"original_max_position_embeddings": original, "partial_rotary_factor": rotary / dims}
    if LONG in tensors:
        factors = {"long_factor": tensors[LONG].tolist(), "short_factor": tensors[SHORT].tolist()}
        config["rope_scaling"] = {"type": "longrope", **factors}
    return config


ARCH = register(
    Architecture(
        name="phi3",
        gguf_arch="phi3",
        projections=PROJECTIONS,
        lora_aliases=LORA_ALIASES,
        extra_tensors=_extra_tensors,
        metadata=_metadata,
        config=_config,
    )
)
