"""A run folder read back for the report: a `run`/`demo`, a `compare` (one results.json per method) or a
`check`. Every kind becomes the same shape: the base's variants plus one group of variants per model."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from edgeunlearn.errors import UserError

SETS = ("forget", "retain")


@dataclass
class Group:
    label: str  # the method (run, compare) or "checked model"
    variants: list[dict]  # rows of results.json


@dataclass
class ReportData:
    folder: Path
    kind: str  # run, compare or check
    manifest: dict
    base: list[dict]
    groups: list[Group]
    judge: dict = field(default_factory=dict)
    reference: dict = field(default_factory=dict)
    rounds: list[dict] = field(default_factory=list)  # Reveal-and-Release: one row per round
    verdicts: list[tuple[str, str]] = field(default_factory=list)  # (model label, one line per quantized type)
    retain_checked: str | None = None  # which retain items the check scored

    def all_variants(self) -> list[tuple[str, dict]]:
        return [("base", v) for v in self.base] + [(g.label, v) for g in self.groups for v in g.variants]


def load_run(folder: Path) -> ReportData:
    folder = Path(folder)
    if (folder / "compare.json").is_file():
        return _compare(folder)
    if (folder / "results.json").is_file():
        return _single(folder)
    raise UserError(
        f"{folder} holds no results.json or compare.json: give a folder `run`, `demo`, `compare` or `check` wrote"
    )


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} is unreadable ({exc}): re-run the command that wrote it") from exc


def _manifest(folder: Path) -> dict:
    return _read(folder / "manifest.json") if (folder / "manifest.json").exists() else {}


def _single(folder: Path) -> ReportData:
    summary = _read(folder / "results.json")
    manifest = _manifest(folder)
    label = summary.get("label") or summary.get("training", {}).get("method") or "checked model"
    base = [v for v in summary["variants"] if v["model"] == "base"]
    own = [v for v in summary["variants"] if v["model"] != "base"]
    kind = manifest.get("command", "run")
    judge, reference, rounds = summary.get("judge", {}), summary.get("reference", {}), summary.get("rounds", [])
    verdicts = [(label, v["line"]) for v in summary.get("verdicts", [])]
    retain_checked = summary.get("retain_checked")
    groups = [Group(label, own)]
    return ReportData(folder, kind, manifest, base, groups, judge, reference, rounds, verdicts, retain_checked)


def _compare(folder: Path) -> ReportData:
    comparison = _read(folder / "compare.json")
    manifest = _manifest(folder)
    groups, base, verdicts = [], [], []
    for row in comparison["methods"]:
        summary = _read(folder / row["label"] / "results.json")
        base = base or [v for v in summary["variants"] if v["model"] == "base"]
        groups.append(Group(row["label"], [v for v in summary["variants"] if v["model"] != "base"]))
        verdicts += [(row["label"], v["line"]) for v in summary.get("verdicts", [])]
    judge, reference = comparison.get("judge", {}), comparison.get("reference", {})
    retain_checked = comparison.get("retain_checked")
    return ReportData(
        folder, "compare", manifest, base, groups, judge, reference, verdicts=verdicts, retain_checked=retain_checked
    )
