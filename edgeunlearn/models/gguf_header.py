"""A GGUF file's tensor table, read without parsing its metadata values.

`gguf.GGUFReader` decodes every metadata value, the tokenizer's tens of thousands of strings included: about 2 s
per SmolLM2 file and 10 s per Gemma 3 file, paid for every quantized variant the check describes. Listing
the tensors (name, type, where the bytes are) needs only the layout, which this reads by skipping the values;
sizes and type names come from the `gguf` package's own tables.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# fixed sizes of GGUF metadata value types (GGUFValueType); 8 is a string, 9 an array
SCALAR_BYTES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
STRING, ARRAY = 8, 9
DEFAULT_ALIGNMENT = 32


@dataclass(frozen=True)
class TensorEntry:
    name: str
    type_name: str  # ggml type, e.g. "Q4_K"
    offset: int  # absolute byte offset of the tensor's data in the file
    n_bytes: int


def tensor_table(path: Path) -> tuple[TensorEntry, ...]:
    """Every tensor of a GGUF file, in file order (cached per file version)."""
    stat = Path(path).stat()
    return _table(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _table(path: str, size: int, mtime_ns: int) -> tuple[TensorEntry, ...]:
    import gguf

    with open(path, "rb") as f:
        reader = _Cursor(f)
        if f.read(4) != b"GGUF":
            raise ValueError("not a GGUF file")
        reader.u32()  # version
        n_tensors, n_kv = reader.u64(), reader.u64()
        alignment = DEFAULT_ALIGNMENT
        for _ in range(n_kv):
            key = reader.string()
            kind = reader.u32()
            if key == "general.alignment" and kind == 4:
                alignment = reader.u32()
            else:
                reader.skip_value(kind)
        infos = []
        for _ in range(n_tensors):
            name = reader.string()
            dims = [reader.u64() for _ in range(reader.u32())]
            infos.append((name, dims, reader.u32(), reader.u64()))
        data_start = -(-f.tell() // alignment) * alignment
    entries = []
    for name, dims, type_id, offset in infos:
        qtype = gguf.GGMLQuantizationType(type_id)
        block, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
        count = 1
        for d in dims:
            count *= d
        entries.append(TensorEntry(name, qtype.name, data_start + offset, count // block * block_bytes))
    return tuple(entries)


class _Cursor:
    def __init__(self, f):
        self.f = f

    def u32(self) -> int:
        return struct.unpack("<I", self.f.read(4))[0]

    def u64(self) -> int:
        return struct.unpack("<Q", self.f.read(8))[0]

    def string(self) -> str:
        return self.f.read(self.u64()).decode("utf-8", errors="replace")

    def skip_value(self, kind: int) -> None:
        if kind == STRING:
            self.f.seek(self.u64(), 1)
        elif kind == ARRAY:
            inner, count = self.u32(), self.u64()
            if inner in SCALAR_BYTES:
                self.f.seek(SCALAR_BYTES[inner] * count, 1)
            else:
                for _ in range(count):
                    self.skip_value(inner)
        else:
            self.f.seek(SCALAR_BYTES[kind], 1)
