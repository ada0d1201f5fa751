"""Contextual bandits that choose which reveal instruction to try next.

Each arm is an instruction with a context vector (its sentence embedding). `LinUCB` (Li et al. 2010) fits a
ridge regression from context to reward and adds α·sqrt(xᵀA⁻¹x); `NeuralUCB` (Zhou et al. 2020) fits a small
MLP in MLX and uses its gradient at x as the feature for the exploration bonus γ·sqrt(gᵀZ⁻¹g / m), with Z
kept diagonal (the paper's practical variant) because the MLP has thousands of weights. `RandomChoice` is the
baseline both must beat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeunlearn.registry import Registry


class RandomChoice:
    name = "random"

    def __init__(self, contexts: np.ndarray, seed: int = 0, **_):
        self.contexts = contexts
        self.rng = np.random.default_rng(seed)

    def choose(self, available: list[int]) -> int:
        return int(self.rng.choice(available))

    def update(self, arm: int, reward: float) -> None:
        pass


class LinUCB(RandomChoice):
    name = "linucb"

    def __init__(self, contexts: np.ndarray, seed: int = 0, alpha: float = 1.0, ridge: float = 1.0, **_):
        contexts = np.hstack([contexts, np.ones((len(contexts), 1))])  # a constant feature: the intercept
        super().__init__(contexts, seed)
        d = contexts.shape[1]
        self.alpha = alpha
        self.A = ridge * np.eye(d)
        self.b = np.zeros(d)

    def scores(self, available: list[int]) -> np.ndarray:
        x = self.contexts[available]  # (k, d)
        inverse = np.linalg.inv(self.A)
        theta = inverse @ self.b
        bonus = np.sqrt(np.einsum("kd,de,ke->k", x, inverse, x))
        return x @ theta + self.alpha * bonus

    def choose(self, available: list[int]) -> int:
        scores = self.scores(available)
        best = np.flatnonzero(scores >= scores.max() - 1e-12)
        return int(available[int(self.rng.choice(best))])  # ties broken by seed

    def update(self, arm: int, reward: float) -> None:
        x = self.contexts[arm]
        self.A += np.outer(x, x)
        self.b += reward * x


@dataclass(frozen=True)
class NeuralSettings:
    hidden: int = 32
    gamma: float = 0.5  # exploration scale
    ridge: float = 1.0
    learning_rate: float = 0.01
    fit_steps: int = 30  # gradient steps on all rewards so far, after each update


class NeuralUCB(RandomChoice):
    name = "neuralucb"

    def __init__(self, contexts: np.ndarray, seed: int = 0, settings: NeuralSettings = NeuralSettings(), **_):
        import mlx.core as mx
        import mlx.nn as nn

        super().__init__(contexts, seed)
        mx.random.seed(seed)
        self.settings = settings
        self.net = nn.Sequential(
            nn.Linear(contexts.shape[1], settings.hidden), nn.ReLU(), nn.Linear(settings.hidden, 1)
        )
        mx.eval(self.net.parameters())
        self.size = sum(v.size for _, v in _flat(self.net.parameters()))
        self.Z = np.full(self.size, settings.ridge)  # diagonal of Z
        self.seen: list[tuple[int, float]] = []

    def _value_and_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        import mlx.core as mx
        import mlx.nn as nn

        value, grads = nn.value_and_grad(self.net, lambda net, v: net(v).sum())(self.net, mx.array(x[None]))
        return float(value), np.concatenate([np.array(g).ravel() for _, g in _flat(grads)])

    def scores(self, available: list[int]) -> np.ndarray:
        out = []
        for arm in available:
            value, g = self._value_and_gradient(self.contexts[arm])
            out.append(value + self.settings.gamma * np.sqrt(np.sum(g * g / self.Z) / self.settings.hidden))
        return np.array(out)

    def choose(self, available: list[int]) -> int:
        scores = self.scores(available)
        best = np.flatnonzero(scores >= scores.max() - 1e-12)
        return int(available[int(self.rng.choice(best))])

    def update(self, arm: int, reward: float) -> None:
        _, g = self._value_and_gradient(self.contexts[arm])
        self.Z += g * g
        self.seen.append((arm, reward))
        self._fit()

    def _fit(self) -> None:
        import mlx.core as mx
        import mlx.nn as nn
        import mlx.optimizers as optim

        x = mx.array(self.contexts[[a for a, _ in self.seen]])
        y = mx.array(np.array([r for _, r in self.seen], dtype=np.float32))
        optimizer = optim.Adam(learning_rate=self.settings.learning_rate)
        loss_and_grad = nn.value_and_grad(self.net, lambda net: ((net(x).squeeze(-1) - y) ** 2).mean())
        for _ in range(self.settings.fit_steps):
            _, grads = loss_and_grad(self.net)
            optimizer.update(self.net, grads)
            mx.eval(self.net.parameters(), optimizer.state)


def _flat(tree) -> list:
    from mlx.utils import tree_flatten

    return tree_flatten(tree)


BANDITS: Registry[type] = Registry("bandit")
for bandit in (NeuralUCB, LinUCB, RandomChoice):
    BANDITS.register(bandit.name, bandit)
