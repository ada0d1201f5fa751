"""Refuse a file that is not a whole GGUF before anything reads it: llama.cpp aborts the process on a
truncated file and the `gguf` reader fails deep inside numpy."""

from __future__ import annotations

from pathlib import Path

from edgeunlearn.errors import UserError

MAGIC = b"GGUF"


def check_gguf(path: Path, role: str = "model") -> None:
    """One line naming the problem and the fix when `path` is not a GGUF, or is cut short."""
    import gguf

    with path.open("rb") as f:
        head = f.read(4)
    if head != MAGIC:
        raise UserError(f"{role} file {path} is not a GGUF (it does not start with 'GGUF'): give a .gguf model file")
    size = path.stat().st_size
    try:
        reader = gguf.GGUFReader(str(path))
    except (ValueError, IndexError, KeyError, OSError) as exc:  # the reader's ways of running off the end
        raise UserError(f"{role} file {path} is truncated or damaged ({type(exc).__name__}): copy it again") from None
    ends = [t.data_offset + int(t.n_bytes) for t in reader.tensors]
    if not ends:
        raise UserError(f"{role} file {path} holds no tensors: give a model GGUF")
    if max(ends) > size:
        raise UserError(f"{role} file {path} is truncated ({size} of {max(ends)} bytes): copy it again")
