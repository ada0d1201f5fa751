"""The CLI as a user runs it: exit codes, one-line errors, nothing half-written."""

import json
import tempfile
from pathlib import Path

import pytest
from conftest import assert_user_error as _assert_user_error
from conftest import make_nli_folder, write_jsonl
from typer.testing import CliRunner

from edgeunlearn.cli.app import app

runner = CliRunner()
GOOD = [{"question": "What is the capital of France?", "answer": "Paris.", "keywords": ["Paris"]}]


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def forget(tmp_path):
    return write_jsonl(tmp_path / "forget.jsonl", GOOD)


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
    _assert_user_error(
        _run("check", "--model", tiny_model, "--forget", forget, "--judge", "oracle", "--out", out),
        "unknown judge 'oracle'",
        out,
    )
    check = ("check", "--model", tiny_model, "--forget", forget, "--out", out)
    _assert_user_error(_run(*check, "--judge", "nli"), "needs --nli-model", out)
    _assert_user_error(_run(*check, "--judge", "nli", "--nli-model", out.parent / "none"), "unreadable", out)


def test_unsupported_architecture_export(tmp_path, tiny_model):
    import shutil

    mamba = tmp_path / "mamba"
    shutil.copytree(tiny_model, mamba)  # real weights: only the architecture is wrong
    config = json.loads((tiny_model / "config.json").read_text())
    (mamba / "config.json").write_text(json.dumps({**config, "model_type": "mamba"}))
    out = tmp_path / "x.gguf"
    result = _run("export", "--model", mamba, "--out", out)
    _assert_user_error(result, "architecture 'mamba' is not supported", out)


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
    import hashlib
    from importlib import metadata

    from edgeunlearn.quantize.llamacpp import tensor_types

    digest = {
        name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in (("forget", forget), ("retain", retain))
    }
    assert manifest["seed"] == 0 and manifest["data_sha256"] == digest
    assert manifest["packages"]["mlx"] == metadata.version("mlx")
    assert json.loads((run / "config.json").read_text())["method"] == "npo_gd"

    f16 = tmp_path / "unlearned.gguf"
    assert _run("export", "--adapter", run, "--out", f16).exit_code == 0
    # the tiny llama (2 layers, tied embeddings): the embedding and 2 × 7 projections in F16, 2 × 2 norms + the
    # final norm in F32
    assert tensor_types(f16) == {"F16": 15, "F32": 5}

    qdir = tmp_path / "q"
    result = _run("quantize", "--model", f16, "--types", "Q8_0,Q4_K_M", "--out", qdir)
    assert result.exit_code == 0, result.output
    report = json.loads((qdir / "quantize.json").read_text())
    assert "Q4_K" in report["Q4_K_M"]["tensor_types"]

    checked = tmp_path / "check"
    holdout = write_jsonl(
        tmp_path / "holdout.jsonl",
        [
            {"question": "What is the capital of Italy?", "answer": "Rome."},
            {"question": "Who wrote Emma?", "answer": "Austen."},
        ],
    )
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
        "--holdout",
        holdout,
        "--out",
        checked,
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((checked / "results.json").read_text())
    assert "--reference" in summary["reference"]["note"]  # no retain model: forget quality says how to get one
    assert "no NLI model" in summary["judge"]["note"]
    aucs = summary["variants"][0]["membership_auc"]  # forget (1 item) vs holdout (2 items), four scores
    assert set(aucs) == {"loss", "zlib", "min_k", "min_k_plus_plus"} and all(
        a in (0.0, 0.5, 1.0) for a in aucs.values()
    )
    names = [v["name"] for v in summary["variants"]]
    assert names == ["base MLX fp32", "base F16", "base Q8_0", "model F16", "model Q8_0"]
    files = [v["file"] for v in summary["variants"] if v["file"]]  # where the files are once the run is done
    assert len(files) == 4 and all(Path(f).is_file() and ".partial" not in f for f in files)
    assert sum(str(checked) in f for f in files) == 3  # the given model F16 stays where the user keeps it
    table = (checked / "results.txt").read_text()
    assert table.count("model Q8_0") == 2 and "KFR" in table and "no NLI model" in table  # knowledge + metrics
    from statistics import harmonic_mean

    from edgeunlearn.metrics.linguistic import brunet_index, honore_statistic

    ppl_by_answer = {}
    for variant in summary["variants"]:  # KFR / KRR from the entity judge on every variant
        # a random model never says "Paris" or "Shakespeare": similarity 0, so forgotten (≤ 0.5) and not kept
        assert variant["forget_items"][0]["entity_similarity"] == 0.0
        assert variant["kfr"] == 1.0 and variant["krr"] == 0.0
        assert variant["forget_items"][0]["reference_entities"] == 1
        linguistic = variant["forget_linguistic"]  # perplexity under the base (--base), BI, HS → LS
        answer = variant["forget_items"][0]["generated"]
        assert linguistic["brunet"] == pytest.approx(brunet_index(answer))
        assert linguistic["honore"] == pytest.approx(honore_statistic(answer))
        p, b, h = linguistic["ppl"], linguistic["brunet"], linguistic["honore"]
        assert linguistic["ls"] == pytest.approx(harmonic_mean([1 / (1 + p), 1 / (1 + b), h / (1 + h)]))
        # scored under the base, not the checked model: the same answer has the same perplexity everywhere
        assert ppl_by_answer.setdefault(answer, p) == pytest.approx(p)


def test_augment_then_relearn_on_the_edited_file(tmp_path, tiny_model, forget):
    out = tmp_path / "aug"
    result = _run("augment", "--model", tiny_model, "--forget", forget, "--generator", "templates", "--out", out)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "augmented.jsonl").read_text().splitlines()]
    assert {r["kind"] for r in rows} == {"original", "rephrased", "specific", "noisy", "reversed", "completion"}
    assert all(r["answer_source"] == "template" and "Paris" not in r["answer"] for r in rows)

    leaky = write_jsonl(tmp_path / "edited.jsonl", rows + [{"question": "Capital of France?", "answer": "Paris!"}])
    run = tmp_path / "leaky-run"
    result = _run("unlearn", "--model", tiny_model, "--forget", forget, "--method", "relearn", "--augmented", leaky,
                  "--out", run)  # fmt: skip
    _assert_user_error(result, f"item {len(rows) + 1} answer leaks 'Paris'", run)

    run = tmp_path / "run"
    result = _run("unlearn", "--model", tiny_model, "--forget", forget, "--method", "relearn", "--augmented",
                  out / "augmented.jsonl", "--steps", 2, "--out", run)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (run / "augmented.jsonl").read_text() == (out / "augmented.jsonl").read_text()


def test_compare_runs_relearn_and_flat_end_to_end(tmp_path, tiny_model, forget):
    retain = write_jsonl(tmp_path / "retain.jsonl", [{"question": "Who wrote Hamlet?", "answer": "Shakespeare."}])
    shared = tmp_path / "recipes" / "shared.yaml"
    shared.parent.mkdir()
    shared.write_text(
        "check: {max_new_tokens: 6}\naugment: {attempts: 1, max_new_tokens: 8}\nquantize: {mlx_bits: [4]}\n"
    )
    (shared.parent / "relearn_klr_gdr.yaml").write_text("method: relearn_klr_gdr\ntrain:\n  learning_rate: 1.0e-3\n")
    flat_vague = shared.parent / "flat-vague.yaml"
    flat_vague.write_text("method: flat\nmethod_args:\n  template: relearn\n  divergence: js\n")
    out = tmp_path / "compare"
    result = _run("compare", shared, "--methods", f"relearn_klr_gdr,{flat_vague}", "--model", tiny_model,
                  "--forget", forget, "--retain", retain, "--steps", 2, "--types", "Q8_0", "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    comparison = json.loads((out / "compare.json").read_text())
    assert [m["label"] for m in comparison["methods"]] == ["relearn_klr_gdr", "flat-vague"]
    for row in comparison["methods"]:
        assert set(row["variants"]) == {"fp32", "F16", "Q8_0", "MLX-4bit"} and row["train_seconds"] > 0
        assert row["peak_memory_mb"] > 0 and row["variants"]["Q8_0"]["forget_fluent"] is not None
        # the random model never says "Paris": forgotten; the one retain item is kept or not (trained on, it
        # may be learned in two steps)
        assert row["variants"]["fp32"]["kfr"] == 1.0 and row["variants"]["Q8_0"]["krr"] in (0.0, 1.0)
    relearn = comparison["methods"][0]
    assert relearn["settings_from"].endswith("relearn_klr_gdr.yaml")
    config = json.loads((out / "config.json").read_text())["methods"]
    assert config["relearn_klr_gdr"]["train"]["learning_rate"] == 1e-3
    flat_args = config["flat-vague"]["method_args"]
    assert (flat_args["template"], flat_args["divergence"]) == ("relearn", "js")
    for label in ("relearn_klr_gdr", "flat-vague"):  # both built augmented data from the (tiny) model itself
        summary = json.loads((out / label / "results.json").read_text())
        records = (out / label / "augmented.jsonl").read_text().splitlines()
        assert records and summary["training"]["augmented"]["records"] == len(records)
        assert not (out / label / "gguf").exists()  # GGUFs are dropped unless --keep-models
        unlearned = [v for v in summary["variants"] if v["model"] == "unlearned" and v["family"] == "llama.cpp"]
        assert unlearned and all(v["file"] is None and "--keep-models" in v["file_note"] for v in unlearned)
        base_files = [v["file"] for v in summary["variants"] if v["model"] == "base" and v["file"]]
        assert base_files and all(Path(f).is_file() and ".partial" not in f for f in base_files)
    assert "flat-vague" in (out / "compare.txt").read_text() and set(comparison["base"]) >= {"F16", "Q8_0", "MLX-4bit"}


def test_compare_refuses_a_method_without_its_data(tmp_path, tiny_model, forget):
    out = tmp_path / "compare"
    result = _run("compare", tmp_path / "none.yaml", "--methods", "ga", "--out", out)
    _assert_user_error(result, "recipe not found", out)
    recipe = write_jsonl(tmp_path / "r.yaml", [])
    result = _run("compare", recipe, "--methods", "ga,gd", "--model", tiny_model, "--forget", forget, "--out", out)
    _assert_user_error(result, "method 'gd' needs retain data", out)
    result = _run("compare", recipe, "--methods", "ga,nope", "--forget", forget, "--out", out)
    _assert_user_error(result, "unknown method 'nope'", out)


def test_relearn_stops_before_training_when_augmentation_yields_nothing(tmp_path, tiny_model):
    hopeless = write_jsonl(
        tmp_path / "f.jsonl", [{"question": "What do I say?", "answer": "I say it.", "keywords": "I"}]
    )
    recipe = tmp_path / "r.yaml"
    recipe.write_text("augment: {attempts: 1, max_new_tokens: 8}\n")
    out = tmp_path / "run"
    result = _run("unlearn", "--model", tiny_model, "--forget", hopeless, "--method", "relearn", "--config", recipe,
                  "--out", out)  # fmt: skip
    assert result.exit_code == 2 and not out.exists(), result.output
    assert result.stderr.count("\n") == 1 and "augmentation produced no usable items" in result.stderr


def test_finetune_builds_a_retain_model_for_forget_quality_and_privleak(tmp_path, tiny_model):
    tofu = {"paraphrased_answer": "It is Paris.", "perturbed_answer": ["It is Lyon.", "It is Nice."]}
    forget = write_jsonl(
        tmp_path / "forget.jsonl",
        [
            {"question": "What is the capital of France?", "answer": "Paris.", **tofu},
            {"question": "Where is the Louvre?", "answer": "In Paris.", **tofu},
        ],
    )
    retain_rows = [
        {"question": "Who wrote Hamlet?", "answer": "Shakespeare."},
        {"question": "What is two plus two?", "answer": "Four."},
        {"question": "What colour is the sky?", "answer": "Blue."},
    ]
    retain = write_jsonl(tmp_path / "retain.jsonl", retain_rows)
    holdout = write_jsonl(tmp_path / "holdout.jsonl", retain_rows[:2])

    bad = tmp_path / "bad"
    _assert_user_error(_run("finetune", "--model", tiny_model, "--data", "", "--out", bad), "--data", bad)
    result = _run("unlearn", "--model", tiny_model, "--forget", forget, "--method", "learn", "--out", bad)
    _assert_user_error(result, "does not unlearn", bad)

    model = tmp_path / "retain-model"
    result = _run("finetune", "--model", tiny_model, "--data", retain, "--steps", 6, "--out", model)
    assert result.exit_code == 0, result.output
    facts = json.loads((model / "edgeunlearn_finetune.json").read_text())
    assert facts["items"] == 3 and facts["final_loss"] < facts["first_loss"]
    assert json.loads((model / "config.json").read_text())["model_type"] == "llama"

    checked = tmp_path / "check"
    args = ("--forget", forget, "--retain", retain, "--holdout", holdout, "--max-new-tokens", 4)
    nli = ("--judge", "nli", "--nli-model", make_nli_folder(tmp_path / "nli", [5.0, 0.0, 0.0]))  # always contradicts
    result = _run("check", "--model", tiny_model, *args, "--reference", model, *nli, "--out", checked)
    assert result.exit_code == 0, result.output
    summary = json.loads((checked / "results.json").read_text())
    assert summary["judge"]["name"] == "nli" and summary["judge"]["note"] is None
    assert all(v["kfr"] == 1.0 and v["forget_items"][0]["contradiction"] is True for v in summary["variants"])
    assert (
        summary["reference"]["model"] == str(model.resolve()) and len(summary["reference"]["forget_truth_ratios"]) == 2
    )
    variant = summary["variants"][0]
    # KS on 2 truth ratios against 2: the exact two-sided p-value is 2/C(4,2) = 1/3 (D = 1) or 1 (D = 1/2)
    assert variant["forget_quality"] in (pytest.approx(1 / 3), pytest.approx(1.0))
    assert set(variant["priv_leak"]) == {"loss", "zlib", "min_k", "min_k_plus_plus"}
    for score, leak in variant["priv_leak"].items():  # MUSE's sign, from the two AUCs as recorded
        ours, retain_model = variant["membership_auc"][score], summary["reference"]["membership_auc"][score]
        expected = None if retain_model == 1 else (retain_model - ours) / (1 - retain_model)
        assert leak == (None if expected is None else pytest.approx(expected))

    gguf = checked / "gguf" / "model-F16.gguf"
    result = _run("check", "--model", tiny_model, *args, "--reference", gguf, "--out", bad)
    _assert_user_error(result, "is a GGUF file", bad)


def test_prompt_format_reaches_mlx_and_llama_cpp(smollm2, tmp_path):
    """`--prompt-format completion` on an instruction model: MLX and llama.cpp both continue the item's own
    plain-text prompt instead of answering the question in a chat turn; an unknown format is refused in one
    line."""
    item = {
        "question": "What is the capital of France?",
        "answer": "The capital of France is Paris.",
        "keywords": ["Paris"],
        "prompt": "My favourite city in the whole world, the capital of France, is called",
    }
    forget = write_jsonl(tmp_path / "forget.jsonl", [item])
    answers = {}
    for fmt in ("chat", "completion"):
        out = tmp_path / fmt
        args = ("check", "--model", smollm2.mlx_dir, "--forget", forget, "--types", "", "--max-new-tokens", 8)
        result = _run(*args, "--prompt-format", fmt, "--out", out)
        assert result.exit_code == 0, result.output
        variants = json.loads((out / "results.json").read_text())["variants"]
        assert {v["family"] for v in variants} == {"mlx", "llama.cpp"}
        answers[fmt] = [v["forget_items"][0]["generated"] for v in variants]
        assert json.loads((out / "config.json").read_text())["prompt_format"] == fmt
    # a chat answer restates the question's subject; a completion continues mid-sentence after "called"
    assert all("capital" in a.lower() or "france" in a.lower() for a in answers["chat"]), answers
    assert all(not a.lower().startswith(("the capital", "my favourite")) for a in answers["completion"]), answers
    assert answers["chat"] != answers["completion"]
    out = tmp_path / "bad"
    result = _run("check", "--model", smollm2.mlx_dir, "--forget", forget, "--prompt-format", "raw", "--out", out)
    _assert_user_error(result, "unknown prompt format 'raw'", out)


def test_retention_is_scored_on_retain_items_training_never_saw(tmp_path, tiny_model):
    """Without --retain-eval a seeded quarter of --retain is held out: training reads the rest, the check only
    the held-out items, results.json names both parts; the general-knowledge set is checked on every variant."""
    from edgeunlearn.data import load_items
    from edgeunlearn.data.general import general_knowledge

    rows = [{"question": f"Who wrote book {n}?", "answer": f"Author {n}."} for n in range(8)]
    retain = write_jsonl(tmp_path / "retain.jsonl", rows)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("quantize: {types: [Q8_0], mlx_bits: []}\ncheck: {max_new_tokens: 4}\ntrain: {steps: 1}\n")
    out = tmp_path / "run"
    facts = [{"question": f"What is the capital of land {n}?", "answer": f"Town {n}.", "keywords": [f"Town {n}"]}
             for n in range(4)]  # fmt: skip
    forget = write_jsonl(tmp_path / "forget4.jsonl", facts)
    args = ("run", recipe, "--model", tiny_model, "--forget", forget, "--retain", retain, "--relearn", 1)
    result = _run(*args, "--out", out)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "results.json").read_text())
    attack = summary["relearn"]  # the relearning attack ran on the unlearned model, at every checked type
    assert [row["type"] for row in attack["types"]] == ["fp32", "F16", "Q8_0"] and len(attack["watched"]) == 2
    split = summary["retain_split"]
    assert len(split["checked"]) == 2 and len(split["trained"]) == 6  # round(0.25 × 8) held out
    assert sorted(split["checked"] + split["trained"]) == list(range(1, 9))
    checked = {rows[n - 1]["question"] for n in split["checked"]}
    general = general_knowledge(load_items(forget, "forget"))
    for variant in summary["variants"]:
        assert {i["question"] for i in variant["retain_items"]} == checked
        assert len(variant["general_items"]) == len(general) and variant["general_known"] is not None
    assert "held out from training (25%, seed 0); training used the other 6" in summary["retain_checked"]
    assert "general known" in (out / "results.txt").read_text()


def test_relearning_attack_brings_back_what_shares_the_taught_answer(tmp_path, tiny_model):
    """Four questions whose answer is the same city: teaching the attacker two of them makes the other two
    come back (a model that never knew them now says it), at full precision and in its GGUF."""
    from edgeunlearn.backends.mlx_backend import MLXBackend
    from edgeunlearn.config import CheckConfig, QuantizeConfig, RunConfig
    from edgeunlearn.data import QAItem
    from edgeunlearn.models.resolve import resolve_model
    from edgeunlearn.pipeline.inputs import Inputs
    from edgeunlearn.pipeline.relearn_attack import relearn_attack, split_halves
    from edgeunlearn.pipeline.spine import check_variants
    from edgeunlearn.pipeline.variants import VariantSpec
    from edgeunlearn.training.callbacks import SILENT

    questions = ["Name the city.", "Which city is it?", "Say the city.", "The city?"]
    forget = [QAItem(q, "Lyon", ("Lyon",)) for q in questions]
    cfg = RunConfig(
        model=str(tiny_model),
        quantize=QuantizeConfig(types=("Q8_0",), mlx_bits=()),
        check=CheckConfig(max_new_tokens=4, relearn=80, relearn_lr=1e-3, general=False),
    )
    inputs = Inputs(resolve_model(str(tiny_model)), forget, [], ["Q8_0"], [], {})
    backend = MLXBackend(tiny_model)
    before = check_variants([VariantSpec("m", "unlearned", "mlx", "fp32", lambda: backend)], inputs, cfg, SILENT)
    assert not any(r.knows for r in before[0].forget)  # the random model never says Lyon
    taught, watched = split_halves(forget, 0)
    attack = relearn_attack(cfg, inputs, inputs.model, None, before, tmp_path / "relearn", SILENT)
    assert attack["taught"] == [i + 1 for i in taught] and attack["watched"] == [i + 1 for i in watched]
    assert sorted(attack["taught"] + attack["watched"]) == [1, 2, 3, 4]
    (full,) = attack["types"]  # only the types checked before have a starting point: fp32
    assert (full["type"], full["known_before"], full["forgotten_before"]) == ("fp32", 0.0, 2)
    assert full["known_after"] == 1.0 and full["came_back"] == 2 and full["came_back_items"] == attack["watched"]
    assert (tmp_path / "relearn" / "relearned-Q8_0.gguf").is_file()


def test_check_runs_the_relearning_attack_when_asked(tmp_path, tiny_model, forget):
    more = write_jsonl(
        tmp_path / "forget2.jsonl",
        [
            {"question": f"What is the capital of country {n}?", "answer": f"City {n}.", "keywords": [f"City {n}"]}
            for n in range(4)
        ],
    )
    out = tmp_path / "check"
    args = ("check", "--model", tiny_model, "--forget", more, "--types", "Q8_0", "--max-new-tokens", 4)
    result = _run(*args, "--relearn", 2, "--out", out)
    assert result.exit_code == 0, result.output
    attack = json.loads((out / "results.json").read_text())["relearn"]
    assert attack["steps"] == 2 and sorted(attack["taught"] + attack["watched"]) == [1, 2, 3, 4]
    assert [row["type"] for row in attack["types"]] == ["fp32", "F16", "Q8_0"]  # the attacker's copy, every type
    assert "relearning attack: 2 steps" in (out / "results.txt").read_text()
    bad = tmp_path / "bad"
    _assert_user_error(_run("check", "--model", tiny_model, "--forget", forget, "--relearn", 2, "--out", bad),
                       "needs at least 2 forget items", bad)  # fmt: skip


def test_an_interrupted_compare_resumes_keeping_the_methods_it_finished(tmp_path, tiny_model, forget, monkeypatch):
    """Ctrl-C during the second method leaves the first one finished in the unfinished folder; --resume keeps it
    (same settings and data, checked by hash) and runs only the second; other settings are refused."""
    from edgeunlearn.pipeline import compare as compare_module
    from edgeunlearn.runs import unfinished_folder

    out = tmp_path / "cmp"
    recipe = tmp_path / "shared.yaml"
    recipe.write_text("check: {max_new_tokens: 4, general: false}\nquantize: {mlx_bits: []}\n")
    args = ("compare", recipe, "--methods", "ga,npo", "--model", tiny_model, "--forget", forget, "--steps", 1,
            "--types", "Q8_0", "--out", out)  # fmt: skip
    real, calls = compare_module._run_method, []

    def interrupted(entry, *rest):
        calls.append(entry.label)
        if entry.label == "npo":
            raise KeyboardInterrupt  # what Ctrl-C raises mid-method
        return real(entry, *rest)

    monkeypatch.setattr(compare_module, "_run_method", interrupted)
    cut = _run(*args)
    monkeypatch.setattr(compare_module, "_run_method", real)
    assert cut.exit_code == 1 and "run the same command with --resume to continue" in cut.output
    unfinished = unfinished_folder(out)
    assert calls == ["ga", "npo"] and not out.exists()
    assert (unfinished / "ga" / "finished.json").exists() and not (unfinished / "npo" / "finished.json").exists()
    first = (unfinished / "ga" / "results.json").read_text()

    again = _run(*args)
    assert again.exit_code == 2 and "add --resume" in again.output
    other = _run(*[a if a != 1 else 2 for a in args], "--resume")  # --steps 2: not what ga finished with
    assert other.exit_code == 2 and "made with other settings" in other.output

    resumed = _run(*args, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "kept from the interrupted run" in resumed.output and not unfinished.exists()
    assert (out / "ga" / "results.json").read_text() == first.replace(str(unfinished), str(out))
    comparison = json.loads((out / "compare.json").read_text())
    assert [m["label"] for m in comparison["methods"]] == ["ga", "npo"]
    assert _run(*args, "--resume").exit_code == 2  # out exists now: nothing to resume into


def test_a_quick_run_checks_only_what_is_known_and_records_where_the_time_went(
    tmp_path, tiny_model, forget, monkeypatch
):
    """--quick: greedy answers and verdicts only (no scores, judge figures, general set or Linguistic Score);
    the MLX variants are answered by llama.cpp from an F32 GGUF of the same weights, removed afterwards."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text("quantize: {types: [Q8_0], mlx_bits: [4]}\ncheck: {max_new_tokens: 4}\ntrain: {steps: 1}\n")
    out, scratch = tmp_path / "run", tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the F32 copies go
    result = _run("run", recipe, "--model", tiny_model, "--forget", forget, "--method", "ga", "--quick", "--out", out)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "results.json").read_text())
    names = [v["name"] for v in summary["variants"]]
    assert names == ["base F16", "base Q8_0", "base MLX-4bit", "unlearned MLX fp32", "unlearned F16",
                     "unlearned Q8_0", "unlearned MLX-4bit"]  # fmt: skip
    for v in summary["variants"]:
        assert v["forget_known"] is not None and v["general_items"] == [] and v["general_known"] is None
        assert v["kfr"] is None and v["forget_mean_logprob"] is None and "membership_auc" not in v
        assert all(item["mean_logprob"] is None for item in v["forget_items"])
        assert v["engine"] == ("llama.cpp F32" if v["family"] == "mlx" else "llama.cpp")
    stages = [s["stage"] for s in summary["stages"]]
    assert stages[0] == "load model and data" and "train" in stages and "check unlearned" in stages
    assert "linguistic score (perplexity under the original model)" not in stages
    assert all(s["seconds"] >= 0 for s in summary["stages"])
    assert "quick check: known / recovery only" in (out / "results.txt").read_text()
    assert not list(scratch.iterdir())  # every F32 copy removed after its check


def test_doctor_plans_memory_for_a_model_and_refuses_an_unknown_precision():
    result = _run("doctor", "--model", "default", "--base-precision", "q4", "--grad-checkpoint")
    assert result.exit_code == 0, result.output
    assert "memory plan for default" in result.output and "training:" in result.output and "check:" in result.output
    bad = _run("doctor", "--model", "default", "--base-precision", "q5")
    assert bad.exit_code == 2 and "use fp32, bf16, q8, q4" in bad.output


def test_reduced_base_settings_are_checked_before_any_work(tmp_path, tiny_model, forget):
    out = tmp_path / "run"
    base = ("unlearn", "--model", tiny_model, "--forget", forget, "--method", "ga", "--out", out)
    _assert_user_error(_run(*base, "--base-precision", "q5"), "train.base_precision 'q5' is unknown", out)
    _assert_user_error(_run(*base, "--base-precision", "q4", "--robust-to", "Q8_0"), "--robust-to needs the fp32 base",
                       out)  # fmt: skip
    recipe = tmp_path / "release.yaml"
    recipe.write_text("train: {base_precision: bf16}\n")
    result = _run("release", "--model", tiny_model, "--target", "capitals", "--config", recipe, "--out", out)
    _assert_user_error(result, "release trains its rounds over the fp32 base", out)
