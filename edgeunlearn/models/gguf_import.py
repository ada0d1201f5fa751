"""Turn a GGUF file into a trainable mlx-lm folder: dequantized fp32 weights, config, tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgeunlearn.errors import UserError
from edgeunlearn.models import architectures
from edgeunlearn.models.architectures import common

SOURCE_FILE = "edgeunlearn_source.json"


def read_fields(reader) -> dict:
    """GGUF key/values as plain python values (arrays as lists)."""
    return {key: field.contents() for key, field in reader.fields.items() if not key.startswith("GGUF.")}


def source_type(reader) -> str:
    """The llama.cpp type the file was written as (`general.file_type`, e.g. 'Q4_K_M' for Gemma-3-270M, whose
    640-wide rows llama.cpp stores as Q5_0), else the dominant tensor type of the 2-D weights ('Q4_1' for the
    embedded model). Why the file type first: re-quantizing to the dominant tensor type alone does not rebuild
    a K-quant mix, so the grid check and `--robust-to auto` would model the wrong file."""
    written = _file_type(reader)
    if written is not None:
        return written
    counts: dict[str, int] = {}
    for t in reader.tensors:
        if len(t.shape) == 2 and t.name != "token_embd.weight":
            counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + int(t.n_elements)
    return max(counts, key=counts.get) if counts else "F32"


def _file_type(reader) -> str | None:
    """`general.file_type` as a type name llama.cpp quantizes to (or F32); None when absent or unknown."""
    import gguf

    from edgeunlearn.quantize.llamacpp import known_types

    field = reader.fields.get("general.file_type")
    if field is None:
        return None
    try:
        name = gguf.LlamaFileType(int(field.parts[field.data[0]][0])).name
    except ValueError:
        return None
    if name == "ALL_F32":
        return "F32"
    name = name.removeprefix("MOSTLY_")
    return name if name in known_types() else None


def hf_config(reader, fields: dict) -> dict:
    """An mlx-lm config.json from the file's key/values and its non-weight tensors (e.g. rope factors)."""
    arch = architectures.for_gguf(fields.get("general.architecture"))
    embed = next(t for t in reader.tensors if t.name == "token_embd.weight")
    config = common.shared_config(arch, fields, int(embed.shape[-1]))
    config["tie_word_embeddings"] = not any(t.name == "output.weight" for t in reader.tensors)
    return config | arch.config(fields, _side_tensors(reader))


def _side_tensors(reader) -> dict[str, np.ndarray]:
    """Tensors that are not model weights (rope factors): small, always f32."""
    return {t.name: np.asarray(t.data, dtype=np.float32) for t in reader.tensors if t.name.startswith("rope_")}


def import_weights(reader, config: dict) -> dict[str, np.ndarray]:
    """Dequantize every model tensor to fp32 under its mlx-lm name, undoing llama.cpp's storage transforms."""
    from gguf.quants import dequantize

    arch = architectures.for_model_type(config["model_type"])
    by_gguf = common.hf_names_by_gguf(arch, config)
    weights = {}
    for tensor in reader.tensors:
        hf = by_gguf.get(tensor.name)
        if hf is None:
            continue  # e.g. rope_freqs, which the config describes
        w = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        weights[hf] = arch.from_gguf(hf, w, config)
    missing = [n for n in by_gguf.values() if n not in weights and n != "lm_head.weight"]
    if missing:
        raise UserError(f"the GGUF lacks {len(missing)} tensors its architecture needs, e.g. {missing[0]}")
    return weights


def materialize(gguf_path: Path, out_dir: Path) -> None:
    """Write `out_dir` as an mlx-lm model folder built from `gguf_path` (out_dir must not exist yet)."""
    import gguf
    from safetensors.numpy import save_file

    from edgeunlearn.models.gguf_tokenizer import tokenizer_from_gguf_fields

    reader = gguf.GGUFReader(str(gguf_path))
    fields = read_fields(reader)
    config = hf_config(reader, fields)
    tokenizer = tokenizer_from_gguf_fields(fields)
    weights = import_weights(reader, config)
    out_dir.mkdir(parents=True)
    save_file(weights, str(out_dir / "model.safetensors"))
    (out_dir / "config.json").write_text(json.dumps(config, indent=2))
    tokenizer.save_pretrained(str(out_dir))
    source = {"gguf": str(gguf_path), "source_type": source_type(reader)}
    (out_dir / SOURCE_FILE).write_text(json.dumps(source, indent=2))
