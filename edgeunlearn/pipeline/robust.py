"""What `--robust-to` trains against: the base quantized by llama.cpp to each type, read back per tensor."""

from __future__ import annotations

import json
from pathlib import Path

from edgeunlearn.config import RunConfig
from edgeunlearn.errors import UserError
from edgeunlearn.models import architectures
from edgeunlearn.models.architectures import common
from edgeunlearn.training.callbacks import SILENT, Progress
from edgeunlearn.training.robust import StoredTypes, resolve_targets


def robust_targets(cfg: RunConfig, inputs) -> list[str]:
    """The llama.cpp types `train.robust_to` asks for (`auto` resolved against the run's checked types)."""
    if not cfg.train.robust_to:
        return []
    return resolve_targets(cfg.train.robust_to, inputs.model.source_type, inputs.llama_types)


def stored_types(cfg: RunConfig, inputs, backend, progress: Progress = SILENT) -> StoredTypes | None:
    """Quantize the base's F16 GGUF to each target (cached beside it), read back each tensor's ggml type,
    and refuse a type whose stored form training cannot reproduce. None when robust_to is off."""
    from edgeunlearn.pipeline.spine import ensure_base_f16
    from edgeunlearn.quantize.llamacpp import quantize_gguf

    targets = robust_targets(cfg, inputs)
    if not targets:
        return None
    progress.stage("robust-to: read the tensor types llama.cpp writes", len(targets))
    base_f16 = ensure_base_f16(inputs.model, backend)
    by_target = {}
    for target in targets:
        path = base_f16.parent / f"base-{target}.gguf"
        if not path.exists():
            quantize_gguf(base_f16, path, target)
        by_target[target] = hf_tensor_types(path, inputs.model.mlx_dir)
        progress.advance(target)
    auto = [t.lower() for t in cfg.train.robust_to] == ["auto"]
    supported = _supported(by_target, auto, progress)
    own = inputs.model.source_type
    snap = own if own in supported and cfg.train.until and cfg.train.snap_gains else None
    return StoredTypes(supported, snap)


def hf_tensor_types(gguf_path: Path, model_dir: Path) -> dict[str, str]:
    """{HF tensor name: ggml type name} of every matrix `gguf_path` holds."""
    import gguf

    config = json.loads((Path(model_dir) / "config.json").read_text())
    to_hf = common.hf_names_by_gguf(architectures.for_model_type(config.get("model_type")), config)
    types = {}
    for tensor in gguf.GGUFReader(str(gguf_path)).tensors:
        if tensor.name in to_hf and len(tensor.shape) == 2:
            types[to_hf[tensor.name]] = tensor.tensor_type.name
    return types


def _supported(by_target: dict[str, dict[str, str]], auto: bool, progress: Progress) -> dict:
    """The targets whose every tensor type training can reproduce: with `auto` the others are left out with a
    note; asked for by name, they are refused."""
    from edgeunlearn.quantize.fake import fake_types

    supported, kept = set(fake_types()), {}
    for target, types in by_target.items():
        missing = sorted(set(types.values()) - supported)
        if not missing:
            kept[target] = types
        elif auto:
            progress.note(f"robust-to auto: {target} left out (llama.cpp stores tensors as {', '.join(missing)})")
        else:
            raise UserError(
                f"--robust-to {target}: llama.cpp stores some tensors as {', '.join(missing)}, which training cannot "
                f"reproduce yet (supported: {', '.join(sorted(supported))}); drop {target} from --robust-to"
            )
    return kept
