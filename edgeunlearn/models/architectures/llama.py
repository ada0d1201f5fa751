"""Llama (and Mistral, which GGUF writes as llama): llama.cpp stores the q and k projections with rows
regrouped per head — its rotary embedding pairs adjacent rows, HF / mlx-lm pair the two halves of each head —
and Llama-3.1's rope scaling as a `rope_freqs` tensor of per-frequency divisors."""

from __future__ import annotations

import math

import numpy as np

from edgeunlearn.models.architectures import Architecture, register
from edgeunlearn.models.architectures.common import head_dim

PROJECTIONS = (
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
)
ROPE_FREQS = "rope_freqs.weight"


def to_llamacpp_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF q/k layout → llama.cpp layout. w: (n_head * head_dim, ...)."""
    half = w.shape[0] // n_head // 2
    return w.reshape(n_head, 2, half, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def from_llamacpp_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp q/k layout → HF layout; the inverse of `to_llamacpp_rows`."""
    half = w.shape[0] // n_head // 2
    return w.reshape(n_head, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def permuted_heads(hf_name: str, config: dict) -> int | None:
    """How many heads a tensor's rows are permuted over, or None when it is not q/k."""
    if ".self_attn.q_proj." in hf_name:
        return config["num_attention_heads"]
    if ".self_attn.k_proj." in hf_name:
        return config.get("num_key_value_heads") or config["num_attention_heads"]
    return None


def _to_gguf(hf_name: str, w: np.ndarray, config: dict) -> np.ndarray:
    heads = permuted_heads(hf_name, config)
    return to_llamacpp_rows(w, heads) if heads else w


def _from_gguf(hf_name: str, w: np.ndarray, config: dict) -> np.ndarray:
    heads = permuted_heads(hf_name, config)
    return from_llamacpp_rows(w, heads) if heads else w


def llama3_rope_divisors(config: dict) -> np.ndarray | None:
    """Llama-3.1's per-frequency divisors (what llama.cpp reads from `rope_freqs`), or None without them.

    Long wavelengths are slowed by `factor`, short ones kept, and the band between blended smoothly."""
    scaling = config.get("rope_scaling") or {}
    if scaling.get("rope_type", scaling.get("type")) != "llama3":
        return None
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old_context = scaling["original_max_position_embeddings"]
    dims = head_dim(config)
    freqs = config.get("rope_theta", 10000.0) ** -(np.arange(0, dims, 2, dtype=np.float64) / dims)
    wavelen = 2 * math.pi / freqs
    smooth = np.clip((old_context / wavelen - low) / (high - low), 0.0, 1.0)
    return (1.0 / ((1 - smooth) / factor + smooth)).astype(np.float32)


def _extra_tensors(config: dict) -> dict[str, np.ndarray]:
    divisors = llama3_rope_divisors(config)
    return {} if divisors is None else {ROPE_FREQS: divisors}


def _config(fields: dict, tensors: dict) -> dict:
    """Llama-3.1 rope scaling back from `rope_freqs`: the divisors fix factor and the two band edges up to the
    common scale of (low, high, original context), so the context is taken from the file (8192 when absent)."""
    divisors = tensors.get(ROPE_FREQS)
    if divisors is None or np.allclose(divisors, 1.0):
        return {}
    factor = float(divisors.max())
    old_context = int(fields.get("llama.rope.scaling.original_context_length", 8192))
    dims = 2 * len(divisors)
    theta = float(fields.get("llama.rope.freq_base", 10000.0))
    wavelen = 2 * math.pi * theta ** (np.arange(0, dims, 2, dtype=np.float64) / dims)
    inside = (divisors > 1.0 + 1e-6) & (divisors < factor - 1e-6)
    if inside.sum() >= 2:  # smooth = a · context / wavelen + b, linear in 1/wavelen: fit (a, b)
        smooth = (1.0 / divisors[inside] - 1.0 / factor) / (1.0 - 1.0 / factor)
        a, b = np.polyfit(old_context / wavelen[inside], smooth, 1)
    else:  # no point inside the band: put its edges strictly between the last kept and the first slowed wavelength
        kept, slowed = wavelen[divisors <= 1.0 + 1e-6].max(), wavelen[divisors >= factor - 1e-6].min()
        a_high, a_low = (
            old_context / (kept * (slowed / kept) ** (1 / 3)),
            old_context / (kept * (slowed / kept) ** (2 / 3)),
        )
        a, b = 1.0 / (a_high - a_low), -a_low / (a_high - a_low)
    low = -b / a
    high = low + 1.0 / a
    scaling = {"rope_type": "llama3", "factor": factor, "low_freq_factor": float(low)}
    scaling |= {"high_freq_factor": float(high), "original_max_position_embeddings": old_context}
    return {"rope_scaling": scaling}


def _metadata(config: dict) -> dict[str, object]:
    scaling = config.get("rope_scaling") or {}
    if "original_max_position_embeddings" in scaling:
        return {"llama.rope.scaling.original_context_length": int(scaling["original_max_position_embeddings"])}
    return {}


ARCH = register(
    Architecture(
        name="llama",
        gguf_arch="llama",
        projections=PROJECTIONS,
        aliases=("mistral",),
        to_gguf=_to_gguf,
        from_gguf=_from_gguf,
        extra_tensors=_extra_tensors,
        metadata=_metadata,
        config=_config,
    )
)
