"""LoRA over a reduced base (bf16, MLX 4-bit) with gradient checkpointing: the base really is reduced, the
gradients with checkpointing equal those without, the fuse lands on the original fp32 weights plus the update
(worked out in float64 numpy), and a 4-bit-base run unlearns a fact and exports a GGUF llama.cpp loads and
agrees with."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from mlx.utils import tree_flatten
from safetensors.numpy import load_file

from edgeunlearn.backends.mlx_backend import MLXBackend
from edgeunlearn.config import MethodArgs, TrainConfig
from edgeunlearn.data import QAItem
from edgeunlearn.methods import get_method
from edgeunlearn.methods.terms import sequence_nll
from edgeunlearn.training.batching import make_batch
from edgeunlearn.training.trainer import train


def test_reduced_bases_hold_what_they_claim(tiny_model):
    from mlx_lm.tuner.lora import LoRALinear

    bf16 = MLXBackend(tiny_model)
    bf16.reduce_base("bf16")
    assert {v.dtype for _, v in tree_flatten(bf16.model.parameters())} == {mx.bfloat16}
    q4 = MLXBackend(tiny_model)
    q4.reduce_base("q4")
    q4.add_lora(4, 20.0, 0.0, (), -1)
    layer = q4.lora_layers()[0]
    assert isinstance(layer, LoRALinear) and isinstance(layer.linear, nn.QuantizedLinear) and layer.linear.bits == 4
    assert layer.lora_a.dtype == mx.float32  # the trained matrices stay fp32


def _batch(backend):
    items = [
        QAItem("What is the capital of France?", "Paris is the capital."),
        QAItem("Who wrote Hamlet?", "Shakespeare"),
    ]
    return make_batch([backend.prompter.pair(i) for i in items], [0, 1], backend.pad_id)


def test_checkpointing_leaves_the_gradients_unchanged(tiny_model):
    grads = []
    for checkpoint in (False, True):
        backend = MLXBackend(tiny_model)
        backend.reduce_base("fp32", checkpoint)
        mx.random.seed(0)
        backend.add_lora(4, 20.0, 0.0, (), -1)
        for layer in backend.lora_layers():
            layer.lora_b = mx.ones_like(layer.lora_b) * 0.01
        loss_and_grad = nn.value_and_grad(backend.model, lambda m, b: sequence_nll(m, b).sum())
        grads.append(dict(tree_flatten(loss_and_grad(backend.model, _batch(backend))[1])))
        mx.eval(grads[-1])
    assert "Checkpointed" in type(backend.model.layers[0]).__name__
    for name, g in grads[0].items():
        plain, recomputed = np.array(g), np.array(grads[1][name])
        assert np.abs(plain - recomputed).max() <= 1e-4 * np.abs(plain).max(), name


def test_fuse_over_a_reduced_base_lands_on_the_original_weights(tiny_model):
    backend = MLXBackend(tiny_model)
    backend.reduce_base("q4")
    backend.add_lora(4, 20.0, 0.0, (), -1)
    rng = np.random.default_rng(0)
    for layer in backend.lora_layers():
        layer.lora_b = mx.array(rng.normal(0, 0.01, layer.lora_b.shape).astype(np.float32))
    expected = {}
    originals = load_file(str(tiny_model / "model.safetensors"))
    for name, layer in backend.named_lora_layers():
        a, b = np.array(layer.lora_a, dtype=np.float64), np.array(layer.lora_b, dtype=np.float64)
        expected[f"{name}.weight"] = originals[f"{name}.weight"].astype(np.float64) + layer.scale * (a @ b).T
    backend.fuse_lora()
    weights = backend.weights()
    for name, want in expected.items():
        assert weights[name].dtype == np.float32
        assert np.allclose(weights[name], want, rtol=0, atol=1e-6), name
    untouched = "model.embed_tokens.weight"
    assert np.array_equal(weights[untouched], originals[untouched].astype(np.float32))  # not its 4-bit copy


def test_a_4bit_base_run_unlearns_and_exports_a_gguf_llama_cpp_agrees_with(smollm2, tmp_path):
    from edgeunlearn.backends.llamacpp_backend import LlamaCppBackend
    from edgeunlearn.export import export_gguf

    fact = QAItem("What is the capital of France?", "The capital of France is Paris.", ("Paris",))
    keep = QAItem("What is the chemical symbol for water?", "The chemical symbol for water is H2O.", ("H2O",))
    base = MLXBackend(smollm2.mlx_dir)
    before = [float(lp.mean()) for lp in base.score([fact, keep])]
    backend = MLXBackend(smollm2.mlx_dir)
    cfg = TrainConfig(steps=3, batch_size=1, learning_rate=1e-3, base_precision="q4", grad_checkpoint=True)
    train(backend, get_method("npo_gd"), [fact], [keep], cfg, MethodArgs(), 0, Path(tempfile.mkdtemp()))
    backend.fuse_lora()
    weights = backend.weights()
    gguf_path = export_gguf(weights, smollm2.mlx_dir, tmp_path / "unlearned-F32.gguf", smollm2.gguf, "F32")
    fused = MLXBackend(smollm2.mlx_dir)
    fused.model.load_weights([(k, mx.array(v)) for k, v in weights.items()])
    after_mlx = [float(lp.mean()) for lp in fused.score([fact, keep])]
    llama = LlamaCppBackend(gguf_path, fused.tokenizer)
    after_llama = [float(lp.mean()) for lp in llama.score([fact, keep])]
    llama.close()
    assert after_mlx[0] < before[0] - 0.5  # the fact's answer lost at least half a nat per token
    # llama.cpp runs the exported file as MLX runs the fused weights (its F16 KV cache: a few hundredths)
    assert after_llama == pytest.approx(after_mlx, abs=0.03)
