"""Several methods on the same data, seed and quantization types: the base is checked once, then each
method trains from a fresh copy of the base and all its variants are checked."""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from edgeunlearn.config import RunConfig, TrainConfig, build, load_recipe, to_dict
from edgeunlearn.errors import UserError
from edgeunlearn.pipeline.inputs import Inputs, check_augmentation
from edgeunlearn.runs import config_hash, write_json, write_manifest
from edgeunlearn.training.callbacks import SILENT, Progress

METHOD_SECTIONS = ("method", "train", "method_args", "augment")  # what a method's own recipe decides
RECIPE_SUFFIXES = (".yaml", ".yml", ".toml")


@dataclass(frozen=True)
class Contender:
    label: str
    cfg: RunConfig
    settings_from: str  # the recipe its training settings came from


def contenders(
    recipe: Path | None, base: RunConfig, specs: list[str], training: dict | None = None, plain_too: bool = False
) -> list[Contender]:
    """Each entry of --methods: a recipe path, or a method name, whose settings come from
    `<name>.yaml` beside the compare recipe when that file trains this method, else from the compare
    recipe itself. Data, model, seed, quantization and check always come from the compare recipe.
    `training`: command-line train settings ({"train.steps": 10, ...}) over every method's own. `plain_too`:
    each method that trains robust_to also runs without it, labelled `<method>-robust` beside `<method>`."""
    from edgeunlearn.methods import method_names

    out: list[Contender] = []
    for spec in (s.strip() for s in specs if s.strip()):
        path = Path(spec) if spec.endswith(RECIPE_SUFFIXES) else _sibling(recipe, spec)
        if path is not None:
            own = build(RunConfig, load_recipe(path), f"recipe {path}")
            cfg = dataclasses.replace(base, **{k: getattr(own, k) for k in METHOD_SECTIONS})
        elif spec in method_names():
            cfg = dataclasses.replace(base, method=spec)
        else:
            raise UserError(f"unknown method {spec!r} in --methods: use {', '.join(method_names())} or a recipe path")
        cfg = with_train(cfg, training or {})
        label = path.stem if path is not None and path.stem != cfg.method else cfg.method
        source = str(path) if path else str(recipe or "defaults")
        if plain_too and cfg.train.robust_to:
            out.append(Contender(label, with_train(cfg, {"train.robust_to": []}), source))
            label = f"{label}-robust"
        out.append(Contender(label, cfg, source))
    labels = [c.label for c in out]
    if not out or len(set(labels)) != len(labels):
        raise UserError("--methods needs distinct entries, e.g. --methods ga,npo_gd,relearn_klr_gdr,flat")
    return out


def with_train(cfg: RunConfig, values: dict) -> RunConfig:
    """`cfg` with train settings from the command line ({"train.steps": 10}; None: not given), validated."""
    given = {key.removeprefix("train."): v for key, v in values.items() if v is not None}
    if not given:
        return cfg
    return dataclasses.replace(cfg, train=build(TrainConfig, {**to_dict(cfg.train), **given}, "train"))


def _sibling(recipe: Path | None, name: str) -> Path | None:
    if recipe is None:
        return None
    path = Path(recipe).parent / f"{name}.yaml"
    if path.exists() and path.resolve() != Path(recipe).resolve() and load_recipe(path).get("method") == name:
        return path
    return None


def check_contenders(entries: list[Contender], inputs: Inputs) -> None:
    """Refuse, before any training, a method the data cannot serve (e.g. no retain set)."""
    from edgeunlearn.methods import check_inputs, get_method, require_unlearning

    for entry in entries:
        method = get_method(entry.cfg.method)
        require_unlearning(method)
        check_inputs(method, bool(inputs.retain), entry.cfg.method_args)
        if method.wants_augmented(entry.cfg.method_args):
            check_augmentation(entry.cfg, inputs.forget)


def run_compare(
    base: RunConfig,
    entries: list[Contender],
    inputs: Inputs,
    folder: Path,
    progress: Progress = SILENT,
    keep_models: bool = False,
) -> dict:
    from edgeunlearn.backends.mlx_backend import MLXBackend
    from edgeunlearn.check.reference import reference_summary
    from edgeunlearn.pipeline.spine import check_base, judge_summary, measure_reference
    from edgeunlearn.pipeline.training_data import training_data
    from edgeunlearn.quantize.mlx_affine import variant_name

    config = {"compare": to_dict(base), "methods": {e.label: to_dict(e.cfg) for e in entries}}
    write_manifest(folder, "compare", config, inputs.data_sha256, base.seed)
    keys = {e.label: config_hash([to_dict(e.cfg), inputs.data_sha256, keep_models]) for e in entries}
    kept = {e.label: finished_method(folder / e.label, keys[e.label]) for e in entries}
    todo = [e for e in entries if kept[e.label] is None]
    base_backend = MLXBackend.of(inputs.model)
    # every method's training data first: augmentation that yields nothing stops the run before any training
    data = {e.label: training_data(e.cfg, inputs, base_backend, progress) for e in todo}
    reference = measure_reference(inputs, progress)
    base_results = check_base(base, inputs, base_backend, progress)
    del base_backend  # else its weights count in every method's peak memory
    rows = []
    for entry in entries:
        summary = kept[entry.label]
        if summary is not None:
            progress.note(f"method {entry.label}: kept from the interrupted run (same settings and data)")
        else:
            progress.stage(f"method {entry.label}")
            parts = _run_method(entry, inputs, folder / entry.label, progress, data[entry.label], keep_models)
            summary = finish_method(parts, base_results, reference, inputs, base)
            write_json(folder / entry.label / "results.json", summary)
            write_json(folder / entry.label / FINISHED, {"config_hash": keys[entry.label]})  # last: it is whole
        rows.append(method_row(entry, summary))
    types = inputs.llama_types + [variant_name(b) for b in inputs.mlx_bits]
    comparison = {"base": _base_row(base_results), "methods": rows, "types": types}
    comparison["reference"] = reference_summary(reference)
    comparison["judge"] = judge_summary(base.check)
    comparison["retain_checked"] = inputs.retain_note()
    comparison["retain_split"] = inputs.retain_split
    write_json(folder / "compare.json", comparison)
    return comparison


FINISHED = "finished.json"  # written last in a method's folder: what an interrupted compare may keep


def finished_method(method_dir: Path, key: str) -> dict | None:
    """The summary of a method an interrupted compare finished under the same settings; None to (re)run it."""
    marker = method_dir / FINISHED
    if not marker.exists():
        shutil.rmtree(method_dir, ignore_errors=True)  # a method cut off midway starts over
        return None
    if json.loads(marker.read_text()).get("config_hash") != key:
        raise UserError(
            f"{method_dir.name} in the unfinished run was made with other settings or data: run without --resume "
            f"(delete {method_dir.parent}) or restore them"
        )
    return json.loads((method_dir / "results.json").read_text())


def _run_method(entry, inputs, method_dir: Path, progress, data, keep_models: bool) -> dict:
    """Train, check and (when asked) attack one method; returns its raw parts for `finish_method`."""
    from edgeunlearn.backends.mlx_backend import MLXBackend
    from edgeunlearn.pipeline.spine import unlearn_and_check

    backend = MLXBackend.of(inputs.model)
    results, training, attack = unlearn_and_check(entry.cfg, inputs, backend, method_dir, progress, data)
    if not keep_models:
        shutil.rmtree(method_dir / "gguf", ignore_errors=True)  # GB per method; the adapter rebuilds them
    return {
        "results": results,
        "training": training,
        "relearn": attack,
        "dropped": None if keep_models else method_dir / "gguf",
    }


def finish_method(parts: dict, base_results, reference, inputs, base) -> dict:
    from edgeunlearn.pipeline.spine import finish_summary

    summary = finish_summary(
        base_results + parts["results"],
        reference,
        inputs.model.source_type,
        base.check,
        inputs.retain_note(),
        tuple(parts["training"]["robust_to"]),
        inputs.retain_split,
    )
    summary["training"] = parts["training"]
    if parts["relearn"]:
        summary["relearn"] = parts["relearn"]
    if parts["dropped"]:
        _drop_files(summary, parts["dropped"])
    return summary


def method_row(entry: Contender, summary: dict) -> dict:
    variants = {v["type"]: variant_cell(v) for v in summary["variants"] if v["model"] == "unlearned"}
    training = summary["training"]
    return {
        "label": entry.label,
        "method": entry.cfg.method,
        "settings_from": entry.settings_from,
        "train_seconds": training["seconds"],
        "peak_memory_mb": training["peak_memory_mb"],
        "steps": training["steps"],
        "robust_to": training.get("robust_to", []),
        "until": (training.get("until") or {}).get("stopped"),
        "variants": variants,
        "verdicts": [v["line"] for v in summary.get("verdicts", [])],
        "relearn": summary.get("relearn"),
    }


def variant_cell(v: dict) -> dict:
    """The figures of one variant (a results.json row) that the comparison shows: the knowledge columns and
    every registered figure's value under its key."""
    from edgeunlearn.figures import figures

    cell = {
        "forget_kept_vs_base": v.get("forget_kept_vs_base"),
        "retain_kept_vs_base": v.get("retain_kept_vs_base"),
        "retain_kept_vs_base_same_type": v.get("retain_kept_vs_base_same_type"),
        "forgotten_at_full_precision": v.get("forgotten_at_full_precision"),
        "recovered": v.get("recovered"),
        "recovery_rate": v.get("recovery_rate"),
    }
    return {**cell, **{f.key: f.value(v) for f in figures()}}


def _drop_files(summary: dict, removed: Path) -> None:
    """Variants whose GGUF was removed name no file, and say how to get it back."""
    for variant in summary["variants"]:
        if variant.get("file") and Path(variant["file"]).resolve().parent == removed.resolve():
            variant["file"] = None
            variant["file_note"] = "removed after the check (compare --keep-models keeps it; export rebuilds it)"


def _base_row(results) -> dict:
    return {r.spec.qtype: variant_cell(r.to_dict()) for r in results}
