"""Quantization-robust unlearning (`train.robust_to`): training sees the weights as llama.cpp will store them.

Why: a LoRA update is tiny next to one 4-bit step, so re-quantizing the fused model — above all to the grid the
base came from — rounds most of it back to the base and the forgotten facts return. Here each LoRA'd layer
computes with fq(W0 + s·(A B)ᵀ), where fq is an exact MLX copy of the ggml block format that tensor will hold
(F16 export, then llama.cpp's quantizer; `edgeunlearn.quantize.fake`). The gradient passes straight through
fq to A and B, so training keeps pushing until the change crosses the grid's rounding boundaries. Frozen
matrices (embeddings, layers without LoRA) use their quantized values too, computed once per type.

Which ggml type each tensor holds under a llama.cpp file type is read back from a real quantization of the
base (`StoredTypes`): llama.cpp's per-tensor rules and K-quant fallbacks are not re-derived here.

One type per step, in turn with full precision (`RobustTraining.activate`): n types cost about one pass per
step, not n (measured in benchmarks/robust_overhead.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

from edgeunlearn.errors import UserError

FULL_PRECISION = None  # the view's target when training sees the fp32 weights


@dataclass(frozen=True)
class StoredTypes:
    """For each llama.cpp file type (e.g. "Q4_K_M"): the ggml type each HF-named matrix holds in such a file."""

    by_target: dict[str, dict[str, str]]
    snap_to: str | None = None  # the base's own type, when the weights are snapped onto its grid after training

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(self.by_target)

    @property
    def trained(self) -> tuple[str, ...]:
        """The types training and the stop rule see: the snap type's form is settled by the snap itself."""
        return tuple(t for t in self.by_target if t != self.snap_to)

    def ggml_type(self, target: str, hf_name: str) -> str | None:
        return self.by_target[target].get(hf_name)


class QuantView:
    """Which stored form the LoRA'd layers compute with now — FULL_PRECISION or one target file type — and
    that form of each layer's fused weight, computed once per step outside the differentiated graph."""

    def __init__(self, stored: StoredTypes):
        self.stored = stored
        self.target: str | None = FULL_PRECISION
        self.weights: dict[str, object] = {}  # hf name → fq(W0 + s·(A B)ᵀ) under `target`

    def stored_weight(self, hf_name: str):
        return None if self.target is FULL_PRECISION else self.weights.get(hf_name)


def lora_update(layer):
    """s·(A B)ᵀ of a LoRALinear, in the order fuse() computes it. (out, in)"""
    return (layer.scale * layer.lora_b.T) @ layer.lora_a.T


@cache
def fake_quant_lora_class():
    """The layer class, built once on first use so importing this module does not import MLX."""
    import mlx.core as mx
    from mlx_lm.tuner.lora import LoRALinear

    class FakeQuantLoRA(LoRALinear):
        """LoRALinear that, under a quantized view, computes x·Wqᵀ with Wq = fq(W0 + s·(A B)ᵀ) and a
        straight-through gradient to A and B. At full precision it is plain LoRALinear (same parameters,
        same fuse)."""

        def __call__(self, x):
            stored = self.view.stored_weight(self.hf_name)
            if stored is None:
                return super().__call__(x)
            # the LoRA path carries the gradient; its value cancels, so the output is exactly x·Wqᵀ
            lora = self.scale * ((self.dropout(mx.stop_gradient(x)) @ self.lora_a) @ self.lora_b)
            y = x @ stored.T + (lora - mx.stop_gradient(lora))
            if "bias" in self.linear:
                y = y + self.linear.bias
            return y

        def fused_weight(self):
            """W0 + s·(A B)ᵀ exactly as fuse() computes it. (out, in)"""
            return self.linear.weight + lora_update(self)

    return FakeQuantLoRA


class RobustTraining:
    """Puts the fake-quantized layers into a model with LoRA and switches the stored form it computes with."""

    def __init__(self, backend, stored: StoredTypes):
        self.backend = backend
        self.view = QuantView(stored)
        self.cycle: tuple[str | None, ...] = (FULL_PRECISION, *stored.trained)
        self._layers = self._swap_lora_layers()
        self._frozen = _frozen_matrices(backend, stored)  # {target or None: {param path: array}}

    def _swap_lora_layers(self) -> list:
        cls = fake_quant_lora_class()
        layers = []
        for name, layer in self.backend.named_lora_layers():
            if "scales" in layer.linear:
                raise UserError(
                    "--robust-to needs a full-precision base: this model folder is MLX-quantized; "
                    "give the GGUF or an unquantized folder"
                )
            layer.__class__ = cls  # same parameters and fuse(); only the forward changes
            layer.hf_name, layer.view = name + ".weight", self.view
            layers.append(layer)
        return layers

    def activate(self, step: int) -> None:
        """The stored form for optimizer step `step` (1-based): full precision and each target in turn,
        computed from the weights as they are now."""
        self.use(self.cycle[(step - 1) % len(self.cycle)], refresh=True)

    def use(self, target: str | None, refresh: bool = False, weights: dict | None = None) -> None:
        """Compute with `target`'s stored form: `weights` when given, else fq of the current weights (kept
        while the target stays, unless `refresh`)."""
        if target != self.view.target:
            self.backend.model.load_weights(list(self._frozen[target].items()), strict=False)
        if weights is not None:
            self.view.weights = weights
        elif target != self.view.target or refresh:
            self.view.weights = self._stored_weights(target)
        self.view.target = target

    def _stored_weights(self, target: str | None) -> dict:
        import mlx.core as mx

        from edgeunlearn.quantize.fake import fake_quantize

        if target is FULL_PRECISION:
            return {}
        out = {}
        for layer in self._layers:
            qtype = self.view.stored.ggml_type(target, layer.hf_name)
            if qtype is not None:
                out[layer.hf_name] = mx.stop_gradient(fake_quantize(layer.fused_weight(), qtype))
                mx.eval(out[layer.hf_name])  # one layer at a time: the fp32 intermediates are freed as we go
        return out

    @contextmanager
    def viewing(self, target: str | None, weights: dict | None = None):
        """Compute with `target`'s stored form of the weights as they are now (LoRA scaled to zero: the base's),
        or with the given stored `weights`, then go back to the form in use before, without recomputing it."""
        previous, before = self.view.target, self.view.weights
        self.use(target, refresh=weights is None, weights=weights)
        try:
            yield
        finally:
            self.use(previous, weights=before)

    def close(self) -> None:
        """Back to full precision (the weights fuse and export from there)."""
        self.use(FULL_PRECISION)


def _frozen_matrices(backend, stored: StoredTypes) -> dict:
    """Each frozen matrix as every target stores it, computed once; full precision keeps the originals."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    from edgeunlearn.quantize.fake import fake_quantize

    lora = {name + ".weight" for name, _ in backend.named_lora_layers()}
    frozen = {
        path: w
        for path, w in tree_flatten(backend.model.parameters())
        if w.ndim == 2 and _hf_name(path) not in lora and _hf_name(path) in _any_target(stored)
    }
    out = {FULL_PRECISION: frozen}
    for target in stored.targets:
        out[target] = {path: fake_quantize(w, stored.ggml_type(target, _hf_name(path))) for path, w in frozen.items()}
        mx.eval(out[target])
    return out


def _hf_name(param_path: str) -> str:
    """The HF tensor name of a parameter path (LoRA wraps the base as `.linear`)."""
    return param_path.replace(".linear.weight", ".weight")


def _any_target(stored: StoredTypes) -> set[str]:
    return {name for types in stored.by_target.values() for name in types}


def resolve_targets(requested: Sequence[str], source_type: str | None, checked: Sequence[str]) -> list[str]:
    """`auto` → the base's own type (when it came from a quantized GGUF) plus every checked type; else the
    requested types, validated."""
    from edgeunlearn.check.summary import FULL_PRECISION as UNQUANTIZED
    from edgeunlearn.quantize.llamacpp import validate_types

    requested = [t.strip() for t in requested if t.strip()]
    if [t.lower() for t in requested] == ["auto"]:
        own = [source_type] if source_type and source_type not in UNQUANTIZED else []
        return list(dict.fromkeys(own + [t for t in checked if t not in UNQUANTIZED]))
    if any(t.lower() == "auto" for t in requested):
        raise UserError("--robust-to auto stands alone: give `auto` or a list of types, e.g. Q4_1,Q4_K_M")
    return validate_types(requested)
