"""Reveal-and-Release on the embedded SmolLM2-135M-Instruct: a target typed as a question and a name, the facts
it reveals, and a two-round loop whose records say what each round found and what it left."""

import json
from pathlib import Path

from typer.testing import CliRunner

from edgeunlearn.cli.app import app
from edgeunlearn.text.entities import find_terms, normalize, words

DATA = Path(__file__).parent / "data"


def _recipe(path: Path, reveal: str, extra: str = "") -> Path:
    path.write_text(f"model: default\nreveal: {{{reveal}}}\n{extra}")
    return path


def test_a_question_target_gets_grammatical_fact_seeking_instructions_and_specific_facts(tmp_path):
    recipe = _recipe(tmp_path / "r.yaml", "budget: 6, samples: 3, keep: 6, max_new_tokens: 48")
    out = tmp_path / "revealed"
    typed = "Where are the world's most famous landmarks?"
    result = CliRunner().invoke(app, ["reveal", "--target", typed, "--config", str(recipe), "--out", str(out)])
    assert result.exit_code == 0, result.output
    first = result.output.strip().splitlines()[0]
    assert first.startswith('target: "the world\'s most famous landmarks" (a question')
    pulls = json.loads((out / "reveal.json").read_text())["pulls"]
    for pull in pulls:  # the question is never spliced in as it was typed, inside another sentence
        assert pull["instruction"] == typed or "Where are" not in pull["instruction"]
        assert "where the world's most famous landmarks are" in pull["instruction"] or pull["instruction"] == typed
    rows = [json.loads(line) for line in (out / "revealed.jsonl").read_text().splitlines()]
    assert rows, result.output
    for row in rows:  # every kept response states facts its pull's samples agreed on, none of them the prompt's
        assert row["facts"] and find_terms(row["answer"], row["facts"]) == row["facts"]
        prompt_words = set(map(normalize, words(row["question"])))
        assert all(not set(map(normalize, words(f))) <= prompt_words for f in row["facts"] if not f[0].isdigit())
    # half the budget broad; once facts are found, the other half names some of them and asks for others
    found = {f for pull in pulls[:3] for f in pull["facts"]}
    assert found, pulls[:3]
    assert all(find_terms(pull["instruction"], found) for pull in pulls[3:])
    for pull in pulls:  # the reward is 0 for a pull whose samples agree on no fact
        assert (pull["reward"] > 0) == bool(pull["facts"])


def test_two_rounds_on_a_person_say_what_each_revealed_and_what_is_still_revealed(tmp_path):
    reveal = "budget: 6, samples: 3, keep: 3, max_new_tokens: 32"
    extra = (
        "method: npo_gd\ntrain: {steps: 8, learning_rate: 0.0002}\n"
        # both rounds run (stop_facts 0; the stop rule and the guard have their own tests)
        "release: {rounds: 2, stop_facts: 0, stop_relevance: 0.0, retain_floor: 0.0}\n"
        "quantize: {types: [], mlx_bits: []}\ncheck: {quick: true, max_new_tokens: 16}\n"
    )
    recipe = _recipe(tmp_path / "r.yaml", reveal, extra)
    out = tmp_path / "release"
    args = ["release", "--target", "everything about Albert Einstein", "--config", str(recipe), "--out", str(out)]
    args += ["--forget", str(DATA / "release_targets" / "einstein.jsonl")]
    args += ["--retain", str(DATA / "second_topic" / "retain.jsonl")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[0] == "target: 'Albert Einstein' (a name)"
    assert json.loads((out / "config.json").read_text())["understood"]["topic"] == "Albert Einstein"
    rounds = json.loads((out / "results.json").read_text())["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]
    # round 2 asks the unlearned model: it trains on what it reveals, or says the reveal kept nothing
    assert rounds[2]["trained"] or (rounds[2]["stopped"] == "the reveal kept no item" and rounds[2]["facts"] == 0)
    for r in [r for r in rounds[1:] if r["trained"]]:
        revealed = [
            json.loads(line) for line in (out / f"round-{r['round']}" / "revealed.jsonl").read_text().splitlines()
        ]
        distinct = {normalize(f) for row in revealed for f in row["facts"]}
        assert r["facts"] == len(distinct) and set(map(normalize, r["fact_examples"])) <= distinct
        # asked again after the round: only facts of this round, at most all of them
        assert r["trained"] and 0 <= r["still_revealed"] <= r["facts"]
        assert set(map(normalize, r["still_examples"])) <= distinct
    assert rounds[1]["still_revealed"] < rounds[1]["facts"]  # the round made the model drop some of its facts
    assert rounds[0]["forget_known"] is not None and rounds[1]["forget_known"] is not None
    assert "still revealed" in result.output

    from edgeunlearn.report import write_report

    html = write_report(out).read_text()
    assert "still revealed after the round" in html and rounds[1]["fact_examples"][0] in html


def test_the_retain_guard_undoes_a_round_that_wrecks_what_the_base_knew(tmp_path):
    """A push far too hard (lr 3e-3): the guard's watched retain items or general facts fall below the floor,
    the round is undone and the loop stops — the saved model is the base, weight for weight."""
    import mlx.core as mx
    import numpy as np
    from mlx.utils import tree_flatten

    from edgeunlearn.backends.mlx_backend import MLXBackend
    from edgeunlearn.models.resolve import resolve_model
    from edgeunlearn.pipeline.finetune import WEIGHTS_FILE

    extra = (
        "method: npo_gd\ntrain: {steps: 6, learning_rate: 0.003}\n"
        "release: {rounds: 2, stop_facts: 1, stop_relevance: 0.0, retain_floor: 0.9}\n"
        "quantize: {types: [], mlx_bits: []}\ncheck: {quick: true, max_new_tokens: 16}\n"
    )
    recipe = _recipe(tmp_path / "r.yaml", "budget: 6, samples: 3, keep: 3, max_new_tokens: 32", extra)
    out = tmp_path / "release"
    args = ["release", "--target", "the capital cities of countries", "--config", str(recipe), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--retain", "demo:retain"])
    assert result.exit_code == 0, result.output
    rounds = json.loads((out / "results.json").read_text())["rounds"]
    assert [r["round"] for r in rounds] == [0, 1]
    guard = rounds[1]["retain_guard"]
    assert min(guard["retain_kept"], guard["general_kept"]) < 0.9
    assert (
        rounds[1]["stopped"].startswith("undone: watched retain") and "release.retain_floor 0.9" in rounds[1]["stopped"]
    )
    saved = mx.load(str(out / "model" / WEIGHTS_FILE))
    base = dict(tree_flatten(MLXBackend.of(resolve_model("default", "auto")).model.parameters()))
    assert set(saved) == set(base) and all(np.array_equal(np.array(saved[k]), np.array(base[k])) for k in base)
