"""The training step's fast paths compute what the plain ones do: the polynomial exp, SwiGLU and log-sum-exp
against float64 numpy by their textbook formulas; logits in the answer window and the shared prompt prefix
against the plain full forward on every architecture (with a negative control); the LoRA update added inside
the product against mlx-lm's layer."""

from __future__ import annotations

import dataclasses

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from conftest import random_lora_update
from test_architectures import CONFIGS, _build

from edgeunlearn.backends import mlx_fast
from edgeunlearn.backends.mlx_backend import MLXBackend
from edgeunlearn.methods.terms import sequence_nll, token_logprobs
from edgeunlearn.training.batching import make_batch


def test_polynomial_exp_matches_float64_exp_to_float32_rounding():
    x = np.concatenate([np.linspace(-87.0, 88.0, 200_001), [0.0, -1e-8, 1e-8, 0.5 * np.log(2), 20.0]])
    got = np.array(mlx_fast.exp2_poly(mx.array(x.astype(np.float32))), dtype=np.float64)
    want = np.exp(x.astype(np.float32).astype(np.float64))
    assert np.max(np.abs(got - want) / want) < 5e-7
    # below the normal range it underflows to at most e^−87 ≈ 1.6e-38 instead of returning garbage
    tiny = np.array(mlx_fast.exp2_poly(mx.array([-100.0, -1e4], dtype=mx.float32)))
    assert np.all(tiny >= 0) and np.all(tiny <= 1.7e-38)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_swiglu_and_its_gradient_match_the_formulas():
    rng = np.random.default_rng(0)
    gate, up, weight = (rng.normal(0, s, (3, 5, 64)) for s in (4.0, 1.0, 1.0))
    g, u = mx.array(gate.astype(np.float32)), mx.array(up.astype(np.float32))
    out = np.array(mlx_fast.swiglu(g, u), dtype=np.float64)
    assert np.allclose(out, gate * _sigmoid(gate) * up, rtol=1e-5, atol=1e-5)
    # d/dg [g σ(g) u] = u σ(g)(1 + g(1 − σ(g))); d/du = g σ(g); here with an upstream weight
    w = mx.array(weight.astype(np.float32))
    d_gate, d_up = mx.grad(lambda a, b: (mlx_fast.swiglu(a, b) * w).sum(), argnums=(0, 1))(g, u)
    s = _sigmoid(gate)
    assert np.allclose(np.array(d_gate), weight * up * s * (1 + gate * (1 - s)), rtol=1e-4, atol=1e-5)
    assert np.allclose(np.array(d_up), weight * gate * s, rtol=1e-4, atol=1e-5)


def test_logsumexp_and_its_gradient_match_the_formulas():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 8.0, (2, 3, 500))
    weight = rng.normal(size=(2, 3, 1))
    xs = mx.array(x.astype(np.float32))
    peak = x.max(-1, keepdims=True)
    want = peak + np.log(np.exp(x - peak).sum(-1, keepdims=True))
    assert np.allclose(np.array(mlx_fast.logsumexp(xs)), want, rtol=1e-6, atol=1e-5)
    grad = mx.grad(lambda a: (mlx_fast.logsumexp(a) * mx.array(weight.astype(np.float32))).sum())(xs)
    assert np.allclose(np.array(grad), weight * np.exp(x - want), atol=1e-6)  # weight · softmax


def test_batch_window_and_shared_prefix_by_hand():
    pairs = [([5, 6, 7, 8, 9], [1, 2]), ([5, 6, 7, 3], [4, 4, 4]), ([5, 6, 7, 8], [2])]
    batch = make_batch(pairs, [0, 1, 2])
    # inputs are seq[:-1], width 6; the earliest answer target is predicted at position 3 (row 2: len 4 − 1)
    assert batch.inputs.shape == (3, 6) and batch.start == 3
    assert batch.prefix == 3  # all rows begin 5, 6, 7
    assert np.array(batch.mask).tolist() == [[0, 1, 1], [1, 1, 1], [1, 0, 0]]
    assert np.array(batch.targets).tolist() == [[9, 1, 2], [4, 4, 4], [2, 0, 0]]
    assert make_batch(pairs[:1], [0]).prefix == 4  # one row shares all it has, up to the window


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def backend(request, smollm2, tmp_path_factory):
    folder = _build(request.param, tmp_path_factory.mktemp(request.param) / "model", smollm2)
    backend = MLXBackend(folder)
    backend.add_lora(4, 20.0, 0.0, (), -1)
    random_lora_update(backend, 0.05, seed=3)
    return backend


def _shared_batch(prefix_len: int = 20):
    rng = np.random.default_rng(2)
    shared = rng.integers(100, 40000, prefix_len).tolist()
    pairs = [
        (shared + rng.integers(100, 40000, n).tolist(), rng.integers(100, 40000, a).tolist())
        for n, a in ((12, 9), (16, 5), (14, 12))
    ]
    return make_batch(pairs, [0, 1, 2])


def test_window_and_shared_prefix_equal_the_full_forward(backend):
    batch = _shared_batch()
    assert batch.prefix == 20 and batch.start == 31
    logits = backend.model(batch.inputs).astype(mx.float32)[:, batch.start :]
    full = np.array(logits - mx.logsumexp(logits, axis=-1, keepdims=True))
    want = np.take_along_axis(full, np.array(batch.targets)[..., None], -1)[..., 0]
    got = np.array(token_logprobs(backend.model, batch))
    mask = np.array(batch.mask) > 0
    assert np.max(np.abs(got - want)[mask]) < 2e-4
    # negative control: claiming three more shared tokens than the rows have moves the log-probs (where the
    # model's caches allow sharing; Gemma 3's sliding-window layers take the plain forward, which is unaffected)
    wrong = np.array(token_logprobs(backend.model, dataclasses.replace(batch, prefix=23)))
    if _shares(backend):
        assert np.max(np.abs(wrong - want)[mask]) > 1e-2
    else:
        assert np.max(np.abs(wrong - want)[mask]) < 2e-4


def _shares(backend) -> bool:
    from edgeunlearn.backends.mlx_prefix import shares_prefix

    return shares_prefix(backend.model)


def test_shared_prefix_gradients_equal_the_per_row_ones(backend):
    batch = _shared_batch()
    loss_and_grad = nn.value_and_grad(backend.model, lambda m, b: sequence_nll(m, b).sum())
    _, shared = loss_and_grad(backend.model, batch)
    _, per_row = loss_and_grad(backend.model, dataclasses.replace(batch, prefix=0))
    from mlx.utils import tree_flatten

    for (name, a), (_, b) in zip(tree_flatten(shared), tree_flatten(per_row)):
        scale = float(mx.abs(b).max()) + 1e-12
        assert float(mx.abs(a - b).max()) / scale < 1e-3, name


def test_lora_update_inside_the_product_equals_mlx_lms_layer(backend):
    from mlx_lm.tuner.lora import LoRALinear

    name, layer = backend.named_lora_layers()[0]
    assert type(layer).__name__ == "FastLoRALinear"
    x = mx.random.normal((2, 7, layer.lora_a.shape[0]))
    want = LoRALinear.__call__(layer, x)
    assert float(mx.abs(layer(x) - want).max()) < 1e-4 * (float(mx.abs(want).max()) + 1)
    with backend.lora_disabled():
        assert float(mx.abs(layer(x) - layer.linear(x)).max()) == 0.0


def test_the_tensor_table_matches_the_gguf_packages_reader(smollm2, tmp_path):
    import gguf

    from edgeunlearn.models.gguf_header import tensor_table
    from edgeunlearn.quantize.llamacpp import grid_match, quantize_gguf

    for path in (smollm2.gguf, quantize_gguf(smollm2.gguf, tmp_path / "q8.gguf", "Q8_0")):
        theirs = gguf.GGUFReader(str(path)).tensors
        ours = tensor_table(path)
        assert [(t.name, t.type_name, t.offset, t.n_bytes) for t in ours] == [
            (t.name, t.tensor_type.name, int(t.data_offset), int(t.n_bytes)) for t in theirs
        ]
    assert grid_match(smollm2.gguf, smollm2.gguf) == 1.0
