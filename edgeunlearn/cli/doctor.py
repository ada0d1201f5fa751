"""`doctor`: which BLAS MLX runs on and why, the measured GEMM speed, and the toolchain's versions."""

from __future__ import annotations

import time

import typer

from edgeunlearn.cli.ui import console


def measure_gflops(n: int = 1024, repeats: int = 5) -> float:
    import mlx.core as mx

    a, b = mx.random.normal((n, n)), mx.random.normal((n, n))
    mx.eval(a @ b)
    start = time.perf_counter()
    for _ in range(repeats):
        mx.eval(a @ b)
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def doctor(
    model: str | None = typer.Option(None, "--model", help="also plan memory for this model: folder, GGUF or default"),
    base_precision: str = typer.Option("fp32", "--base-precision", help="fp32, bf16, q8 or q4"),
    grad_checkpoint: bool = typer.Option(False, "--grad-checkpoint", help="plan with gradient checkpointing"),
    tokens: int = typer.Option(512, "--tokens", help="tokens per step (batch × sequence length, both roles)"),
) -> None:
    """Report which BLAS MLX uses (and why), its matmul speed, the default model, and package versions; with
    --model, the predicted peak memory of training and of the check."""
    from edgeunlearn.backends.mlx_memory import PRECISIONS
    from edgeunlearn.blas import status
    from edgeunlearn.errors import UserError

    if base_precision not in PRECISIONS:
        raise UserError(f"--base-precision {base_precision!r} is unknown: use {', '.join(PRECISIONS)}")
    from edgeunlearn.models.resolve import cache_root, embedded_model_path
    from edgeunlearn.runs import package_versions

    blas, why = status()
    console.print(f"[bold]BLAS[/]: {blas} — {why}")
    console.print(f"[bold]MLX matmul[/]: {measure_gflops():.1f} GFLOP/s (fp32, 1024²)")
    try:
        console.print(f"[bold]default model[/]: {embedded_model_path()}")
    except Exception as exc:  # doctor reports, never fails on what it diagnoses
        console.print(f"[bold]default model[/]: [red]{exc}[/]")
    console.print(f"[bold]cache[/]: {cache_root()}")
    for name, version in package_versions().items():
        console.print(f"  {name:<18} {version or '[red]missing[/]'}")
    if model is not None:
        memory_plan(model, base_precision, grad_checkpoint, tokens)


def memory_plan(spec: str, precision: str, checkpoint: bool, tokens: int) -> None:
    import json

    from edgeunlearn.backends import mlx_memory
    from edgeunlearn.backends.mlx_fast import on_cpu
    from edgeunlearn.models.resolve import parameter_count, resolve_model

    source = resolve_model(spec)
    config = json.loads((source.mlx_dir / "config.json").read_text())
    parameters = parameter_count(source.mlx_dir)
    train = mlx_memory.predicted_training_peak(config, parameters, precision, checkpoint, tokens, on_cpu=on_cpu())
    check = mlx_memory.predicted_check_peak(config, parameters)
    setting = f"base {precision}{', gradient checkpointing' if checkpoint else ''}, {tokens} tokens per step"
    console.print(f"[bold]memory plan[/] for {spec} ({parameters / 1e9:.2f}B parameters; {setting}):")
    for title, parts in (("training", train), ("check", check)):
        console.print(f"  {title}: [bold]{sum(parts.values()) / 2**30:.1f} GiB[/] predicted peak")
        for name, size in parts.items():
            console.print(f"    {name:<24} {size / 2**30:6.2f} GiB")


def register(app: typer.Typer) -> None:
    from edgeunlearn.cli.common import reports_errors

    app.command("doctor")(reports_errors(doctor))
