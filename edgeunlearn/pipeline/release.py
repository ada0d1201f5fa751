"""Reveal-and-Release: unlearn what the model reveals about a target, in rounds of orthogonal LoRA modules.

Each round reveals (the bandit-chosen instructions of `edgeunlearn.reveal`), trains a fresh LoRA module on the
revealed data — `loss` mode with any registered unlearning method, `negate` mode by learning the data and
applying the module with −λ — plus the O-LoRA penalty λ_o·Σ_i ‖A_iᵀ A_new‖² against the modules of earlier
rounds (and the retain module), then fuses it into the weights and keeps it on disk; the round's instructions
are then asked again to see which of its facts the model still states, and the retain guard
(`edgeunlearn.pipeline.round_guard`) undoes a round that costs too much of what the base knew. The loop stops
when a reveal finds fewer specific facts than `release.stop_facts` (or its relevance falls below
`release.stop_relevance`), after an undone round, after N rounds, or before a round the user's budget cannot
hold. The forget set the user may give is held out: only the check reads it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeunlearn.config import RunConfig, to_dict
from edgeunlearn.data import QAItem
from edgeunlearn.errors import UserError
from edgeunlearn.pipeline.inputs import Inputs
from edgeunlearn.pipeline.release_modules import replay_module, train_module
from edgeunlearn.pipeline.release_rules import budget_stop, left_stop, reveal_stop
from edgeunlearn.reveal.target import Target
from edgeunlearn.runs import config_hash, write_json, write_manifest
from edgeunlearn.training.callbacks import SILENT, Progress


@dataclass(frozen=True)
class RoundRecord:
    round: int
    revealed: int  # items kept as forget data
    relevance: float
    diversity: float
    mean_reward: float
    forget_known: float | None  # held-out forget set, MLX fp32, after this round (round 0: the base)
    retain_known: float | None
    seconds: float
    peak_memory_mb: float
    stopped: str | None = None  # why the loop ended at this round
    facts: int = 0  # distinct specific facts in the revealed items
    fact_examples: tuple[str, ...] = ()
    still_revealed: int | None = None  # of those facts, how many the model still states after the round
    still_examples: tuple[str, ...] = ()
    retain_guard: dict | None = None  # the guard's reading after the round (`GuardReading`)
    trained: bool = False  # its module is fused into the model (not a round that stopped before training or was undone)


def run_release(
    cfg: RunConfig, inputs: Inputs, target: Target, seeds: Sequence[str], folder: Path, progress: Progress = SILENT
) -> dict:
    from edgeunlearn.backends.mlx_backend import MLXBackend
    from edgeunlearn.judges.encoder import SentenceEncoder

    write_manifest(
        folder,
        "release",
        {**to_dict(cfg), "target": target.text, "understood": dataclasses.asdict(target), "seeds": list(seeds)},
        inputs.data_sha256,
        cfg.seed,
        model_source=str(inputs.model.gguf or inputs.model.mlx_dir),
    )
    from edgeunlearn.pipeline.robust import stored_types

    backend, encoder = MLXBackend.of(inputs.model), SentenceEncoder()
    stored = stored_types(cfg, inputs, backend, progress)  # from the base, before any module is fused
    records = [_knowledge_record(backend, inputs, cfg)]
    loop = _Loop(cfg, backend, encoder, inputs, target, seeds, folder, progress, stored)
    key = config_hash([to_dict(cfg), target.text, list(seeds), inputs.data_sha256])
    if cfg.release.mode == "negate" and cfg.release.retain_module and inputs.retain:
        retain_dir = folder / "modules" / "retain"
        if _finished(retain_dir, key) is not None:
            replay_module(cfg, backend, loop.earlier, retain_dir)
        else:
            train_module(cfg, backend, loop.trained, None, loop.earlier, retain_dir, progress, scale=1.0, index=0)
            _mark_finished(retain_dir, key, None)
    start = time.perf_counter()
    for index in range(1, cfg.release.rounds + 1):
        stop = budget_stop(cfg, records, time.perf_counter() - start)
        if stop:
            records[-1] = dataclasses.replace(records[-1], stopped=stop)
            break
        record = _resumed_round(cfg, backend, loop, folder, index, key)
        if record is None:
            record = loop.round(index)
            _mark_finished(folder / f"round-{index}", key, record)
        else:
            progress.note(f"round {index}: kept from the interrupted run (same settings and data)")
        records.append(record)
        progress.note(_round_line(record))
        if record.stopped:
            break
    robust_to = stored.targets if stored is not None else ()
    return _finish(cfg, inputs, backend, records, folder, progress, robust_to)


FINISHED = "finished.json"  # written last in a round's folder: what an interrupted release may keep


def _finished(path: Path, key: str) -> dict | None:
    """The marker of a round (or module) an interrupted release finished under the same settings, else None."""
    marker = path / FINISHED
    if not marker.exists():
        return None
    finished = json.loads(marker.read_text())
    if finished.get("config_hash") != key:
        raise UserError(
            f"{path.name} in the unfinished run was made with other settings or data: run without --resume "
            f"(delete {path.parent}) or restore them"
        )
    return finished


def _mark_finished(path: Path, key: str, record: RoundRecord | None) -> None:
    record_json = dataclasses.asdict(record) if record is not None else None
    write_json(path / FINISHED, {"config_hash": key, "record": record_json})


def _resumed_round(cfg, backend, loop, folder: Path, index: int, key: str) -> RoundRecord | None:
    """A round an interrupted release finished: its module applied again from disk and its record; None when
    the round has to run (anything a cut-off round left is cleared first)."""
    import shutil

    finished = _finished(folder / f"round-{index}", key)
    module_dir = folder / "modules" / f"round-{index}"
    if finished is None:
        shutil.rmtree(folder / f"round-{index}", ignore_errors=True)
        shutil.rmtree(module_dir, ignore_errors=True)
        return None
    record = _record_from_json(finished["record"])
    loop.revealed.extend(_revealed_items(folder / f"round-{index}"))
    if record.trained:
        replay_module(cfg, backend, loop.earlier, module_dir)
    return record


def _record_from_json(row: dict) -> RoundRecord:
    tuples = ("fact_examples", "still_examples")
    return RoundRecord(**{k: tuple(v) if k in tuples else v for k, v in row.items()})


class _Loop:
    """What the rounds share: the model, the O-LoRA record of fused modules, the retain items they train on and
    the guard watching the rest, and every item revealed so far."""

    def __init__(self, cfg, backend, encoder, inputs, target, seeds, folder, progress, stored):
        from edgeunlearn.pipeline.round_guard import RoundGuard
        from edgeunlearn.training.until import split_retain

        self.cfg, self.backend, self.encoder, self.inputs = cfg, backend, encoder, inputs
        self.target, self.seeds, self.folder, self.progress, self.stored = target, seeds, folder, progress, stored
        self.earlier: dict = {}  # layer name → A matrices of every fused module, side by side
        self.revealed: list[QAItem] = []
        retain = list(inputs.retain or [])
        self.trained, watched = retain, []
        if retain and cfg.release.retain_watch > 0:
            self.trained, watched = split_retain(retain, cfg.release.retain_watch, cfg.seed)
        self.guard = RoundGuard(watched, cfg.train.until_tokens) if cfg.release.retain_floor > 0 else None
        if self.guard is not None:
            progress.stage("retain guard: the base's answers")
            self.guard.start(backend)

    def round(self, index: int) -> RoundRecord:
        import mlx.core as mx

        from edgeunlearn.reveal.reveal import reveal, still_revealed

        cfg, progress = self.cfg, self.progress
        started = time.perf_counter()
        mx.reset_peak_memory()
        progress.stage(f"round {index}: reveal ({cfg.reveal.budget} pulls, {cfg.reveal.bandit})")
        found = list(dict.fromkeys(f for item in self.revealed for f in item.keywords))  # earlier rounds' facts
        revealed = reveal(self.backend, self.encoder, self.target, cfg.reveal, cfg.seed, index, self.seeds, found)
        write_revealed(revealed, self.folder / f"round-{index}")
        why = reveal_stop(cfg, revealed)
        if index == 1 and (not revealed.items or revealed.relevance < cfg.release.stop_relevance):
            raise UserError(
                f"the model reveals nothing specific about {self.target.about!r} ({why or 'no item kept'}): "
                "nothing to unlearn; check the target, or pass --seeds with questions on it"
            )
        if why and index > 1:
            return _record(index, revealed, None, started, stopped=why)
        # each item's facts are its keywords: the stop rule (train.until) and the check then ask whether the
        # model still states them
        items = [QAItem(item.question, item.answer, tuple(item.facts)) for item in revealed.items]
        self.revealed.extend(items)
        before = self._weights() if self.guard else None  # only the guard can undo a round
        self._train(index, items)
        progress.stage(f"round {index}: what is still revealed")
        still = still_revealed(self.backend, revealed, cfg.reveal, cfg.seed, index)
        knowledge = _knowledge(self.backend, self.inputs, cfg)
        reading, undone = self._guard(before)
        record = _record(index, revealed, knowledge, started, undone, still, reading)
        return dataclasses.replace(record, trained=undone is None, stopped=undone or left_stop(cfg, record))

    def _train(self, index: int, items: list[QAItem]) -> None:
        from edgeunlearn.methods import get_method

        cfg = self.cfg
        self.progress.stage(f"round {index}: release ({cfg.release.mode}, {len(items)} items)")
        if cfg.release.mode == "negate":
            module_scale, method, retain = -cfg.release.negate_scale, get_method("learn"), None
        else:
            module_scale, method, retain = 1.0, get_method(cfg.method), self.trained or None
        watched = self.guard.watched if self.guard is not None else None
        module_dir = self.folder / "modules" / f"round-{index}"
        train_module(
            cfg,
            self.backend,
            items,
            retain,
            self.earlier,
            module_dir,
            self.progress,
            module_scale,
            method,
            self.stored,
            index,
            watched,
        )

    def _weights(self) -> tuple[dict, dict]:
        """The model's weights and the O-LoRA record now (references: fusing makes new arrays)."""
        from mlx.utils import tree_flatten

        return dict(tree_flatten(self.backend.model.parameters())), dict(self.earlier)

    def _guard(self, before: tuple[dict, dict] | None):
        """(the guard's reading, why the round was undone or None): below the floor, the weights and the
        O-LoRA record go back to what they were before the round."""
        if self.guard is None:
            return None, None
        self.progress.stage("retain guard")
        reading = self.guard.read(self.backend, self.revealed)
        floor = self.cfg.release.retain_floor
        if reading.worst >= floor:
            return reading, None
        weights, earlier = before
        self.backend.model.load_weights(list(weights.items()), strict=False)
        self.earlier.clear()
        self.earlier.update(earlier)
        return reading, f"undone: {reading.text()} < release.retain_floor {floor:g}"


EXAMPLES = 8  # facts named in a round's record


def _record(
    index: int,
    revealed,
    knowledge,
    started: float,
    stopped: str | None = None,
    still: list[str] | None = None,
    reading=None,
) -> RoundRecord:
    import mlx.core as mx

    forget, retain = knowledge or (None, None)
    facts = revealed.facts
    return RoundRecord(
        index,
        len(revealed.items),
        round(revealed.relevance, 4),
        round(revealed.diversity, 4),
        round(revealed.mean_reward, 4),
        forget,
        retain,
        round(time.perf_counter() - started, 1),
        round(mx.get_peak_memory() / 2**20, 1),
        stopped,
        len(facts),
        tuple(facts[:EXAMPLES]),
        None if still is None else len(still),
        tuple((still or [])[:EXAMPLES]),
        None if reading is None else dataclasses.asdict(reading),
    )


def _knowledge(backend, inputs: Inputs, cfg: RunConfig) -> tuple[float | None, float | None]:
    """Share of held-out forget and of retain items the model still knows (MLX, greedy)."""
    from edgeunlearn.check.judge import Judge

    judge = Judge(cfg.check.rouge_threshold, "entity")
    shares = []
    for items in (inputs.forget, inputs.checked_retain):
        answers = backend.generate(list(items), cfg.check.max_new_tokens) if items else []
        verdicts = [judge.verdict(item, answer).knows for item, answer in zip(items, answers)]
        shares.append(sum(verdicts) / len(verdicts) if verdicts else None)
    return shares[0], shares[1]


def _knowledge_record(backend, inputs: Inputs, cfg: RunConfig) -> RoundRecord:
    """Round 0: the base model's knowledge, before any module."""
    forget, retain = _knowledge(backend, inputs, cfg)
    return RoundRecord(0, 0, 0.0, 0.0, 0.0, forget, retain, 0.0, 0.0)


def write_revealed(revealed, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "revealed.jsonl").open("w", encoding="utf-8") as f:
        for item in revealed.items:
            f.write(json.dumps(item.to_json(), ensure_ascii=False) + "\n")
    pulls = [dataclasses.asdict(p) for p in revealed.pulls]
    write_json(
        folder / "reveal.json",
        {
            "relevance": revealed.relevance,
            "diversity": revealed.diversity,
            "mean_reward": revealed.mean_reward,
            "facts": revealed.facts,
            "pulls": pulls,
        },
    )


def _round_line(record: RoundRecord) -> str:
    known = f", {record.facts} facts"
    known += "" if record.still_revealed is None else f" ({record.still_revealed} still revealed after it)"
    known += "" if record.forget_known is None else f", forget known {record.forget_known:.0%}"
    known += "" if record.retain_known is None else f", retain known {record.retain_known:.0%}"
    guard = record.retain_guard
    if guard:
        watched = "" if guard["retain_kept"] is None else f"watched retain {guard['retain_kept']:.0%}, "
        known += f", guard: {watched}general {guard['general_kept']:.0%}"
    return (
        f"round {record.round}: {record.revealed} revealed, relevance {record.relevance:.2f}, "
        f"diversity {record.diversity:.2f}{known}" + (f" — stopped: {record.stopped}" if record.stopped else "")
    )


def _finish(
    cfg: RunConfig, inputs: Inputs, backend, records: list[RoundRecord], folder: Path, progress, robust_to
) -> dict:
    """Save the merged model, then the quantization check of it beside the base."""
    import shutil

    from edgeunlearn.backends.mlx_backend import MLXBackend
    from edgeunlearn.pipeline.finetune import save_model_folder
    from edgeunlearn.pipeline.spine import check_base, check_unlearned, finish_summary

    for leftover in ("model", "gguf"):  # what an interrupted finish left (a GGUF may be half written)
        shutil.rmtree(folder / leftover, ignore_errors=True)
    (folder / "model").mkdir()
    save_model_folder(backend, inputs.model.mlx_dir, folder / "model")
    checked = inputs if inputs.forget else dataclasses.replace(inputs, forget=_first_revealed(folder))
    base = MLXBackend.of(inputs.model)
    base_results = check_base(cfg, checked, base, progress)
    base.close()
    results = check_unlearned(cfg, checked, backend, folder, progress)
    summary = finish_summary(
        base_results + results,
        None,
        inputs.model.source_type,
        cfg.check,
        inputs.retain_note(),
        robust_to,
        inputs.retain_split,
    )
    summary["label"] = f"release ({cfg.release.mode})"  # how the report names this model
    summary["rounds"] = [dataclasses.asdict(r) for r in records]
    summary["checked_forget"] = "held-out forget set" if inputs.forget else "round 1's revealed items"
    write_json(folder / "results.json", summary)
    return summary


def _first_revealed(folder: Path) -> list[QAItem]:
    return _revealed_items(folder / "round-1")


def _revealed_items(round_dir: Path) -> list[QAItem]:
    lines = (round_dir / "revealed.jsonl").read_text(encoding="utf-8").splitlines()
    return [QAItem(row["question"], row["answer"], tuple(row.get("facts", ()))) for row in map(json.loads, lines)]
