"""Reveal on three targets: which reward and which instruction chooser find the data worth unlearning?

For each target (the demo's, and two written before tuning with held-out facts in tests/data/release_targets)
the embedded model answers every instruction of the pool `SETS` times (each a fresh draw of `samples`
responses) once, up front, and the bank is cached; every chooser then replays it (pulling an arm for the k-th
time returns its k-th draw), so all of them see the same responses for the same choices.

1. Ablation: old reward (relevance_diversity) vs new (facts) × NeuralUCB / LinUCB / random, budget 24, five
   seeds: mean reward (each under its own reward, ratio to random), and what the kept data carries — items,
   distinct agreed facts, and the share of held-out facts whose answer appears in it (held-out facts are read
   only here, never by the loop).
2. Does the reward rank pulls by what their data does? (`--rank`) For RANKED pulls per target, a fresh LoRA
   module is trained on that pull's responses as the loop would train on them (the release recipe's method,
   focus on the facts, learning rate; the target's retain set; RANK_STEPS steps, no stop rule) and the
   held-out facts' answer log-probability is measured before and after. The selective drop — held-out drop
   minus the retain-eval drop, nats per token — is what a pull's data is worth; the Spearman correlation of
   each reward with it says which reward ranks pulls better. Every pull is scored against the facts of the
   whole bank (a reveal scores against the pulls before it; the bank has no order).

LD_PRELOAD=$(.venv/bin/python -m edgeunlearn.blas) .venv/bin/python benchmarks/reveal_bandits.py [--rank]
"""

import argparse
import dataclasses
import hashlib
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from edgeunlearn import config
from edgeunlearn.backends.mlx_backend import MLXBackend
from edgeunlearn.data import load_items
from edgeunlearn.judges.encoder import SentenceEncoder
from edgeunlearn.models.resolve import cache_root, resolve_model
from edgeunlearn.pipeline.inputs import data_path
from edgeunlearn.reveal.bandits import BANDITS
from edgeunlearn.reveal.instructions import instruction_pool
from edgeunlearn.reveal.reveal import ask, score_pull, select
from edgeunlearn.reveal.reward import count_facts
from edgeunlearn.reveal.target import parse_target
from edgeunlearn.text.entities import find_terms

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
# target as typed, held-out facts, retain (training), retain-eval (measurement only)
TARGETS = (
    ("the capital cities of countries", "demo:forget", "demo:retain", "demo:retain_eval"),
    (
        "Where are the world's most famous landmarks?",
        str(DATA / "release_targets" / "landmarks.jsonl"),
        "demo:retain",
        "demo:retain_eval",
    ),
    (
        "everything about Albert Einstein",
        str(DATA / "release_targets" / "einstein.jsonl"),
        str(DATA / "second_topic" / "retain.jsonl"),
        str(DATA / "second_topic" / "retain_eval.jsonl"),
    ),
)
SEEDS = (0, 1, 2, 3, 4)
SETS = 3  # draws per arm in the bank
BUDGET = 24  # the default reveal budget
REWARDS = ("relevance_diversity", "facts")
CHOOSERS = ("neuralucb", "linucb", "random")
RANKED = 16  # pulls per target whose data is trained on
RANK_STEPS = 10


def bank(target, cfg) -> list[list[list[str]]]:
    """responses[arm][draw] for every arm of the target's pool, cached (generation costs minutes)."""
    prompts = [arm.fill(target) for arm in instruction_pool(target, 0)]
    sampling = (cfg.samples, cfg.max_new_tokens, cfg.temperature)
    key = hashlib.sha256(repr((prompts, SETS, sampling)).encode()).hexdigest()[:12]
    cached = cache_root() / "benchmarks" / f"reveal-bank-{key}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    backend = MLXBackend(resolve_model("default").mlx_dir)
    draws = [[ask(backend, p, cfg, 1000 * arm + k) for k in range(SETS)] for arm, p in enumerate(prompts)]
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(draws))
    return draws


def scored(target, draws, encoder, cfg) -> dict:
    """pulls[reward][arm][draw]: every draw scored under each reward, its facts agreed across the whole bank
    (the order-free stand-in for a reveal's running ledger)."""
    prompts = [arm.fill(target) for arm in instruction_pool(target, 0)]
    topic = encoder.embed([target.topic])[0]
    everything = count_facts((prompts[a], d) for a, ds in enumerate(draws) for d in ds)
    out = {}
    for reward in REWARDS:
        rcfg = dataclasses.replace(cfg, reward=reward)
        out[reward] = []
        for arm, arm_draws in enumerate(draws):
            row = []
            for responses in arm_draws:
                others = everything - count_facts([(prompts[arm], responses)])
                row.append(score_pull(arm, prompts[arm], responses, encoder, topic, rcfg, others))
            out[reward].append(row)
    return out


def replay(chooser: str, reward: str, target, draws, encoder, contexts, cfg, seed: int):
    """A reveal replayed from the bank: each pull scored as the loop scores it, against the facts of the
    pulls before it."""
    prompts = [arm.fill(target) for arm in instruction_pool(target, 0)]
    topic = encoder.embed([target.topic])[0]
    rcfg = dataclasses.replace(cfg, reward=reward)
    bandit = BANDITS.get(chooser)(contexts, seed=seed)
    taken, chosen, ledger = [0] * len(draws), [], Counter()
    for _ in range(BUDGET):
        arm = bandit.choose(list(range(len(draws))))
        responses = draws[arm][taken[arm] % SETS]
        taken[arm] += 1
        pull = score_pull(arm, prompts[arm], responses, encoder, topic, rcfg, ledger)
        ledger.update(count_facts([(prompts[arm], responses)]))
        bandit.update(arm, pull.reward)
        chosen.append(pull)
    return chosen


def coverage(items, heldout) -> float:
    """Share of held-out facts whose keyword appears in some kept response."""
    text = " \n ".join(item.answer for item in items)
    return float(np.mean([bool(find_terms(text, h.keywords)) for h in heldout]))


def ablation(target, heldout, draws, encoder, cfg) -> list[dict]:
    pool = instruction_pool(target, 0)
    contexts = encoder.embed([arm.fill(target) for arm in pool])
    topic = encoder.embed([target.topic])[0]
    rows = []
    for reward in REWARDS:
        rcfg = dataclasses.replace(cfg, reward=reward)
        per_chooser = {}
        for chooser in CHOOSERS:
            runs = []
            for seed in SEEDS:
                chosen = replay(chooser, reward, target, draws, encoder, contexts, cfg, seed)
                kept = select(chosen, pool, encoder, topic, rcfg, 1)
                runs.append(
                    (
                        np.mean([p.reward for p in chosen]),
                        len(kept.items),
                        len(kept.facts),
                        coverage(kept.items, heldout),
                    )
                )
            per_chooser[chooser] = np.mean(runs, axis=0)
        for chooser, (mean_reward, items, facts, covered) in per_chooser.items():
            ratio = mean_reward / per_chooser["random"][0] if per_chooser["random"][0] else float("nan")
            rows.append(
                dict(
                    reward=reward,
                    chooser=chooser,
                    mean_reward=mean_reward,
                    vs_random=ratio,
                    items=items,
                    facts=facts,
                    heldout_covered=covered,
                )
            )
    return rows


def knowledge(backend, items) -> float:
    """Mean per-token log-probability of the items' answers."""
    return float(np.mean([lp.mean() for lp in backend.score(items)]))


def rank(target, heldout, retain, retain_eval, draws, encoder, cfg, run_cfg) -> dict:
    """Train on RANKED pulls' data one at a time; Spearman of each reward with the selective drop."""
    from edgeunlearn.data import QAItem
    from edgeunlearn.methods import get_method
    from edgeunlearn.training.trainer import train

    pulls = scored(target, draws, encoder, cfg)
    arms = np.random.default_rng(0).permutation(len(draws))[:RANKED]
    source = resolve_model("default")
    base = MLXBackend.of(source)
    before = (knowledge(base, heldout), knowledge(base, retain_eval))
    base.close()
    drops = []
    for arm in arms:
        pull = pulls["facts"][arm][0]
        # as the loop trains on it: each response with the facts it states as keywords (none: the whole answer)
        items = [QAItem(pull.instruction, r, tuple(find_terms(r, pull.facts))) for r in pull.responses if r.strip()]
        backend = MLXBackend.of(source)
        with tempfile.TemporaryDirectory() as tmp:
            train(backend, get_method(run_cfg.method), items, retain, run_cfg.train, run_cfg.method_args, 0, Path(tmp))
        after = (knowledge(backend, heldout), knowledge(backend, retain_eval))
        backend.close()
        drops.append((before[0] - after[0]) - (before[1] - after[1]))
    out = {"pulls": len(arms), "selective_drop": drops}
    for reward in REWARDS:
        values = [pulls[reward][arm][0].reward for arm in arms]
        out[reward] = dict(spearman=float(spearmanr(values, drops).statistic), rewards=values)
    facts = [len(pulls["facts"][arm][0].facts) for arm in arms]
    out["facts_alone"] = dict(spearman=float(spearmanr(facts, drops).statistic))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rank", action="store_true", help="also train on each ranked pull (minutes per target)")
    parser.add_argument("--targets", type=int, default=len(TARGETS), help="the first N targets only")
    args = parser.parse_args()
    # a fixed number of steps for every pull: the stop rule would end each after a different one
    run_cfg = config.resolve(ROOT / "recipes" / "release.yaml", {"train.steps": RANK_STEPS, "train.until": False})
    cfg = run_cfg.reveal
    encoder = SentenceEncoder()
    report = {}
    for typed, heldout_spec, retain_spec, retain_eval_spec in TARGETS[: args.targets]:
        target, start = parse_target(typed), time.perf_counter()
        heldout = load_items(data_path(heldout_spec))
        draws = bank(target, cfg)
        print(
            f"\n{target.describe()} — bank {len(draws)} instructions × {SETS} draws "
            f"in {time.perf_counter() - start:.0f} s"
        )
        rows = ablation(target, heldout, draws, encoder, cfg)
        print(
            f"{'reward':>20} {'chooser':>9} {'mean reward':>11} {'× random':>8} {'items':>5} {'facts':>5} "
            f"{'held-out in data':>16}"
        )
        for r in rows:
            print(
                f"{r['reward']:>20} {r['chooser']:>9} {r['mean_reward']:>11.3f} {r['vs_random']:>8.3f} "
                f"{r['items']:>5.1f} {r['facts']:>5.1f} {r['heldout_covered']:>16.0%}"
            )
        report[typed] = {"ablation": rows}
        if args.rank:
            retain = load_items(data_path(retain_spec))
            retain_eval = load_items(data_path(retain_eval_spec))
            ranked = rank(target, heldout, retain, retain_eval, draws, encoder, cfg, run_cfg)
            report[typed]["rank"] = ranked
            print(
                f"reward vs selective held-out drop over {ranked['pulls']} pulls (Spearman): "
                + ", ".join(f"{r} {ranked[r]['spearman']:+.2f}" for r in (*REWARDS, "facts_alone"))
            )
    out = cache_root() / "benchmarks" / "reveal-bandits.json"
    out.write_text(json.dumps(report, indent=1, default=float))
    print(f"\nfigures → {out}")


if __name__ == "__main__":
    main()
