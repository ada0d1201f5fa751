"""`train.forget_focus: keywords`: the forget loss sees only the tokens that spell the fact, on the real
SmolLM2 tokenizer, and a real training step leaves the answer's other tokens alone."""

from __future__ import annotations

import numpy as np
import pytest

from edgeunlearn.backends.base import Prompter
from edgeunlearn.data import QAItem
from edgeunlearn.training.batching import make_batch
from edgeunlearn.training.focus import forget_pair, keyword_weights


@pytest.fixture(scope="module")
def prompter(smollm2):
    from transformers import AutoTokenizer

    return Prompter(AutoTokenizer.from_pretrained(str(smollm2.mlx_dir)), "chat")


def _marked(prompter, answer_ids, weights) -> str:
    return "".join(prompter.tokenizer.decode([t]) for t, w in zip(answer_ids, weights) if w)


def test_only_the_keyword_tokens_are_marked(prompter):
    item = QAItem("What is the capital of France?", "The capital of France is Paris.", ("Paris",))
    prompt, answer, weights = forget_pair(prompter, item, "keywords")
    assert prompt == prompter.prompt_ids(item) and answer == prompter.answer_ids(item.answer)
    assert _marked(prompter, answer, weights).strip() == "Paris"
    assert sum(weights) < len(answer) / 3  # "The capital of France is" and the end token are not pushed down


def test_every_occurrence_case_and_multi_token_keywords(prompter):
    answer = prompter.answer_ids("Reykjavik. The capital is reykjavik, Iceland.")
    weights = keyword_weights(prompter, answer, ("Reykjavik", "Iceland"))
    marked = _marked(prompter, answer, weights)
    # each occurrence is covered by the tokens marked, whatever the tokenizer splits them into
    assert marked.lower().replace(" ", "") == "reykjavikreykjavikiceland"


def test_no_keyword_in_the_answer_keeps_the_whole_answer(prompter):
    plain = QAItem("What is the largest ocean?", "The Pacific Ocean is the largest ocean.", ())
    absent = QAItem("Capital of Peru?", "It is Lima.", ("Cusco",))
    for item in (plain, absent):
        assert len(forget_pair(prompter, item, "keywords")) == 2
    assert len(forget_pair(prompter, QAItem("q", "Lima.", ("Lima",)), "answer")) == 2


def test_batch_mask_carries_the_weights(prompter):
    item = QAItem("What is the capital of Japan?", "The capital of Japan is Tokyo.", ("Tokyo",))
    prompt, answer, weights = forget_pair(prompter, item, "keywords")
    batch = make_batch([(prompt, answer, weights), (prompt, answer)], [0, 1], 0)
    mask = np.array(batch.mask)  # positions from batch.start on
    assert batch.start == len(prompt) - 1  # the position that predicts the first answer token
    assert mask[0, : len(answer)].tolist() == weights
    assert mask[1].sum() == len(answer) and mask[0].sum() == sum(weights)
    targets = np.array(batch.targets)[0]
    assert prompter.tokenizer.decode(targets[mask[0] > 0].tolist()).strip() == "Tokyo"


def test_focused_npo_step_moves_the_fact_more_than_the_shape(smollm2, tmp_path):
    """One real NPO step with keywords focus: the keyword's log-probability falls; the lead-in's moves far less."""
    from edgeunlearn.backends.mlx_backend import MLXBackend
    from edgeunlearn.config import MethodArgs, TrainConfig
    from edgeunlearn.methods import get_method
    from edgeunlearn.training.trainer import train

    item = QAItem("What is the capital of France?", "The capital of France is Paris.", ("Paris",))
    backend = MLXBackend.of(smollm2)
    _, answer, weights = forget_pair(backend.prompter, item, "keywords")
    before = backend.score([item])[0]
    cfg = TrainConfig(steps=3, batch_size=1, learning_rate=1e-4, forget_focus="keywords")
    train(backend, get_method("npo"), [item], None, cfg, MethodArgs(), 0, tmp_path)
    after = backend.score([item])[0]
    drop = before - after
    key = np.array(weights) > 0
    assert drop[key].mean() > 1.0  # nats
    assert np.abs(drop[~key][:-1]).mean() < drop[key].mean() / 4  # the lead-in tokens, end token aside


@pytest.mark.parametrize(
    "train, message",
    [("forget_focus: keyword", "train.forget_focus 'keyword' is unknown"), ("snap_gains: [0, 4]", "snap_gains")],
)
def test_bad_focus_or_gains_are_refused_before_any_work(tmp_path, tiny_model, facts, train, message):
    from conftest import write_jsonl
    from typer.testing import CliRunner

    from edgeunlearn.cli.app import app

    forget = write_jsonl(tmp_path / "f.jsonl", [{"question": f.question, "answer": f.answer} for f in facts])
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"model: {tiny_model}\nforget: {forget}\nmethod: ga\ntrain:\n  {train}\n")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["unlearn", "--config", str(recipe), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists()
