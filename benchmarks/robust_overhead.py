"""Training-time overhead of `--robust-to`: the same npo_gd steps on the embedded SmolLM2, plain and robust.

    LD_PRELOAD="$(.venv/bin/python -m edgeunlearn.blas)" .venv/bin/python benchmarks/robust_overhead.py \
        [--types Q4_1,Q4_K_M,Q4_0] [--steps 8] [--rounds 2]

Both runs train from the same base with the same seed and batches, alternately, `--rounds` times each in one
invocation; a robust step cycles full precision → each type, so `--steps` should be a multiple of (types + 1).
Reported: mean seconds per step (the cycle's mean, not the median: the types differ in cost), the ratio, and
the one-time set-up of robust training (frozen matrices quantized once per type).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def one_run(stored, steps: int) -> dict:
    from edgeunlearn.backends.mlx_backend import MLXBackend
    from edgeunlearn.config import MethodArgs, TrainConfig
    from edgeunlearn.data import load_items
    from edgeunlearn.methods import get_method
    from edgeunlearn.models.resolve import resolve_model
    from edgeunlearn.pipeline.inputs import data_path
    from edgeunlearn.training.trainer import train

    model = resolve_model("default")
    forget, retain = load_items(data_path("demo:forget")), load_items(data_path("demo:retain"))
    backend = MLXBackend(model.mlx_dir)
    start = time.perf_counter()
    result = train(
        backend,
        get_method("npo_gd"),
        forget,
        retain,
        TrainConfig(steps=steps),
        MethodArgs(),
        0,
        Path(tempfile.mkdtemp()),
        stored=stored,
    )
    total = time.perf_counter() - start
    return {"per_step": result.seconds / steps, "setup": total - result.seconds}


def stored_types(types: list[str]):
    from edgeunlearn.backends.mlx_backend import MLXBackend
    from edgeunlearn.config import RunConfig, TrainConfig
    from edgeunlearn.models.resolve import resolve_model
    from edgeunlearn.pipeline.inputs import Inputs
    from edgeunlearn.pipeline.robust import stored_types as read_types

    model = resolve_model("default")
    cfg = RunConfig(train=TrainConfig(robust_to=tuple(types)))
    inputs = Inputs(model, [], [], types, [], {})
    return read_types(cfg, inputs, MLXBackend(model.mlx_dir))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--types", default="Q4_1,Q4_K_M,Q4_0")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    stored = stored_types(args.types.split(","))
    plain, robust = [], []
    for _ in range(args.rounds):
        plain.append(one_run(None, args.steps))
        robust.append(one_run(stored, args.steps))
    p = statistics.median(r["per_step"] for r in plain)
    r = statistics.median(r["per_step"] for r in robust)
    setup = statistics.median(x["setup"] - y["setup"] for x, y in zip(robust, plain))
    print(f"npo_gd on SmolLM2-135M, demo batch (4 forget + 4 retain), LoRA r8 on all projections, {args.steps} steps")
    print(f"plain:                        {p:6.2f} s/step")
    print(f"robust to {args.types:<18}  {r:6.2f} s/step  (set-up once: +{setup:.1f} s)")
    print(f"overhead: {r / p:.2f}x per step")


if __name__ == "__main__":
    main()
