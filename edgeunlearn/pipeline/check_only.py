"""`edgeunlearn check`: the forgetting check on models a user already has, with no training."""

from __future__ import annotations

from pathlib import Path

from edgeunlearn.check.evaluate import VariantSpec
from edgeunlearn.config import CheckConfig, QuantizeConfig, RunConfig
from edgeunlearn.pipeline.inputs import (
    Inputs,
    check_judge,
    check_relearn,
    general_set,
    load_optional,
    load_reference,
    load_sets,
    quant_plan,
)
from edgeunlearn.pipeline.spine import check_variants
from edgeunlearn.pipeline.variants import gguf_spec, quantized_specs, variant_specs
from edgeunlearn.runs import write_json, write_manifest
from edgeunlearn.training.callbacks import Progress


def model_specs(
    role: str, source, types: list[str], folder: Path, progress: Progress, prompt_format: str = "auto"
) -> list[VariantSpec]:
    """The model as given, plus its quantizations. A model folder is checked in MLX and exported first."""
    import gguf

    from edgeunlearn.backends.base import Prompter
    from edgeunlearn.backends.llamacpp_backend import tokenizer_for
    from edgeunlearn.backends.mlx_backend import MLXBackend
    from edgeunlearn.export import export_gguf
    from edgeunlearn.models.gguf_import import source_type

    out_dir = folder / "gguf"
    if source.gguf is not None:
        prompter = Prompter(tokenizer_for(source.gguf), prompt_format)
        qtype = source_type(gguf.GGUFReader(str(source.gguf)))
        grid = source.gguf if role == "base" else None  # which types reproduce the base file exactly
        specs = [gguf_spec(f"{role} {qtype}", role, source.gguf, prompter, qtype, grid)]
        others = [t for t in types if t != qtype]  # the file as given already stands for its own type
        return specs + quantized_specs(role, source.gguf, others, out_dir, prompter, progress, grid)
    backend = MLXBackend.of(source)
    f16 = export_gguf(backend.weights(), source.mlx_dir, out_dir / f"{role}-F16.gguf", None)
    return variant_specs(role, f16, backend.prompter, types, out_dir, progress, mlx_backend=backend, source=source)


def run_check(
    model: str,
    base: str | None,
    forget: str,
    retain: str | None,
    types: str | None,
    check: CheckConfig,
    folder: Path,
    progress: Progress,
    holdout: str | None = None,
    reference: str | None = None,
    prompt_format: str = "auto",
) -> dict:
    from edgeunlearn.backends.mlx_backend import MLXBackend
    from edgeunlearn.check.linguistic import add_linguistic_scores
    from edgeunlearn.models.resolve import resolve_model
    from edgeunlearn.pipeline.relearn_attack import split_halves
    from edgeunlearn.pipeline.spine import finish_summary, measure_reference

    quant = QuantizeConfig(types=tuple(types.split(",")) if types else (), mlx_bits=(), base_type=False)
    cfg = RunConfig(
        model=model,
        forget=forget,
        retain=retain or None,
        quantize=quant,
        check=check,
        prompt_format=prompt_format,
    )
    check_judge(check)
    check_relearn(check)
    # a missing, foreign or truncated model is refused before any work; each is resolved (GGUF: hashed) once
    sources = {role: resolve_model(spec, prompt_format) for role, spec in (("model", model), ("base", base)) if spec}
    wanted, _ = quant_plan(cfg, None)
    forget_items, retain_items, hashes = load_sets(cfg.forget, cfg.retain)
    if check.relearn:
        split_halves(forget_items, cfg.seed)  # refuses a forget set too small to split, before any work
    holdout_items, reference_model = load_optional(holdout, "holdout", hashes), load_reference(reference, prompt_format)
    write_manifest(
        folder, "check", {"model": model, "base": base, "types": wanted, "prompt_format": prompt_format}, hashes, None
    )
    progress.stage("prepare variants")
    specs = model_specs("base", sources["base"], wanted, folder, progress, prompt_format) if base else []
    specs += model_specs("model", sources["model"], wanted, folder, progress, prompt_format)
    general = general_set(cfg, forget_items)
    inputs = Inputs(
        None, forget_items, retain_items, wanted, [], hashes, holdout_items, reference_model, general=general
    )
    measured = measure_reference(inputs, progress)
    progress.stage("check", len(specs))
    results = check_variants(specs, inputs, cfg, progress)
    if not check.quick:
        progress.stage("linguistic score (perplexity under the original model)")
        original = MLXBackend.of(sources.get("base") or sources["model"])  # without --base, the checked model
        add_linguistic_scores(results, original)
        original.close()
    base_type = next((r.spec.qtype for r in results if r.spec.model == "base"), None)
    summary = finish_summary(results, measured, base_type, check)
    if check.relearn:
        from edgeunlearn.pipeline.relearn_attack import relearn_attack

        checked = [r for r in results if r.spec.model == "model"]
        summary["relearn"] = relearn_attack(cfg, inputs, sources["model"], None, checked, folder / "relearn", progress)
    write_json(folder / "results.json", summary)
    return summary
