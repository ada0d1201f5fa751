"""Writing the unlearned weights on the base's own grid (`train.snap_gains`), for a base that came quantized.

Why: the embedded SmolLM2 ships as Q4_1, so its weights sit exactly on Q4_1 points, and re-quantizing the fused
model to Q4_1 rounds any update smaller than half a step back to the base: the forgetting vanishes in the very
file a user ships. Training through the rounding (straight-through) does not fix it — nothing changes in that
form until the update is ~10x larger, and by then full precision is wrecked. Measured on the demo (npo_gd,
keywords focus, 8 steps): Q4_1 of W0 + g·(W1 − W0) forgets 1 of 10 facts at g = 1 and 3, 8 of 10 at g = 10 with
29 of 33 general facts kept (the unsnapped model: 10 of 10, 28 of 33), and collapses at g = 30.

So after training, each LoRA'd matrix becomes P = fq_base(W0 + g·(W1 − W0)), g the gain on the ladder that the
stop rule's check chooses (`StopRule.choose_snap`): P itself is the full-precision model (it lies
on the base's grid, so the base's type stores it exactly) and each other robust_to type stores fq_T(P). The
gain and the per-tensor types are kept beside the adapter, so rebuilding the model gives the same P.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

SNAP_FILE = "snap.json"


@dataclass(frozen=True)
class Snap:
    file_type: str  # the base's own llama.cpp file type, e.g. Q4_1
    gain: float
    tensor_types: dict[str, str]  # HF matrix name → the ggml type that file type stores it as

    def save(self, adapter_dir: Path) -> None:
        (Path(adapter_dir) / SNAP_FILE).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, adapter_dir: Path) -> Snap | None:
        path = Path(adapter_dir) / SNAP_FILE
        return cls(**json.loads(path.read_text())) if path.exists() else None


def snapped_weights(backend, tensor_types: dict[str, str], gain: float) -> dict:
    """{HF name: fq(W0 + gain·s·(A B)ᵀ)} for every LoRA'd matrix the base type quantizes."""
    import mlx.core as mx

    from edgeunlearn.quantize.fake import fake_quantize
    from edgeunlearn.training.robust import lora_update

    out = {}
    for name, layer in backend.named_lora_layers():
        qtype = tensor_types.get(name + ".weight")
        if qtype is None:
            continue
        out[name + ".weight"] = mx.stop_gradient(fake_quantize(layer.linear.weight + gain * lora_update(layer), qtype))
        mx.eval(out[name + ".weight"])
    return out


def fuse(backend, snap: Snap | None) -> None:
    """Fold the LoRA updates into the weights; with a snap, the LoRA'd matrices become their snapped values."""
    weights = snapped_weights(backend, snap.tensor_types, snap.gain) if snap is not None else {}
    backend.fuse_lora()
    if weights:
        backend.model.load_weights(list(weights.items()), strict=False)
