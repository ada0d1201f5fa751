"""The relearning attack (the robustness test open-unlearning's users ask for): fine-tune the unlearned model
for a few steps on half of the forget set and see how much of the other half comes back — at full precision,
and in the attacker's GGUF at every llama.cpp type the run checks, since a quantized copy is what people run.

Knowledge that was only hidden comes back for facts the attack never showed; knowledge that was removed has
to be learned again item by item."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

from edgeunlearn.check.evaluate import VariantResult
from edgeunlearn.config import MethodArgs, RunConfig, TrainConfig
from edgeunlearn.data import QAItem
from edgeunlearn.errors import UserError
from edgeunlearn.pipeline.inputs import Inputs
from edgeunlearn.training.callbacks import Progress


def split_halves(forget: list[QAItem], seed: int) -> tuple[list[int], list[int]]:
    """(taught, held) item indices: a seeded half to relearn on, the rest to watch."""
    if len(forget) < 2:
        raise UserError("the relearning attack needs at least 2 forget items (half to teach, half to watch)")
    order = random.Random(f"relearn:{seed}").sample(range(len(forget)), len(forget))
    cut = len(forget) // 2
    return sorted(order[:cut]), sorted(order[cut:])


def relearn_attack(
    cfg: RunConfig,
    inputs: Inputs,
    source,
    weights: dict | None,
    before: list[VariantResult],
    folder: Path,
    progress: Progress,
) -> dict:
    """`source`: the model's ModelSource; `weights`: the unlearned weights (None: the source's own); `before`: the
    unlearned variants as checked, whose answers on the watched half are the starting point."""
    from edgeunlearn.backends.mlx_backend import open_mlx
    from edgeunlearn.export import export_gguf
    from edgeunlearn.methods import get_method
    from edgeunlearn.pipeline.spine import check_variants
    from edgeunlearn.pipeline.variants import variant_specs
    from edgeunlearn.training.snap import fuse
    from edgeunlearn.training.trainer import train

    taught, held = split_halves(inputs.forget, cfg.seed)
    progress.stage(f"relearning attack: {cfg.check.relearn} steps on {len(taught)} forget items")
    attacker = open_mlx(source.mlx_dir, weights, None, source.prompt_format)
    t = cfg.train
    settings = TrainConfig(
        steps=cfg.check.relearn,
        batch_size=min(t.batch_size, len(taught)),
        learning_rate=cfg.check.relearn_lr,
        lora_rank=t.lora_rank,
        lora_scale=t.lora_scale,
        lora_keys=t.lora_keys,
        lora_layers=t.lora_layers,
    )
    items = [inputs.forget[i] for i in taught]
    train(attacker, get_method("learn"), items, None, settings, MethodArgs(), cfg.seed, folder / "adapter", progress)
    fuse(attacker, None)
    f16 = export_gguf(attacker.weights(), source.mlx_dir, folder / "relearned-F16.gguf", source.gguf)
    specs = variant_specs(
        "relearned", f16, attacker.prompter, inputs.llama_types, folder, progress, mlx_backend=attacker, source=source
    )
    watched = dataclasses.replace(
        inputs, forget=[inputs.forget[i] for i in held], retain=[], retain_eval=[], holdout=[], general=[]
    )
    progress.stage("relearning attack: check the watched half", len(specs))
    after = check_variants(specs, watched, cfg, progress)
    attacker.close()
    return attack_summary(cfg.check.relearn, taught, held, before, after)


def attack_summary(steps: int, taught: list[int], held: list[int], before, after) -> dict:
    """Per type: how many watched items the model knew before and after the attack, and which came back."""
    by_type = {r.spec.qtype: r for r in before}
    rows = []
    for result in after:
        start = by_type.get(result.spec.qtype)
        if start is None:
            continue
        was = [start.forget[i].knows for i in held]
        now = [item.knows for item in result.forget]
        back = [inputs_index + 1 for inputs_index, w, n in zip(held, was, now) if n and not w]
        rows.append(
            {
                "type": result.spec.qtype,
                "family": result.spec.family,
                "known_before": sum(was) / len(held),
                "known_after": sum(now) / len(held),
                "came_back": len(back),
                "came_back_items": back,
                "forgotten_before": len(held) - sum(was),
            }
        )
    return {"steps": steps, "taught": [i + 1 for i in taught], "watched": [i + 1 for i in held], "types": rows}


def attack_lines(attack: dict) -> list[str]:
    """One line per type, for the terminal and results.txt."""
    head = (
        f"relearning attack: {attack['steps']} steps on forget items {attack['taught']}; watched {attack['watched']}:"
    )
    lines = [head]
    for row in attack["types"]:
        lines.append(
            f"  {row['type']:<8} known {row['known_before']:.0%} → {row['known_after']:.0%}; "
            f"{row['came_back']} of {row['forgotten_before']} forgotten watched items came back"
        )
    return lines
