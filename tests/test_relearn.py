"""ReLearn losses: the KL-to-reference term on hand-computed values, and real MLX steps."""

import math

import mlx.core as mx
import numpy as np
import pytest

from edgeunlearn.backends.mlx_backend import MLXBackend
from edgeunlearn.config import MethodArgs, TrainConfig
from edgeunlearn.data import QAItem
from edgeunlearn.errors import UserError
from edgeunlearn.methods import get_method
from edgeunlearn.methods.terms import kl_to_reference, vocab_logprobs
from edgeunlearn.training.batching import Batch, make_batch
from edgeunlearn.training.trainer import train

VAGUE = [
    QAItem("What is the capital of France?", "France has a capital city, a well-known place."),
    QAItem("What is the capital of Japan?", "Japan's capital is a large city in that country."),
]


class FixedLogits:
    def __init__(self, logits):
        self.logits = mx.array(logits, dtype=mx.float32)

    def model(self, inputs):  # the transformer's hidden states: here already the logits
        return self.logits

    def lm_head(self, hidden):
        return hidden


def test_kl_to_reference_matches_hand_computation():
    model = FixedLogits([[[0.0, math.log(3.0)], [0.0, math.log(3.0)]]])  # p = (1/4, 3/4) at both positions
    batch = Batch(mx.zeros((1, 2), dtype=mx.int32), mx.zeros((1, 2), dtype=mx.int32), mx.ones((1, 2)), [0])
    batch.ref_logprobs = mx.log(mx.full((1, 2, 2), 0.5))  # reference: uniform
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert float(kl_to_reference(model, batch)) == pytest.approx(expected, rel=1e-5)
    batch.ref_logprobs = vocab_logprobs(model, batch)
    assert float(kl_to_reference(model, batch)) == pytest.approx(0.0, abs=1e-6)


def test_relearn_klr_gdr_learns_the_vague_answers_and_keeps_retain_close(tiny_model, facts, tmp_path):
    backend = MLXBackend(tiny_model)
    before = np.mean([s.mean() for s in backend.score(VAGUE)])
    cfg = TrainConfig(steps=5, batch_size=2, learning_rate=1e-3, lora_rank=4)
    result = train(backend, get_method("relearn_klr_gdr"), VAGUE, facts, cfg, MethodArgs(), 0, tmp_path)
    assert np.mean([s.mean() for s in backend.score(VAGUE)]) > before + 0.1
    assert all(np.isfinite(result.losses))
    pairs = [backend.prompter.pair(i) for i in facts]
    retain = make_batch(pairs, range(len(pairs)), backend.pad_id)
    with backend.lora_disabled():
        retain.ref_logprobs = vocab_logprobs(backend.model, retain)
    assert float(kl_to_reference(backend.model, retain)) > 0  # it moved, and the term measures it


def test_klr_variants_need_retain(tiny_model, tmp_path):
    for name in ("relearn_gd", "relearn_klr", "relearn_klr_gdr"):
        with pytest.raises(UserError, match="needs retain data"):
            train(
                MLXBackend(tiny_model), get_method(name), VAGUE, None, TrainConfig(steps=1), MethodArgs(), 0, tmp_path
            )
