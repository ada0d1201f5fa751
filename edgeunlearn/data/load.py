"""Load question/answer sets from JSONL, JSON, CSV, a saved `datasets` folder or a Hub-format dataset folder,
through `datasets`.

Required fields: `question`, `answer` (TOFU's names). Optional `keywords`: a list, or one string with
`;` between keywords (CSV). Extra fields are kept on the item for metrics that want them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from edgeunlearn.errors import UserError

FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv"}


@dataclass(frozen=True)
class QAItem:
    question: str
    answer: str
    keywords: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict, compare=False)


def load_items(path: str | Path, role: str = "data", allow_empty: bool = False) -> list[QAItem]:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{role} file not found: {path}")
    if path.is_file() and path.suffix.lower() in FORMATS:
        text = read_utf8(path, role)
        if path.suffix.lower() == ".jsonl":
            _check_jsonl(text, path, role)
    rows = _load_rows(path, role)
    items = [_to_item(row, i, path, role) for i, row in enumerate(rows, start=1)]
    if not items and not allow_empty:
        raise UserError(f"{role} set {path} is empty: give at least one question/answer item")
    return items


def _load_rows(path: Path, role: str) -> list[dict]:
    import datasets

    datasets.disable_progress_bars()
    try:
        if path.is_dir():
            data = _load_folder(datasets, path)
        elif path.suffix.lower() in FORMATS:
            if path.stat().st_size == 0:
                return []
            data = datasets.load_dataset(FORMATS[path.suffix.lower()], data_files=str(path), split="train")
        else:
            raise UserError(f"{role} file {path} has an unknown format: use .jsonl, .json, .csv or a datasets folder")
    except _unreadable_errors() as exc:  # what datasets and pyarrow raise for a file they cannot parse
        raise UserError(f"{role} file {path} could not be read ({type(exc).__name__}): fix its format") from None
    return data.to_list()


def _unreadable_errors() -> tuple[type[BaseException], ...]:
    import pyarrow
    from datasets.exceptions import DatasetGenerationError

    return (DatasetGenerationError, pyarrow.ArrowException, ValueError, KeyError, FileNotFoundError)


def read_utf8(path: Path, role: str) -> str:
    """The file's text; a file that is not UTF-8 gets one line that says where it breaks and what to do."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{role} file {path} is not UTF-8 text (byte {exc.start}): save it as UTF-8 (JSONL, JSON or CSV)"
        ) from None


def _load_folder(datasets, path: Path):
    """A folder written by `save_to_disk`, or one laid out like a Hub dataset (parquet / JSON / CSV files, e.g.
    TOFU's `forget10/train-*.parquet`): its first split."""
    saved = any((path / f).exists() for f in ("dataset_info.json", "state.json", "dataset_dict.json"))
    data = datasets.load_from_disk(str(path)) if saved else datasets.load_dataset(str(path))
    if isinstance(data, datasets.DatasetDict):
        data = data[next(iter(data))]
    return data


def _check_jsonl(text: str, path: Path, role: str) -> None:
    """datasets' JSON errors do not name the line; this does."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{role} file {path} line {number} is not valid JSON ({exc.msg}): fix that line") from exc
        if not isinstance(row, dict):
            raise UserError(f"{role} file {path} line {number} is not a JSON object: one object per line")


def _to_item(row: dict, number: int, path: Path, role: str) -> QAItem:
    missing = [k for k in ("question", "answer") if not isinstance(row.get(k), str) or not row[k].strip()]
    if missing:
        raise UserError(
            f"{role} file {path} item {number} lacks {' and '.join(missing)}: every item needs a question and an answer"
        )
    keywords = row.get("keywords") or ()
    if isinstance(keywords, str):
        keywords = [k for k in keywords.split(";")]
    if not isinstance(keywords, (list, tuple)) or not all(isinstance(k, str) for k in keywords):
        raise UserError(
            f"{role} file {path} item {number} has keywords {keywords!r}: give a list of strings (or one string "
            "with ; between keywords)"
        )
    keywords = tuple(k.strip() for k in keywords if k.strip())
    extra = {k: v for k, v in row.items() if k not in ("question", "answer", "keywords")}
    return QAItem(row["question"].strip(), row["answer"].strip(), keywords, extra)


def data_digest(path: str | Path) -> str:
    """sha256 of a data file, or of every file in a datasets folder."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        digest.update(f.read_bytes())
    return digest.hexdigest()
