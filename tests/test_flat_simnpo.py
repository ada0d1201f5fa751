"""FLAT and SimNPO: hand-computed loss values on tiny tensors, and real MLX steps moving the right way."""

import math

import mlx.core as mx
import numpy as np
import pytest

from edgeunlearn.backends.mlx_backend import MLXBackend
from edgeunlearn.config import MethodArgs, TrainConfig
from edgeunlearn.data.templates import REFUSALS, refusal_answers
from edgeunlearn.errors import UserError
from edgeunlearn.methods import get_method
from edgeunlearn.methods.flat import DIVERGENCES, flat_objective, lambert_w
from edgeunlearn.methods.simnpo import simnpo_objective
from edgeunlearn.methods.terms import mean_token_prob
from edgeunlearn.training.batching import make_batch
from edgeunlearn.training.trainer import train

PE, PF = 0.3, 0.8  # mean answer-token probabilities: template, forget


def _w(x):
    w = math.log1p(x)
    for _ in range(50):
        w -= (w * math.exp(w) - x) / (math.exp(w) * (w + 1))
    return w


HAND = {  # −g(P̄_e) + f*(g(P̄_f)), written out from the f-GAN table
    "tv": -0.5 * math.tanh(PE) + 0.5 * math.tanh(PF),
    "kl": -PE + math.exp(PF - 1),
    "js": math.log1p(math.exp(-PE)) + math.log1p(math.exp(PF)) - 2 * math.log(2),
    "pearson": -PE + PF**2 / 4 + PF,
    "reverse_kl": math.exp(-PE) + PF - 1,
    "jeffrey": -PE + _w(math.exp(1 - PF)) + 1 / _w(math.exp(1 - PF)) + PF - 2,
    "squared_hellinger": -(1 - math.exp(-PE)) + (1 - math.exp(-PF)) / math.exp(-PF),
    "neyman": -(1 - math.exp(-PE)) + 2 - 2 * math.sqrt(1 - (1 - math.exp(-PF))),
}


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
def test_flat_objective_matches_hand_computation(name):
    value = float(flat_objective(mx.array([PE]), mx.array([PF]), name))
    assert value == pytest.approx(HAND[name], rel=1e-4, abs=1e-6)
    # it must reward the template answer and punish the forget answer
    assert float(flat_objective(mx.array([PE + 0.1]), mx.array([PF]), name)) < value
    assert float(flat_objective(mx.array([PE]), mx.array([PF - 0.1]), name)) < value


def test_lambert_w():
    x = mx.array([0.5, 1.0, math.e, 10.0])
    w = np.array(lambert_w(x))
    assert np.allclose(w * np.exp(w), np.array(x), rtol=1e-5)


def test_simnpo_objective_matches_formula():
    beta, gamma, nll = 2.5, 0.5, [1.2, 0.4]
    expected = np.mean([-(2 / beta) * math.log(1 / (1 + math.exp(-(beta * v - gamma)))) for v in nll])
    assert float(simnpo_objective(mx.array(nll), beta, gamma)) == pytest.approx(expected, rel=1e-5)


def test_templates_are_many_seeded_and_checked(facts):
    assert len(set(REFUSALS)) >= 30
    first, again = refusal_answers(facts, 3), refusal_answers(facts, 3)
    assert first == again and all(t.answer in REFUSALS for t in first)
    assert [t.answer for t in refusal_answers(facts, 4)] != [t.answer for t in first]  # the seed decides
    assert [t.question for t in first] == [f.question for f in facts]
    with pytest.raises(UserError, match="template list is empty"):
        refusal_answers(facts, 0, templates=())


def test_bad_flat_arguments_name_the_fix():
    flat = get_method("flat")
    with pytest.raises(UserError, match="unknown divergence 'bogus': choose one of tv"):
        flat.check_args(MethodArgs(divergence="bogus"))
    with pytest.raises(UserError, match="unknown FLAT template"):
        flat.check_args(MethodArgs(template="nope"))


def _mean_probs(backend, items):
    pairs = [backend.prompter.pair(i) for i in items]
    return float(mean_token_prob(backend.model, make_batch(pairs, range(len(pairs)), backend.pad_id)).mean())


# A random tiny model gives every answer token p ≈ 1/49152, where both losses are flat by design;
# SmolLM2 knows these facts, so its probabilities are where the losses actually act.
def test_flat_steps_lower_the_forget_answer_and_raise_the_template(smollm2, facts, tmp_path):
    backend = MLXBackend(smollm2.mlx_dir)
    templates = refusal_answers(facts, 0)
    before = _mean_probs(backend, facts), _mean_probs(backend, templates)
    cfg = TrainConfig(steps=4, batch_size=4, learning_rate=2e-4, lora_rank=4)
    train(backend, get_method("flat"), facts, None, cfg, MethodArgs(), 0, tmp_path)
    after = _mean_probs(backend, facts), _mean_probs(backend, templates)
    assert after[0] < before[0] and after[1] > before[1]


def test_simnpo_steps_raise_the_forget_nll(smollm2, facts, tmp_path):
    backend = MLXBackend(smollm2.mlx_dir)
    before = np.mean([s.mean() for s in backend.score(facts)])
    cfg = TrainConfig(steps=4, batch_size=4, learning_rate=2e-4, lora_rank=4)
    train(backend, get_method("simnpo"), facts, None, cfg, MethodArgs(), 0, tmp_path)
    assert np.mean([s.mean() for s in backend.score(facts)]) < before - 0.05
