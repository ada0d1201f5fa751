"""Loss terms on hand-computed values, and the registry's contract."""

import math

import mlx.core as mx
import numpy as np
import pytest

from edgeunlearn.config import MethodArgs
from edgeunlearn.errors import UserError
from edgeunlearn.methods import METHODS, Method, get_method, method_names
from edgeunlearn.methods.terms import mean_nll, npo_loss, sequence_nll
from edgeunlearn.training.batching import Batch


class FixedLogits:
    """A stand-in 'model' returning fixed logits: pure-logic test of the loss terms."""

    def __init__(self, logits):
        self.logits = mx.array(logits, dtype=mx.float32)

    def model(self, inputs):  # the transformer's hidden states: here already the logits
        return self.logits

    def lm_head(self, hidden):
        return hidden


def _batch(mask, ref=None):
    return Batch(mx.zeros((1, 2), dtype=mx.int32), mx.array([[0, 1]], dtype=mx.int32), mx.array(mask), [0], ref)


def test_nll_terms_match_hand_computation():
    # vocab 2, logits [0, 0] -> p = 0.5 at both positions; target ids 0 then 1
    model = FixedLogits([[[0.0, 0.0], [0.0, math.log(3.0)]]])  # second position: p(1) = 3/4
    batch = _batch([[1.0, 1.0]])
    expected = -(math.log(0.5) + math.log(0.75))
    assert float(sequence_nll(model, batch)[0]) == pytest.approx(expected, rel=1e-5)
    nll, ntoks = mean_nll(model, batch)
    assert float(nll) == pytest.approx(expected / 2, rel=1e-5) and float(ntoks) == 2
    masked = _batch([[0.0, 1.0]])  # prompt position excluded
    assert float(sequence_nll(model, masked)[0]) == pytest.approx(-math.log(0.75), rel=1e-5)


def test_npo_term_matches_formula():
    nll, ref = mx.array([2.0, 5.0]), mx.array([1.0, 5.0])
    beta = 0.1
    expected = np.mean([-(2 / beta) * math.log(1 / (1 + math.exp(-beta * d))) for d in (1.0, 0.0)])
    assert float(npo_loss(nll, ref, beta)) == pytest.approx(expected, rel=1e-5)
    # at ℓθ = ℓref the loss is (2/β)·ln 2, and it falls as the forget NLL rises
    assert float(npo_loss(mx.array([3.0]), mx.array([3.0]), beta)) == pytest.approx(20 * math.log(2), rel=1e-5)
    assert float(npo_loss(mx.array([9.0]), mx.array([3.0]), beta)) == pytest.approx(
        20 * math.log1p(math.exp(-0.6)), rel=1e-5
    )  # −(2/β)·log σ(β·6) = 20·ln(1 + e^−0.6), below 20·ln 2


def test_ga_and_gd_signs():
    # p = 1/2 for target 0 at the first position, 3/4 for target 1 at the second; the retain batch scores
    # only the second, so a term computed on the wrong batch gives a different number (swapped: ln 2)
    model = FixedLogits([[[0.0, 0.0], [0.0, math.log(3.0)]]])
    forget, retain = _batch([[1.0, 1.0]]), _batch([[0.0, 1.0]])
    ln2, ln43 = math.log(2), math.log(4 / 3)
    ga, _ = get_method("ga").loss(model, {"forget": forget}, MethodArgs())
    gd, _ = get_method("gd").loss(model, {"forget": forget, "retain": retain}, MethodArgs(retain_weight=2.0))
    assert float(ga) == pytest.approx(-(ln2 + ln43) / 2, rel=1e-5)
    assert float(gd) == pytest.approx(-(ln2 + ln43) / 2 + 2 * ln43, rel=1e-5)


def test_registry_lists_names_and_refuses_duplicates():
    assert {"ga", "gd", "npo", "npo_gd"} <= set(method_names())
    with pytest.raises(UserError, match="choose one of .*npo_gd"):
        get_method("nope")
    with pytest.raises(ValueError, match="already registered"):
        METHODS.register("ga", Method("ga", lambda *a: None, "dup"))
