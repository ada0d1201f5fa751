"""Gemma 3 (text): GGUF stores every RMSNorm weight as 1 + w (HF and mlx-lm keep w and add 1 in the forward),
the embedding is scaled by √hidden in llama.cpp's graph (nothing to store), and five of every six layers attend
within a sliding window with their own rope base (`rope.freq_base_swa`); the attention scale is fixed at
1/√head_dim in llama.cpp."""

from __future__ import annotations

import numpy as np

from edgeunlearn.errors import UserError
from edgeunlearn.models.architectures import Architecture, register
from edgeunlearn.models.architectures.common import head_dim
from edgeunlearn.models.architectures.llama import PROJECTIONS

SLIDING_PATTERN = 6  # llama.cpp's default for gemma3: every sixth layer global
LOCAL_ROPE_BASE = 10000.0  # llama.cpp's default rope base of the sliding layers


def _is_norm(hf_name: str) -> bool:
    return hf_name.endswith("norm.weight")


def _to_gguf(hf_name: str, w: np.ndarray, config: dict) -> np.ndarray:
    return w + 1.0 if _is_norm(hf_name) else w


def _from_gguf(hf_name: str, w: np.ndarray, config: dict) -> np.ndarray:
    return w - 1.0 if _is_norm(hf_name) else w


def _metadata(config: dict) -> dict[str, object]:
    """What llama.cpp cannot take from a config it fixes itself is refused rather than written wrong."""
    scalar = config.get("query_pre_attn_scalar", head_dim(config))
    if float(scalar) != float(head_dim(config)):  # llama.cpp scales by 1/√head_dim, with no key to change it
        raise UserError(f"gemma3 export: query_pre_attn_scalar {scalar} ≠ head_dim {head_dim(config)}, unsupported")
    values: dict[str, object] = {
        "gemma3.attention.sliding_window": int(config.get("sliding_window", 512)),
        "gemma3.attention.sliding_window_pattern": int(config.get("sliding_window_pattern", SLIDING_PATTERN)),
        "gemma3.rope.freq_base_swa": float(config.get("rope_local_base_freq", LOCAL_ROPE_BASE)),
    }
    scaling = config.get("rope_scaling") or {}
    if scaling.get("rope_type", scaling.get("type")) == "linear":
        values |= {"gemma3.rope.scaling.type": "linear", "gemma3.rope.scaling.factor": float(scaling["factor"])}
    return values


def _config(fields: dict, tensors: dict) -> dict:
    dims = int(fields.get("gemma3.attention.key_length", 256))
    config = {
        "sliding_window": int(fields.get("gemma3.attention.sliding_window", 512)),
        "sliding_window_pattern": int(fields.get("gemma3.attention.sliding_window_pattern", SLIDING_PATTERN)),
        "rope_local_base_freq": float(fields.get("gemma3.rope.freq_base_swa", LOCAL_ROPE_BASE)),
        "query_pre_attn_scalar": dims,
        "rope_theta": float(fields.get("gemma3.rope.freq_base", 1_000_000.0)),
    }
    if fields.get("gemma3.rope.scaling.type") == "linear":
        config["rope_scaling"] = {"rope_type": "linear", "factor": float(fields["gemma3.rope.scaling.factor"])}
    return config


ARCH = register(
    Architecture(
        name="gemma3_text",
        gguf_arch="gemma3",
        projections=PROJECTIONS,
        to_gguf=_to_gguf,
        from_gguf=_from_gguf,
        metadata=_metadata,
        config=_config,
    )
)
