"""Model architectures between mlx-lm and GGUF: one file per architecture, found through a registry.

An `Architecture` holds only what is particular to a model family — how a tensor is stored in GGUF (q/k row
permutation, norms stored as 1 + w), extra tensors llama.cpp reads (rope frequency factors), metadata keys, and
how a config is rebuilt from a GGUF. Tensor names come from the `gguf` package's own per-architecture maps,
applied to the parameter names of mlx-lm's model class; the rest (the shared metadata keys, the F16/F32
writer, dequantization) is in `common.py`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgeunlearn.errors import UserError
from edgeunlearn.registry import Registry


def unchanged(hf_name: str, w: np.ndarray, config: dict) -> np.ndarray:
    return w


def no_tensors(config: dict) -> dict[str, np.ndarray]:
    return {}


def no_metadata(config: dict) -> dict[str, object]:
    return {}


def no_config(fields: dict, tensors: dict) -> dict:
    return {}


@dataclass(frozen=True)
class Architecture:
    name: str  # the mlx-lm / HF `model_type` a model imported from GGUF gets
    gguf_arch: str  # GGUF `general.architecture`
    projections: tuple[str, ...]  # the linear layers of a block LoRA can wrap, as mlx-lm names them
    aliases: tuple[str, ...] = ()  # other `model_type` values written as this architecture (mistral → llama)
    lora_aliases: tuple[tuple[str, str], ...] = ()  # (llama-style key, this architecture's) e.g. fused q/k/v
    to_gguf: Callable[[str, np.ndarray, dict], np.ndarray] = unchanged  # HF tensor → as llama.cpp stores it
    from_gguf: Callable[[str, np.ndarray, dict], np.ndarray] = unchanged  # the inverse
    extra_tensors: Callable[[dict], dict[str, np.ndarray]] = no_tensors  # GGUF-only tensors, e.g. rope factors
    metadata: Callable[[dict], dict[str, object]] = no_metadata  # GGUF keys beyond the shared ones, by full key
    config: Callable[[dict, dict], dict] = no_config  # config fields beyond the shared ones, from GGUF fields
    # and the file's non-weight tensors (name → fp32 array)


ARCHITECTURES: Registry[Architecture] = Registry("architecture")
_MODULES = ("llama", "qwen2", "qwen3", "gemma3", "phi3")
_BY_MODEL_TYPE: dict[str, Architecture] = {}
_BY_GGUF: dict[str, Architecture] = {}


def register(arch: Architecture) -> Architecture:
    ARCHITECTURES.register(arch.name, arch)
    for model_type in (arch.name, *arch.aliases):
        _BY_MODEL_TYPE[model_type] = arch
    _BY_GGUF[arch.gguf_arch] = arch
    return arch


def _load() -> None:
    for module in _MODULES:  # a no-op once imported
        importlib.import_module(f"edgeunlearn.models.architectures.{module}")


def lora_keys(arch: Architecture, keys) -> tuple[str, ...]:
    """The projections LoRA wraps: every one of the architecture's when none are named; llama-style names of
    fused layers are translated, so one recipe serves every architecture."""
    if not keys:
        return arch.projections
    aliases = dict(arch.lora_aliases)
    chosen = tuple(dict.fromkeys(aliases.get(k, k) for k in keys))
    unknown = [k for k in chosen if k not in arch.projections]
    if unknown:
        valid = ", ".join(arch.projections)
        raise UserError(f"lora_keys {unknown} do not exist in {arch.name} models: choose from {valid}")
    return chosen


def supported() -> str:
    _load()
    return ", ".join(sorted(_BY_MODEL_TYPE))


def for_model_type(model_type: str | None) -> Architecture:
    """The architecture of a model folder's config.json `model_type`; unknown ones are refused up front."""
    _load()
    if model_type not in _BY_MODEL_TYPE:
        raise UserError(f"model architecture {model_type!r} is not supported: supported are {supported()}")
    return _BY_MODEL_TYPE[model_type]


def for_gguf(gguf_arch: str | None) -> Architecture:
    """The architecture of a GGUF's `general.architecture`."""
    _load()
    if gguf_arch not in _BY_GGUF:
        names = ", ".join(sorted(_BY_GGUF))
        raise UserError(f"GGUF architecture {gguf_arch!r} is not supported: supported are {names}")
    return _BY_GGUF[gguf_arch]
