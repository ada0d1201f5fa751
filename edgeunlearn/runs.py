"""Run folders: built under a temporary name and renamed into place only when the run succeeds,
so a failed or interrupted run leaves nothing half-written at `--out`."""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from edgeunlearn.errors import UserError

PACKAGES = (
    "edgeunlearn",
    "mlx",
    "mlx-lm",
    "gguf",
    "llama-cpp-python",
    "numpy",
    "datasets",
    "transformers",
    "tokenizers",
    "rouge-score",
    "typer",
    "rich",
)


def default_out(prefix: str) -> Path:
    return Path("runs") / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_out_free(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"output {out} already exists: choose another --out or remove it")


def unfinished_folder(out: Path) -> Path:
    """Where a resumable command (compare) keeps its work until it finishes: beside `out`, one per `out`."""
    return Path(out).parent / f".{Path(out).name}.unfinished"


@contextmanager
def run_folder(out: Path, resumable: bool = False, resume: bool = False):
    """Yield a temporary folder beside `out`; rename it to `out` on success. On failure it is deleted — unless
    the command is `resumable`: then it stays (`unfinished_folder`) for `resume` to continue."""
    out = Path(out)
    check_out_free(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _start(out, resumable, resume)
    try:
        yield tmp
    except BaseException:
        if not resumable:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        out.rmdir()  # empty, checked above
    os.replace(tmp, out)
    retarget_paths(out, tmp)


def _start(out: Path, resumable: bool, resume: bool) -> Path:
    if not resumable:
        tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        return tmp
    tmp = unfinished_folder(out)
    if resume and not tmp.is_dir():
        raise UserError(f"nothing to resume for {out}: no unfinished run at {tmp}; run without --resume")
    if not resume and tmp.exists():
        raise UserError(f"an interrupted run for {out} is at {tmp}: add --resume to continue it, or delete that folder")
    tmp.mkdir(exist_ok=True)
    return tmp


def config_hash(value) -> str:
    """A short digest of a JSON-able config: a resumed part is reused only under the very same settings."""
    import hashlib

    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


RECORD_SUFFIXES = (".json", ".txt", ".html")


def retarget_paths(out: Path, tmp: Path) -> None:
    """Paths recorded while the run was built name the temporary folder: make them name `out`, where the
    files now are. Each record is rewritten whole and renamed into place."""
    pairs = [(str(tmp.resolve()), str(out.resolve())), (str(tmp), str(out))]
    for path in out.rglob("*"):
        if path.suffix not in RECORD_SUFFIXES or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        fixed = text
        for old, new in pairs:
            fixed = fixed.replace(old, new)
        if fixed != text:
            part = path.with_name(f".{path.name}.retarget")
            part.write_text(fixed, encoding="utf-8", errors="surrogateescape")
            os.replace(part, path)


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def write_manifest(folder: Path, command: str, config: dict, data: dict[str, str], seed: int | None, **extra) -> None:
    """config.json (resolved settings) and manifest.json (data hashes, versions, seed, machine)."""
    from edgeunlearn.blas import status

    (folder / "config.json").write_text(json.dumps(config, indent=2, default=str))
    manifest = {
        "command": command,
        "seed": seed,
        "data_sha256": data,
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "blas": status()[0],
        **extra,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))


def write_json(path: Path, value) -> None:
    Path(path).write_text(json.dumps(value, indent=2, default=str))
