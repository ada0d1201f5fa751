"""Write fused HF-named weights as a GGUF of the model's architecture with the `gguf` package's writer.

Metadata is carried over key for key from the source GGUF when the model came from one (the most faithful
tokenizer and chat template there is); otherwise it is built from config.json and tokenizer.json.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from edgeunlearn.errors import UserError
from edgeunlearn.models import architectures
from edgeunlearn.models.architectures import common

FILE_TYPES = {"F32": 0, "F16": 1}  # llama.cpp's LLAMA_FTYPE_ALL_F32 / MOSTLY_F16
# keys the writer sets itself or that describe the old file's tensors, not ours
_NOT_CARRIED = ("general.architecture", "general.file_type", "general.quantization_version")


def export_gguf(
    weights: dict[str, np.ndarray], model_dir: Path, out_path: Path, source_gguf: Path | None, dtype: str = "F16"
) -> Path:
    """Write `out_path` atomically (a temp file renamed into place)."""
    import gguf

    if dtype not in FILE_TYPES:
        raise UserError(f"unknown export type {dtype!r}: choose F16 or F32")
    config = json.loads((Path(model_dir) / "config.json").read_text())
    arch = architectures.for_model_type(config.get("model_type"))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    writer = gguf.GGUFWriter(str(tmp), arch.gguf_arch)
    try:
        embed_rows = weights["model.embed_tokens.weight"].shape[0]
        if source_gguf:
            _carry_metadata(writer, Path(source_gguf))
        else:
            _metadata_from_config(writer, arch, config, Path(model_dir), embed_rows)
        writer.add_file_type(FILE_TYPES[dtype])
        _add_tensors(writer, arch, weights, config, np.float16 if dtype == "F16" else np.float32)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return out_path


def _add_tensors(writer, arch, weights: dict[str, np.ndarray], config: dict, matrix_dtype) -> None:
    tied = config.get("tie_word_embeddings", False) or "lm_head.weight" not in weights
    hf_names = [n for n in weights if not (tied and n == "lm_head.weight")]
    names = common.gguf_name_map(arch, config, hf_names)
    for hf_name in hf_names:
        w = arch.to_gguf(hf_name, np.asarray(weights[hf_name], dtype=np.float32), config)
        # 1-D tensors (norms, biases) stay f32: llama.cpp reads them as f32, and they are tiny
        writer.add_tensor(names[hf_name], w if w.ndim == 1 else w.astype(matrix_dtype))
    for name, w in arch.extra_tensors(config).items():
        writer.add_tensor(name, np.asarray(w, dtype=np.float32))


def _carry_metadata(writer, source: Path) -> None:
    import gguf

    reader = gguf.GGUFReader(str(source))
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in _NOT_CARRIED:
            continue
        main = field.types[0]
        sub = field.types[-1] if main == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), main, sub_type=sub)


def _metadata_from_config(writer, arch, config: dict, model_dir: Path, embed_rows: int) -> None:
    from edgeunlearn.models.gguf_tokenizer import gguf_tokenizer_fields

    writer.add_name(model_dir.name)
    values = common.shared_metadata(arch, config, embed_rows) | arch.metadata(config)
    values |= gguf_tokenizer_fields(model_dir, embed_rows)
    for key, value in values.items():
        writer.add_key_value(key, value, *common.value_type(value))
