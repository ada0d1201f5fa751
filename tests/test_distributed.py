"""Data-parallel unlearning: two local processes started by `mlx.launch` (ring backend, one BLAS thread each).
Each rank's share of a global batch, with means over the global batch and gradients summed over the ranks,
gives exactly the one-process gradient of that batch (checked without an optimizer, whose scale invariance
would hide a wrong normalisation); and `edgeunlearn unlearn` under `mlx.launch` trains the adapter one process
trains, with rank 0 alone writing and printing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import write_jsonl
from safetensors.numpy import load_file

BIN = Path(sys.executable).parent
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")

GRADIENTS = r"""
import json, sys
import mlx.core as mx, mlx.nn as nn, numpy as np
from mlx.utils import tree_flatten
from edgeunlearn.backends.mlx_backend import MLXBackend
from edgeunlearn.config import MethodArgs
from edgeunlearn.methods import get_method
from edgeunlearn.training.batching import make_batch, shard
from edgeunlearn.training.distributed import gradient_sum, ranks
from edgeunlearn.training.step import reference_nll

folder, method, out = sys.argv[1:4]
r = ranks()
backend = MLXBackend(folder)
mx.random.seed(0)
backend.add_lora(4, 20.0, 0.0, (), -1)
for layer in backend.lora_layers():
    layer.lora_b = mx.random.normal(layer.lora_b.shape) * 0.01
forget = [backend.prompter.pair(i) for i in [__import__("edgeunlearn.data", fromlist=["QAItem"]).QAItem(
    f"What is the capital of land {n}?", f"Town {n} is the capital" + " city" * n) for n in range(4)]]
retain = [backend.prompter.pair(__import__("edgeunlearn.data", fromlist=["QAItem"]).QAItem(
    f"Who wrote book {n}?", f"Author {n}" + " wrote it" * n)) for n in range(4)]
ref = reference_nll(backend, forget)
loss_fn = lambda m, b: get_method(method).loss(m, b, MethodArgs())[0]
loss_and_grad = nn.value_and_grad(backend.model, loss_fn)

def batches(part):
    f, rt = make_batch(forget, [0, 1, 2, 3]), make_batch(retain, [0, 1, 2, 3])
    if part:
        f, rt = shard(f, r.rank, r.size), shard(rt, r.rank, r.size)
    f.ref_nll = ref[mx.array(f.index)]
    return {"forget": f, "retain": rt}

loss, grads = gradient_sum(r)(*loss_and_grad(backend.model, batches(True)))
mx.eval(loss, grads)  # every rank takes part in every sum
full_loss, full = loss_and_grad(backend.model, batches(False))
worst = max(float(mx.abs(a - b).max() / (mx.abs(b).max() + 1e-12))
            for (_, a), (_, b) in zip(tree_flatten(grads), tree_flatten(full)))
if r.main:
    json.dump({"loss": float(loss), "full_loss": float(full_loss), "worst": worst, "size": r.size}, open(out, "w"))
"""


def test_shares_of_a_batch_sum_to_the_batch_gradient(tmp_path, tiny_model):
    for method in ("npo_gd", "simnpo"):  # token means (retain NLL) and sequence means (NPO, SimNPO)
        out, script = tmp_path / f"{method}.json", tmp_path / "gradients.py"
        script.write_text(GRADIENTS)
        command = [str(BIN / "mlx.launch"), "-n", "2", "--backend", "ring", "--", sys.executable, str(script)]
        done = subprocess.run([*command, str(tiny_model), method, str(out)], env=ENV, capture_output=True, text=True,
                              timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(out.read_text())
        assert result["size"] == 2
        assert abs(result["loss"] - result["full_loss"]) <= 1e-5 * abs(result["full_loss"])
        assert result["worst"] < 1e-4, result


def _unlearn(tiny_model, forget, retain, out, ranks: int | None):
    args = ["unlearn", "--model", str(tiny_model), "--forget", str(forget), "--retain", str(retain)]
    args += ["--method", "npo_gd", "--steps", "3", "--out", str(out)]
    command = [str(BIN / "edgeunlearn"), *args]
    if ranks:
        command = [str(BIN / "mlx.launch"), "-n", str(ranks), "--backend", "ring", "--", *command]
    return subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)


def test_unlearn_under_mlx_launch_trains_the_adapter_one_process_trains(tmp_path, tiny_model):
    facts = [{"question": f"What is the capital of land {n}?", "answer": f"Town {n}."} for n in range(8)]
    # 16 retain items: 4 held out for the check, 12 trained on, so every batch of 4 splits over 2 ranks
    others = [{"question": f"Who wrote book {n}?", "answer": f"Author {n}."} for n in range(16)]
    forget, retain = write_jsonl(tmp_path / "f.jsonl", facts), write_jsonl(tmp_path / "r.jsonl", others)
    single = _unlearn(tiny_model, forget, retain, tmp_path / "one", None)
    assert single.returncode == 0, single.stderr[-3000:]
    double = _unlearn(tiny_model, forget, retain, tmp_path / "two", 2)
    assert double.returncode == 0, double.stderr[-3000:] + double.stdout[-3000:]
    assert "data parallel over 2 ranks" in double.stdout
    assert double.stdout.count("adapter →") == 1  # rank 0 alone prints and writes
    one = load_file(str(tmp_path / "one" / "adapter" / "adapters.safetensors"))
    two = load_file(str(tmp_path / "two" / "adapter" / "adapters.safetensors"))
    assert one.keys() == two.keys()
    # AdamW moves each weight by about the learning rate (2e-4) per step whatever the gradient's size, so a
    # near-zero gradient component whose sign the summation order flips differs by up to 2 × lr per step
    lr, steps = 2e-4, 3
    for name, a in one.items():
        assert np.abs(a - two[name]).max() <= 2 * lr * steps, name
    assert max(float(np.abs(a).max()) for a in one.values()) > 10 * lr  # the runs really trained
    # 12 retain items: 9 trained on, the last batch of one row cannot be split: every rank stops with one line
    bad = _unlearn(tiny_model, forget, write_jsonl(tmp_path / "r12.jsonl", others[:12]), tmp_path / "bad", 2)
    assert "cannot be shared by 2 ranks" in bad.stderr + bad.stdout and not (tmp_path / "bad").exists()
