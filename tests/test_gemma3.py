"""Gemma-3-270M, the second real model (a base model with a 262k-token vocabulary), through the whole loop as a
user runs it: the packaged Q4_K_M GGUF imported for MLX training, completion prompts, a short npo_gd run,
export, quantization and the check, with its own Q4_K_M grid. Short on purpose (CI); the full recipe's figures
are in the README."""

import json

from typer.testing import CliRunner

from edgeunlearn.cli.app import app


def test_gemma3_270m_runs_the_loop_with_completion_prompts(tmp_path):
    out = tmp_path / "gemma"
    args = ["run", "recipes/gemma3.yaml", "--steps", "2", "--no-until", "--types", "Q8_0", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "results.json").read_text())
    rows = {v["name"]: v for v in summary["variants"]}
    # the packaged file is written as Q4_K_M (general.file_type; most of its tensors are Q5_0, the fallback for
    # 640-wide rows): the base's F16 export re-quantized to Q4_K_M reproduces more of that file byte for byte
    # than another type does, and the unlearned model is checked at full precision, as F16, at Q4_K_M and Q8_0
    assert summary["source_type"] == "Q4_K_M"
    assert summary["grid"]["match"]["Q4_K_M"] > summary["grid"]["match"]["Q8_0"]
    assert {"base Q4_K_M", "unlearned MLX fp32", "unlearned F16", "unlearned Q4_K_M", "unlearned Q8_0"} <= set(rows)
    assert summary["training"]["steps"] == 2
    forget = [json.loads(line) for line in open("recipes/data/gemma3/forget.jsonl")]
    base_items = rows["base F16"]["forget_items"]
    assert len(base_items) == len(forget)
    # completion prompts: the base continues the item's own prompt and states what it knows (the recipe's data
    # was chosen so that it does)
    assert sum(item["knows"] for item in base_items) >= len(forget) - 1
    assert summary["prompt_format"] == "completion"  # `auto`: Gemma-3-270M has no chat template
