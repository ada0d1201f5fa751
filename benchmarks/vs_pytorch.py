"""The project's npo_gd LoRA step against PyTorch+PEFT doing the same step on the same token ids.

    pip install -e '.[bench]'      # torch, transformers, peft (CPU wheels)
    .venv/bin/python benchmarks/vs_pytorch.py [--steps 8] [--warmup 2]

Both sides: the default model (SmolLM2-135M-Instruct, fp32), batch 4 forget + 4 retain items of the demo,
LoRA rank 8 with scale 20 (PEFT: alpha 160) on all 7 projections of every layer, NPO on the forget batch
(β 0.1, reference NLL computed once with the adapter off) plus the retain NLL, AdamW at lr 1e-5. The PyTorch
side is written as a PEFT user writes it: the model's logits at every position, log-softmax, gather.

Each side runs in its own process (so that each one's peak memory is its own) with 2 threads; the parent asks
them for one step at a time, in turn, so that both see the same machine. It prints the median step time of
each, the ratio, and the peak memory (process RSS; MLX's own allocator peak too).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

BATCH = 4
RANK, SCALE, BETA, LR = 8, 20.0, 0.1, 1e-5

MLX_WORKER = r"""
import itertools, json, sys, time
import mlx.core as mx
from edgeunlearn.backends.mlx_backend import MLXBackend
from edgeunlearn.config import MethodArgs
from edgeunlearn.methods import get_method
from edgeunlearn.training.batching import make_batch
from edgeunlearn.training.step import Inputs, Step, reference_nll

spec = json.loads(sys.argv[1])
backend = MLXBackend(spec["model_dir"])
backend.add_lora(spec["rank"], spec["scale"], 0.0, (), -1)
backend.model.train()
forget, retain = [tuple(p) for p in spec["forget"]], [tuple(p) for p in spec["retain"]]
rows = list(range(len(forget)))
inputs = Inputs(
    {"forget": itertools.repeat(make_batch(forget, rows, backend.pad_id)),
     "retain": itertools.repeat(make_batch(retain, rows, backend.pad_id))},
    ref_nll=reference_nll(backend, forget),
)
optimizer_step = Step(backend.model, get_method("npo_gd"), MethodArgs(beta=spec["beta"], retain_weight=1.0),
                      spec["lr"], 0.0)

def step():
    return optimizer_step(inputs)
"""

TORCH_WORKER = r"""
import json, sys, time
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

torch.set_num_threads(2)
spec = json.loads(sys.argv[1])
model = AutoModelForCausalLM.from_pretrained(spec["model_dir"], dtype=torch.float32)
keys = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
model = get_peft_model(model, LoraConfig(r=spec["rank"], lora_alpha=spec["scale"] * spec["rank"], lora_dropout=0.0,
                                         target_modules=keys))
model.train()

def batch(pairs, pad):
    seqs = [p + a for p, a in pairs]
    width = max(map(len, seqs)) - 1
    inputs = torch.full((len(seqs), width), pad, dtype=torch.long)
    targets = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width))
    for row, ((p, a), s) in enumerate(zip(pairs, seqs)):
        inputs[row, : len(s) - 1] = torch.tensor(s[:-1])
        targets[row, : len(s) - 1] = torch.tensor(s[1:])
        mask[row, len(p) - 1 : len(s) - 1] = 1.0
    return inputs, targets, mask

def sequence_nll(inputs, targets, mask):
    logp = torch.log_softmax(model(input_ids=inputs).logits.float(), dim=-1)
    return -(logp.gather(-1, targets[..., None]).squeeze(-1) * mask).sum(dim=1)

forget, retain = batch(spec["forget"], spec["pad"]), batch(spec["retain"], spec["pad"])
with torch.no_grad(), model.disable_adapter():
    ref_nll = sequence_nll(*forget)
optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=spec["lr"], weight_decay=0.0)
beta = spec["beta"]

def step():
    optimizer.zero_grad()
    npo = -(2.0 / beta) * torch.nn.functional.logsigmoid(beta * (sequence_nll(*forget) - ref_nll)).mean()
    retain_nll = sequence_nll(*retain).sum() / retain[2].sum()
    loss = npo + retain_nll
    loss.backward()
    optimizer.step()
    return float(loss)
"""

SERVE = r"""
import resource
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "step":
        t0 = time.perf_counter()
        loss = step()
        print(json.dumps({"seconds": time.perf_counter() - t0, "loss": loss}), flush=True)
    else:
        break
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rss_bytes = rss if sys.platform == "darwin" else rss * 1024
extra = {}
if "mx" in globals():
    extra["mlx_peak_bytes"] = mx.get_peak_memory()
print(json.dumps({"peak_rss_bytes": rss_bytes, **extra}), flush=True)
"""


class Worker:
    def __init__(self, name: str, code: str, spec: dict, env: dict):
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, json.dumps(spec)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._expect("ready")

    def _expect(self, word: str) -> None:
        line = self.proc.stdout.readline()
        if line.strip() != word:
            raise SystemExit(f"{self.name} worker failed to start (see its error above)")

    def step(self) -> dict:
        self.proc.stdin.write("step\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def finish(self) -> dict:
        self.proc.stdin.write("done\n")
        self.proc.stdin.flush()
        result = json.loads(self.proc.stdout.readline())
        self.proc.wait()
        return result


def demo_batches() -> tuple[str, list, list, int]:
    """The model folder and the first 4 forget and 4 retain demo items as (prompt ids, answer ids)."""
    from edgeunlearn.backends.base import Prompter
    from edgeunlearn.data import load_items
    from edgeunlearn.models.resolve import resolve_model
    from edgeunlearn.pipeline.inputs import data_path

    model = resolve_model("default")
    from transformers import AutoTokenizer

    prompter = Prompter(AutoTokenizer.from_pretrained(str(model.mlx_dir)), "auto")
    pairs = [
        [list(map(list, prompter.pair(item))) for item in load_items(data_path(f"demo:{part}"))[:BATCH]]
        for part in ("forget", "retain")
    ]
    return str(model.mlx_dir), pairs[0], pairs[1], prompter.tokenizer.pad_token_id or 0


def worker_env(preload: bool) -> dict:
    from edgeunlearn.blas import find_openblas

    env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2", MKL_NUM_THREADS="2")
    env.pop("LD_PRELOAD", None)
    lib = find_openblas() if preload else None
    if lib:
        env["LD_PRELOAD"] = lib  # MLX's CPU GEMM through OpenBLAS, as the project's CLI runs it
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="timed steps per side")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per side first")
    opts = parser.parse_args()
    try:
        import peft  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        raise SystemExit("PyTorch side missing: pip install -e '.[bench]' (torch, transformers, peft)") from None

    model_dir, forget, retain, pad = demo_batches()
    spec = {
        "model_dir": model_dir,
        "forget": forget,
        "retain": retain,
        "pad": pad,
        "rank": RANK,
        "scale": SCALE,
        "beta": BETA,
        "lr": LR,
    }
    workers = [
        Worker("edgeunlearn (MLX)", MLX_WORKER + SERVE, spec, worker_env(preload=True)),
        Worker("PyTorch+PEFT", TORCH_WORKER + SERVE, spec, worker_env(preload=False)),
    ]
    times = {w.name: [] for w in workers}
    for i in range(opts.warmup + opts.steps):
        for w in workers if i % 2 == 0 else reversed(workers):
            seconds = w.step()["seconds"]
            if i >= opts.warmup:
                times[w.name].append(seconds)
    memory = {w.name: w.finish() for w in workers}
    tokens = sum(len(p) + len(a) - 1 for p, a in forget + retain)
    print(
        f"npo_gd LoRA step, batch {BATCH} forget + {BATCH} retain ({tokens} tokens), r{RANK} on 7 projections, "
        f"{opts.steps} timed steps each, alternating"
    )
    medians = {}
    for name, values in times.items():
        medians[name] = statistics.median(values)
        mem = memory[name]
        mlx_peak = f", MLX peak {mem['mlx_peak_bytes'] / 2**30:.2f} GiB" if "mlx_peak_bytes" in mem else ""
        print(
            f"{name:<20} median {medians[name] * 1000:7.0f} ms/step (min {min(values) * 1000:.0f}, "
            f"max {max(values) * 1000:.0f}); peak RSS {mem['peak_rss_bytes'] / 2**30:.2f} GiB{mlx_peak}"
        )
    ours, theirs = (medians[w.name] for w in workers)
    rss = [memory[w.name]["peak_rss_bytes"] for w in workers]
    print(f"speed: edgeunlearn is {theirs / ours:.2f}x PyTorch+PEFT; peak RSS {rss[0] / rss[1]:.2f}x of it")


if __name__ == "__main__":
    main()
