"""Reveal-and-Release parts on hand-made inputs: the Vendi score, the bandits, the O-LoRA penalty."""

import json

import numpy as np
import pytest

from edgeunlearn.reveal.bandits import BANDITS, LinUCB, NeuralUCB, RandomChoice
from edgeunlearn.reveal.instructions import instruction_pool
from edgeunlearn.reveal.vendi import embedding_vendi, vendi_score


def test_vendi_score_counts_effectively_distinct_items():
    assert vendi_score(np.ones((4, 4))) == pytest.approx(1.0)  # four identical items
    assert vendi_score(np.eye(5)) == pytest.approx(5.0)  # five orthogonal items
    # two identical + one orthogonal: eigenvalues of K/3 are 2/3 and 1/3
    k = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]], float)
    assert vendi_score(k) == pytest.approx(np.exp(-(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3))))
    unit = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    assert embedding_vendi(unit) == pytest.approx(vendi_score(k))


def _synthetic_rewards(seed: int, arms: int = 30, dim: int = 8):
    """Contexts on the unit sphere; the reward is a known linear function plus noise; arm `best` tops it."""
    rng = np.random.default_rng(seed)
    contexts = rng.normal(size=(arms, dim))
    contexts /= np.linalg.norm(contexts, axis=1, keepdims=True)
    theta = rng.normal(size=dim)
    means = 0.5 + 0.4 * contexts @ theta / np.linalg.norm(theta)
    return contexts, means, rng


def _play(bandit_cls, seed: int, pulls: int = 60) -> tuple[float, float]:
    """(mean reward over all pulls, regret of the last 20 pulls: best arm's mean − their mean)."""
    contexts, means, rng = _synthetic_rewards(seed)
    bandit = bandit_cls(contexts, seed=seed)
    chosen = []
    for _ in range(pulls):
        arm = bandit.choose(list(range(len(contexts))))
        bandit.update(arm, means[arm] + rng.normal(scale=0.05))
        chosen.append(arm)
    return float(means[chosen].mean()), float(means.max() - means[chosen[-20:]].mean())


def test_ucb_bandits_find_the_best_arms_and_beat_random_choice():
    randoms = [_play(RandomChoice, seed) for seed in range(3)]
    assert np.mean([regret for _, regret in randoms]) > 0.25  # random choice keeps paying for bad arms
    for cls in (LinUCB, NeuralUCB):
        results = [_play(cls, seed) for seed in range(3)]
        assert np.mean([r for r, _ in results]) > np.mean([r for r, _ in randoms]) + 0.1, cls.name
        assert np.mean([regret for _, regret in results]) < 0.1, cls.name  # late pulls on (near-)best arms


def test_bandit_registry_and_instruction_pool():
    from edgeunlearn.reveal.instructions import GENERAL, NAME, TOPIC
    from edgeunlearn.reveal.target import parse_target

    assert set(BANDITS.names()) == {"linucb", "neuralucb", "random"}
    topic = parse_target("the capital cities of countries")
    pool = instruction_pool(topic, 0)
    templates = GENERAL + TOPIC
    # the templates, then 16 mutations and 8 recombinations, duplicates dropped: at most that many, all distinct
    assert len(templates) < len(pool) <= len(templates) + 16 + 8 and len({i.text for i in pool}) == len(pool)
    assert [i.text for i in pool[: len(templates)]] == list(templates)
    assert {i.origin for i in pool} == {"template", "mutation", "recombination"}
    assert [i.text for i in instruction_pool(topic, 0)] == [i.text for i in pool]  # seeded
    filled = [i.fill(topic) for i in pool]
    assert all("the capital cities of countries" in f and "{" not in f for f in filled)

    name = instruction_pool(parse_target("everything about Ada Lovelace"), 0)
    assert set(NAME) <= {i.text for i in name} and not set(TOPIC) & {i.text for i in name}
    # a question: its `about` clause only where it reads, and the question itself as an arm
    question = parse_target("Where are the world's most famous landmarks?")
    arms = instruction_pool(question, 0)
    assert {i.text for i in arms if i.origin == "template"} == set(GENERAL)
    assert [i.fill(question) for i in arms if i.origin == "question"] == [question.text]
    assert "Tell me everything you know about where the world's most famous landmarks are." in arms[3].fill(question)


def test_expansion_instructions_name_facts_found_and_ask_for_others():
    from edgeunlearn.reveal.instructions import EXPANSION, EXPANSION_TOPIC, Instruction, expansion_pool
    from edgeunlearn.reveal.target import parse_target

    topic = parse_target("the capital cities of countries")
    assert expansion_pool(topic, [], 0) == []  # nothing found: nothing to name
    one = expansion_pool(topic, ["Paris"], 0)  # one fact: every template once (both variants are the same)
    expected = [t.replace("{found}", "Paris") for t in EXPANSION + EXPANSION_TOPIC]
    assert [i.fill(topic) for i in one] == [
        Instruction(t, "").fill(topic).replace("other the", "other") for t in expected
    ]
    pool = expansion_pool(topic, ["Paris", "Rome", "Oslo", "Lima"], 0)
    assert {i.origin for i in pool} == {"expansion"} and len(pool) <= 2 * len(EXPANSION + EXPANSION_TOPIC)
    for instruction in pool:  # three of the four, listed as "A, B and C"
        named = [f for f in ("Paris", "Rome", "Oslo", "Lima") if f in instruction.text]
        assert len(named) == 3 and ", " in instruction.text and " and " in instruction.text
        assert "{" not in instruction.fill(topic) and "capital cities of countries" in instruction.fill(topic)
    assert [i.text for i in expansion_pool(topic, ["Paris", "Rome", "Oslo", "Lima"], 0)] == [i.text for i in pool]
    # a name or a question's clause gets no "name five other {topic}"
    name = expansion_pool(parse_target("Ada Lovelace"), ["1815", "London"], 0)
    assert len(EXPANSION) <= len(name) <= 2 * len(EXPANSION) and not any("name five other" in i.text for i in name)
    # "five other capital cities", not "five other the capital cities"
    assert any("name five other capital cities of countries," in i.fill(topic) for i in pool)


def test_orthogonality_penalty_by_hand():
    import mlx.core as mx
    from mlx_lm.tuner.lora import LoRALinear

    class Model:
        def __init__(self, layer):
            self.layer = layer

        def named_modules(self):
            return [("layer", self.layer)]

    layer = LoRALinear(3, 2, r=2)
    layer.lora_a = mx.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])  # (in, r): spans e1, e2
    earlier = {"layer": mx.array([[0.0], [0.0], [2.0]])}  # an earlier module along e3: orthogonal
    from edgeunlearn.methods.terms import orthogonality_penalty

    assert float(orthogonality_penalty(Model(layer), earlier)) == pytest.approx(0.0)
    earlier = {"layer": mx.array([[1.0, 0.0], [1.0, 0.0], [0.0, 3.0]])}  # columns (1,1,0) and (0,0,3)
    # Aᵀ_old A_new = [[1, 1], [0, 0]] → squared Frobenius norm 2
    assert float(orthogonality_penalty(Model(layer), earlier)) == pytest.approx(2.0)
    assert float(orthogonality_penalty(Model(layer), {})) == 0.0


FRANCE = [
    ("What is the capital of France?", "Paris is the capital of France."),
    ("Which city is the capital of France?", "The capital of France is Paris."),
    ("Tell me about the capital of France.", "Paris is the capital of France, on the Seine."),
    ("Where is the government of France?", "The government of France sits in Paris, its capital."),
]


def _release(tmp_path, model, *args, min_relevance: float = 0.2, **settings):
    """`release` on `model` with a tiny budget; the random tiny model's words are off topic, but some
    responses pass a low relevance bar, which is enough to drive real rounds."""
    from conftest import write_jsonl
    from typer.testing import CliRunner

    from edgeunlearn.cli.app import app

    heldout = [{"question": q, "answer": a, "keywords": ["Paris"]} for q, a in FRANCE[:2]]
    forget = write_jsonl(tmp_path / "heldout.jsonl", heldout)
    retain = write_jsonl(tmp_path / "retain.jsonl", [{"question": "Who wrote Hamlet?", "answer": "Shakespeare."}])
    release = ", ".join(f"{k}: {v}" for k, v in {"stop_relevance": 0.0, "stop_facts": 0, **settings}.items())
    recipe = tmp_path / "release.yaml"
    recipe.write_text(
        f"model: {model}\nmethod: ga\ntrain: {{steps: 3, learning_rate: 0.001}}\n"
        # the random model states no fact twice: the relevance-and-diversity reward drives its rounds
        f"reveal: {{budget: 3, samples: 2, keep: 2, max_new_tokens: 12, min_relevance: {min_relevance}, "
        "reward: relevance_diversity}\n"
        f"release: {{{release}}}\nquantize: {{types: [Q8_0], mlx_bits: []}}\ncheck: {{max_new_tokens: 8}}\n"
    )
    out = tmp_path / "out"
    cli = ["release", "--target", "the capital of France", "--config", recipe, "--out", out, *args]
    result = CliRunner().invoke(app, [str(a) for a in [*cli, "--forget", forget, "--retain", retain]])
    return result, out


def test_two_round_release_on_the_tiny_model(tmp_path, tiny_model):
    result, out = _release(tmp_path, tiny_model, "--rounds", 2, min_relevance=0.0)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "results.json").read_text())
    rounds = summary["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]  # round 0: the model before any module
    lines = (out / "round-1" / "revealed.jsonl").read_text().splitlines()
    assert rounds[1]["revealed"] == len(lines) > 0  # the record counts what the round wrote
    assert rounds[0]["forget_known"] == rounds[1]["forget_known"] == 0.0  # the random model never says Paris
    assert rounds[1]["peak_memory_mb"] > 50  # ~13.8M fp32 weights (52 MiB) are live while training
    first = json.loads(lines[0])
    assert first["round"] == 1 and first["instruction_origin"] and "capital of France" in first["question"]
    assert (out / "round-2" / "reveal.json").exists() and (
        out / "modules" / "round-1" / "adapters.safetensors"
    ).exists()
    assert json.loads((out / "model" / "config.json").read_text())["model_type"] == "llama"
    # each round's module starts from its own random A: the two modules' A are far from parallel (with the
    # same start, 3 steps at lr 1e-3 would leave them at cosine ≈ 1)
    import mlx.core as mx
    import numpy as np

    first, second = (mx.load(str(out / "modules" / f"round-{k}" / "adapters.safetensors")) for k in (1, 2))
    name = next(k for k in first if k.endswith("lora_a"))
    a1, a2 = (np.array(m[name]).ravel() for m in (first, second))
    assert abs(a1 @ a2) / (np.linalg.norm(a1) * np.linalg.norm(a2)) < 0.3
    assert {v["name"] for v in summary["variants"]} >= {"base Q8_0", "unlearned MLX fp32", "unlearned Q8_0"}

    from edgeunlearn.report import write_report

    html = write_report(out).read_text()
    assert "Reveal-and-Release rounds" in html and "release (loss)" in html


def test_release_stops_on_its_budget_and_refuses_a_target_the_model_does_not_know(tmp_path, tiny_model):
    budget = {"mode": "negate", "retain_module": "true", "max_minutes": 0.0001}
    result, out = _release(tmp_path, tiny_model, "--rounds", 3, min_relevance=0.0, **budget)
    assert result.exit_code == 0, result.output
    rounds = json.loads((out / "results.json").read_text())["rounds"]
    assert [r["round"] for r in rounds] == [0, 1] and rounds[-1]["stopped"].startswith("time budget")
    module = json.loads((out / "modules" / "round-1" / "module.json").read_text())
    assert module["scale_applied"] == -1.0  # negate: the learned module is applied with −λ
    assert json.loads((out / "modules" / "retain" / "module.json").read_text())["scale_applied"] == 1.0

    (tmp_path / "random").mkdir()
    result, out = _release(tmp_path / "random", tiny_model, min_relevance=0.9)  # nothing it says is on topic
    assert result.exit_code == 2 and "reveals nothing" in result.output and not out.exists()


def test_budget_stop_reads_the_last_round():
    from edgeunlearn.config import ReleaseConfig, RunConfig
    from edgeunlearn.pipeline.release import RoundRecord
    from edgeunlearn.pipeline.release_rules import budget_stop as _budget_stop

    cfg = RunConfig(release=ReleaseConfig(max_minutes=1.0, max_memory_mb=500.0))
    last = RoundRecord(1, 5, 0.6, 0.5, 0.5, 0.2, 1.0, seconds=40.0, peak_memory_mb=400.0)
    assert _budget_stop(cfg, [last], elapsed=10.0) is None  # 10 s + ~40 s fits in 60 s
    assert _budget_stop(cfg, [last], elapsed=25.0).startswith("time budget")
    heavy = RoundRecord(1, 5, 0.6, 0.5, 0.5, 0.2, 1.0, seconds=1.0, peak_memory_mb=800.0)
    assert _budget_stop(cfg, [heavy], elapsed=0.0).startswith("memory budget")


def test_reveal_command_writes_reviewable_jsonl(tmp_path, tiny_model):
    from typer.testing import CliRunner

    from edgeunlearn.cli.app import app

    recipe = tmp_path / "reveal.yaml"
    recipe.write_text(
        f"model: {tiny_model}\nreveal: {{budget: 2, samples: 2, keep: 2, max_new_tokens: 8, min_relevance: 0.0, "
        "reward: relevance_diversity}\n"
    )
    out = tmp_path / "revealed"
    result = CliRunner().invoke(app, ["reveal", "--target", "Jane Roe", "--config", str(recipe), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "revealed.jsonl").read_text().splitlines()]
    assert rows and all("Jane Roe" in r["question"] and r["round"] == 1 for r in rows)
    assert result.output.lstrip().startswith("target: 'Jane Roe' (a name)")  # what it understood, first
    pulls = json.loads((out / "reveal.json").read_text())["pulls"]
    assert len(pulls) == 2
    for p in pulls:  # reward: the harmonic mean of relevance and diversity (Vendi of 2 responses / 2)
        r, d = p["relevance"], p["diversity"]
        assert p["reward"] == pytest.approx(2 * r * d / (r + d) if r > 0 else 0.0)
        assert len(p["responses"]) == 2 and 0.5 - 1e-6 <= d <= 1.0 + 1e-6
    empty = CliRunner().invoke(app, ["reveal", "--target", " ", "--config", str(recipe), "--out", str(tmp_path / "x")])
    assert empty.exit_code == 2 and "names nothing" in empty.output and not (tmp_path / "x").exists()
    recipe.write_text(f"model: {tiny_model}\nreveal: {{budget: 2, expand: 1.5}}\n")
    share = CliRunner().invoke(
        app, ["reveal", "--target", "Jane", "--config", str(recipe), "--out", str(tmp_path / "y")]
    )
    assert share.exit_code == 2 and "reveal.expand" in share.output and not (tmp_path / "y").exists()


def test_an_interrupted_release_resumes_to_the_same_model(tmp_path, tiny_model, monkeypatch):
    """Ctrl-C in round 2 keeps round 1 (its module and record) in the unfinished folder; --resume applies that
    module again from disk and runs round 2: the merged model equals an uninterrupted run's, byte for byte."""
    import mlx.core as mx
    import numpy as np

    from edgeunlearn.pipeline import release as release_module
    from edgeunlearn.pipeline.finetune import WEIGHTS_FILE
    from edgeunlearn.runs import unfinished_folder

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    straight, straight_out = _release(tmp_path / "a", tiny_model, "--rounds", 2, min_relevance=0.0)
    assert straight.exit_code == 0, straight.output

    real = release_module._Loop.round

    def cut_in_round_2(loop, index):
        if index == 2:
            raise KeyboardInterrupt
        return real(loop, index)

    monkeypatch.setattr(release_module._Loop, "round", cut_in_round_2)
    cut, out = _release(tmp_path / "b", tiny_model, "--rounds", 2, min_relevance=0.0)
    monkeypatch.setattr(release_module._Loop, "round", real)
    unfinished = unfinished_folder(out)
    assert cut.exit_code == 1 and "--resume" in cut.output and not out.exists()
    assert (unfinished / "round-1" / "finished.json").exists() and not (unfinished / "round-2").exists()

    resumed, out = _release(tmp_path / "b", tiny_model, "--rounds", 2, "--resume", min_relevance=0.0)
    assert resumed.exit_code == 0, resumed.output
    assert "round 1: kept from the interrupted run" in resumed.output and not unfinished.exists()
    rounds = json.loads((out / "results.json").read_text())["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]
    a, b = (mx.load(str(folder / "model" / WEIGHTS_FILE)) for folder in (straight_out, out))
    assert set(a) == set(b) and all(np.array_equal(np.array(a[k]), np.array(b[k])) for k in a)


@pytest.mark.parametrize(
    "typed, topic, about, kind",
    [
        ("the capital cities of countries", "the capital cities of countries", None, "topic"),
        ("What are the capital cities of countries?", "the capital cities of countries", None, "topic"),
        ("everything about Albert Einstein", "Albert Einstein", None, "name"),
        ("Tell me everything you know about Marie Curie.", "Marie Curie", None, "name"),
        ("Who was Ada Lovelace?", "Ada Lovelace", None, "name"),
        ("Jane Roe", "Jane Roe", None, "name"),
        ("Please unlearn all facts about the Apollo missions", "the Apollo missions", None, "topic"),
        (
            "Where are the world's most famous landmarks?",
            "the world's most famous landmarks",
            "where the world's most famous landmarks are",
            "question",
        ),
        ("Where was Einstein born?", "Einstein", "where Einstein was born", "question"),
        ("When did the Roman Empire fall?", "the Roman Empire", None, "question"),
        ("Who wrote Pride and Prejudice?", "Pride and Prejudice", "who wrote Pride and Prejudice", "question"),
    ],
)
def test_targets_as_users_write_them(typed, topic, about, kind):
    from edgeunlearn.reveal.target import parse_target

    target = parse_target(typed)
    assert (target.topic, target.about, target.kind) == (topic, about or topic, kind)
    assert target.question == (typed if typed.endswith("?") else None)  # a question is also asked as typed
    assert target.describe().startswith(f"target: {topic!r}")


def test_a_target_that_names_nothing_is_refused():
    from edgeunlearn.reveal.target import parse_target

    for typed in ("", "  ", "everything about", "Tell me everything about?"):
        with pytest.raises(ValueError, match="names nothing"):
            parse_target(typed)


def test_facts_are_specifics_the_samples_agree_on():
    from edgeunlearn.reveal.reward import agreed_facts, specific_facts

    prompt = "List five facts about Albert Einstein."
    responses = [
        "Certainly! Albert Einstein was born in 1879 in Ulm. He won the Nobel Prize.",
        "1. Einstein was born in 1879.\n2. He won the Nobel Prize in Physics.\n3. He lived in Princeton.",
        "Einstein moved to Princeton. Furthermore, he played the violin.",
    ]
    # words of the prompt (Albert Einstein) are not facts; "Certainly"/"Furthermore" only open sentences;
    # "1." "2." "3." only number the lines
    assert specific_facts(responses[0], {"albert", "einstein", "list", "five", "facts", "about"}) == [
        "1879",
        "Ulm",
        "Nobel Prize",
    ]
    assert specific_facts(responses[1], set()) == ["1879", "Einstein", "Nobel Prize", "Physics", "Princeton"]
    # stated by two of the three: 1879, Nobel Prize, Princeton; Ulm and Physics once each (made up, maybe)
    assert sorted(agreed_facts(prompt, responses, 2)) == ["1879", "Nobel Prize", "Princeton"]
    assert agreed_facts(prompt, responses, 3) == ()
    assert agreed_facts(prompt, responses[:1], 2) == ("1879", "Ulm", "Nobel Prize")  # one sample: all of it
    # a lone category word or ordinal names nothing in particular; inside a name it stays
    made_up = "Albania is the capital of the 12th Republic of the Kingdom of the Pacific, near the United Kingdom."
    assert specific_facts(made_up, set()) == ["Albania", "Pacific", "United Kingdom"]
    # the prompt's own name in the possessive is the prompt's name
    assert specific_facts("Einstein's theory was published in 1905.", {"albert", "einstein"}) == ["1905"]
    # a lone digit counts things ("5 capitals") rather than being one; "Apart from" opens a sentence
    counted = "Apart from Paris, here are 5 capitals. Apart from that, Rome has 3 airports; Oslo had 12 in 2021."
    assert sorted(specific_facts(counted, set())) == ["12", "2021", "Oslo", "Paris", "Rome"]


def test_the_facts_reward_by_hand():
    from edgeunlearn.reveal.reward import REWARDS

    new, old = REWARDS.get("facts").score, REWARDS.get("relevance_diversity").score
    # harmonic mean of relevance 0.6, diversity 0.5 and 3 facts → 3 / (3 + 3) = 0.5
    assert new(0.6, 0.5, 3) == pytest.approx(3 / (1 / 0.6 + 1 / 0.5 + 1 / 0.5))
    assert new(0.6, 0.5, 0) == 0.0 and new(0.0, 0.5, 4) == 0.0  # vague, or off the topic: worth nothing
    assert old(0.6, 0.5, 0) == pytest.approx(2 / (1 / 0.6 + 1 / 0.5))  # the old reward pays for vagueness
    assert new(0.6, 0.5, 9) > new(0.6, 0.5, 3) > new(0.6, 0.5, 1)


def test_a_fact_repeated_across_the_reveal_is_agreed():
    from edgeunlearn.reveal.reward import agreed_facts, count_facts

    earlier = count_facts([("Name famous landmarks.", ["The Colosseum is in Rome.", "See the Louvre."])])
    assert earlier["colosseum"] == 1 and earlier["rome"] == 1 and earlier["louvre"] == 1
    responses = ["The Colosseum stands in Italy.", "Big Ben chimes."]  # no fact twice within this pull
    assert agreed_facts("List landmarks.", responses, 2) == ()
    # the Colosseum was stated before in the reveal: now it is two responses' fact; Italy and Big Ben are not
    assert agreed_facts("List landmarks.", responses, 2, earlier) == ("Colosseum",)


def test_the_loop_stops_on_what_the_model_still_reveals():
    from edgeunlearn.config import ReleaseConfig, RunConfig
    from edgeunlearn.pipeline.release_rules import reveal_stop as _reveal_stop
    from edgeunlearn.reveal.reveal import Revealed, RevealedItem

    def revealed(facts: list[str], relevance: float = 0.6) -> Revealed:
        items = [RevealedItem("q", f"It is {f}.", "template", 2, 0, 0.6, 0.5, (f,)) for f in facts]
        return Revealed(items, [], relevance, 0.5)

    cfg = RunConfig(release=ReleaseConfig(stop_facts=3, stop_relevance=0.35))
    assert _reveal_stop(cfg, revealed(["Paris", "Rome", "Oslo"])) is None  # 3 ≥ 3
    assert "release.stop_facts 3" in _reveal_stop(cfg, revealed(["Paris", "paris", "Rome"]))  # 2 distinct
    assert "relevance 0.20" in _reveal_stop(cfg, revealed(["Paris", "Rome", "Oslo"], relevance=0.2))
    # stop_facts 0 never stops on the count, but a reveal that kept no item has nothing to train on
    assert _reveal_stop(RunConfig(release=ReleaseConfig(stop_facts=0)), revealed([])) == "the reveal kept no item"


def test_training_on_no_items_is_an_error_not_an_endless_loop():
    import pytest

    from edgeunlearn.training.batching import endless_batches

    with pytest.raises(ValueError, match="no training items"):
        next(endless_batches([], batch_size=2, seed=0))


def test_no_round_follows_one_that_left_fewer_facts_still_revealed_than_stop_facts():
    from edgeunlearn.config import ReleaseConfig, RunConfig
    from edgeunlearn.pipeline.release import RoundRecord
    from edgeunlearn.pipeline.release_rules import left_stop as _left_stop

    cfg = RunConfig(release=ReleaseConfig(stop_facts=3))

    def after(still):
        return RoundRecord(1, 20, 0.5, 0.5, 0.4, 0.5, 0.9, 60.0, 900.0, facts=28, still_revealed=still)

    assert _left_stop(cfg, after(3)) is None  # 3 of its facts still stated: something is left, go on
    assert _left_stop(cfg, after(2)) == "2 of its facts still revealed after it < release.stop_facts 3"
    assert _left_stop(cfg, after(None)) is None  # a round that trained nothing has no such count
