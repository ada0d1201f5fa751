"""Peak memory and step time of LoRA unlearning at ~0.5B and ~1B parameters, per base precision.

    .venv/bin/python benchmarks/memory_scale.py [--precisions fp32,bf16,q4] [--tokens 32]

Random llama models built in code (no download; weights drawn lazily so the fp32 form of a reduced base never
exists all at once), the project's npo_gd step (`edgeunlearn.training.step.Step`) with LoRA r8 on all 7
projections over a batch of 1 forget + 1 retain sequence. Each run is its own process; it reports peak RSS and
MLX's allocator peak. The bytes per parameter are the slope between the two sizes (what an extra parameter
costs, the process's fixed libraries left out). On Linux CPU the bf16 and quantized matmuls are far slower than
fp32 (Apple Silicon is where they pay), so the step times say little about a Mac.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

SIZES = {  # hidden 1536, 4096 MLP, 32k vocab tied: 28.3M parameters per layer
    "0.5B": 16,
    "1B": 32,
}

CHILD = r"""
import itertools, json, resource, sys, time
import mlx.core as mx
import mlx.nn as nn
from mlx_lm.models import llama
from mlx_lm.tuner.utils import linear_to_lora_layers
from mlx.utils import tree_flatten
from edgeunlearn.backends.mlx_fast import fast_lora_class, use_fast_activations
from edgeunlearn.backends.mlx_memory import checkpoint_layers, quantize_in_place, reduce_base
from edgeunlearn.config import MethodArgs
from edgeunlearn.methods import get_method
from edgeunlearn.training.batching import make_batch
from edgeunlearn.training.step import Inputs, Step

layers, precision, checkpoint, tokens, steps = json.loads(sys.argv[1])
use_fast_activations()
args = llama.ModelArgs(model_type="llama", hidden_size=1536, num_hidden_layers=layers, intermediate_size=4096,
                       num_attention_heads=12, num_key_value_heads=12, rms_norm_eps=1e-5, vocab_size=32000,
                       tie_word_embeddings=True)
model = llama.Model(args)
# materialize block by block in the target form: one block's fp32 draw at a time, never the whole model's
for block in [model.model.embed_tokens, *model.layers, model.model.norm]:
    if precision != "fp32":
        block.update(nn.utils.tree_map(lambda p: p.astype(mx.bfloat16), block.parameters()))
    if precision.startswith("q"):
        quantize_in_place(block, int(precision[1:]))
    mx.eval(block.parameters())
reduce_base(model, precision)  # what is left to do: the fp32 widening on CPU
mx.reset_peak_memory()
params = sum(v.size for _, v in tree_flatten(model.parameters()))
if checkpoint:
    checkpoint_layers(model)
model.freeze()
linear_to_lora_layers(model, layers, {"rank": 8, "scale": 20.0, "dropout": 0.0,
    "keys": ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
             "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]})
fast = fast_lora_class()
for _, m in model.named_modules():
    if type(m).__name__ == "LoRALinear":
        m.__class__ = fast
model.train()
half = tokens // 2
forget = [(list(range(100, 100 + half)), list(range(200, 200 + half)))]
retain = [(list(range(300, 300 + half)), list(range(400, 400 + half)))]
inputs = Inputs({"forget": itertools.repeat(make_batch(forget, [0])),
                 "retain": itertools.repeat(make_batch(retain, [0]))}, ref_nll=mx.array([float(half)]))
step = Step(model, get_method("npo_gd"), MethodArgs(), 1e-5, 0.0)
times = []
for _ in range(steps):
    t0 = time.perf_counter()
    step(inputs)
    times.append(time.perf_counter() - t0)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rss = rss if sys.platform == "darwin" else rss * 1024
print(json.dumps({"rss": rss, "mlx_peak": mx.get_peak_memory(), "step_s": min(times), "base_values": params}))
"""


def measure(layers: int, precision: str, checkpoint: bool, tokens: int, steps: int) -> dict:
    from edgeunlearn.blas import find_openblas

    env = dict(os.environ)
    lib = find_openblas()
    if lib:
        env["LD_PRELOAD"] = lib
    spec = json.dumps([layers, precision, checkpoint, tokens, steps])
    out = subprocess.run([sys.executable, "-c", CHILD, spec], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def parameters(layers: int) -> int:
    per_layer = 4 * 1536 * 1536 + 3 * 1536 * 4096 + 2 * 1536
    return layers * per_layer + 32000 * 1536 + 1536


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precisions", default="fp32,bf16,q4")
    parser.add_argument("--tokens", type=int, default=32, help="tokens per sequence (prompt + answer)")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--no-checkpoint-runs", action="store_true", help="only with gradient checkpointing")
    opts = parser.parse_args()
    print(f"{'base':<6}{'ckpt':<6}{'size':<6}{'params':>8}{'peak RSS':>10}{'MLX peak':>10}{'step':>9}")
    for precision in opts.precisions.split(","):
        for checkpoint in (False, True) if not opts.no_checkpoint_runs else (True,):
            rows = {}
            for size, layers in SIZES.items():
                r = measure(layers, precision, checkpoint, opts.tokens, opts.steps)
                rows[size] = (parameters(layers), r)
                print(
                    f"{precision:<6}{'yes' if checkpoint else 'no':<6}{size:<6}{parameters(layers) / 1e9:>7.2f}B"
                    f"{r['rss'] / 2**30:>9.2f}G{r['mlx_peak'] / 2**30:>9.2f}G{r['step_s']:>8.1f}s",
                    flush=True,
                )
            (p0, r0), (p1, r1) = rows["0.5B"], rows["1B"]
            slope_rss = (r1["rss"] - r0["rss"]) / (p1 - p0)
            slope_mlx = (r1["mlx_peak"] - r0["mlx_peak"]) / (p1 - p0)
            print(
                f"  → {precision}{' + checkpointing' if checkpoint else ''}: {slope_rss:.2f} bytes/parameter "
                f"(RSS slope), {slope_mlx:.2f} (MLX peak slope); 8B at this slope: "
                f"{(r0['rss'] + slope_rss * (8e9 - p0)) / 2**30:.1f} GiB",
                flush=True,
            )


if __name__ == "__main__":
    main()
