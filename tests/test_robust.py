"""Quantization-robust unlearning on real components: the stored weights training sees are the ones llama.cpp
writes into the file, the gradient passes straight through, the stop rule stops, the verdicts say it."""

import json
from dataclasses import replace

import numpy as np
import pytest
from conftest import random_lora_update, write_jsonl
from typer.testing import CliRunner

from edgeunlearn.backends.mlx_backend import MLXBackend
from edgeunlearn.check.evaluate import ItemResult, VariantResult, VariantSpec
from edgeunlearn.check.judge import keyword_hit
from edgeunlearn.check.summary import recovery, summarize, verdict_line
from edgeunlearn.cli.app import app
from edgeunlearn.config import MethodArgs, TrainConfig
from edgeunlearn.export import export_gguf
from edgeunlearn.methods import get_method
from edgeunlearn.methods.terms import mean_nll
from edgeunlearn.models import architectures
from edgeunlearn.models.architectures import common, llama
from edgeunlearn.pipeline.robust import hf_tensor_types
from edgeunlearn.quantize.llamacpp import quantize_gguf
from edgeunlearn.training.robust import RobustTraining, StoredTypes, resolve_targets
from edgeunlearn.training.trainer import _retain_for, train
from edgeunlearn.training.until import FORGOTTEN, RETAIN_FLOOR, forgotten_share, kept_share, known_ratio, split_retain

TARGETS = ("Q4_0", "Q4_K_M")


@pytest.fixture(scope="module")
def quantized_base(tiny_model, tmp_path_factory):
    """The tiny base as F16 GGUF and as each target type, quantized by llama.cpp."""
    folder = tmp_path_factory.mktemp("robust-base")
    f16 = export_gguf(MLXBackend(tiny_model).weights(), tiny_model, folder / "base-F16.gguf", None)
    return {t: quantize_gguf(f16, folder / f"base-{t}.gguf", t) for t in TARGETS}


@pytest.fixture(scope="module")
def stored(quantized_base, tiny_model):
    return StoredTypes({t: hf_tensor_types(path, tiny_model) for t, path in quantized_base.items()})


def _lora_backend(tiny_model, relative: float = 0.03):
    """The tiny model with LoRA on every projection and a random update of `relative` × each weight's rms."""
    backend = MLXBackend(tiny_model)
    backend.add_lora(4, 20.0, 0.0, (), -1)
    random_lora_update(backend, relative, seed=3)
    return backend


def _file_weights(path, config) -> dict[str, np.ndarray]:
    """Every matrix of a GGUF dequantized by the gguf package, in HF names and HF row order."""
    import gguf

    to_hf = common.hf_names_by_gguf(architectures.for_model_type(config["model_type"]), config)
    out = {}
    for t in gguf.GGUFReader(str(path)).tensors:
        if t.name in to_hf and len(t.shape) == 2:
            w = gguf.quants.dequantize(t.data, t.tensor_type).reshape(int(t.shape[1]), int(t.shape[0]))
            heads = llama.permuted_heads(to_hf[t.name], config)
            out[to_hf[t.name]] = llama.from_llamacpp_rows(w, heads) if heads else w
    return out


@pytest.mark.parametrize("target", TARGETS)
def test_training_sees_the_weights_llama_cpp_writes_after_fusing(tiny_model, stored, quantized_base, target, tmp_path):
    """Fuse a LoRA update, export F16, quantize with llama.cpp: every matrix in the file equals the stored form
    the robust view computed with before fusing (LoRA'd layers from W0 + s·BA, frozen ones from the base)."""
    backend = _lora_backend(tiny_model)
    robust = RobustTraining(backend, stored)
    with robust.viewing(target):
        seen = {name: np.array(w) for name, w in robust.view.weights.items()}
        seen["model.embed_tokens.weight"] = np.array(backend.model.model.embed_tokens.weight)
    robust.close()
    backend.fuse_lora()
    f16 = export_gguf(backend.weights(), tiny_model, tmp_path / "fused-F16.gguf", None)
    written = _file_weights(quantize_gguf(f16, tmp_path / f"fused-{target}.gguf", target), _config(tiny_model))
    assert set(seen) == set(written) and len(seen) == 2 * 7 + 1
    equal = sum(int((seen[n] == written[n]).sum()) for n in seen) / sum(seen[n].size for n in seen)
    assert equal >= 0.999, f"{target}: {equal:.5f} of the weights equal what llama.cpp wrote"
    base = _file_weights(quantized_base[target], _config(tiny_model))
    moved = np.mean([(base[n] != written[n]).mean() for n in seen if "embed" not in n])
    assert moved > 0.05  # the update really crossed grid points: the test is not comparing the base to itself


def _config(model_dir) -> dict:
    return json.loads((model_dir / "config.json").read_text())


def test_the_gradient_passes_straight_through_the_rounding(tiny_model, stored, facts):
    """∂L/∂B under the Q4_0 view equals plain LoRA's ∂L/∂B on a model whose base weight is chosen so that
    W0' + s·BA equals the stored weights: the same forward, the straight-through gradient."""
    import mlx.core as mx
    import mlx.nn as nn

    from edgeunlearn.training.batching import make_batch

    backend = _lora_backend(tiny_model)
    pairs = [backend.prompter.pair(i) for i in facts]
    batch = make_batch(pairs, range(len(pairs)), backend.pad_id)
    loss_and_grad = nn.value_and_grad(backend.model, lambda m: mean_nll(m, batch)[0])
    robust = RobustTraining(backend, stored)
    robust.use("Q4_0", refresh=True)
    loss_q, grads_q = loss_and_grad(backend.model)
    stored_weights = dict(robust.view.weights)
    frozen_q = np.array(backend.model.model.embed_tokens.weight)

    plain = _lora_backend(tiny_model)
    plain.model.model.embed_tokens.weight = mx.array(frozen_q)
    robust_layers = dict(backend.named_lora_layers())
    for name, layer in plain.named_lora_layers():
        layer.lora_a, layer.lora_b = robust_layers[name].lora_a, robust_layers[name].lora_b
        layer.linear.weight = stored_weights[name + ".weight"] - (layer.scale * layer.lora_b.T) @ layer.lora_a.T
    loss_p, grads_p = nn.value_and_grad(plain.model, lambda m: mean_nll(m, batch)[0])(plain.model)
    assert float(loss_q) == pytest.approx(float(loss_p), rel=1e-5)
    from mlx.utils import tree_flatten

    gq, gp = dict(tree_flatten(grads_q)), dict(tree_flatten(grads_p))
    assert set(gq) == set(gp) and any(k.endswith("lora_b") for k in gq)
    for key in gq:
        np.testing.assert_allclose(np.array(gq[key]), np.array(gp[key]), rtol=1e-3, atol=1e-6)
    robust.use(None)
    loss_fp, _ = loss_and_grad(backend.model)
    assert abs(float(loss_fp) - float(loss_q)) > 1e-4  # the view really changed the forward


def test_forgotten_and_kept_shares_by_hand():
    base = np.array([1, 1, 1, 0, 1], dtype=bool)
    now = np.array([0, 1, 0, 1, 0], dtype=bool)
    # the base states items 0, 1, 2, 4; the model no longer states 0, 2, 4; item 3 the base never stated
    assert forgotten_share(now, base) == 3 / 4
    assert kept_share(now, base) == 1 / 4
    assert forgotten_share(now, np.zeros(5, dtype=bool)) == 1.0 and kept_share(now, np.zeros(5, dtype=bool)) == 1.0
    # the watched sets: 2 stated now (items 1 and 3) over 4 stated by the base, whichever items they are
    assert known_ratio(now, base) == 2 / 4 and known_ratio(now, np.zeros(5, dtype=bool)) == 1.0


def test_split_retain_sets_aside_a_seeded_share(facts):
    items = [*facts, *facts, *facts]  # 12 items
    trained, watched = split_retain(items, 0.25, seed=0)
    assert len(watched) == 3 and len(trained) == 9
    assert sorted(map(id, trained + watched)) == sorted(map(id, items))
    assert [id(x) for x in split_retain(items, 0.25, seed=0)[1]] == [id(x) for x in watched]
    assert split_retain(items[:1], 0.25, seed=0) == (items[:1], items[:1])  # one item: nothing to set aside
    assert len(split_retain(items[:2], 0.9, seed=0)[0]) == 1  # training keeps at least one


def _states(backend, items) -> list[bool]:
    """Whether each item's greedy answer (24 tokens, as the stop rule answers) states its keyword."""
    return [keyword_hit(text, item.keywords) for item, text in zip(items, backend.generate(items, 24))]


@pytest.fixture(scope="module")
def smol_stored(smollm2, tmp_path_factory):
    """Which ggml type each SmolLM2 tensor holds in llama.cpp's Q4_0 and Q4_K_M files, read back from real ones."""
    folder = tmp_path_factory.mktemp("smol-types")
    f16 = export_gguf(MLXBackend(smollm2.mlx_dir).weights(), smollm2.mlx_dir, folder / "F16.gguf", None)
    types = {t: hf_tensor_types(quantize_gguf(f16, folder / f"{t}.gguf", t), smollm2.mlx_dir) for t in TARGETS}
    return StoredTypes(types)


@pytest.fixture
def known(smollm2, facts):
    """The facts with keywords, after checking that the real model's greedy answers state every one of them: a
    model that never stated them would leave the stop rule nothing to forget or keep."""
    keyed = [f for f in facts if f.keywords]
    assert all(_states(MLXBackend(smollm2.mlx_dir), keyed))
    return keyed


def test_stop_rule_stops_once_forgotten_at_every_type(smollm2, known, smol_stored, tmp_path):
    backend = MLXBackend(smollm2.mlx_dir)
    cfg = TrainConfig(steps=30, batch_size=2, learning_rate=1e-3, lora_rank=4, until=True, until_every=2)
    cfg = TrainConfig(**{**cfg.__dict__, "until_retain_floor": 0.0, "until_general": False})
    forget, retain = known[:2], known[2:]
    result = train(backend, get_method("ga"), forget, retain, cfg, MethodArgs(), 0, tmp_path, stored=smol_stored)
    assert result.until["stopped"] == FORGOTTEN and 2 <= result.steps < 30 and result.steps % 2 == 0
    assert result.robust_to == TARGETS
    checks = result.until["checks"]
    assert set(checks[-1]["forgotten"]) == {"full", *TARGETS} and min(checks[-1]["forgotten"].values()) == 1.0
    assert all(min(c["forgotten"].values()) < 1.0 for c in checks[:-1])
    assert not any(_states(backend, forget))  # at full precision, by hand: neither answer states its fact


def test_stop_rule_keeps_the_best_weights_above_the_retain_floor(smollm2, known, tmp_path):
    """Gradient ascent with a large learning rate wrecks the retain items: training
    stops at the first check below the floor and the adapter saved is the one of the best acceptable check (its
    own checkpoint file)."""
    import mlx.core as mx

    backend = MLXBackend(smollm2.mlx_dir)
    cfg = TrainConfig(steps=10, batch_size=2, learning_rate=2e-2, lora_rank=4, until=True, until_every=1)
    settings = {"until_retain_floor": 1.0, "until_forget": 1.0, "checkpoint_every": 1, "until_patience": 1}
    cfg = TrainConfig(**{**cfg.__dict__, **settings})
    forget, retain = known[:1], known[1:3]  # gradient ascent has no retain term: the rule watches both
    result = train(backend, get_method("ga"), forget, retain, cfg, MethodArgs(), 0, tmp_path)
    checks = result.until["checks"]
    assert result.until["stopped"] == RETAIN_FLOOR and result.steps < 10 and result.until["watched_retain"] == 2
    assert min(checks[-1]["retain_kept"].values()) < 1.0
    acceptable = [c for c in checks if min(c["retain_kept"].values()) >= 1.0]
    best = max(acceptable, key=lambda c: (min(c["forgotten"].values()), c["step"]))["step"] if acceptable else 0
    assert result.until["restored_step"] == best
    saved = mx.load(str(tmp_path / "adapters.safetensors"))
    if best:
        then = mx.load(str(tmp_path / f"{best:06d}_adapters.safetensors"))
        assert all(np.array_equal(np.array(saved[k]), np.array(then[k])) for k in saved)
    else:
        assert all(not np.array(v).any() for k, v in saved.items() if k.endswith("lora_b"))
    last = mx.load(str(tmp_path / f"{result.steps:06d}_adapters.safetensors"))
    assert not all(np.array_equal(np.array(saved[k]), np.array(last[k])) for k in saved)


def test_stop_rule_watches_retain_items_the_loss_never_sees(tiny_model, facts, tmp_path):
    """With a retain term, the rule watches a set-aside share of --retain, and training never draws it."""
    retain = [replace(f, question=f"{f.question} ({k})") for k in range(2) for f in facts[1:]]  # 6: 2 watched
    backend = MLXBackend(tiny_model)
    cfg = TrainConfig(steps=2, batch_size=2, learning_rate=1e-3, lora_rank=4, until=True, until_every=2)
    result = train(backend, get_method("gd"), facts[:1], retain, cfg, MethodArgs(), 0, tmp_path)
    assert result.until["watched_retain"] == 2
    trained, watched = _retain_for(get_method("gd"), retain, cfg, 0)
    assert len(trained) == 4 and len(watched) == 2 and not {id(x) for x in trained} & {id(x) for x in watched}
    assert _retain_for(get_method("ga"), retain, cfg, 0) == (retain, retain)  # no retain term: watch them all


def _item(knows: bool) -> ItemResult:
    return ItemResult("q", "a", "g", knows, "keyword", 0.0, -1.0)


def _variant(model: str, qtype: str, forget: list[bool], retain: list[bool], family="llama.cpp") -> VariantResult:
    spec = VariantSpec(f"{model} {qtype}", model, family, qtype, lambda: None)
    return VariantResult(spec, [_item(k) for k in forget], [_item(k) for k in retain], 0.0)


def test_recovery_counts_only_facts_the_base_at_that_type_still_knows():
    base_fp = _variant("base", "F16", [1, 1, 1, 1, 0], [1, 1])
    base_q = _variant("base", "Q4_1", [1, 1, 0, 1, 1], [1, 1])
    unl_fp = _variant("unlearned", "F16", [0, 0, 0, 1, 0], [1, 1])
    unl_q = _variant("unlearned", "Q4_1", [1, 0, 1, 1, 1], [1, 0])
    # forgotten at full precision: items 0, 1, 2 (base knew them; item 4 the base never knew)
    # back at Q4_1: item 0 (base Q4_1 knows it); item 2 is known but the base at Q4_1 lost it
    got = recovery(unl_q, unl_fp, base_fp, base_q)
    assert (got["forgotten_at_full_precision"], got["recovered"], got["recovery_rate"]) == (3, 1, 1 / 3)
    rows = summarize([base_fp, base_q, unl_fp, unl_q], "Q4_1")["variants"]
    assert rows[3]["recovered"] == 1 and rows[3]["retain_kept_vs_base_same_type"] == 0.5


def test_verdict_lines():
    row = {"type": "Q4_1", "family": "llama.cpp", "recovered": 5, "forgotten_at_full_precision": 13}
    assert verdict_line(row) == "Q4_1: 5 of 13 forgotten facts come back — unlearn again with --robust-to Q4_1"
    assert "even with --robust-to Q4_1" in verdict_line(row, ("Q4_1",))
    held = {**row, "recovered": 0, "retain_kept_vs_base_same_type": 0.8}
    assert verdict_line(held) == (
        "Q4_1: forgetting holds — none of 13 forgotten facts comes back; retain is 80% of the base at Q4_1"
    )


def test_auto_is_the_base_type_plus_the_checked_types():
    assert resolve_targets(["auto"], "Q4_1", ["Q4_1", "Q8_0", "Q4_K_M"]) == ["Q4_1", "Q8_0", "Q4_K_M"]
    assert resolve_targets(["auto"], None, ["Q4_0"]) == ["Q4_0"]
    assert resolve_targets(["q4_0", "Q4_1"], None, []) == ["Q4_0", "Q4_1"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--robust-to", "Q9_9"], "unknown quant type 'Q9_9'"),
        (["--robust-to", "auto,Q4_0"], "--robust-to auto stands alone"),
    ],
)
def test_bad_robust_to_is_refused_before_any_work(tmp_path, tiny_model, facts, args, message):
    forget = write_jsonl(tmp_path / "f.jsonl", [{"question": f.question, "answer": f.answer} for f in facts])
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        ["unlearn", "--model", str(tiny_model), "--forget", str(forget), "--method", "ga", "--out", str(out), *args],
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_a_recipe_flag_that_is_not_a_boolean_is_refused(tmp_path, tiny_model, facts):
    forget = write_jsonl(tmp_path / "f.jsonl", [{"question": f.question, "answer": f.answer} for f in facts])
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"model: {tiny_model}\nforget: {forget}\nmethod: ga\ntrain:\n  until: 'no'\n")
    result = CliRunner().invoke(app, ["unlearn", "--config", str(recipe), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "must be true or false" in result.output


def test_compare_robust_and_plain_side_by_side_with_a_held_out_retain_set(tmp_path, tiny_model, facts):
    """`compare --robust-to … --plain-too --retain-eval … --until` end to end on real files: both entries train,
    the robust one saw the stored types, the check read the held-out retain set, and every quantized type
    has a verdict line in results.json, the table and the report."""
    rows = [{"question": f.question, "answer": f.answer, "keywords": list(f.keywords)} for f in facts]
    forget, retain = write_jsonl(tmp_path / "f.jsonl", rows[:2]), write_jsonl(tmp_path / "r.jsonl", rows[2:3])
    retain_eval = write_jsonl(tmp_path / "re.jsonl", rows[3:])
    recipe = tmp_path / "shared.yaml"
    recipe.write_text("check: {max_new_tokens: 6}\nquantize: {mlx_bits: []}\n")
    out = tmp_path / "compare"
    args = ["compare", recipe, "--methods", "npo_gd", "--model", tiny_model, "--forget", forget, "--retain", retain,
            "--retain-eval", retain_eval, "--robust-to", "Q4_0", "--plain-too", "--until", "--steps", 4,
            "--types", "Q4_0", "--out", out]  # fmt: skip
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    comparison = json.loads((out / "compare.json").read_text())
    assert [m["label"] for m in comparison["methods"]] == ["npo_gd", "npo_gd-robust"]
    assert [m["robust_to"] for m in comparison["methods"]] == [[], ["Q4_0"]]
    assert "training never saw" in comparison["retain_checked"]
    robust = json.loads((out / "npo_gd-robust" / "results.json").read_text())
    assert robust["training"]["until"]["checks"] and "Q4_0" in robust["training"]["until"]["checks"][0]["forgotten"]
    checked = {v["retain_items"][0]["question"] for v in robust["variants"]}
    assert checked == {facts[3].question}  # the held-out item, never the training retain item
    assert [v["type"] for v in robust["verdicts"]] == ["Q4_0"] and robust["verdicts"][0]["line"].startswith("Q4_0: ")
    assert "npo_gd-robust: Q4_0: " in (out / "compare.txt").read_text()
    report = CliRunner().invoke(app, ["report", str(out)])
    assert report.exit_code == 0, report.output
    assert robust["verdicts"][0]["line"] in (out / "report.html").read_text()


def test_plain_too_pairs_each_method_with_its_robust_twin(tmp_path):
    from edgeunlearn.config import RunConfig
    from edgeunlearn.pipeline.compare import contenders

    recipe = tmp_path / "shared.yaml"
    recipe.write_text("seed: 3\n")
    (tmp_path / "flat.yaml").write_text("method: flat\ntrain:\n  steps: 9\n  until: true\n")
    training = {"train.robust_to": "Q4_1,Q4_0", "train.steps": None, "train.until": None}
    entries = contenders(recipe, RunConfig(seed=3), ["flat", "ga"], training, plain_too=True)
    assert [e.label for e in entries] == ["flat", "flat-robust", "ga", "ga-robust"]
    assert [e.cfg.train.robust_to for e in entries] == [(), ("Q4_1", "Q4_0"), (), ("Q4_1", "Q4_0")]
    assert entries[1].cfg.train.steps == 9 and entries[1].cfg.train.until  # the method's own recipe, kept
    alone = contenders(recipe, RunConfig(), ["ga"], training)
    assert [e.label for e in alone] == ["ga"] and alone[0].cfg.train.robust_to == ("Q4_1", "Q4_0")


def test_general_knowledge_leaves_out_facts_the_forget_set_touches():
    from edgeunlearn.data import QAItem
    from edgeunlearn.data.general import general_knowledge

    every = general_knowledge()
    assert len(every) == 35 and all(item.keywords for item in every)
    forget = [
        QAItem("Who wrote Macbeth?", "William Shakespeare wrote it.", ("Shakespeare",)),
        QAItem("Which planet is the hottest?", "Venus.", ("Venus",)),
    ]
    dropped = {i.question for i in every} - {i.question for i in general_knowledge(forget)}
    assert dropped == {"Who wrote the play Macbeth?", "What is the hottest planet in our solar system?"}


def test_the_default_model_states_the_general_facts(smollm2):
    """The set is only a signal if the base states its facts: most of them, greedy, in 24 tokens."""
    from edgeunlearn.data.general import general_knowledge

    facts = general_knowledge()
    stated = _states(MLXBackend(smollm2.mlx_dir), facts)
    assert sum(stated) >= 0.9 * len(facts), [f.question for f, s in zip(facts, stated) if not s]
