"""Adapters on disk: what `unlearn` writes and `export` reads back to rebuild the unlearned model."""

from __future__ import annotations

import json
from pathlib import Path

from edgeunlearn.config import RunConfig, to_dict
from edgeunlearn.errors import UserError
from edgeunlearn.models.resolve import ModelSource, resolve_model
from edgeunlearn.training.trainer import ADAPTER_FILE

ADAPTER_CONFIG = "adapter_config.json"


def write_adapter_config(adapter_dir: Path, cfg: RunConfig) -> None:
    spec = {"model": cfg.model, "prompt_format": cfg.prompt_format, "method": cfg.method, "train": to_dict(cfg.train)}
    adapter_dir.mkdir(parents=True, exist_ok=True)
    (adapter_dir / ADAPTER_CONFIG).write_text(json.dumps(spec, indent=2))


def find_adapter(path: Path) -> Path:
    """The adapter folder inside an `unlearn` run folder, or the folder itself."""
    for candidate in (path / "adapter", path):
        if (candidate / ADAPTER_CONFIG).exists() and (candidate / ADAPTER_FILE).exists():
            return candidate
    raise UserError(f"no adapter in {path}: give the run folder `edgeunlearn unlearn --out` created")


def load_unlearned(adapter_path: Path, model_spec: str | None = None):
    """(ModelSource, MLX backend with the adapter fused into the base weights, snapped onto the base's grid
    when training chose to)."""
    from edgeunlearn.backends.mlx_backend import MLXBackend
    from edgeunlearn.training.snap import Snap, fuse

    adapter_dir = find_adapter(Path(adapter_path))
    spec = json.loads((adapter_dir / ADAPTER_CONFIG).read_text())
    model: ModelSource = resolve_model(model_spec or spec["model"], spec.get("prompt_format", "auto"))
    backend = MLXBackend.of(model)
    t = spec["train"]
    backend.add_lora(t["lora_rank"], t["lora_scale"], t["lora_dropout"], t["lora_keys"], t["lora_layers"])
    try:
        backend.model.load_weights(str(adapter_dir / ADAPTER_FILE), strict=False)
    except ValueError as exc:
        raise UserError(
            f"adapter in {adapter_dir} does not fit model {model.name}: pass the --model it was trained on"
        ) from exc
    fuse(backend, Snap.load(adapter_dir))
    return model, backend
