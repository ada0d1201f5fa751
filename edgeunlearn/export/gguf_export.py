"""Write fused HF-named weights as a llama GGUF with the `gguf` package's writer.

Metadata is carried over key for key from the source GGUF when the model came from one (the most faithful
tokenizer and chat template there is); otherwise it is built from config.json and tokenizer.json.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from edgeunlearn.errors import UserError
from edgeunlearn.models import llama_layout

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
    arch = config.get("model_type")
    if arch not in llama_layout.SUPPORTED_ARCHITECTURES:
        raise UserError(f"export of architecture {arch!r} is not supported: supported are llama, mistral")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    writer = gguf.GGUFWriter(str(tmp), "llama")
    try:
        embed_rows = weights["model.embed_tokens.weight"].shape[0]
        if source_gguf:
            _carry_metadata(writer, Path(source_gguf))
        else:
            _metadata_from_config(writer, config, Path(model_dir), embed_rows)
        writer.add_file_type(FILE_TYPES[dtype])
        _add_tensors(writer, weights, config, np.float16 if dtype == "F16" else np.float32)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return out_path


def _add_tensors(writer, weights: dict[str, np.ndarray], config: dict, matrix_dtype) -> None:
    names = llama_layout.gguf_name_map(config["num_hidden_layers"])
    tied = config.get("tie_word_embeddings", False) or "lm_head.weight" not in weights
    for hf_name in llama_layout.hf_tensor_names(config["num_hidden_layers"], tied):
        w = np.asarray(weights[hf_name], dtype=np.float32)
        heads = llama_layout.permuted_heads(hf_name, config)
        if heads:
            w = llama_layout.to_llamacpp_rows(w, heads)
        # norms stay f32: llama.cpp reads 1-D weights as f32, and they are tiny
        writer.add_tensor(names[hf_name], w if w.ndim == 1 else w.astype(matrix_dtype))


def _carry_metadata(writer, source: Path) -> None:
    import gguf

    reader = gguf.GGUFReader(str(source))
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in _NOT_CARRIED:
            continue
        main = field.types[0]
        sub = field.types[-1] if main == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), main, sub_type=sub)


def _metadata_from_config(writer, config: dict, model_dir: Path, embed_rows: int) -> None:
    from edgeunlearn.models.gguf_tokenizer import gguf_tokenizer_fields

    heads = config["num_attention_heads"]
    writer.add_name(model_dir.name)
    writer.add_context_length(config.get("max_position_embeddings", 2048))
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.get("num_key_value_heads", heads))
    writer.add_rope_dimension_count(config.get("head_dim") or config["hidden_size"] // heads)
    writer.add_rope_freq_base(float(config.get("rope_theta", 10000.0)))
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-5)))
    writer.add_vocab_size(embed_rows)
    for key, value in gguf_tokenizer_fields(model_dir, embed_rows).items():
        writer.add_key_value(key, value, *_value_types(value))


def _value_types(value):
    import gguf

    T = gguf.GGUFValueType
    if isinstance(value, list):
        return T.ARRAY, (T.STRING if value and isinstance(value[0], str) else T.INT32)
    if isinstance(value, str):
        return T.STRING, None
    return T.UINT32, None
