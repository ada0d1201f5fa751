"""Does NeuralUCB choose better reveal instructions than chance? Same budget, several seeds.

The embedded model answers every instruction of the pool `SETS` times (each a fresh draw of `samples`
responses) once, up front; each bandit then replays that bank: pulling an arm for the k-th time returns its
k-th draw. So every chooser sees the same responses for the same choices, and the comparison costs one
generation pass instead of one per bandit and seed. Prints the mean reward per chooser and the ratio to
random choice.

LD_PRELOAD=$(.venv/bin/python -m edgeunlearn.blas) .venv/bin/python benchmarks/reveal_bandits.py
"""

import hashlib
import json
import sys
import time

import numpy as np

from edgeunlearn.backends.mlx_backend import MLXBackend
from edgeunlearn.config import RevealConfig
from edgeunlearn.judges.encoder import SentenceEncoder
from edgeunlearn.models.resolve import cache_root, resolve_model
from edgeunlearn.reveal.bandits import BANDITS
from edgeunlearn.reveal.instructions import instruction_pool
from edgeunlearn.reveal.reveal import score_pull

TARGET = sys.argv[1] if len(sys.argv) > 1 else "the capital cities of countries"
SEEDS = (0, 1, 2, 3, 4)
SETS = 3  # draws per arm in the bank: a bandit that keeps pulling one arm past this gets its draws again
BUDGETS = (24, 72)  # the default reveal budget, and three times it


def bank(backend, encoder, prompts, cfg) -> list[list]:
    import mlx.core as mx

    target = encoder.embed([TARGET])[0]
    draws = []
    for arm, prompt in enumerate(prompts):
        arm_draws = []
        for k in range(SETS):
            mx.random.seed(1000 * arm + k)
            responses = backend.generate([prompt] * cfg.samples, cfg.max_new_tokens, cfg.temperature)
            arm_draws.append(score_pull(arm, prompt, responses, encoder, target).reward)
        draws.append(arm_draws)
    return draws


def replay(name: str, contexts: np.ndarray, draws: list[list], budget: int, seed: int) -> float:
    bandit = BANDITS.get(name)(contexts, seed=seed)
    pulls = [0] * len(draws)
    rewards = []
    for _ in range(budget):
        arm = bandit.choose(list(range(len(draws))))
        reward = draws[arm][pulls[arm] % SETS]
        pulls[arm] += 1
        bandit.update(arm, reward)
        rewards.append(reward)
    return float(np.mean(rewards))


def main() -> None:
    cfg = RevealConfig()
    start = time.perf_counter()
    encoder = SentenceEncoder()
    prompts = [arm.fill(TARGET) for arm in instruction_pool(0)]
    key = hashlib.sha256(repr((TARGET, SETS, cfg)).encode()).hexdigest()[:12]
    cached = cache_root() / "benchmarks" / f"reveal-bank-{key}.json"
    if cached.exists():  # the bank costs minutes of generation; replays cost nothing
        draws = json.loads(cached.read_text())
    else:
        draws = bank(MLXBackend(resolve_model("default").mlx_dir), encoder, prompts, cfg)
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(draws))
    seconds = time.perf_counter() - start
    print(f"bank: {len(prompts)} instructions × {SETS} draws × {cfg.samples} responses in {seconds:.0f} s ({cached})")
    best = np.mean(draws, axis=1)
    print(f"reward per instruction: best {best.max():.3f}, mean {best.mean():.3f}, worst {best.min():.3f}")
    contexts = encoder.embed(prompts)
    for budget in BUDGETS:
        results = {n: [replay(n, contexts, draws, budget, s) for s in SEEDS] for n in ("neuralucb", "linucb", "random")}
        for name, values in results.items():
            ratio = np.mean(values) / np.mean(results["random"])
            print(
                f"budget {budget:>3} {name:>9}: mean reward {np.mean(values):.3f} ± {np.std(values):.3f} over seeds"
                f" {SEEDS}, {ratio:.3f}× random"
            )


if __name__ == "__main__":
    main()
