"""The whole loop on one model: unlearn with LoRA in MLX, export F16 GGUF, quantize, check every variant."""

from __future__ import annotations

import gc
import json
from pathlib import Path

from edgeunlearn.check.evaluate import VariantResult, VariantSpec, evaluate_variant
from edgeunlearn.check.judge import Judge
from edgeunlearn.check.linguistic import add_linguistic_scores
from edgeunlearn.check.summary import summarize
from edgeunlearn.config import CheckConfig, RunConfig, to_dict
from edgeunlearn.models.resolve import ModelSource, cache_root, weights_identity
from edgeunlearn.pipeline.inputs import Inputs
from edgeunlearn.pipeline.variants import variant_specs
from edgeunlearn.runs import write_json, write_manifest
from edgeunlearn.training.callbacks import SILENT, Progress


def base_export_dir(model: ModelSource) -> Path:
    """Where the base model's F16 GGUF and its quantizations are cached, keyed by the weights' identity."""
    return cache_root() / "exports" / f"{model.mlx_dir.name}-{weights_identity(model)}"


def ensure_base_f16(model: ModelSource, backend) -> Path:
    from edgeunlearn.export import export_gguf

    path = base_export_dir(model) / "base-F16.gguf"
    if not path.exists():
        export_gguf(backend.weights(), model.mlx_dir, path, model.gguf)
    return path


def check_variants(specs: list[VariantSpec], inputs: Inputs, cfg: RunConfig, progress: Progress) -> list[VariantResult]:
    judge = Judge(cfg.check.rouge_threshold, cfg.check.judge, cfg.check.nli_model)
    results = []
    for spec in specs:
        results.append(
            evaluate_variant(
                spec,
                inputs.forget,
                inputs.checked_retain,
                judge,
                cfg.check.max_new_tokens,
                inputs.holdout,
                inputs.general,
                cfg.check.quick,
            )
        )
        progress.variant(results[-1])
    return results


def measure_reference(inputs: Inputs, progress: Progress):
    """The retain model's figures (None without one): measured once, compared with every variant."""
    from edgeunlearn.check.reference import measure_reference as measure

    if inputs.reference is None:
        return None
    progress.stage("retain model: truth ratios and membership")
    return measure(inputs.reference, str(inputs.reference.mlx_dir), inputs.forget, inputs.holdout)


def finish_summary(
    results: list[VariantResult],
    reference,
    source_type: str | None,
    check: CheckConfig,
    retain_note: str | None = None,
    robust_to: tuple[str, ...] = (),
    retain_split: dict | None = None,
) -> dict:
    """The summary of checked variants, with forget quality and PrivLeak where a retain model was given, and a
    verdict per quantized type."""
    from edgeunlearn.check.reference import add_reference_figures, reference_summary
    from edgeunlearn.check.summary import verdicts

    if reference is not None:
        add_reference_figures(results, reference)
    summary = summarize(results, source_type)
    summary["judge"] = judge_summary(check)
    summary["reference"] = reference_summary(reference)
    summary["verdicts"] = verdicts(summary["variants"], robust_to)
    if retain_note:
        summary["retain_checked"] = retain_note
    if retain_split:
        summary["retain_split"] = retain_split  # the --retain item numbers on each side
    return summary


def judge_summary(check: CheckConfig) -> dict:
    note = None
    if check.judge != "nli":
        note = (
            "no NLI model: KFR / KRR rest on entity similarity alone (--judge nli --nli-model DIR adds contradiction)"
        )
    return {"name": check.judge, "nli_model": check.nli_model, "note": note}


def train_adapter(cfg: RunConfig, inputs: Inputs, backend, folder: Path, progress: Progress, data=None, ranks=None):
    """`data`: the TrainingData, when the caller built it early (so bad augmentation fails fast). `ranks`: under
    data parallelism, rank 0 builds the training data (and its caches) before the others read them."""
    from edgeunlearn.augment import write_jsonl, write_summary
    from edgeunlearn.methods import get_method
    from edgeunlearn.pipeline.adapters import write_adapter_config
    from edgeunlearn.pipeline.robust import stored_types
    from edgeunlearn.pipeline.training_data import training_data
    from edgeunlearn.training.distributed import Ranks, main_rank_first
    from edgeunlearn.training.trainer import train

    with main_rank_first(ranks or Ranks()):
        data = data or training_data(cfg, inputs, backend, progress)
    stored = stored_types(cfg, inputs, backend, progress)
    if data.augmented is not None:
        write_jsonl(data.augmented, folder / "augmented.jsonl")
        write_summary(data.augmented, folder / "augmented.json")
    method = get_method(cfg.method)
    result = train(
        backend,
        method,
        data.forget,
        inputs.retain,
        cfg.train,
        cfg.method_args,
        cfg.seed,
        folder / "adapter",
        progress,
        data.templates,
        stored,
        inputs.forget,
    )
    write_adapter_config(folder / "adapter", cfg)
    return result


def check_base(cfg: RunConfig, inputs: Inputs, backend, progress: Progress) -> list[VariantResult]:
    """The base model's F16 GGUF (cached), its quantizations and MLX variants, all checked."""
    prompter = backend.prompter  # llama.cpp variants get the very ids and prompts MLX trains on
    progress.stage("base model: export F16 GGUF")
    base_f16 = ensure_base_f16(inputs.model, backend)
    progress.stage("quantize base", len(inputs.llama_types))
    grid_source = inputs.model.gguf if inputs.model.source_type else None
    specs = variant_specs(
        "base",
        base_f16,
        prompter,
        inputs.llama_types,
        base_f16.parent,
        progress,
        source=inputs.model,
        bits=inputs.mlx_bits,
        grid_source=grid_source,
    )
    progress.stage("check base", len(specs))
    results = check_variants(specs, inputs, cfg, progress)
    if not cfg.check.quick:
        add_linguistic_scores(results, backend)  # `backend` is still the base model here
    return results


def unlearn_and_check(
    cfg: RunConfig, inputs: Inputs, backend, folder: Path, progress: Progress, data=None
) -> tuple[list[VariantResult], dict, dict | None]:
    """Train, fuse, export F16 GGUF, quantize, check every unlearned variant, then the relearning attack when
    `check.relearn` asks for it; (results, training facts, the attack's summary or None)."""
    import mlx.core as mx

    from edgeunlearn.training.snap import fuse

    gc.collect()  # models of earlier steps still waiting for collection would count in the peak
    mx.clear_cache()
    mx.reset_peak_memory()
    result = train_adapter(cfg, inputs, backend, folder, progress, data)
    peak = mx.get_peak_memory()
    fuse(backend, result.snap)
    unlearned = backend.weights() if cfg.check.relearn else None  # the check closes `backend`
    results = check_unlearned(cfg, inputs, backend, folder, progress)
    attack = None
    if unlearned is not None:
        from edgeunlearn.pipeline.relearn_attack import relearn_attack

        attack = relearn_attack(cfg, inputs, inputs.model, unlearned, results, folder / "relearn", progress)
    training = {
        "method": cfg.method,
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "step_seconds_median": round(result.step_seconds_median, 3),
        "peak_memory_mb": round(peak / 2**20, 1),
        "losses": result.losses,
        "robust_to": list(result.robust_to),
        "until": result.until,
        "snap": {"type": result.snap.file_type, "gain": result.snap.gain} if result.snap else None,
    }
    if (folder / "augmented.json").exists():
        training["augmented"] = json.loads((folder / "augmented.json").read_text())
    return results, training, attack


def check_unlearned(cfg: RunConfig, inputs: Inputs, backend, folder: Path, progress: Progress) -> list[VariantResult]:
    """The unlearned model (`backend`, LoRA fused): export F16 GGUF, quantize, check every variant."""
    from edgeunlearn.backends.mlx_backend import MLXBackend
    from edgeunlearn.export import export_gguf

    prompter = backend.prompter
    weights = backend.weights()
    progress.stage("unlearned model: export F16 GGUF")
    unlearned_f16 = export_gguf(
        weights, inputs.model.mlx_dir, folder / "gguf" / "unlearned-F16.gguf", inputs.model.gguf
    )
    progress.stage("quantize unlearned", len(inputs.llama_types))
    specs = variant_specs(
        "unlearned",
        unlearned_f16,
        prompter,
        inputs.llama_types,
        folder / "gguf",
        progress,
        mlx_backend=backend,
        source=inputs.model,
        bits=inputs.mlx_bits,
        weights=weights,
    )
    progress.stage("check unlearned", len(specs))
    results = check_variants(specs, inputs, cfg, progress)
    if cfg.check.quick:
        return results
    progress.stage("linguistic score (perplexity under the original model)")
    original = MLXBackend.of(inputs.model)
    add_linguistic_scores(results, original)
    original.close()
    return results


def run_spine(cfg: RunConfig, inputs: Inputs, folder: Path, progress: Progress = SILENT) -> dict:
    """Run everything into `folder`; returns the summary also written to results.json."""
    from edgeunlearn.backends.mlx_backend import MLXBackend
    from edgeunlearn.training.callbacks import StageClock

    progress = StageClock(progress)
    progress.stage("load model and data")
    write_manifest(
        folder,
        "run",
        to_dict(cfg),
        inputs.data_sha256,
        cfg.seed,
        model_source=str(inputs.model.gguf or inputs.model.mlx_dir),
    )
    from edgeunlearn.pipeline.training_data import training_data

    backend = MLXBackend.of(inputs.model)
    data = training_data(cfg, inputs, backend, progress)  # before the base check: bad augmentation fails fast
    reference = measure_reference(inputs, progress)
    base_results = check_base(cfg, inputs, backend, progress)
    results, training, attack = unlearn_and_check(cfg, inputs, backend, folder, progress, data)
    summary = finish_summary(
        base_results + results,
        reference,
        inputs.model.source_type,
        cfg.check,
        inputs.retain_note(),
        tuple(training["robust_to"]),
        inputs.retain_split,
    )
    summary["training"] = training
    summary["prompt_format"] = backend.prompter.format  # what `auto` chose
    if attack is not None:
        summary["relearn"] = attack
    summary["stages"] = progress.seconds()  # where the time went (benchmarks/demo_stages.py prints it)
    write_json(folder / "results.json", summary)
    return summary
