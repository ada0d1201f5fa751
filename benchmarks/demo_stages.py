"""Where the demo's time goes, stage by stage, for the full check and the quick one.

    .venv/bin/python benchmarks/demo_stages.py [--quick-only] [--full-only]

Runs `edgeunlearn demo` (after `make setup`; the base model's GGUF exports are cached after the first run)
into a temporary folder and prints the wall time of the whole command, each stage the run recorded in
results.json, and each checked variant with what answered it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_demo(quick: bool) -> tuple[float, dict]:
    out = Path(tempfile.mkdtemp(prefix="edgeunlearn-demo-")) / "run"
    command = [str(Path(sys.executable).parent / "edgeunlearn"), "demo", "--out", str(out)]
    command += ["--quick"] if quick else []
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, json.loads((out / "results.json").read_text())


def report(label: str, wall: float, results: dict) -> None:
    print(f"\n{label}: {wall:.0f} s wall for `edgeunlearn demo{' --quick' if 'quick' in label else ''}`")
    stages = results.get("stages", [])
    for stage in stages:
        print(f"  {stage['stage']:<45} {stage['seconds']:7.1f} s")
    accounted = sum(s["seconds"] for s in stages)
    print(f"  {'(start-up, results table, report)':<45} {wall - accounted:7.1f} s")
    checks = [v for v in results["variants"]]
    print(f"  variants checked: {len(checks)}, {sum(v['seconds'] for v in checks):.1f} s in all")
    for v in checks:
        print(f"    {v['name']:<22} {v.get('engine', v['family']):<14} {v['seconds']:6.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick-only", action="store_true")
    parser.add_argument("--full-only", action="store_true")
    opts = parser.parse_args()
    if not opts.quick_only:
        report("full check", *run_demo(quick=False))
    if not opts.full_only:
        report("quick check", *run_demo(quick=True))


if __name__ == "__main__":
    main()
