"""The variants a check runs: GGUF files (quantized here or given) and MLX models, each as a VariantSpec."""

from __future__ import annotations

import shutil
import tempfile
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


F32 = "llama.cpp F32"
F32_ROUTE_MAX_PARAMS = 600_000_000  # beyond, an F32 copy on disk costs more than MLX's slower answers


def mlx_specs(model: str, source, bits: list[int], prompter, weights=None) -> list[VariantSpec]:
    """MLX-quantized variants of `source` (a ModelSource), optionally with other (fused) weights. A small model's
    variant is answered by llama.cpp from an F32 GGUF of its rounded weights (the values MLX computes with;
    llama.cpp answers several times faster), written to a temporary folder and removed after the check."""
    from edgeunlearn.backends.mlx_backend import open_mlx
    from edgeunlearn.quantize.mlx_affine import variant_name

    specs = []
    for b in bits:
        name, qtype = f"{model} {variant_name(b)}", variant_name(b)
        if through_f32(source):
            opener = partial(_open_f32, partial(_grid_weights, source, weights, b), source, prompter)
            specs.append(VariantSpec(name, model, "mlx", qtype, opener, engine=F32))
        else:
            specs.append(
                VariantSpec(
                    name, model, "mlx", qtype, partial(open_mlx, source.mlx_dir, weights, b, source.prompt_format)
                )
            )
    return specs


def fp32_spec(model: str, backend, source, prompter, weights=None) -> VariantSpec:
    """The MLX model at full precision (e.g. fused after training); for a small model answered by llama.cpp
    from an F32 GGUF of the very same weights. Either way `backend` is closed by the check."""
    name = f"{model} MLX fp32"
    if not through_f32(source):
        return VariantSpec(name, model, "mlx", "fp32", lambda: backend)
    opener = partial(_open_f32, partial(_weights_then_close, backend, weights), source, prompter)
    return VariantSpec(name, model, "mlx", "fp32", opener, engine=F32)


def through_f32(source) -> bool:
    from edgeunlearn.models.resolve import parameter_count

    return parameter_count(source.mlx_dir) <= F32_ROUTE_MAX_PARAMS


def _weights_then_close(backend, weights=None) -> dict:
    """The backend's weights (`weights` when the caller already took them: not converted twice), then close it."""
    weights = backend.weights() if weights is None else weights
    backend.close()
    return weights


def _grid_weights(source, weights, bits: int) -> dict:
    from edgeunlearn.backends.mlx_backend import open_mlx

    backend = open_mlx(source.mlx_dir, weights, bits, source.prompt_format)
    try:
        return backend.weights()
    finally:
        backend.close()


def _open_f32(weights_of, source, prompter):
    from edgeunlearn.backends.llamacpp_backend import LlamaCppBackend
    from edgeunlearn.export import export_gguf

    folder = Path(tempfile.mkdtemp(prefix="edgeunlearn-f32-"))
    try:
        path = export_gguf(weights_of(), source.mlx_dir, folder / "model-F32.gguf", source.gguf, "F32")
        return LlamaCppBackend(path, prompter.tokenizer, prompt_format=prompter.format, delete_after=folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


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
    order: the MLX model at full precision (when `mlx_backend` is given, with `source` its ModelSource), the F16
    GGUF, each llama.cpp type quantized from it under `out_dir`, then each MLX affine grid of `source` (with
    `weights`, e.g. fused)."""
    specs = [fp32_spec(role, mlx_backend, source, prompter, weights)] if mlx_backend is not None else []
    specs.append(gguf_spec(f"{role} F16", role, f16, prompter, "F16"))
    specs += quantized_specs(role, f16, types, out_dir, prompter, progress, grid_source)
    return specs + (mlx_specs(role, source, bits, prompter, weights) if bits else [])
