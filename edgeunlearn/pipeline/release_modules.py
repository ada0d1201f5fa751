"""Reveal-and-Release's modules: each round's LoRA, trained orthogonal to the earlier ones (the O-LoRA penalty
λ_o·Σ_i ‖A_iᵀ A_new‖²), fused into the weights with its scale, and applied again from disk on resume."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path


def module_seed(seed: int, index: int) -> int:
    """Round `index`'s own seed: each module starts from its own random A, so the O-LoRA term starts from
    independent subspaces rather than from the earlier modules' own starting point."""
    return seed + 1_000_003 * index


def train_module(
    cfg,
    backend,
    items,
    retain,
    earlier: dict,
    adapter_dir: Path,
    progress,
    scale: float,
    method=None,
    stored=None,
    index: int = 0,
    watched=None,
):
    """Train one LoRA module (orthogonal to `earlier`), record its A matrices, fuse it with `scale`. `stored`:
    the types of --robust-to, which a module applied as it was trained (scale 1) trains against; `watched`:
    the retain items set aside for the guard, which the stop rule (train.until) watches too."""
    from edgeunlearn.methods import get_method
    from edgeunlearn.training.trainer import train

    method = method or get_method("learn")
    method = dataclasses.replace(
        method, loss=_with_orthogonality(method.loss, dict(earlier), cfg.release.orthogonality)
    )
    stored = stored if scale == 1.0 else None  # a negated module's stored form is not the one it trains in
    seed = module_seed(cfg.seed, index)
    result = train(
        backend,
        method,
        items,
        retain,
        cfg.train,
        cfg.method_args,
        seed,
        adapter_dir,
        progress,
        None,
        stored,
        watched=watched,
    )
    (adapter_dir / "module.json").write_text(json.dumps({"scale_applied": scale, "items": len(items)}))
    apply_module(backend, earlier, scale, result.snap)


def apply_module(backend, earlier: dict, scale: float, snap) -> None:
    """Record the module's A matrices for the O-LoRA term, apply it with `scale`, fuse it (a snapped module
    leaves the weights on the base's grid for the next round)."""
    import mlx.core as mx

    from edgeunlearn.training.snap import fuse

    for name, layer in backend.named_lora_layers():
        a = mx.stop_gradient(layer.lora_a)
        earlier[name] = a if name not in earlier else mx.concatenate([earlier[name], a], axis=1)
        layer.scale = layer.scale * scale
    fuse(backend, snap)


def _with_orthogonality(loss, earlier: dict, weight: float):
    from edgeunlearn.methods.terms import orthogonality_penalty

    if not earlier or weight == 0:
        return loss

    def with_penalty(model, batches, args):
        value, ntoks = loss(model, batches, args)
        return value + weight * orthogonality_penalty(model, earlier), ntoks

    return with_penalty


def replay_module(cfg, backend, earlier: dict, adapter_dir: Path) -> None:
    """Apply a module saved by an earlier (interrupted) run exactly as training applied it."""
    import mlx.core as mx

    from edgeunlearn.training.snap import Snap
    from edgeunlearn.training.trainer import ADAPTER_FILE

    t = cfg.train
    backend.add_lora(t.lora_rank, t.lora_scale, t.lora_dropout, t.lora_keys, t.lora_layers)
    backend.model.load_weights(list(mx.load(str(adapter_dir / ADAPTER_FILE)).items()), strict=False)
    scale = json.loads((adapter_dir / "module.json").read_text())["scale_applied"]
    apply_module(backend, earlier, scale, Snap.load(adapter_dir))
