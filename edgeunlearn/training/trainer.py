"""The LoRA unlearning loop: a method's loss, length-bucketed batches, gradient accumulation,
seeded order, adapter checkpoints, and progress through a callback."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeunlearn.config import MethodArgs, TrainConfig
from edgeunlearn.data import QAItem
from edgeunlearn.data.general import general_knowledge
from edgeunlearn.data.templates import refusal_answers
from edgeunlearn.errors import UserError
from edgeunlearn.methods import Method, check_inputs
from edgeunlearn.training.batching import endless_batches, make_batch
from edgeunlearn.training.callbacks import SILENT, Progress
from edgeunlearn.training.distributed import gradient_sum, ranks, sharded
from edgeunlearn.training.focus import forget_pair
from edgeunlearn.training.robust import RobustTraining, StoredTypes
from edgeunlearn.training.snap import Snap
from edgeunlearn.training.step import Inputs, Step, reference_nll
from edgeunlearn.training.sure import saliency_masks
from edgeunlearn.training.until import StopRule, split_retain

ADAPTER_FILE = "adapters.safetensors"


@dataclass(frozen=True)
class TrainResult:
    steps: int
    seconds: float
    step_seconds_median: float
    final_loss: float
    losses: tuple[float, ...]
    robust_to: tuple[str, ...] = ()  # the llama.cpp types training saw (fake-quantized), in turn with fp32
    until: dict | None = None  # the stop rule's checks and why it stopped
    snap: Snap | None = None  # the base-grid snap to apply when fusing (`edgeunlearn.training.snap.fuse`)


def train(
    backend,
    method: Method,
    forget: Sequence[QAItem],
    retain: Sequence[QAItem] | None,
    cfg: TrainConfig,
    args: MethodArgs,
    seed: int,
    adapter_dir: Path,
    progress: Progress = SILENT,
    templates: Sequence[QAItem] | None = None,
    stored: StoredTypes | None = None,
    facts: Sequence[QAItem] | None = None,
    watched: Sequence[QAItem] | None = None,
) -> TrainResult:
    """Train LoRA on `method`'s loss. `templates`: the template answer for each forget item, same order
    (methods that need one; default: project refusals drawn by seed). `stored`: the ggml types each tensor
    will hold under each `robust_to` type; training then sees those stored weights in turn with fp32.
    `facts`: the forget facts the stop rule scores, when `forget` is something else (ReLearn's augmented data).
    `watched`: the retain items the stop rule watches, when the caller set them aside from `retain` itself."""
    import mlx.core as mx

    check_inputs(method, bool(retain), args)
    mx.random.seed(seed)
    backend.reduce_base(cfg.base_precision, cfg.grad_checkpoint)
    backend.add_lora(cfg.lora_rank, cfg.lora_scale, cfg.lora_dropout, cfg.lora_keys, cfg.lora_layers)
    retain, watched = _retain_for(method, retain, cfg, seed) if watched is None else (retain, watched)
    inputs, masks = _inputs(backend, method, forget, retain, cfg, seed, templates)
    robust = RobustTraining(backend, stored) if stored is not None else None
    rule = _stop_rule(backend, robust, facts or forget, watched, cfg, forget)
    model = backend.model
    model.train()
    r = ranks()
    reduce = None
    if r.size > 1:  # data parallel: this rank's share of every batch, gradients summed over the ranks
        if cfg.batch_size < r.size:
            raise UserError(f"train.batch_size {cfg.batch_size} is below the {r.size} ranks: give each rank a row")
        inputs.streams = {name: sharded(stream, r) for name, stream in inputs.streams.items()}
        reduce = gradient_sum(r)
    step_once = Step(model, method, args, cfg.learning_rate, cfg.weight_decay, masks, reduce)
    if method.needs_retain_reference:
        inputs.reference = _reference(backend, robust)
    progress.stage("train", cfg.steps)
    losses, step_times, start = [], [], time.perf_counter()
    for step in range(1, cfg.steps + 1):
        t0 = time.perf_counter()
        if robust is not None:
            robust.activate(step)
        losses.append(step_once(inputs, cfg.grad_accum))
        step_times.append(time.perf_counter() - t0)
        progress.advance(f"loss {losses[-1]:.3f}", step=step, loss=losses[-1])
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and r.main:
            save_adapter(model, adapter_dir / f"{step:06d}_{ADAPTER_FILE}")
        if rule is not None and _rule_stops(rule, backend, robust, step, progress):
            break
    if rule is not None:
        _finish_rule(rule, backend, robust, len(losses), progress)
    snap = _snap(rule, backend, robust, progress)
    if robust is not None:
        robust.close()
    model.eval()
    if r.main:  # rank 0 writes; the others hold the same adapter
        save_adapter(model, adapter_dir / ADAPTER_FILE)
        if snap is not None:
            snap.save(adapter_dir)
    median = float(np.median(step_times)) if step_times else 0.0
    return TrainResult(
        len(losses),
        time.perf_counter() - start,
        median,
        losses[-1] if losses else 0.0,
        tuple(losses),
        stored.targets if stored is not None else (),
        rule.to_dict() if rule is not None else None,
        snap,
    )


def _snap(rule, backend, robust, progress: Progress):
    """The base-grid snap the stop rule chooses after training (None without one to choose)."""
    if rule is None or robust is None or robust.view.stored.snap_to is None or not rule.cfg.snap_gains:
        return None
    backend.model.eval()
    progress.stage(f"snap onto the base's {robust.view.stored.snap_to} grid", len(rule.cfg.snap_gains))
    snap = rule.choose_snap(backend, robust)
    for gain, standing in rule.snaps:
        progress.note(f"gain {gain:g}: {_shares_text(standing)}")
    progress.note(f"snapped at gain {snap.gain:g}" if snap else "not snapped: no gain did better than re-quantizing")
    return snap


def _reference(backend, robust):
    """The base for KL terms: LoRA scaled to zero, at full precision also while training sees a stored form."""
    if robust is None:
        return backend.lora_disabled

    @contextmanager
    def full_precision_base():
        with robust.viewing(None), backend.lora_disabled():
            yield

    return full_precision_base


def _retain_for(method: Method, retain, cfg: TrainConfig, seed: int):
    """(retain items the loss trains on, retain items the stop rule watches): with the stop rule on and a
    retain term, a seeded share is set aside so that the rule sees knowledge the training never fits."""
    retain = list(retain or [])
    if not (cfg.until and method.needs_retain):
        return retain, retain
    return split_retain(retain, cfg.until_retain_watch, seed)


def _stop_rule(backend, robust, facts, watched, cfg: TrainConfig, forget):
    """The stop rule, with the base answering under every stored form (None when `train.until` is off).
    It watches the set-aside retain items and, unless `until_general` is off, the built-in general facts that
    share no keyword with the forget facts or the training's forget data."""
    if not cfg.until:
        return None
    general = general_knowledge([*facts, *forget]) if cfg.until_general else []
    rule = StopRule(cfg, list(facts), watched, general)
    rule.start(backend, robust)
    return rule


def _rule_stops(rule: StopRule, backend, robust, step: int, progress: Progress, force: bool = False) -> bool:
    if not (force or rule.due(step)):
        return False
    backend.model.eval()  # no dropout while scoring
    why = rule.check(backend, robust, step)
    backend.model.train()
    progress.note(f"step {step}: {_shares_text(rule.history[-1])}" + (f" → stop ({why})" if why else ""))
    return why is not None


def _shares_text(s) -> str:
    shares = {"forgotten": s.forgotten, "retain kept": s.retain_kept, "general kept": s.general_kept}
    return " · ".join(f"{label} " + ", ".join(f"{k} {v:.0%}" for k, v in d.items()) for label, d in shares.items() if d)


def _finish_rule(rule: StopRule, backend, robust, steps: int, progress: Progress) -> None:
    """Score the final weights if the budget ended between checks, then keep the best acceptable ones."""
    if steps and not rule.checked(steps) and not rule.stopped:
        _rule_stops(rule, backend, robust, steps, progress, force=True)
    rule.finish(backend)
    if rule.restored_step is not None:
        progress.note(f"stop rule: kept the weights of step {rule.restored_step} (the best check above the floor)")


def _inputs(backend, method: Method, forget, retain, cfg: TrainConfig, seed: int, templates):
    """Batch streams plus what is computed once before training (ℓref, templates), and SURE masks."""
    focus = cfg.forget_focus if method.focusable else "answer"
    forget_pairs = [forget_pair(backend.prompter, i, focus) for i in forget]
    streams = {"forget": endless_batches(forget_pairs, cfg.batch_size, seed, backend.pad_id)}
    if method.needs_retain:
        retain_pairs = [backend.prompter.pair(i) for i in retain]
        streams["retain"] = endless_batches(retain_pairs, cfg.batch_size, seed + 1, backend.pad_id)
    ref_nll = reference_nll(backend, forget_pairs) if method.needs_reference else None
    if method.needs_template:
        templates = _aligned_templates(backend, templates or refusal_answers(forget, seed))
    else:
        templates = None
    masks = saliency_masks(backend, forget_pairs, cfg.sure_percentile) if cfg.sure else None
    return Inputs(streams, ref_nll, templates), masks


def _aligned_templates(backend, templates: Sequence[QAItem]):
    """A function from forget-batch rows to the batch of the same questions with template answers."""
    pairs = [backend.prompter.pair(item) for item in templates]
    return lambda index: make_batch([pairs[i] for i in index], index, backend.pad_id)


def save_adapter(model, path: Path) -> None:
    import mlx.core as mx
    from mlx.utils import tree_flatten

    path.parent.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(path), dict(tree_flatten(model.trainable_parameters())))
