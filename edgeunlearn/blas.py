"""Fast BLAS for MLX on Linux.

The mlx-cpu wheel bundles a reference BLAS (~8 GFLOP/s on our 2-core boxes). OpenBLAS preloaded with
LD_PRELOAD overrides its GEMM symbols (~100 GFLOP/s, LoRA steps ~10x faster). A preload only works at
process start, so the CLI re-executes itself once with LD_PRELOAD set, before mlx is imported.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

OPT_OUT = "EDGEUNLEARN_NO_OPENBLAS"
_MARK = "EDGEUNLEARN_BLAS_REEXEC"
CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
    "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
    "/usr/lib64/libopenblas.so.0",
    "/usr/lib/libopenblas.so.0",
)


def find_openblas() -> str | None:
    return next((c for c in CANDIDATES if Path(c).exists()), None)


def preloaded_openblas() -> str | None:
    """The OpenBLAS library this process runs with, read from its memory map."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    hits = [line.split()[-1] for line in maps.splitlines() if "libopenblas" in line]
    return hits[0] if hits else None


def status() -> tuple[str, str]:
    """(which BLAS MLX uses, why) for `doctor`."""
    if sys.platform == "darwin":
        return "Accelerate", "macOS: MLX uses Apple's Accelerate framework"
    lib = preloaded_openblas()
    if lib:
        return f"OpenBLAS ({lib})", "preloaded with LD_PRELOAD over the wheel's reference BLAS"
    if os.environ.get(OPT_OUT):
        return "bundled reference BLAS", f"{OPT_OUT} is set: OpenBLAS preload switched off (~10x slower)"
    if not find_openblas():
        return "bundled reference BLAS", "libopenblas0-pthread is not installed: run `make setup` (~10x slower)"
    return "bundled reference BLAS", "OpenBLAS is installed but not preloaded in this process"


def reexec_with_openblas(argv: list[str] | None = None) -> None:
    """Replace this process with itself plus LD_PRELOAD=OpenBLAS, when that is possible and useful."""
    if not sys.platform.startswith("linux") or os.environ.get(OPT_OUT) or os.environ.get(_MARK):
        return
    lib = find_openblas()
    if lib is None or preloaded_openblas() or "mlx" in sys.modules:
        return
    env = dict(os.environ)
    env["LD_PRELOAD"] = ":".join(p for p in (lib, env.get("LD_PRELOAD")) if p)
    env[_MARK] = "1"
    args = argv if argv is not None else [sys.executable, *sys.orig_argv[1:]]
    os.execve(args[0], args, env)


if __name__ == "__main__":  # `python -m edgeunlearn.blas`: the library to preload, for scripts and `make test`
    import sys as _sys

    _sys.stdout.write((find_openblas() or "") + "\n")
