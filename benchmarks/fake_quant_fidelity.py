"""How exactly the MLX fake quantizers reproduce llama.cpp's GGUF types, and how fast they run.

    LD_PRELOAD="$(.venv/bin/python -m edgeunlearn.blas)" .venv/bin/python benchmarks/fake_quant_fidelity.py \
        [--weights model.safetensors [--low-rank 0.02]] [--types Q4_0,Q4_K]

Per type: the share of weights where `fake_quantize` equals ggml's quantize → dequantize bit for bit and
the largest |difference|, on (a) synthetic matrices (normal rows with outliers, and a grid-aligned base plus
a rank-8 update of 2% of its norm, the shape of a fused LoRA unlearning update) and (b) every 2-D matrix of
`--weights` (K-quants only where rows are a multiple of 256, as llama.cpp does); `--low-rank S` first adds
a random rank-8 update of S × each matrix's norm, a stand-in for fused unlearned weights. Then
milliseconds per million weights on one (1024, 1024) matrix (median of 5 after a warm-up).
SmolLM2's weights: `resolve_model('default').mlx_dir / 'model.safetensors'` (edgeunlearn.models.resolve).
"""

from __future__ import annotations

import argparse
import time

import mlx.core as mx
import numpy as np

from edgeunlearn.quantize.fake import FAKE_QUANTIZERS, fake_quantize, fake_types
from edgeunlearn.quantize.ggml_oracle import ggml_roundtrip


def low_rank(rng, base: np.ndarray, share: float, rank: int = 8) -> np.ndarray:
    up = rng.standard_normal((base.shape[0], rank)) @ rng.standard_normal((rank, base.shape[1]))
    return (base + share * np.linalg.norm(base) / np.linalg.norm(up) * up).astype(np.float32)


def synthetic(rng) -> list[np.ndarray]:
    """Realistic rows (scale 0.02-0.1, 0.3% outliers ×8) at SmolLM2's widths, and grid + low-rank."""
    mats = []
    for shape, scale in (((256, 576), 0.02), ((256, 1536), 0.05), ((128, 1536), 0.1)):
        w = rng.standard_normal(shape).astype(np.float32) * scale
        w[rng.random(shape) < 0.003] *= 8
        mats.append(w)
    mats.append(low_rank(rng, ggml_roundtrip(mats[1], "Q4_1"), 0.02))
    return mats


def load_matrices(path: str, share: float, rng) -> list[np.ndarray]:
    weights = mx.load(path)
    mats = [np.array(v.astype(mx.float32)) for v in weights.values() if v.ndim == 2]
    return [low_rank(rng, m, share) for m in mats] if share else mats


def fidelity(mats: list[np.ndarray], ggml_type: str) -> tuple[int, int, float]:
    """(equal weights, weights compared, max |diff|) over the matrices this type applies to."""
    block = FAKE_QUANTIZERS.get(ggml_type).block
    equal = total = 0
    worst = 0.0
    for w in mats:
        if w.shape[-1] % block:
            continue
        diff = np.abs(np.array(fake_quantize(mx.array(w), ggml_type)) - ggml_roundtrip(w, ggml_type))
        equal, total, worst = equal + int((diff == 0).sum()), total + diff.size, max(worst, float(diff.max()))
    return equal, total, worst


def ms_per_million(ggml_type: str, repeats: int = 5) -> float:
    w = mx.array(np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32) * 0.03)
    mx.eval(fake_quantize(w, ggml_type))  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        mx.eval(fake_quantize(w, ggml_type))
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3 * 1e6 / w.size


def cell(equal: int, total: int, worst: float) -> str:
    if not total:
        return f"{'n/a':>34}"
    return f"{equal / total:>9.6f} {total - equal:>7d} {worst:>8.2e} {total / 1e6:>6.2f}M"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="a safetensors file of fp32 weights (HF names); its 2-D matrices are used")
    parser.add_argument("--low-rank", type=float, default=0.0, help="add a rank-8 update of this share of the norm")
    parser.add_argument("--types", default=",".join(fake_types()), help="comma-separated GGML types")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    sets = {"synthetic": synthetic(rng)}
    if args.weights:
        sets["weights" + (f" + {args.low_rank:g} low-rank" if args.low_rank else "")] = load_matrices(
            args.weights, args.low_rank, rng
        )
    print(f"{'type':<6}" + "".join(f" | {name:^34.34}" for name in sets) + " | ms/M weights")
    print(f"{'':<6}" + " |     exact unequal max|diff| weights" * len(sets))
    for ggml_type in args.types.split(","):
        cells = " | ".join(cell(*fidelity(mats, ggml_type)) for mats in sets.values())
        print(f"{ggml_type:<6} | {cells} | {ms_per_million(ggml_type):8.1f}", flush=True)


if __name__ == "__main__":
    main()
