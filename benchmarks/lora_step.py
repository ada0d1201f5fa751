"""LoRA step time on the embedded SmolLM2, with OpenBLAS preloaded and with MLX's bundled BLAS.

    .venv/bin/python benchmarks/lora_step.py [--steps 5]

Each measurement runs in its own process (a preload only works at process start) and reports the median
step time after one warm-up step; the last line prints the speed-up ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, sys, time, tempfile
from pathlib import Path
from edgeunlearn.backends.mlx_backend import MLXBackend
from edgeunlearn.config import MethodArgs, TrainConfig
from edgeunlearn.data import load_items
from edgeunlearn.methods import get_method
from edgeunlearn.models.resolve import resolve_model
from edgeunlearn.pipeline.inputs import data_path
from edgeunlearn.training.trainer import train
from edgeunlearn.blas import status

steps = int(sys.argv[1])
model = resolve_model("default")
forget, retain = load_items(data_path("demo:forget")), load_items(data_path("demo:retain"))
backend = MLXBackend(model.mlx_dir)
result = train(backend, get_method("npo_gd"), forget, retain, TrainConfig(steps=steps + 1), MethodArgs(), 0,
               Path(tempfile.mkdtemp()))
print(json.dumps({"blas": status()[0], "median_step_s": result.step_seconds_median}))
"""


def measure(steps: int, preload: bool) -> dict:
    env = dict(os.environ)
    from edgeunlearn.blas import find_openblas

    lib = find_openblas()
    env.pop("LD_PRELOAD", None)
    if preload and lib:
        env["LD_PRELOAD"] = lib
    out = subprocess.run([sys.executable, "-c", CHILD, str(steps)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    steps = parser.parse_args().steps
    fast, slow = measure(steps, True), measure(steps, False)
    for run in (fast, slow):
        print(f"{run['blas']:<70} {run['median_step_s'] * 1000:8.0f} ms/step (npo_gd, batch 4 forget + 4 retain)")
    print(f"speed-up with OpenBLAS: {slow['median_step_s'] / fast['median_step_s']:.1f}x")


if __name__ == "__main__":
    main()
