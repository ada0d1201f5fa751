"""An entailment (NLI) model from a local folder: does an answer contradict the reference fact?

Any BERT-family sequence classifier with a `contradiction` label in config.json's id2label (e.g. an MNLI
cross-encoder), run in MLX: pooler (tanh of the [CLS] state) → classifier → argmax. Nothing ships one;
users give the folder with `--nli-model`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgeunlearn.errors import UserError
from edgeunlearn.judges.bert import encode, forward, linear, load_bert_folder

HINT = "a local BERT NLI folder (config.json with id2label incl. contradiction, model.safetensors, tokenizer)"
BATCH = 32


class NLIClassifier:
    def __init__(self, folder: Path):
        self.bert = load_bert_folder(Path(folder).expanduser(), "NLI model", HINT)
        labels = {int(i): str(name).lower() for i, name in self.bert.config.get("id2label", {}).items()}
        self.contradiction = next((i for i, name in labels.items() if name.startswith("contradict")), None)
        missing = [k for k in ("pooler.dense.weight", "classifier.weight") if k not in self.bert.weights]
        if self.contradiction is None or missing:
            what = "no contradiction label in id2label" if self.contradiction is None else f"no {missing[0]}"
            raise UserError(f"NLI model folder {folder} has {what}: give {HINT}")
        self.labels = labels

    def probabilities(self, premises: Sequence[str], hypotheses: Sequence[str]) -> np.ndarray:
        """(n, labels) softmax probabilities for each (premise, hypothesis) pair."""
        pairs = list(zip(premises, hypotheses))
        out = [self._batch(pairs[i : i + BATCH]) for i in range(0, len(pairs), BATCH)]
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), np.float32)

    def contradicts(self, premises: Sequence[str], hypotheses: Sequence[str]) -> list[bool]:
        probs = self.probabilities(premises, hypotheses)
        return [int(row.argmax()) == self.contradiction for row in probs]

    def _batch(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        import mlx.core as mx

        ids, mask, type_ids = encode(self.bert, pairs)
        cls = forward(self.bert, ids, mask, type_ids)[:, 0]
        pooled = mx.tanh(linear(cls, self.bert.weights, "pooler.dense"))
        return np.array(mx.softmax(linear(pooled, self.bert.weights, "classifier"), axis=-1))
