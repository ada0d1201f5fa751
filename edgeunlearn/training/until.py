"""The stop rule (`train.until`): train until forgetting holds at full precision and at every robust_to type,
without letting the retain set fall below a floor.

Why: a fixed step count that forgets the demo may forget half of another topic, or wreck it (FLAT's good window
on the demo is 1-2 steps wide). Every `until_every` steps the forget and retain sets are scored — one batched
forward pass per set and stored form, no generation — and compared with the base scored the same way:

- a retain item is *kept* while, at every answer position up to its last fact token where the base's most
  likely next token is the reference's, the model's is too: the greedy path to the fact is intact. A log-prob
  margin does not see this: on the demo, npo_gd's retain answers became *more* likely than the base's while
  greedy decoding took another first word ("Gold is a chemical symbol for gold.") on 42% of them;
- a forget item is *forgotten* when that path is broken by a margin: at some such position the reference token
  trails the model's most likely one by at least `until_margin` nats. Why not "the fact's log-prob fell N nats
  below the base's" (the first version): on a held-out topic it disagreed with the check both ways — NPO
  lowered every fact token by 3 nats while greedy decoding still said the fact (94% "forgotten", 31% by the
  check), and ReLearn changed the first words ("... is a topic I know of") while the fact after the
  reference's own lead-in stayed likely (0% "forgotten", 100% by the check). Items whose base never follows the
  reference carry no greedy path to test and are left out of the share.

A check is *acceptable* when every form keeps at least `until_retain_floor` of the retain items. Training stops
at the first acceptable check where at least `until_forget` of the forget items are forgotten under every
form, at the step budget, or — with `until_patience` N > 0 — after N checks in a row below the floor. Unless
it stopped on success, the LoRA weights of the best acceptable check (most forgotten under the worst form, the
later on ties; the base when none) are restored: the run never returns weights below the floor. Why not stop
at the first check below it: NPO-style losses first pull everything down and win the retain set back over the
next steps (on the demo, retain kept falls to 25% at step 2 even at a learning rate of 5e-5). Only
training-side data is read: the forget set and the `--retain` set, never `--retain-eval`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
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


@dataclass(frozen=True)
class ItemScore:
    """What a check reads of one item: per answer position up to its last fact token, how many nats the
    reference token trails the model's most likely one (0 where it is the most likely)."""

    gap: np.ndarray  # (positions,) float, ≥ 0

    @property
    def greedy_ok(self) -> np.ndarray:
        return self.gap <= 0


def forgotten_share(now: Sequence[ItemScore], base: Sequence[ItemScore], margin: float) -> float:
    """Share of items whose greedy path to the fact broke by `margin` nats where the base's followed it."""
    pairs = [(n, b) for n, b in zip(now, base) if b.greedy_ok.any()]
    if not pairs:
        return 1.0
    return float(np.mean([bool(np.any((n.gap >= margin) & b.greedy_ok)) for n, b in pairs]))


def kept_share(now: Sequence[ItemScore], base: Sequence[ItemScore]) -> float:
    """Share of items whose greedy path to the fact is intact wherever the base's followed the reference."""
    if not now:
        return 1.0
    return float(np.mean([bool(np.all(n.greedy_ok | ~b.greedy_ok)) for n, b in zip(now, base)]))


@dataclass(frozen=True)
class Scored:
    """An item tokenized for scoring: prompt and answer ids, and which answer tokens spell the fact."""

    prompt: list[int]
    answer: list[int]
    fact: np.ndarray  # (len(answer),) bool


def scored_items(backend, items) -> list[Scored]:
    out = []
    for item in items:
        prompt, answer = backend.prompter.pair(item)
        out.append(Scored(prompt, answer, fact_tokens(backend.tokenizer, answer, item.keywords)))
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
    breaches: int = 0  # checks in a row below the retain floor
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
            self.breaches += 1
            if self.cfg.until_patience and self.breaches >= self.cfg.until_patience:
                self.stopped = RETAIN_FLOOR
            return self.stopped
        self.breaches = 0
        if worst_forgotten >= self.cfg.until_forget:
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
            kept[name] = round(kept_share(retain_now, retain_base), 4)
        return Standing(step, forgotten, kept)

    def _scores(self, backend, robust, target) -> tuple[list[ItemScore], list[ItemScore]]:
        with robust.viewing(target) if robust is not None else nullcontext():
            return reference_gaps(backend, self.forget_items), reference_gaps(backend, self.retain_items)

    def to_dict(self) -> dict:
        checks = [s.to_dict() for s in self.history]
        return {"stopped": self.stopped, "restored_step": self.restored_step, "checks": checks}


def _forms(robust) -> dict[str, str | None]:
    """{label: view target}: full precision, then each robust_to type."""
    forms: dict[str, str | None] = {"full": None}
    if robust is not None:
        forms.update({t: t for t in robust.view.stored.targets})
    return forms


def reference_gaps(backend, items: Sequence[Scored], batch_size: int = 16) -> list[ItemScore]:
    """One forward pass per batch: each item's reference-token gaps up to its last fact token."""
    import mlx.core as mx

    from edgeunlearn.methods.terms import vocab_logprobs

    out: list[ItemScore] = [None] * len(items)
    for bucket in length_buckets([len(i.prompt) + len(i.answer) for i in items], batch_size):
        batch = make_batch([(items[i].prompt, items[i].answer) for i in bucket], bucket, backend.pad_id)
        logprobs = mx.stop_gradient(vocab_logprobs(backend.model, batch))  # (B, T, V)
        picked = mx.take_along_axis(logprobs, batch.targets[..., None], axis=-1).squeeze(-1)  # (B, T)
        gap = np.array(mx.max(logprobs, axis=-1) - picked)  # (B, T)
        mask = np.array(batch.mask) > 0
        for row, i in enumerate(bucket):
            last = int(np.flatnonzero(items[i].fact)[-1]) + 1
            out[i] = ItemScore(np.maximum(gap[row][mask[row]][:last], 0.0))
    return out


def _lora_params(backend) -> dict:
    from mlx.utils import tree_flatten

    return {k: v for k, v in tree_flatten(backend.model.trainable_parameters())}
