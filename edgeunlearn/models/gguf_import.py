"""Turn a GGUF file into a trainable mlx-lm folder: dequantized fp32 weights, config, tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgeunlearn.errors import UserError
from edgeunlearn.models import llama_layout

SOURCE_FILE = "edgeunlearn_source.json"


def read_fields(reader) -> dict:
    """GGUF key/values as plain python values (arrays as lists)."""
    return {key: field.contents() for key, field in reader.fields.items() if not key.startswith("GGUF.")}


def source_type(reader) -> str:
    """The dominant tensor type of the 2-D weights, e.g. 'Q4_1' for the embedded model."""
    counts: dict[str, int] = {}
    for t in reader.tensors:
        if len(t.shape) == 2 and t.name != "token_embd.weight":
            counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + int(t.n_elements)
    return max(counts, key=counts.get) if counts else "F32"


def hf_config(fields: dict) -> dict:
    arch = fields.get("general.architecture")
    if arch not in llama_layout.SUPPORTED_ARCHITECTURES:
        supported = ", ".join(llama_layout.SUPPORTED_ARCHITECTURES)
        raise UserError(f"GGUF architecture {arch!r} cannot be loaded for training: supported are {supported}")

    def key(name, default=None):
        return fields.get(f"{arch}.{name}", default)

    heads = int(key("attention.head_count"))
    hidden = int(key("embedding_length"))
    return {
        "model_type": "llama",
        "hidden_size": hidden,
        "num_hidden_layers": int(key("block_count")),
        "intermediate_size": int(key("feed_forward_length")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(key("attention.head_count_kv", heads)),
        "head_dim": int(key("rope.dimension_count", hidden // heads)),
        "rms_norm_eps": float(key("attention.layer_norm_rms_epsilon", 1e-5)),
        "rope_theta": float(key("rope.freq_base", 10000.0)),
        "max_position_embeddings": int(key("context_length", 2048)),
        "vocab_size": len(fields["tokenizer.ggml.tokens"]),
        "tie_word_embeddings": True,
    }


def import_weights(reader, config: dict) -> dict[str, np.ndarray]:
    """Dequantize every tensor to fp32 under its HF name, undoing llama.cpp's q/k permutation."""
    from gguf.quants import dequantize

    by_gguf = {g: h for h, g in llama_layout.gguf_name_map(config["num_hidden_layers"]).items()}
    weights = {}
    for tensor in reader.tensors:
        hf = by_gguf.get(tensor.name)
        if hf is None:
            continue  # e.g. rope_freqs, recomputed by the model
        w = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        heads = llama_layout.permuted_heads(hf, config)
        weights[hf] = llama_layout.from_llamacpp_rows(w, heads) if heads else w
    config["tie_word_embeddings"] = "lm_head.weight" not in weights
    config["vocab_size"] = weights["model.embed_tokens.weight"].shape[0]
    return weights


def materialize(gguf_path: Path, out_dir: Path) -> None:
    """Write `out_dir` as an mlx-lm model folder built from `gguf_path` (out_dir must not exist yet)."""
    import gguf
    from safetensors.numpy import save_file

    from edgeunlearn.models.gguf_tokenizer import tokenizer_from_gguf_fields

    reader = gguf.GGUFReader(str(gguf_path))
    fields = read_fields(reader)
    config = hf_config(fields)
    tokenizer = tokenizer_from_gguf_fields(fields)
    weights = import_weights(reader, config)
    out_dir.mkdir(parents=True)
    save_file(weights, str(out_dir / "model.safetensors"))
    (out_dir / "config.json").write_text(json.dumps(config, indent=2))
    tokenizer.save_pretrained(str(out_dir))
    source = {"gguf": str(gguf_path), "source_type": source_type(reader)}
    (out_dir / SOURCE_FILE).write_text(json.dumps(source, indent=2))
