"""Per-token log-prob parity between MLX (fp32) and the exported F16 GGUF under llama.cpp.

    .venv/bin/python benchmarks/parity.py [--model default]

Prints the largest per-token |Δ log-prob| over the demo questions with their reference answers
(the requirement is < 0.05 nats on every token).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from edgeunlearn.backends.llamacpp_backend import LlamaCppBackend
from edgeunlearn.backends.mlx_backend import MLXBackend
from edgeunlearn.data import load_items
from edgeunlearn.export import export_gguf
from edgeunlearn.models.resolve import resolve_model
from edgeunlearn.pipeline.inputs import data_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    source = resolve_model(parser.parse_args().model)
    items = load_items(data_path("demo:forget")) + load_items(data_path("demo:retain"))
    mlx = MLXBackend(source.mlx_dir)
    with tempfile.TemporaryDirectory() as tmp:
        f16 = export_gguf(mlx.weights(), source.mlx_dir, Path(tmp) / "F16.gguf", source.gguf)
        llama = LlamaCppBackend(f16, mlx.tokenizer)
        deltas = [np.abs(a - b) for a, b in zip(mlx.score(items), llama.score(items))]
        llama.close()
    worst = max(d.max() for d in deltas)
    tokens = sum(d.size for d in deltas)
    print(
        f"{len(items)} items, {tokens} answer tokens: max |Δ log-prob| {worst:.4f} nats, "
        f"mean {np.mean(np.concatenate(deltas)):.5f} ({'within' if worst < 0.05 else 'OVER'} 0.05)"
    )


if __name__ == "__main__":
    main()
