"""Commands that train: `demo`, `run RECIPE`, `unlearn`."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import typer

from edgeunlearn.cli import common as c
from edgeunlearn.cli.ui import RichProgress, console, show_base_knowledge, show_comparison, show_results
from edgeunlearn.errors import UserError


def _plan(recipe: Path | None, out: Path | None, prefix: str, **values):
    """(config, validated inputs, run folder): every input checked before any slow work starts."""
    from edgeunlearn import config
    from edgeunlearn.pipeline.inputs import prepare
    from edgeunlearn.runs import check_out_free, default_out

    cfg = config.resolve(recipe, c.overrides(**values))
    out = out or default_out(prefix)
    check_out_free(out)
    return cfg, prepare(cfg), out


def _full_run(recipe: Path | None, out: Path | None, prefix: str, **values) -> None:
    from edgeunlearn.pipeline.spine import run_spine
    from edgeunlearn.runs import run_folder

    cfg, inputs, out = _plan(recipe, out, prefix, **values)
    progress = _DemoProgress()
    start = time.perf_counter()
    try:
        with run_folder(out) as folder:
            summary = run_spine(cfg, inputs, folder, progress)
            show_results(summary, folder)
    finally:
        progress.close()
    console.print(f"[green]done[/] in {time.perf_counter() - start:.0f} s → {out}/results.json")


class _DemoProgress(RichProgress):
    """Shows the base model's knowledge as soon as it is measured, before unlearning starts."""

    def variant(self, result) -> None:
        if result.spec.model == "base" and result.spec.qtype == "F16":
            show_base_knowledge(result)
        super().variant(result)


DEMO_TYPES = "Q8_0,Q4_K_M,Q4_0"  # plus the base's own Q4_1: an 8-bit, a K-quant and a legacy 4-bit type


def demo(
    out: c.OptPath = c.OutOpt,
    seed: c.OptInt = c.SeedOpt,
    steps: c.OptInt = c.StepsOpt,
    types: str = typer.Option(DEMO_TYPES, "--types", help="llama.cpp types (`run` sweeps seven by default)"),
    reference: c.OptStr = c.ReferenceOpt,
    quick: bool | None = c.QuickOpt,
) -> None:
    """The whole loop on the embedded SmolLM2 and demo data: unlearn → GGUF → quantize → check."""
    demo_sets = {"forget": "demo:forget", "retain": "demo:retain", "holdout": "demo:holdout"}
    quantize = {"types": types, "quantize.mlx_bits": [4]}
    _full_run(
        None,
        out,
        "demo",
        **demo_sets,
        seed=seed,
        steps=steps or 8,
        reference=reference,
        quick=quick,
        **DEMO_TRAINING,
        **quantize,
    )


# recipes/npo_gd.yaml's settings, whose stop rule kept step 8 on the demo data (every capital forgotten at full
# precision, watched retain 83%, general facts 88%); the defaults (lr 2e-4, 40 steps) wreck held-out knowledge
DEMO_TRAINING = {"train.learning_rate": 1e-5, "train.forget_focus": "keywords", "method_args.retain_weight": 5.0}


def run(
    recipe: Path = typer.Argument(..., help="recipe file (YAML or TOML)"),
    out: c.OptPath = c.OutOpt,
    model: c.OptStr = c.ModelOpt,
    forget: c.OptStr = c.ForgetOpt,
    retain: c.OptStr = c.RetainOpt,
    method: c.OptStr = c.MethodOpt,
    seed: c.OptInt = c.SeedOpt,
    steps: c.OptInt = c.StepsOpt,
    types: c.OptStr = c.TypesOpt,
    augmented: c.OptPath = c.AugmentedOpt,
    holdout: c.OptStr = c.HoldoutOpt,
    reference: c.OptStr = c.ReferenceOpt,
    robust_to: c.OptStr = c.RobustToOpt,
    until: bool | None = c.UntilOpt,
    retain_eval: c.OptStr = c.RetainEvalOpt,
    prompt_format: c.OptStr = c.PromptFormatOpt,
    relearn: c.OptInt = c.RelearnOpt,
    quick: bool | None = c.QuickOpt,
    base_precision: c.OptStr = c.BasePrecisionOpt,
    grad_checkpoint: bool | None = c.GradCheckpointOpt,
) -> None:
    """Run a recipe end to end; command-line options override the recipe."""
    _full_run(
        recipe,
        out,
        Path(recipe).stem,
        model=model,
        forget=forget,
        retain=retain,
        method=method,
        seed=seed,
        steps=steps,
        types=types,
        augmented=augmented,
        holdout=holdout,
        reference=reference,
        robust_to=robust_to,
        until=until,
        retain_eval=retain_eval,
        prompt_format=prompt_format,
        relearn=relearn,
        quick=quick,
        base_precision=base_precision,
        grad_checkpoint=grad_checkpoint,
    )


def unlearn(
    model: c.OptStr = c.ModelOpt,
    forget: c.OptStr = c.ForgetOpt,
    retain: c.OptStr = c.RetainOpt,
    method: c.OptStr = c.MethodOpt,
    seed: c.OptInt = c.SeedOpt,
    steps: c.OptInt = c.StepsOpt,
    config_path: c.OptPath = c.ConfigOpt,
    out: c.OptPath = c.OutOpt,
    augmented: c.OptPath = c.AugmentedOpt,
    robust_to: c.OptStr = c.RobustToOpt,
    until: bool | None = c.UntilOpt,
    types: c.OptStr = c.TypesOpt,
    prompt_format: c.OptStr = c.PromptFormatOpt,
    base_precision: c.OptStr = c.BasePrecisionOpt,
    grad_checkpoint: bool | None = c.GradCheckpointOpt,
) -> None:
    """Train a LoRA adapter that unlearns the forget set (no export, no check)."""
    from edgeunlearn import config
    from edgeunlearn.backends.mlx_backend import MLXBackend
    from edgeunlearn.pipeline.spine import train_adapter
    from edgeunlearn.runs import run_folder, write_manifest
    from edgeunlearn.training.callbacks import SILENT
    from edgeunlearn.training.distributed import main_rank_first, ranks

    values = {"model": model, "forget": forget, "retain": retain, "method": method, "seed": seed, "steps": steps}
    values.update({"augmented": augmented, "robust_to": robust_to, "until": until, "types": types})
    values.update(prompt_format=prompt_format, base_precision=base_precision, grad_checkpoint=grad_checkpoint)
    r = ranks()  # under `mlx.launch`: data parallel, rank 0 writes and prints
    with main_rank_first(r):  # rank 0 imports the model into the cache; the others then read it
        cfg, inputs, out = _plan(config_path, out, "unlearn", **values)
    if not r.main:
        with tempfile.TemporaryDirectory() as scratch:
            train_adapter(cfg, inputs, MLXBackend.of(inputs.model), Path(scratch), SILENT, ranks=r)
        return
    progress = RichProgress()
    try:
        with run_folder(out) as folder:
            write_manifest(folder, "unlearn", config.to_dict(cfg), inputs.data_sha256, cfg.seed)
            result = train_adapter(cfg, inputs, MLXBackend.of(inputs.model), folder, progress, ranks=r)
    finally:
        progress.close()
    if r.size > 1:
        console.print(f"data parallel over {r.size} ranks (each {cfg.train.batch_size // r.size}+ rows of a batch)")
    console.print(
        f"[green]adapter[/] → {out}/adapter  ({result.steps} steps, {result.seconds:.0f} s, "
        f"{result.step_seconds_median:.2f} s/step, final loss {result.final_loss:.3f})"
    )


def compare(
    recipe: Path = typer.Argument(..., help="recipe for the shared settings: data, model, seed, types, check"),
    methods: str = typer.Option(
        "ga,npo_gd,relearn_klr_gdr,flat",
        "--methods",
        help="methods or recipe paths; a method's settings come from <method>.yaml beside RECIPE when present",
    ),
    out: c.OptPath = c.OutOpt,
    model: c.OptStr = c.ModelOpt,
    forget: c.OptStr = c.ForgetOpt,
    retain: c.OptStr = c.RetainOpt,
    seed: c.OptInt = c.SeedOpt,
    steps: c.OptInt = c.StepsOpt,
    types: c.OptStr = c.TypesOpt,
    holdout: c.OptStr = c.HoldoutOpt,
    reference: c.OptStr = c.ReferenceOpt,
    keep_models: bool = typer.Option(False, "--keep-models", help="keep each method's GGUF files (MBs to GBs)"),
    robust_to: c.OptStr = c.RobustToOpt,
    until: bool | None = c.UntilOpt,
    retain_eval: c.OptStr = c.RetainEvalOpt,
    plain_too: bool = typer.Option(
        False, "--plain-too", help="with --robust-to: also train each method without it, side by side in one table"
    ),
    prompt_format: c.OptStr = c.PromptFormatOpt,
    relearn: c.OptInt = c.RelearnOpt,
    quick: bool | None = c.QuickOpt,
    resume: bool = c.ResumeOpt,
) -> None:
    """Run several methods on the same data and seed; one table of forgetting per quantization type."""
    from edgeunlearn import config
    from edgeunlearn.pipeline.compare import check_contenders, contenders, run_compare
    from edgeunlearn.pipeline.inputs import prepare
    from edgeunlearn.runs import check_out_free, default_out, run_folder

    values = {"model": model, "forget": forget, "retain": retain, "seed": seed, "types": types, "holdout": holdout}
    values.update({"reference": reference, "retain_eval": retain_eval, "prompt_format": prompt_format})
    cfg = config.resolve(recipe, c.overrides(**values, relearn=relearn, quick=quick))
    out = out or default_out("compare")
    check_out_free(out)
    training = c.overrides(steps=steps, robust_to=robust_to, until=until)
    entries = contenders(recipe, cfg, methods.split(","), training, plain_too)
    inputs = prepare(cfg, need_method=False)
    check_contenders(entries, inputs)
    progress = RichProgress()
    start = time.perf_counter()
    try:
        with run_folder(out, resumable=True, resume=resume) as folder:
            comparison = run_compare(cfg, entries, inputs, folder, progress, keep_models)
            show_comparison(comparison, folder)
    finally:
        progress.close()
    console.print(f"[green]done[/] in {time.perf_counter() - start:.0f} s → {out}/compare.json")


def finetune(
    data: str = typer.Option(..., "--data", help="comma-separated QA files to learn, e.g. the retain set"),
    out: Path = typer.Option(..., "--out", help="model folder to create (must not exist)"),
    model: c.OptStr = c.ModelOpt,
    seed: c.OptInt = c.SeedOpt,
    steps: c.OptInt = c.StepsOpt,
    config_path: c.OptPath = c.ConfigOpt,
) -> None:
    """Fine-tune on QA data and save a model folder: e.g. the retain model for forget quality and PrivLeak."""
    from edgeunlearn import config
    from edgeunlearn.data import data_digest, load_items
    from edgeunlearn.models.resolve import resolve_model
    from edgeunlearn.pipeline.finetune import finetune as run_finetune
    from edgeunlearn.pipeline.inputs import data_path
    from edgeunlearn.runs import check_out_free, run_folder

    cfg = config.resolve(config_path, c.overrides(model=model, seed=seed, steps=steps))
    check_out_free(out)
    paths = [data_path(spec.strip()) for spec in data.split(",") if spec.strip()]
    if not paths:
        raise UserError("--data names no file: give QA files to learn, e.g. --data retain.jsonl")
    items = [item for path in paths for item in load_items(path, "data")]
    hashes = {str(path): data_digest(path) for path in paths}
    source = resolve_model(cfg.model, cfg.prompt_format)
    progress = RichProgress()
    try:
        with run_folder(out) as folder:
            facts = run_finetune(cfg, source, items, hashes, folder, progress)
    finally:
        progress.close()
    console.print(
        f"[green]model[/] → {out}  ({facts['items']} items, {facts['steps']} steps, {facts['seconds']:.0f} s, "
        f"loss {facts['first_loss']:.3f} → {facts['final_loss']:.3f}); use it as --model or --reference"
    )


def register(app: typer.Typer) -> None:
    for command in (demo, run, unlearn, compare, finetune):
        app.command(command.__name__)(c.reports_errors(command))
