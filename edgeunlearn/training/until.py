"""The stop rule (`train.until`): train until forgetting holds at full precision and at every robust_to type,
without letting the retain set fall below a floor.

Why: a fixed step count that forgets the demo may forget half of another topic, or wreck it (FLAT's good window
on the demo is 1-2 steps wide). Every `until_every` steps the forget and retain sets are scored — one batched
forward pass per set and stored form, no generation — and compared with the base scored the same way:

- a forget item is *forgotten* under a stored form when the summed log-prob of its *fact tokens* (the answer
  tokens that spell one of its keywords; all answer tokens when it has none) is at least `until_margin` nats
  below the base's under that form: the fact is e^margin times less likely even after the answer's own
  lead-in ("The capital of France is"), where knowledge hidden behind a changed first token would show;
- a retain item is *kept* unless its whole answer's summed log-prob fell `until_margin` nats below the base's:
  the whole answer, because a model that starts its answers with garbage has lost them even if the fact
  tokens still follow a correct lead-in.

A check is *acceptable* when every form keeps at least `until_retain_floor` of the retain items. Training stops
at the first acceptable check where at least `until_forget` of the forget items are forgotten under every
form; or at the first check below the floor; or at the step budget. Unless it stopped on success, the LoRA
weights of the best acceptable check (most forgotten under the worst form, the later on ties; the base when
none) are restored. Only training-side data is read: the forget set and the `--retain` set, never
`--retain-eval`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edgeunlearn.config import TrainConfig
from edgeunlearn.training.batching import length_buckets, make_batch

FORGOTTEN = "forgotten at every type"
RETAIN_FLOOR = "retain floor"


@dataclass(frozen=True)
class Standing:
    """One check: per stored form ("full" or a type), the share forgotten and the share of retain kept."""

    step: int
    forgotten: dict[str, float]
    retain_kept: dict[str, float]

    def to_dict(self) -> dict:
        return {"step": self.step, "forgotten": self.forgotten, "retain_kept": self.retain_kept}


def forgotten_share(now: np.ndarray, base: np.ndarray, margin: float) -> float:
    """Share of items whose summed answer log-prob fell at least `margin` nats below the base's."""
    return float(np.mean(now <= base - margin)) if len(now) else 1.0


@dataclass(frozen=True)
class Scored:
    """An item tokenized for scoring: prompt and answer ids, and which answer tokens spell the fact."""

    prompt: list[int]
    answer: list[int]
    fact: np.ndarray  # (len(answer),) bool


def scored_items(backend, items, facts_only: bool = True) -> list[Scored]:
    """`facts_only`: score the fact tokens (forget items); else every answer token (retain items)."""
    out = []
    for item in items:
        prompt, answer = backend.prompter.pair(item)
        keywords = item.keywords if facts_only else ()
        out.append(Scored(prompt, answer, fact_tokens(backend.tokenizer, answer, keywords)))
    return out


def fact_tokens(tokenizer, answer_ids: Sequence[int], keywords: Sequence[str]) -> np.ndarray:
    """Which answer tokens overlap a keyword's characters in the decoded answer (all, when none does)."""
    ends = [len(tokenizer.decode(list(answer_ids[: k + 1]), skip_special_tokens=True)) for k in range(len(answer_ids))]
    text = tokenizer.decode(list(answer_ids), skip_special_tokens=True).lower()
    spans = [(m, m + len(k)) for k in keywords if k and (m := text.find(k.lower())) >= 0]
    starts = [0, *ends[:-1]]
    mask = np.array([any(a < e and s < b for a, b in spans) for s, e in zip(starts, ends)], dtype=bool)
    return mask if mask.any() else np.ones(len(answer_ids), dtype=bool)


@dataclass
class StopRule:
    cfg: TrainConfig
    forget_items: Sequence[Scored]
    retain_items: Sequence[Scored]
    history: list[Standing] = field(default_factory=list)
    stopped: str | None = None
    restored_step: int | None = None  # the check whose weights were put back, when not the last ones

    def start(self, backend, robust) -> None:
        """Score the base (LoRA off) under every stored form once; the base is the first acceptable state."""
        self._forms = _forms(robust)
        with backend.lora_disabled():
            self._base = {name: self._scores(backend, robust, target) for name, target in self._forms.items()}
        self._best = (-1.0, 0, _lora_params(backend))  # (worst-form forgotten share, step, LoRA weights)

    def due(self, step: int) -> bool:
        return step % self.cfg.until_every == 0

    def checked(self, step: int) -> bool:
        return bool(self.history) and self.history[-1].step == step

    def check(self, backend, robust, step: int) -> str | None:
        """Score now; returns why training should stop, or None."""
        standing = self._standing(backend, robust, step)
        self.history.append(standing)
        worst_forgotten = min(standing.forgotten.values())
        if min(standing.retain_kept.values()) < self.cfg.until_retain_floor:
            self.stopped = RETAIN_FLOOR
        elif worst_forgotten >= self.cfg.until_forget:
            self.stopped = FORGOTTEN
        elif worst_forgotten >= self._best[0]:
            self._best = (worst_forgotten, step, _lora_params(backend))
        return self.stopped

    def finish(self, backend) -> None:
        """Unless training stopped on success, put back the weights of the best acceptable check."""
        if self.stopped == FORGOTTEN:
            return
        _, step, params = self._best
        if not self.history or step != self.history[-1].step:
            backend.model.load_weights(list(params.items()), strict=False)
            self.restored_step = step
        self.stopped = self.stopped or "step budget"

    def _standing(self, backend, robust, step: int) -> Standing:
        forgotten, kept = {}, {}
        margin = self.cfg.until_margin
        for name, target in self._forms.items():
            (forget_now, retain_now), (forget_base, retain_base) = (
                self._scores(backend, robust, target),
                self._base[name],
            )
            forgotten[name] = round(forgotten_share(forget_now, forget_base, margin), 4)
            lost = forgotten_share(retain_now, retain_base, margin) if len(retain_now) else 0.0
            kept[name] = round(1.0 - lost, 4)
        return Standing(step, forgotten, kept)

    def _scores(self, backend, robust, target) -> tuple[np.ndarray, np.ndarray]:
        if robust is None:
            return fact_logprobs(backend, self.forget_items), fact_logprobs(backend, self.retain_items)
        with robust.viewing(target):
            return fact_logprobs(backend, self.forget_items), fact_logprobs(backend, self.retain_items)

    def to_dict(self) -> dict:
        checks = [s.to_dict() for s in self.history]
        return {"stopped": self.stopped, "restored_step": self.restored_step, "checks": checks}


def _forms(robust) -> dict[str, str | None]:
    """{label: view target}: full precision, then each robust_to type."""
    forms: dict[str, str | None] = {"full": None}
    if robust is not None:
        forms.update({t: t for t in robust.view.stored.targets})
    return forms


def summed_logprobs(backend, pairs, batch_size: int = 16) -> np.ndarray:
    """log p(answer | prompt) summed over answer tokens, per item. (N,)"""
    import mlx.core as mx

    from edgeunlearn.methods.terms import sequence_nll

    out = np.zeros(len(pairs), dtype=np.float32)
    for bucket in length_buckets([len(p) + len(a) for p, a in pairs], batch_size):
        batch = make_batch([pairs[i] for i in bucket], bucket, backend.pad_id)
        out[bucket] = -np.array(mx.stop_gradient(sequence_nll(backend.model, batch)))
    return out


def fact_logprobs(backend, items: Sequence[Scored], batch_size: int = 16) -> np.ndarray:
    """Summed log-prob of each item's fact tokens given the prompt and the answer so far. (N,)"""
    import mlx.core as mx

    from edgeunlearn.methods.terms import token_logprobs

    out = np.zeros(len(items), dtype=np.float32)
    for bucket in length_buckets([len(i.prompt) + len(i.answer) for i in items], batch_size):
        batch = make_batch([(items[i].prompt, items[i].answer) for i in bucket], bucket, backend.pad_id)
        logprobs, mask = np.array(mx.stop_gradient(token_logprobs(backend.model, batch))), np.array(batch.mask) > 0
        for row, i in enumerate(bucket):
            out[i] = logprobs[row][mask[row]][items[i].fact].sum()
    return out


def _lora_params(backend) -> dict:
    from mlx.utils import tree_flatten

    return {k: v for k, v in tree_flatten(backend.model.trainable_parameters())}
