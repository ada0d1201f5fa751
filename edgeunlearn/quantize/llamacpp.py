"""GGUF quantization through `llama_cpp.llama_model_quantize`, and reading back what a file really holds.

llama.cpp silently falls back from K-quants on tensors whose rows are not a multiple of 256, so the
name asked for is not what the file holds: `tensor_types` reads every file back.
"""

from __future__ import annotations

import ctypes
import os
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from edgeunlearn.errors import RunError, UserError

# types llama.cpp refuses (or aborts on) without an importance matrix
NEEDS_IMATRIX = frozenset({"IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_S", "IQ1_M"})
_PREFIX = "LLAMA_FTYPE_MOSTLY_"


def known_types() -> list[str]:
    import llama_cpp

    return sorted(n.removeprefix(_PREFIX) for n in dir(llama_cpp) if n.startswith(_PREFIX))


def validate_types(types: list[str]) -> list[str]:
    """Upper-cased types, or a UserError naming the bad one, the imatrix ones, and the valid ones."""
    valid = set(known_types())
    out = []
    for name in types:
        upper = name.strip().upper()
        if upper in NEEDS_IMATRIX:
            raise UserError(
                f"quant type {upper} needs an importance matrix, which edgeunlearn does not build yet: "
                "drop it from --types"
            )
        if upper not in valid:
            raise UserError(f"unknown quant type {name!r}: choose from {', '.join(sorted(valid - NEEDS_IMATRIX))}")
        out.append(upper)
    return list(dict.fromkeys(out))


def quantize_gguf(src: Path, dst: Path, type_name: str, threads: int | None = None) -> Path:
    """Quantize `src` to `dst` (written to a temp name, renamed on success)."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, _PREFIX + type_name)
    params.nthread = threads or os.cpu_count() or 1
    params.allow_requantize = True  # a user's GGUF may already be quantized; llama.cpp warns, we record types
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    try:
        with quiet_stderr():  # llama.cpp writes one warning line per fallback tensor
            status = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
        if status != 0:
            raise RunError(f"llama.cpp could not quantize {src.name} to {type_name} (status {status})")
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def tensor_types(path: Path) -> dict[str, int]:
    """How many tensors of each type the file holds, e.g. {'Q5_0': 180, 'Q4_K': 30, 'F32': 61}."""
    from edgeunlearn.models.gguf_header import tensor_table

    return dict(Counter(t.type_name for t in tensor_table(path)).most_common())


def grid_match(path: Path, source: Path) -> float:
    """Share of `source`'s tensors that `path` holds byte for byte with the same type: 1.0 means
    re-quantizing to this type reproduces the source file's weights exactly (the same grid)."""
    import numpy as np

    from edgeunlearn.models.gguf_header import tensor_table

    ours = {t.name: t for t in tensor_table(path)}
    theirs = tensor_table(source)
    our_bytes = np.memmap(path, dtype=np.uint8, mode="r")
    their_bytes = np.memmap(source, dtype=np.uint8, mode="r")

    def same(t) -> bool:
        o = ours.get(t.name)
        if o is None or o.type_name != t.type_name or o.n_bytes != t.n_bytes:
            return False
        return np.array_equal(our_bytes[o.offset : o.offset + o.n_bytes], their_bytes[t.offset : t.offset + t.n_bytes])

    return sum(same(t) for t in theirs) / max(len(theirs), 1)


@contextmanager
def quiet_stderr():
    """Silence C-level writes to stderr (fd 2) for the duration."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)
