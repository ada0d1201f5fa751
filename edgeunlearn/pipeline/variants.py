"""The variants a check runs: GGUF files (quantized here or given) and MLX models, each as a VariantSpec."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from edgeunlearn.check.evaluate import VariantSpec
from edgeunlearn.training.callbacks import Progress


def gguf_spec(name: str, model: str, path: Path, prompter, qtype: str, grid_source: Path | None = None) -> VariantSpec:
    """`prompter`: the training side's Prompter, so llama.cpp gets the very token ids and prompt format MLX uses."""
    from edgeunlearn.backends.llamacpp_backend import LlamaCppBackend
    from edgeunlearn.quantize.llamacpp import grid_match, tensor_types

    match = grid_match(path, grid_source) if grid_source else None
    opener = partial(LlamaCppBackend, path, prompter.tokenizer, prompt_format=prompter.format)
    return VariantSpec(name, model, "llama.cpp", qtype, opener, str(path), tensor_types(path), match)


def quantized_specs(
    model: str,
    f16: Path,
    types: list[str],
    out_dir: Path,
    prompter,
    progress: Progress,
    grid_source: Path | None = None,
) -> list[VariantSpec]:
    """Quantize `f16` to each type under `out_dir` (kept if already there) and describe each file."""
    from edgeunlearn.quantize.llamacpp import quantize_gguf

    specs = []
    for qtype in types:
        path = out_dir / f"{model}-{qtype}.gguf"
        if not path.exists():
            quantize_gguf(f16, path, qtype)
        progress.advance(f"{model} {qtype}")
        specs.append(gguf_spec(f"{model} {qtype}", model, path, prompter, qtype, grid_source))
    return specs


def mlx_specs(model: str, source, bits: list[int], weights=None) -> list[VariantSpec]:
    """MLX-quantized variants of `source` (a ModelSource), optionally with other (fused) weights."""
    from edgeunlearn.backends.mlx_backend import open_mlx
    from edgeunlearn.quantize.mlx_affine import variant_name

    return [
        VariantSpec(
            f"{model} {variant_name(b)}",
            model,
            "mlx",
            variant_name(b),
            partial(open_mlx, source.mlx_dir, weights, b, source.prompt_format),
        )
        for b in bits
    ]


def variant_specs(
    role: str,
    f16: Path,
    prompter,
    types: list[str],
    out_dir: Path,
    progress: Progress,
    *,
    mlx_backend=None,
    source=None,
    bits: list[int] = (),
    weights=None,
    grid_source: Path | None = None,
) -> list[VariantSpec]:
    """The one list of variants every check runs (run, check, compare, release, the relearning attack), in
    order: the MLX model at full precision (when `mlx_backend` is given), the F16 GGUF, each llama.cpp type
    quantized from it under `out_dir`, then each MLX affine grid of `source` (with `weights`, e.g. fused)."""
    specs = [VariantSpec(f"{role} MLX fp32", role, "mlx", "fp32", lambda: mlx_backend)] if mlx_backend else []
    specs.append(gguf_spec(f"{role} F16", role, f16, prompter, "F16"))
    specs += quantized_specs(role, f16, types, out_dir, prompter, progress, grid_source)
    return specs + (mlx_specs(role, source, bits, weights) if source is not None else [])
