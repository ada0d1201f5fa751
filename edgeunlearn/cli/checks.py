"""Commands on model files: `export`, `quantize`, `check` (no training involved)."""

from __future__ import annotations

from pathlib import Path

import typer

from edgeunlearn.cli import common as c
from edgeunlearn.cli.ui import RichProgress, console, show_results
from edgeunlearn.errors import UserError


def export(
    out: Path = typer.Option(..., "--out", help="GGUF file to write"),
    adapter: Path | None = typer.Option(None, "--adapter", help="run folder from `edgeunlearn unlearn`"),
    model: c.OptStr = c.ModelOpt,
    dtype: str = typer.Option("F16", "--dtype", help="F16 or F32"),
) -> None:
    """Fuse an unlearning adapter into its base model and write a GGUF llama.cpp loads."""
    from edgeunlearn.backends.mlx_backend import MLXBackend
    from edgeunlearn.export import export_gguf
    from edgeunlearn.models.resolve import resolve_model
    from edgeunlearn.pipeline.adapters import load_unlearned
    from edgeunlearn.runs import check_out_free

    check_out_free(out)
    if dtype.upper() not in ("F16", "F32"):
        raise UserError(f"unknown export type {dtype!r}: choose F16 or F32")
    if adapter is None and model is None:
        raise UserError("nothing to export: pass --adapter RUN_DIR (and/or --model)")
    if adapter is not None:
        source, backend = load_unlearned(adapter, model)
    else:
        source = resolve_model(model)
        backend = MLXBackend.of(source)
    export_gguf(backend.weights(), source.mlx_dir, out, source.gguf, dtype.upper())
    console.print(f"[green]wrote[/] {out}")


def quantize(
    model: Path = typer.Option(..., "--model", help="GGUF file to quantize (F16/F32 is best)"),
    types: str = typer.Option(..., "--types", help="comma-separated llama.cpp types, e.g. Q8_0,Q4_K_M"),
    out: Path = c.OutOpt,
) -> None:
    """Quantize a GGUF to each type and report the tensor types each file really holds."""
    from edgeunlearn.quantize.llamacpp import quantize_gguf, tensor_types, validate_types
    from edgeunlearn.runs import default_out, run_folder, write_json, write_manifest

    wanted = validate_types(types.split(","))
    if not model.is_file():
        raise UserError(f"GGUF file not found: {model}")
    from edgeunlearn.models.gguf_check import check_gguf

    check_gguf(model)
    out = out or default_out("quantize")
    report = {}
    with run_folder(out) as folder:
        write_manifest(folder, "quantize", {"model": str(model), "types": wanted}, {}, None)
        for qtype in wanted:
            path = quantize_gguf(model, folder / f"{model.stem}-{qtype}.gguf", qtype)
            report[qtype] = {"file": str(out / path.name), "tensor_types": tensor_types(path)}
            held = ", ".join(f"{k}×{v}" for k, v in report[qtype]["tensor_types"].items())
            console.print(f"  {qtype:<8} holds {held}")
        write_json(folder / "quantize.json", report)
    console.print(f"[green]wrote[/] {len(wanted)} files → {out}")


def check(
    model: str = typer.Option(..., "--model", help="the model to check: GGUF file, model folder, or `default`"),
    forget: str = typer.Option(..., "--forget", help="forget set (demo:forget for the embedded demo set)"),
    retain: c.OptStr = c.RetainOpt,
    base: c.OptStr = typer.Option(None, "--base", help="the model before unlearning, for recovery and controls"),
    types: c.OptStr = c.TypesOpt,
    out: c.OptPath = c.OutOpt,
    max_new_tokens: int = typer.Option(24, "--max-new-tokens", help="greedy answer length"),
    judge: str = typer.Option("entity", "--judge", help="fact judge for KFR / KRR: entity, embedding or nli"),
    nli_model: c.OptStr = typer.Option(None, "--nli-model", help="judge nli: local BERT NLI model folder"),
    holdout: c.OptStr = c.HoldoutOpt,
    reference: c.OptStr = c.ReferenceOpt,
    prompt_format: str = typer.Option("auto", "--prompt-format", help=c.PromptFormatOpt.help),
    relearn: int = typer.Option(0, "--relearn", help=c.RelearnOpt.help),
    quick: bool = typer.Option(False, "--quick", help=c.QuickOpt.help),
) -> None:
    """Check what a model (and its quantizations) still knows — no training unless --relearn asks for it."""
    from edgeunlearn.backends.base import check_prompt_format
    from edgeunlearn.config import CheckConfig
    from edgeunlearn.pipeline.check_only import run_check
    from edgeunlearn.runs import check_out_free, default_out, run_folder

    check_prompt_format(prompt_format)
    out = out or default_out("check")
    check_out_free(out)
    progress = RichProgress()
    try:
        with run_folder(out) as folder:
            check_cfg = CheckConfig(
                max_new_tokens=max_new_tokens, judge=judge, nli_model=nli_model, relearn=relearn, quick=quick
            )
            summary = run_check(
                model, base, forget, retain, types, check_cfg, folder, progress, holdout, reference, prompt_format
            )
            show_results(summary, folder)
    finally:
        progress.close()
    console.print(f"[green]results[/] → {out}/results.json")


def register(app: typer.Typer) -> None:
    for command in (export, quantize, check):
        app.command(command.__name__)(c.reports_errors(command))
