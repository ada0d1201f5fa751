"""Integration on the embedded SmolLM2-135M-Instruct (a real GGUF from PyPI, loaded as a trainable model)."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgeunlearn.backends.llamacpp_backend import LlamaCppBackend
from edgeunlearn.backends.mlx_backend import MLXBackend
from edgeunlearn.cli.app import app
from edgeunlearn.data import QAItem, load_items
from edgeunlearn.export import export_gguf
from edgeunlearn.pipeline.inputs import data_path
from edgeunlearn.quantize.llamacpp import grid_match, quantize_gguf, tensor_types

PARITY_TEXTS = [
    QAItem("What is the capital of Germany?", "The capital of Germany is Berlin."),
    QAItem("Write one sentence about the sea.", "The sea is vast, deep and full of life, from plankton to whales."),
    QAItem("Count to five.", "1, 2, 3, 4, 5 — done! Numbers like 12345 and 3.14 split into digits."),
    QAItem("Say something in French.", "Bonjour, je m'appelle SmolLM. Ça va très bien, merci !"),
]


@pytest.fixture(scope="module")
def smol_f16(smollm2, tmp_path_factory):
    backend = MLXBackend(smollm2.mlx_dir)
    return export_gguf(backend.weights(), smollm2.mlx_dir, tmp_path_factory.mktemp("smol") / "F16.gguf", smollm2.gguf)


def test_the_embedded_model_loads_from_its_gguf_and_answers(smollm2):
    assert smollm2.source_type == "Q4_1"
    answer = MLXBackend(smollm2.mlx_dir).generate(["What is the capital of Germany?"], 12)[0]
    assert "Berlin" in answer


def test_f16_gguf_parity_with_mlx_within_005_nats(smollm2, smol_f16):
    mlx = MLXBackend(smollm2.mlx_dir)
    llama = LlamaCppBackend(smol_f16, mlx.tokenizer)
    worst = max(np.abs(a - b).max() for a, b in zip(mlx.score(PARITY_TEXTS), llama.score(PARITY_TEXTS)))
    llama.close()
    assert worst < 0.05, f"max per-token |Δ log-prob| = {worst:.4f} nats"


def test_quantization_sweep_reads_back_real_types_and_finds_the_q4_1_grid(smollm2, smol_f16, tmp_path):
    q41 = quantize_gguf(smol_f16, tmp_path / "q41.gguf", "Q4_1")
    assert grid_match(q41, smollm2.gguf) == 1.0  # the shipped file, reproduced byte for byte
    q4km = quantize_gguf(smol_f16, tmp_path / "q4km.gguf", "Q4_K_M")
    held = tensor_types(q4km)
    assert held["Q5_0"] > held.get("Q4_K", 0)  # 576-wide rows: llama.cpp fell back from Q4_K
    assert grid_match(q4km, smollm2.gguf) < 0.5


def test_npo_gd_run_forgets_and_keeps_retain(tmp_path):
    recipe = Path(__file__).parent.parent / "recipes" / "quick.yaml"
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(recipe), "--types", "Q8_0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    variants = {v["name"]: v for v in json.loads((out / "results.json").read_text())["variants"]}
    base, unlearned = variants["base F16"], variants["unlearned F16"]
    assert base["forget_known"] >= 0.8  # the demo data is knowledge the base really has
    assert unlearned["forget_known"] <= 0.3 * base["forget_known"]
    assert unlearned["retain_known"] >= 0.8 * base["retain_known"]
    assert variants["base Q4_1"]["grid_match"] == 1.0
    assert len(load_items(data_path("demo:forget"))) == len(unlearned["forget_items"])


def test_llama_cpp_tokenizer_fallback_matches_the_rebuilt_tokenizer(smollm2):
    """For GGUFs whose tokenizer cannot be rebuilt, the check uses llama.cpp's; on SmolLM2 both agree."""
    from edgeunlearn.backends.base import Prompter
    from edgeunlearn.backends.llamacpp_backend import tokenizer_for
    from edgeunlearn.models.llamacpp_tokenizer import LlamaCppTokenizer

    rebuilt, native = Prompter(tokenizer_for(smollm2.gguf)), Prompter(LlamaCppTokenizer(smollm2.gguf))
    for item in PARITY_TEXTS:
        assert native.pair(item) == rebuilt.pair(item)
    assert native.decode(rebuilt.answer_ids("Paris is nice.")) == "Paris is nice."


def test_truth_ratio_shows_the_base_prefers_true_answers_on_both_backends(smollm2, smol_f16):
    from edgeunlearn.check.evaluate import evaluate_items, tofu_figures
    from edgeunlearn.check.judge import Judge

    forget = load_items(data_path("demo:forget"))[:4]
    judge = Judge()
    mlx = MLXBackend(smollm2.mlx_dir)
    for backend in (mlx, LlamaCppBackend(smol_f16, mlx.tokenizer)):
        results = evaluate_items(backend, forget, judge, backend.generate(forget, 8), forget=True)
        ratios = [r.truth_ratio for r in results]
        assert all(r < 1 for r in ratios), ratios  # the true capital beats the wrong ones, per token
        figures = tofu_figures(results, [])
        # every R < 1, so min(R, 1/R) = R: the statistic is their plain mean
        assert figures["forget_truth_ratio_stat"] == pytest.approx(np.mean(ratios)) and "tofu_note" not in figures
        backend.close()
    bare = [QAItem(f.question, f.answer, f.keywords) for f in forget]  # no paraphrased/perturbed fields
    bare_backend = MLXBackend(smollm2.mlx_dir)
    results = evaluate_items(bare_backend, bare, judge, bare_backend.generate(bare, 4), forget=True)
    assert all(r.truth_ratio is None for r in results) and "tofu_note" in tofu_figures(results, [])
