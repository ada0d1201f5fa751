"""Reveal-and-Release parts on hand-made inputs: the Vendi score, the bandits, the O-LoRA penalty."""

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
    assert set(BANDITS.names()) == {"linucb", "neuralucb", "random"}
    pool = instruction_pool(0)
    assert len(pool) > 20 and all("{target}" in i.text for i in pool)
    assert {i.origin for i in pool} == {"template", "mutation", "recombination"}
    assert [i.text for i in instruction_pool(0)] == [i.text for i in pool]  # seeded


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
