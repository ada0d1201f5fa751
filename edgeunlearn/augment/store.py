"""Augmented data on disk: a JSONL people can read and edit, cached by the hash of what made it."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from edgeunlearn.augment.build import Augmented, Generate, Record, augment
from edgeunlearn.augment.leaks import forbidden_terms, leaks
from edgeunlearn.augment.templates import KINDS
from edgeunlearn.config import AugmentConfig
from edgeunlearn.data import QAItem, load_items
from edgeunlearn.errors import UserError
from edgeunlearn.models.resolve import cache_root

FORMAT_VERSION = 4  # bump when templates, prompts or checks change: old cache entries stop matching


def check_config(cfg: AugmentConfig) -> None:
    unknown = [k for k in cfg.kinds if k not in KINDS]
    if unknown:
        raise UserError(f"unknown augment kind {unknown[0]!r}: use {', '.join(KINDS)}")
    if cfg.per_kind < 1 or cfg.attempts < 0 or cfg.max_new_tokens < 8:
        raise UserError("augment needs per_kind ≥ 1, attempts ≥ 0 and max_new_tokens ≥ 8: fix the recipe")


def cache_key(items: Sequence[QAItem], cfg: AugmentConfig, seed: int, generator_id: str) -> str:
    spec = {
        "items": [(i.question, i.answer, i.keywords, i.extra.get("prompt")) for i in items],
        "config": {k: v for k, v in asdict(cfg).items() if k != "data"},
        "seed": seed,
        "generator": generator_id,
        "version": FORMAT_VERSION,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def obtain(
    items: Sequence[QAItem], cfg: AugmentConfig, seed: int, generator_id: str, generate: Generate | None
) -> tuple[Augmented, Path]:
    """The augmented data: the user's file (cfg.data), else the cache, else generated and cached."""
    if cfg.data:
        return load_augmented(Path(cfg.data), items), Path(cfg.data)
    path = cache_root() / "augment" / f"{cache_key(items, cfg, seed, generator_id)}.jsonl"
    if path.exists():
        return load_augmented(path, items), path
    result = augment(items, cfg, seed, generate)
    require_usable(result)
    write_jsonl(result, path)
    write_summary(result, path.with_suffix(".json"))
    return result, path


def require_usable(result: Augmented) -> None:
    if not result.records:
        reasons = sorted({d["reason"] for d in result.dropped})[:2]
        raise UserError(
            f"augmentation produced no usable items ({len(result.dropped)} dropped: {'; '.join(reasons)}): "
            "give more specific keywords, or write vague answers yourself and pass them as augment.data"
        )


def write_jsonl(result: Augmented, path: Path) -> Path:
    lines = "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in result.records)
    return _atomic_write(path, lines)


def write_summary(result: Augmented, path: Path) -> Path:
    return _atomic_write(path, json.dumps({**result.counts(), "dropped_items": result.dropped}, indent=2) + "\n")


def load_augmented(path: Path, forget: Sequence[QAItem]) -> Augmented:
    """Read augmented data (ours or the user's) and refuse any answer that carries a forget fact."""
    terms = sorted({t for item in forget for t in forbidden_terms(item)}, key=str.casefold)
    records = []
    for number, item in enumerate(load_items(path, "augmented"), start=1):
        found = leaks(item.answer, terms)
        if found:
            raise UserError(
                f"augmented file {path} item {number} answer leaks {found[0]!r} from the forget set: "
                "rewrite or delete that answer"
            )
        records.append(_record(item, len(forget)))
    return Augmented(records, [])


def _record(item: QAItem, n_forget: int) -> Record:
    extra = item.extra
    of = extra.get("of")
    of = of if isinstance(of, int) and 1 <= of <= n_forget else 0  # 0: not tied to one forget item
    return Record(
        of,
        str(extra.get("kind") or "given"),
        item.question,
        item.answer,
        str(extra.get("question_source") or "user"),
        str(extra.get("answer_source") or "user"),
        prompt=extra["prompt"] if isinstance(extra.get("prompt"), str) else "",
    )


def _atomic_write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return path
