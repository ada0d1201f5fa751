"""The CLI as a user runs it: exit codes, one-line errors, nothing half-written."""

import json

import pytest
from conftest import write_jsonl
from typer.testing import CliRunner

from edgeunlearn.cli.app import app

runner = CliRunner()
GOOD = [{"question": "What is the capital of France?", "answer": "Paris.", "keywords": ["Paris"]}]


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def forget(tmp_path):
    return write_jsonl(tmp_path / "forget.jsonl", GOOD)


def _assert_user_error(result, message, out):
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1, result.output
    assert not out.exists() and not list(out.parent.glob(f".{out.name}*"))


def test_malformed_jsonl(tmp_path, tiny_model):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "Q", "answer": "A"}\nnot json\n')
    out = tmp_path / "run"
    _assert_user_error(
        _run("unlearn", "--model", tiny_model, "--forget", bad, "--method", "ga", "--out", out), "line 2", out
    )


def test_missing_fields_and_empty_forget(tmp_path, tiny_model):
    out = tmp_path / "run"
    missing = write_jsonl(tmp_path / "m.jsonl", [{"question": "Q?"}])
    _assert_user_error(
        _run("unlearn", "--model", tiny_model, "--forget", missing, "--method", "ga", "--out", out), "lacks answer", out
    )
    (tmp_path / "e.jsonl").write_text("")
    _assert_user_error(
        _run("unlearn", "--model", tiny_model, "--forget", tmp_path / "e.jsonl", "--method", "ga", "--out", out),
        "is empty",
        out,
    )


def test_missing_model_unknown_method_unknown_type(tmp_path, forget, tiny_model):
    out = tmp_path / "run"
    _assert_user_error(
        _run("unlearn", "--model", tmp_path / "nope", "--forget", forget, "--method", "ga", "--out", out),
        "model not found",
        out,
    )
    _assert_user_error(
        _run("unlearn", "--model", tiny_model, "--forget", forget, "--method", "forgetit", "--out", out),
        "unknown method 'forgetit'",
        out,
    )
    _assert_user_error(
        _run("check", "--model", tiny_model, "--forget", forget, "--types", "Q4_X", "--out", out),
        "unknown quant type",
        out,
    )
    _assert_user_error(
        _run("check", "--model", tiny_model, "--forget", forget, "--types", "IQ2_XXS", "--out", out),
        "importance matrix",
        out,
    )
    _assert_user_error(
        _run("unlearn", "--model", tiny_model, "--forget", forget, "--method", "npo_gd", "--retain", "", "--out", out),
        "needs retain data",
        out,
    )


def test_unsupported_architecture_export(tmp_path, tiny_model):
    gemma = tmp_path / "gemma"
    gemma.mkdir()
    config = json.loads((tiny_model / "config.json").read_text())
    (gemma / "config.json").write_text(json.dumps({**config, "model_type": "gemma3"}))
    out = tmp_path / "x.gguf"
    result = _run("export", "--model", gemma, "--out", out)
    assert result.exit_code != 0 and not out.exists()


def test_unlearn_export_quantize_check_chain(tmp_path, tiny_model, forget):
    retain = write_jsonl(tmp_path / "retain.jsonl", [{"question": "Who wrote Hamlet?", "answer": "Shakespeare."}])
    run = tmp_path / "run"
    result = _run(
        "unlearn",
        "--model",
        tiny_model,
        "--forget",
        forget,
        "--retain",
        retain,
        "--method",
        "npo_gd",
        "--steps",
        2,
        "--out",
        run,
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["seed"] == 0 and set(manifest["data_sha256"]) == {"forget", "retain"}
    assert manifest["packages"]["mlx"] and json.loads((run / "config.json").read_text())["method"] == "npo_gd"

    f16 = tmp_path / "unlearned.gguf"
    assert _run("export", "--adapter", run, "--out", f16).exit_code == 0 and f16.stat().st_size > 0

    qdir = tmp_path / "q"
    result = _run("quantize", "--model", f16, "--types", "Q8_0,Q4_K_M", "--out", qdir)
    assert result.exit_code == 0, result.output
    report = json.loads((qdir / "quantize.json").read_text())
    assert "Q4_K" in report["Q4_K_M"]["tensor_types"]

    checked = tmp_path / "check"
    result = _run(
        "check",
        "--model",
        f16,
        "--base",
        tiny_model,
        "--forget",
        forget,
        "--retain",
        retain,
        "--types",
        "Q8_0",
        "--max-new-tokens",
        6,
        "--out",
        checked,
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((checked / "results.json").read_text())
    names = [v["name"] for v in summary["variants"]]
    assert names == ["base MLX fp32", "base F16", "base Q8_0", "model F16", "model Q8_0"]
    assert (checked / "results.txt").read_text().count("model Q8_0") == 1
