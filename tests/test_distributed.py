"""Data-parallel unlearning: two local processes started by `mlx.launch` (ring backend, one BLAS thread each)
train the same adapter as one process on the same global batches; only rank 0 writes the run folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import write_jsonl
from safetensors.numpy import load_file

BIN = Path(sys.executable).parent


def _unlearn(tiny_model, forget, retain, out, ranks: int | None):
    args = ["unlearn", "--model", str(tiny_model), "--forget", str(forget), "--retain", str(retain)]
    args += ["--method", "npo_gd", "--steps", "3", "--out", str(out)]
    command = [str(BIN / "edgeunlearn"), *args]
    if ranks:
        command = [str(BIN / "mlx.launch"), "-n", str(ranks), "--backend", "ring", "--", *command]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def test_two_ranks_train_the_adapter_one_process_trains(tmp_path, tiny_model):
    facts = [{"question": f"What is the capital of land {n}?", "answer": f"Town {n}."} for n in range(8)]
    others = [{"question": f"Who wrote book {n}?", "answer": f"Author {n}."} for n in range(12)]
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
    moved = 0.0
    for name, a in one.items():
        b = two[name]
        assert np.abs(a - b).max() <= 1e-4 * (np.abs(a).max() + 1e-6), name
        moved = max(moved, float(np.abs(a).max()))
    assert moved > 0  # the B matrices left zero: the runs really trained
    assert not (tmp_path / "two.unfinished").exists() and not (tmp_path / ".two.unfinished").exists()
