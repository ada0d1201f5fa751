"""Real MLX training, real GGUF files, real llama.cpp — on a tiny llama built in the test."""

import json
import math

import numpy as np
import pytest

from edgeunlearn.backends.llamacpp_backend import LlamaCppBackend
from edgeunlearn.backends.mlx_backend import MLXBackend
from edgeunlearn.config import MethodArgs, TrainConfig
from edgeunlearn.errors import UserError
from edgeunlearn.export import export_gguf
from edgeunlearn.methods import get_method
from edgeunlearn.methods.terms import mean_nll
from edgeunlearn.models.gguf_import import materialize
from edgeunlearn.quantize.llamacpp import grid_match, quantize_gguf, tensor_types, validate_types
from edgeunlearn.training.trainer import train

STEPS = TrainConfig(steps=4, batch_size=2, learning_rate=1e-3, lora_rank=4, checkpoint_every=2)


@pytest.fixture(scope="module")
def tiny_f16(tiny_model, tmp_path_factory):
    backend = MLXBackend(tiny_model)
    return export_gguf(backend.weights(), tiny_model, tmp_path_factory.mktemp("gguf") / "tiny-F16.gguf", None)


def _mean(scores):
    return float(np.mean([s.mean() for s in scores]))


def test_gradient_ascent_steps_lower_forget_logprob_and_lora_off_is_the_base(tiny_model, facts, tmp_path):
    backend = MLXBackend(tiny_model)
    before = backend.score(facts)
    result = train(backend, get_method("ga"), facts, None, STEPS, MethodArgs(), 0, tmp_path)
    assert _mean(backend.score(facts)) < _mean(before) - 0.1
    with backend.lora_disabled():
        base_again = backend.score(facts)
    assert max(np.abs(a - b).max() for a, b in zip(before, base_again)) < 1e-4
    assert len(result.losses) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "000002_adapters.safetensors",
        "000004_adapters.safetensors",
        "adapters.safetensors",
    ]


def test_npo_gd_needs_retain(tiny_model, facts, tmp_path):
    with pytest.raises(UserError, match="needs retain data"):
        train(MLXBackend(tiny_model), get_method("npo_gd"), facts, None, STEPS, MethodArgs(), 0, tmp_path)


def test_same_seed_same_training(tiny_model, facts, tmp_path):
    runs = []
    for i in range(2):
        backend = MLXBackend(tiny_model)
        runs.append(
            train(backend, get_method("npo_gd"), facts[:2], facts[2:], STEPS, MethodArgs(), 7, tmp_path / str(i)).losses
        )
    assert runs[0] == pytest.approx(runs[1], rel=1e-5)


def test_f16_gguf_matches_mlx_under_llama_cpp(tiny_model, tiny_f16, facts):
    mlx_scores = MLXBackend(tiny_model).score(facts)
    llama = LlamaCppBackend(tiny_f16, MLXBackend(tiny_model).tokenizer)
    gguf_scores = llama.score(facts)
    llama.close()
    worst = max(np.abs(a - b).max() for a, b in zip(mlx_scores, gguf_scores))
    assert worst < 0.05, f"max per-token |Δ log-prob| {worst:.4f}"


def test_gguf_import_round_trips_the_weights(tiny_model, tiny_f16, tmp_path):
    """Export permutes q/k for llama.cpp; import must undo it exactly (up to F16 rounding)."""
    from safetensors.numpy import load_file

    materialize(tiny_f16, tmp_path / "back")
    back = load_file(str(tmp_path / "back" / "model.safetensors"))
    original = MLXBackend(tiny_model).weights()
    for name, w in original.items():
        assert np.allclose(back[name], w, atol=2e-3), name
    assert json.loads((tmp_path / "back" / "config.json").read_text())["num_key_value_heads"] == 2


def test_k_quants_are_real_on_256_wide_rows_and_types_are_read_back(tiny_f16, tmp_path):
    q4k = quantize_gguf(tiny_f16, tmp_path / "q4km.gguf", "Q4_K_M")
    held = tensor_types(q4k)
    assert held.get("Q4_K", 0) > 0 and "Q5_0" not in held
    q8 = quantize_gguf(tiny_f16, tmp_path / "q8.gguf", "Q8_0")
    again = quantize_gguf(tiny_f16, tmp_path / "q8b.gguf", "Q8_0")
    assert grid_match(again, q8) == 1.0 and grid_match(q4k, q8) < 0.5


def test_bad_quant_types_are_refused():
    with pytest.raises(UserError, match="importance matrix"):
        validate_types(["IQ2_XXS"])
    with pytest.raises(UserError, match="unknown quant type 'Q9_9'"):
        validate_types(["Q9_9"])
    assert validate_types(["q4_k_m", "Q8_0", "Q4_K_M"]) == ["Q4_K_M", "Q8_0"]


def test_llama_cpp_and_mlx_generate_the_same_greedy_answer(tiny_model, tiny_f16):
    mlx = MLXBackend(tiny_model)
    llama = LlamaCppBackend(tiny_f16, mlx.tokenizer)
    question = ["What is the capital of France?"]
    assert llama.generate(question, 8) == mlx.generate(question, 8)
    llama.close()


def test_unsupported_architecture_is_refused_for_export(tiny_model, tmp_path):
    mamba = tmp_path / "mamba"
    mamba.mkdir()
    config = json.loads((tiny_model / "config.json").read_text())
    (mamba / "config.json").write_text(json.dumps({**config, "model_type": "mamba"}))
    with pytest.raises(UserError, match="architecture 'mamba' is not supported: supported are .*qwen3"):
        export_gguf({}, mamba, tmp_path / "x.gguf", None)
    assert not (tmp_path / "x.gguf").exists()


def test_mlx_affine_rounding_moves_weights_onto_a_stable_grid(tiny_model, facts):
    from edgeunlearn.backends.mlx_backend import open_mlx
    from edgeunlearn.quantize.mlx_affine import round_to_affine_grid

    name = "model.layers.0.self_attn.q_proj.weight"
    base = MLXBackend(tiny_model)
    four = open_mlx(tiny_model, bits=4)
    rounded, original = four.weights()[name], base.weights()[name]
    first_move = np.abs(rounded - original).mean()
    assert first_move > 1e-4
    round_to_affine_grid(four.model, 4)
    # already on the grid: a second rounding barely moves anything
    assert np.abs(four.weights()[name] - rounded).mean() < 0.1 * first_move
    drift = {bits: _mean(open_mlx(tiny_model, bits=bits).score(facts)) for bits in (8, 4)}
    reference = _mean(base.score(facts))
    assert abs(drift[8] - reference) < abs(drift[4] - reference)


def test_gradient_accumulation_averages_micro_batches(tiny_model, facts, tmp_path):
    """Two micro-batches of 2 per step see all four items: the first step's loss is their average."""
    from edgeunlearn.training.batching import length_buckets, make_batch

    backend = MLXBackend(tiny_model)
    cfg = TrainConfig(steps=1, batch_size=2, grad_accum=2, learning_rate=1e-3, lora_rank=4)
    pairs = [backend.prompter.pair(i) for i in facts]
    losses = []
    for bucket in length_buckets([len(p) + len(a) for p, a in pairs], 2):
        nll, _ = mean_nll(backend.model, make_batch([pairs[i] for i in bucket], bucket, backend.pad_id))
        losses.append(-float(nll))
    result = train(backend, get_method("ga"), facts, None, cfg, MethodArgs(), 0, tmp_path)
    assert result.losses[0] == pytest.approx(np.mean(losses), rel=1e-4)


def test_sure_trains_only_the_salient_output_rows(tiny_model, facts, tmp_path):
    from mlx.utils import tree_flatten

    backend = MLXBackend(tiny_model)
    before = _mean(backend.score(facts))
    cfg = TrainConfig(steps=3, batch_size=4, learning_rate=1e-3, lora_rank=4, sure=True, sure_percentile=90.0)
    train(backend, get_method("ga"), facts, None, cfg, MethodArgs(), 0, tmp_path)
    assert _mean(backend.score(facts)) < before
    columns = [
        np.abs(np.array(v)).sum(axis=0) > 0
        for k, v in tree_flatten(backend.model.trainable_parameters())
        if k.endswith("lora_b")
    ]
    trained = np.concatenate(columns).mean()
    assert 0.05 <= trained <= 0.15, f"{trained:.3f} of output rows moved; SURE at p90 should keep ~10%"
    with pytest.raises(UserError, match="sure_percentile"):
        train(
            MLXBackend(tiny_model),
            get_method("ga"),
            facts,
            None,
            TrainConfig(steps=1, sure=True, sure_percentile=100),
            MethodArgs(),
            0,
            tmp_path,
        )


def test_sure_saliency_is_the_base_weights_gradient_row_norm_summed_over_the_forget_set(tiny_model, facts):
    """SURE's saliency, checked against plain autodiff on the model without LoRA: ‖row i of Σ ∂NLL/∂W‖. With
    B = 0 the LoRA layers compute the base exactly, so LoRA's random A (the seed) must not change it."""
    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_flatten

    from edgeunlearn.methods.terms import sequence_nll
    from edgeunlearn.training.batching import make_batch
    from edgeunlearn.training.sure import row_saliency

    plain = MLXBackend(tiny_model)
    pairs = [plain.prompter.pair(f) for f in facts]
    grads = {}
    for i, pair in enumerate(pairs):  # one sequence at a time: the sum over the set by hand
        _, g = nn.value_and_grad(plain.model, lambda m, b: sequence_nll(m, b).sum())(
            plain.model, make_batch([pair], [i], plain.pad_id)
        )
        for path, value in tree_flatten(g):
            grads[path] = value if path not in grads else grads[path] + value
    by_seed = []
    for seed in (0, 1):
        mx.random.seed(seed)
        backend = MLXBackend(tiny_model)
        backend.add_lora(4, 20.0, 0.0, (), -1)
        by_seed.append(row_saliency(backend, pairs))
    assert set(by_seed[0]) == {p.replace(".weight", ".lora_b") for p in grads if p.endswith("proj.weight")}
    for path, norms in by_seed[0].items():
        expected = np.linalg.norm(np.array(grads[path.replace(".lora_b", ".weight")]), axis=1)
        assert np.allclose(norms, expected, rtol=1e-3, atol=1e-6), path
        assert np.allclose(by_seed[1][path], norms, rtol=1e-3, atol=1e-6)
    assert not any(p.endswith(".linear.weight") for p, _ in tree_flatten(backend.model.trainable_parameters()))


def test_token_stats_by_hand_and_equal_on_both_backends(tiny_model, tiny_f16, facts):
    from edgeunlearn.backends.base import stats_from_logprobs

    logp = np.log(np.array([[0.5, 0.25, 0.25], [1.0, 1e-30, 1e-30]]))
    stats = stats_from_logprobs(logp, [1, 0])
    mu0 = 0.5 * math.log(0.5) + 0.5 * math.log(0.25)
    var0 = 0.5 * math.log(0.5) ** 2 + 0.5 * math.log(0.25) ** 2 - mu0**2
    assert stats.logprobs[0] == pytest.approx(math.log(0.25)) and stats.mu[0] == pytest.approx(mu0)
    assert stats.sigma[0] == pytest.approx(math.sqrt(var0)) and stats.sigma[1] == pytest.approx(0.0, abs=1e-6)

    mlx = MLXBackend(tiny_model)
    llama = LlamaCppBackend(tiny_f16, mlx.tokenizer)
    for a, b, plain in zip(mlx.score_stats(facts), llama.score_stats(facts), mlx.score(facts)):
        assert np.allclose(a.logprobs, plain, atol=1e-5)  # the same log-probs `score` gives
        assert np.allclose(a.mu, b.mu, atol=0.02) and np.allclose(a.sigma, b.sigma, atol=0.02)
        # μ = Σ p log p = −entropy: between −ln V (uniform) and 0
        vocab = mlx.model.args.vocab_size
        assert np.all((a.mu >= -math.log(vocab) - 1e-4) & (a.mu < 0)) and np.all(a.sigma > 0)
    llama.close()


def test_llama_cpp_scores_answers_sharing_a_prompt_as_if_alone(tiny_model, tiny_f16, facts):
    """Answers under one question share its prompt tokens in one decode; each must score as it does alone."""
    from edgeunlearn.backends.llamacpp_backend import LlamaCppBackend
    from edgeunlearn.backends.mlx_backend import MLXBackend
    from edgeunlearn.data import QAItem

    llama = LlamaCppBackend(tiny_f16, MLXBackend(tiny_model).tokenizer)
    question = facts[0].question
    items = [QAItem(question, a) for a in ("Paris.", "Lyon is the capital.", "It is Marseille, of course.")]
    items.append(facts[1])
    together = llama.score(items)
    stats = llama.score_stats(items)
    for item, joint, joint_stats in zip(items, together, stats):
        (alone,) = llama.score([item])
        assert joint.shape == alone.shape and np.allclose(joint, alone, atol=5e-3)  # F16 batch-order noise
        assert np.allclose(joint_stats.logprobs, alone, atol=5e-3)
    llama.close()
