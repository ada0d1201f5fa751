"""A BERT forward pass in MLX, for the offline judges (sentence encoder, NLI classifier).

Written here because the libraries that ship BERT (transformers, sentence-transformers) need torch, which
this project does not install; it is a plain post-LayerNorm BERT, ~40 lines. A folder holds config.json,
model.safetensors (names with or without the `bert.` prefix of *ForSequenceClassification checkpoints) and
tokenizer.json or vocab.txt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeunlearn.errors import UserError

PREFIX = "bert."


@dataclass
class BertFolder:
    folder: Path
    config: dict
    weights: dict  # encoder weights without the `bert.` prefix; heads (e.g. `classifier.*`) as stored
    tokenizer: object  # tokenizers.Tokenizer, padded and truncated


def load_bert_folder(folder: Path, role: str, hint: str) -> BertFolder:
    """Load a local BERT folder or raise a one-line UserError naming `role` and `hint` (what to give)."""
    import mlx.core as mx

    folder = Path(folder)
    try:
        config = json.loads((folder / "config.json").read_text())
        stored = mx.load(str(folder / "model.safetensors"))
        tokenizer = _tokenizer(folder, config)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{role} folder {folder} is unreadable ({reason}): give {hint}") from exc
    weights = {k.removeprefix(PREFIX): v for k, v in stored.items()}
    if config.get("model_type") != "bert" or "embeddings.word_embeddings.weight" not in weights:
        kind = config.get("model_type", "unknown")
        raise UserError(f"{role} folder {folder} holds a {kind!r} model, not BERT: give {hint}")
    return BertFolder(folder, config, weights, tokenizer)


def _tokenizer(folder: Path, config: dict):
    from tokenizers import Tokenizer
    from tokenizers.implementations import BertWordPieceTokenizer

    if (folder / "tokenizer.json").exists():
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    else:  # older checkpoints ship only the WordPiece vocabulary
        lowercase = json.loads(_read_or(folder / "tokenizer_config.json", "{}")).get("do_lower_case", True)
        tokenizer = BertWordPieceTokenizer(str(folder / "vocab.txt"), lowercase=lowercase)
    tokenizer.enable_padding(pad_id=config.get("pad_token_id", 0))
    tokenizer.enable_truncation(min(256, config["max_position_embeddings"]))
    return tokenizer


def _read_or(path: Path, default: str) -> str:
    return path.read_text() if path.exists() else default


def encode(bert: BertFolder, texts: list) -> tuple:
    """(ids, attention mask, token type ids) as MLX arrays; `texts` are strings or (premise, hypothesis)."""
    import mlx.core as mx

    encodings = bert.tokenizer.encode_batch(texts)
    ids = mx.array([e.ids for e in encodings])
    mask = mx.array([e.attention_mask for e in encodings]).astype(mx.float32)
    return ids, mask, mx.array([e.type_ids for e in encodings])


def forward(bert: BertFolder, ids, mask, type_ids):
    """Last hidden states (batch, length, hidden)."""
    import mlx.core as mx

    w, config = bert.weights, bert.config
    eps = config.get("layer_norm_eps", 1e-12)
    positions = mx.arange(ids.shape[1])
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][positions]
    x = x + w["embeddings.token_type_embeddings.weight"][type_ids]
    x = _layer_norm(x, w, "embeddings.LayerNorm", eps)
    bias = (1.0 - mask)[:, None, None, :] * -1e9  # padding gets no attention
    heads = config["num_attention_heads"]
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        attended = _attention(x, w, p + "attention.self.", heads, bias)
        x = _layer_norm(x + linear(attended, w, p + "attention.output.dense"), w, p + "attention.output.LayerNorm", eps)
        inner = _gelu(linear(x, w, p + "intermediate.dense"))
        x = _layer_norm(x + linear(inner, w, p + "output.dense"), w, p + "output.LayerNorm", eps)
    return x


def linear(x, w, name):
    return x @ w[name + ".weight"].T + w[name + ".bias"]


def _layer_norm(x, w, name, eps):
    import mlx.core as mx

    return mx.fast.layer_norm(x, w[name + ".weight"], w[name + ".bias"], eps)


def _gelu(x):
    import mlx.core as mx

    return 0.5 * x * (1.0 + mx.erf(x / np.sqrt(2.0)))  # BERT's exact (erf) GELU


def _attention(x, w, prefix, heads, bias):
    import mlx.core as mx

    batch, length, width = x.shape

    def split(name):
        return linear(x, w, prefix + name).reshape(batch, length, heads, width // heads).transpose(0, 2, 1, 3)

    q, k, v = split("query"), split("key"), split("value")
    out = mx.fast.scaled_dot_product_attention(q, k, v, scale=(width // heads) ** -0.5, mask=bias)
    return out.transpose(0, 2, 1, 3).reshape(batch, length, width)
