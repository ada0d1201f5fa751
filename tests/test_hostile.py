"""Hostile input never ends in a traceback: random bytes, files cut short at every section of a real GGUF,
JSON of the wrong shape. Each is refused by a one-line UserError (exit 2 through the CLI), nothing written."""

from __future__ import annotations

import json
import random

import pytest
from conftest import assert_user_error
from typer.testing import CliRunner

from edgeunlearn.cli.app import app
from edgeunlearn.data import load_items
from edgeunlearn.errors import UserError
from edgeunlearn.models.gguf_check import check_gguf


@pytest.fixture(scope="module")
def tiny_gguf(tiny_model, tmp_path_factory):
    from edgeunlearn.backends.mlx_backend import MLXBackend
    from edgeunlearn.export import export_gguf

    path = tmp_path_factory.mktemp("hostile") / "tiny-F16.gguf"
    return export_gguf(MLXBackend(tiny_model).weights(), tiny_model, path, None)


def _section_cuts(path) -> dict[str, int]:
    """Lengths to cut the file at: inside the header, the metadata, the tensor table and the tensor data."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    fields = list(reader.fields.values())
    kv_start, table_start = fields[0].offset, reader.tensors[0].field.offset
    data_start, size = reader.tensors[0].data_offset, path.stat().st_size
    return {
        "empty": 0,
        "magic": 2,
        "version": 6,
        "counts": 16,
        "metadata start": kv_start + 3,
        "metadata middle": (kv_start + table_start) // 2,
        "tensor table": table_start + 5,
        "tensor table end": data_start - 1,
        "data start": data_start + 1,
        "data middle": (data_start + size) // 2,
        "last byte": size - 1,
    }


def test_a_gguf_cut_short_anywhere_is_refused_in_python(tiny_gguf, tmp_path):
    data = tiny_gguf.read_bytes()
    check_gguf(tiny_gguf)  # the whole file passes
    cuts = _section_cuts(tiny_gguf)
    for section, length in cuts.items():
        cut = tmp_path / f"cut-{length}.gguf"
        cut.write_bytes(data[:length])
        with pytest.raises(UserError, match="truncated|not a GGUF|holds no tensors") as refused:
            check_gguf(cut)
        assert "\n" not in str(refused.value), section
    assert len(cuts) == 11


def test_random_bytes_are_refused_by_every_loader(tmp_path):
    rng = random.Random(0)
    refused = 0
    for n in range(30):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        for suffix in (".gguf", ".jsonl", ".json", ".csv"):
            path = tmp_path / f"r{n}{suffix}"
            path.write_bytes(blob)
            with pytest.raises(UserError) as error:
                check_gguf(path) if suffix == ".gguf" else load_items(path, "forget")
            assert "\n" not in str(error.value)
            refused += 1
    assert refused == 120


WRONG_ROWS = [
    ["a", "b"],
    {"question": 1, "answer": "x"},
    {"question": "q", "answer": None},
    {"question": "q", "answer": "a", "keywords": 5},
    {"question": "q", "answer": "a", "keywords": [1, 2]},
    {"question": ["q"], "answer": "a"},
    "just text",
    42,
]


def test_json_of_the_wrong_shape_is_refused(tmp_path):
    for n, row in enumerate(WRONG_ROWS):
        jsonl = tmp_path / f"w{n}.jsonl"
        jsonl.write_text(json.dumps(row) + "\n")
        with pytest.raises(UserError):
            load_items(jsonl, "forget")
    (tmp_path / "latin1.jsonl").write_bytes('{"question": "Qué?", "answer": "Sí."}\n'.encode("latin-1"))
    with pytest.raises(UserError, match="is not UTF-8 text .* save it as UTF-8"):
        load_items(tmp_path / "latin1.jsonl", "forget")


@pytest.mark.parametrize("command", ["check", "check-base", "export", "quantize"])
def test_commands_refuse_a_truncated_gguf_before_llama_cpp_sees_it(tiny_gguf, tmp_path, command):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_gguf.read_bytes()[: _section_cuts(tiny_gguf)["data middle"]])
    out = tmp_path / "out"
    args = {
        "check": ["check", "--model", cut, "--forget", "demo:forget", "--out", out],
        "check-base": ["check", "--model", tiny_gguf, "--base", cut, "--forget", "demo:forget", "--out", out],
        "export": ["export", "--model", cut, "--out", out],
        "quantize": ["quantize", "--model", cut, "--types", "Q8_0", "--out", out],
    }[command]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert_user_error(result, "is truncated", out)


def test_a_file_that_is_not_utf8_is_refused_by_the_cli(tmp_path, tiny_gguf):
    bad = tmp_path / "forget.jsonl"
    bad.write_bytes(b'{"question": "caf\xe9?", "answer": "x"}\n')  # é in Latin-1 at byte 17
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["check", "--model", str(tiny_gguf), "--forget", str(bad), "--out", str(out)])
    assert_user_error(result, "is not UTF-8 text (byte 17)", out)
