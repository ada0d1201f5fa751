"""ggml's own quantizers, called through ctypes, as the reference the fake quantizers must reproduce.

`ggml_quantize_chunk` without an importance matrix runs the same `quantize_row_*_ref` code that
`llama_model_quantize` runs on a tensor, and `dequantize_row_*` is what llama.cpp reads back. Both live in
the libggml-base the llama-cpp-python wheel bundles; there is no public Python wrapper, hence ctypes.
"""

from __future__ import annotations

import ctypes
from functools import cache
from pathlib import Path

import numpy as np


@cache
def _lib() -> ctypes.CDLL:
    import llama_cpp

    folder = Path(llama_cpp.__file__).parent / "lib"
    found = sorted(folder.glob("libggml-base.*")) or sorted(folder.glob("libggml*"))
    if not found:
        raise RuntimeError(f"no libggml-base in {folder}")
    lib = ctypes.CDLL(str(found[0]))
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [
        ctypes.c_int,  # enum ggml_type
        ctypes.c_void_p,  # const float * src
        ctypes.c_void_p,  # void * dst
        ctypes.c_int64,  # start
        ctypes.c_int64,  # nrows
        ctypes.c_int64,  # n_per_row
        ctypes.c_void_p,  # const float * imatrix (NULL: the reference quantizers)
    ]
    lib.ggml_row_size.restype = ctypes.c_size_t
    lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
    return lib


def _type_id(ggml_type: str) -> int:
    import gguf  # GGUF tensor types are ggml's enum values

    return int(gguf.GGMLQuantizationType[ggml_type])


def _to_float(ggml_type: str):
    """ggml's row dequantizer for the type: (const void *, float *, int64 k)."""
    name = {"F16": "ggml_fp16_to_fp32_row", "BF16": "ggml_bf16_to_fp32_row"}.get(ggml_type)
    fn = getattr(_lib(), name or f"dequantize_row_{ggml_type.lower().replace('_k', '_K')}")
    fn.restype = None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    return fn


def ggml_quantize(x: np.ndarray, ggml_type: str) -> bytes:
    """The bytes ggml writes for the fp32 matrix `x` (rows along the last axis)."""
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, x.shape[-1])  # (rows, n)
    lib, tid = _lib(), _type_id(ggml_type)
    out = np.zeros(lib.ggml_row_size(tid, x.shape[1]) * x.shape[0], dtype=np.uint8)
    lib.ggml_quantize_chunk(tid, x.ctypes.data, out.ctypes.data, 0, x.shape[0], x.shape[1], None)
    return out.tobytes()


def ggml_dequantize(data: bytes, ggml_type: str, shape: tuple[int, ...]) -> np.ndarray:
    buf = np.frombuffer(data, dtype=np.uint8).copy()
    out = np.empty(int(np.prod(shape)), dtype=np.float32)
    _to_float(ggml_type)(buf.ctypes.data, out.ctypes.data, out.size)
    return out.reshape(shape)


def ggml_roundtrip(w: np.ndarray, ggml_type: str) -> np.ndarray:
    """`w` as llama.cpp computes with it: fp16 (the F16 GGUF) → ggml quantize → dequantize.
    F32 is the identity (an F32 export is not rounded)."""
    w = np.asarray(w, dtype=np.float32)
    if ggml_type == "F32":
        return w.copy()
    x = w.astype(np.float16).astype(np.float32)
    return ggml_dequantize(ggml_quantize(x, ggml_type), ggml_type, w.shape)
