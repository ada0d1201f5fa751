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


def doctor() -> None:
    """Report which BLAS MLX uses (and why), its matmul speed, the default model, and package versions."""
    from edgeunlearn.blas import status
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


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
