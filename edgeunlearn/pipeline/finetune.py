"""`edgeunlearn finetune`: learn QA data with LoRA and save a full model folder.

Its main use is the *retain model* TOFU's forget quality and PrivLeak compare against: the model
fine-tuned on everything but the forget set. For project-generated (fictitious) data, fine-tune once on
forget + retain to get the model to unlearn, and once on retain alone to get its retain model.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from edgeunlearn.config import RunConfig, to_dict
from edgeunlearn.data import QAItem
from edgeunlearn.models.gguf_import import SOURCE_FILE
from edgeunlearn.models.resolve import ModelSource
from edgeunlearn.runs import package_versions, write_json
from edgeunlearn.training.callbacks import SILENT, Progress

WEIGHTS_FILE = "model.safetensors"
PROVENANCE_FILE = "edgeunlearn_finetune.json"


def finetune(
    cfg: RunConfig, model: ModelSource, items: list[QAItem], hashes: dict, folder: Path, progress: Progress = SILENT
) -> dict:
    """Train `learn` on `items`, fuse, write an mlx-lm model folder (usable as `--model` or `--reference`)."""
    from edgeunlearn.backends.mlx_backend import MLXBackend
    from edgeunlearn.methods import get_method
    from edgeunlearn.training.trainer import train

    backend = MLXBackend.of(model)
    result = train(
        backend, get_method("learn"), items, None, cfg.train, cfg.method_args, cfg.seed, folder / "adapter", progress
    )
    backend.fuse_lora()
    save_model_folder(backend, model.mlx_dir, folder)
    shutil.rmtree(folder / "adapter", ignore_errors=True)  # fused into the weights
    facts = {
        "base_model": str(model.gguf or model.mlx_dir),
        "items": len(items),
        "data_sha256": hashes,
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "first_loss": result.losses[0] if result.losses else None,
        "final_loss": result.final_loss,
    }
    # not write_manifest: its config.json would overwrite the model's own
    write_json(
        folder / PROVENANCE_FILE, {**facts, "config": to_dict(cfg), "seed": cfg.seed, "packages": package_versions()}
    )
    return facts


def save_model_folder(backend, source_dir: Path, folder: Path) -> None:
    """The base folder's config and tokenizer files beside the backend's current weights."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    for path in Path(source_dir).iterdir():
        if path.is_file() and not _is_weights_or_provenance(path):
            shutil.copy2(path, folder / path.name)
    weights = dict(tree_flatten(backend.model.parameters()))
    mx.save_safetensors(str(folder / WEIGHTS_FILE), weights, metadata={"format": "mlx"})


def _is_weights_or_provenance(path: Path) -> bool:
    return (
        path.suffix == ".safetensors"
        or path.name.endswith(".safetensors.index.json")
        or path.name
        in (
            SOURCE_FILE,
            PROVENANCE_FILE,
        )
    )
