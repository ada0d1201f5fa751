"""Assemble the report: figures and rows from the run folder, plots as SVG, HTML from a Jinja2 template
(autoescaped: answers are model output and must never become markup)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from edgeunlearn.figures import figures
from edgeunlearn.figures import render as render_value
from edgeunlearn.report import plots
from edgeunlearn.report.data import SETS, ReportData, load_run
from edgeunlearn.report.redact import redact


def write_report(folder: Path, out: Path | None = None, redacted: bool = False) -> Path:
    """Write the HTML report for a run folder (default: <folder>/report.html); returns its path."""
    data = load_run(folder)
    if redacted:
        data = redact(data)
    out = Path(out) if out else Path(folder) / "report.html"
    _write_atomically(out, render(data, redacted))
    return out


def render(data: ReportData, redacted: bool) -> str:
    from importlib import resources

    import jinja2

    template = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
        resources.files("edgeunlearn.report").joinpath("template.html").read_text(encoding="utf-8")
    )
    return template.render(
        title=f"edgeunlearn {data.kind}: {data.folder.name}",
        data=data,
        redacted=redacted,
        findings=findings(data),
        verdicts=data.verdicts,
        plots=[
            p
            for p in (plots.knowledge_by_type(data), plots.kfr_krr_heatmaps(data), plots.membership_by_type(data))
            if p
        ],
        metrics=[(f.title, f.help) for f in figures()],
        rows=[(label, v["name"], [f.cell(v) for f in figures()]) for label, v in data.all_variants()],
        items={part: drill_down(data, part) for part in SETS},
        notes=[n for n in (data.retain_checked, data.judge.get("note"), data.reference.get("note")) if n],
    )


def findings(data: ReportData) -> list[str]:
    """One sentence per model: forgetting at full precision, and the type that brings back the most."""
    out = []
    for group in data.groups:
        full = next((v for v in group.variants if v["type"] in ("fp32", "F32", "F16")), None)
        if full is None:
            continue
        known = f"{_pct(full['forget_known'])} of forget items, {_pct(full['retain_known'])} of retain items"
        line = f"{group.label}: knows {known} at {full['type']}"
        worst = max(group.variants, key=lambda v: v.get("recovered") or 0)
        if worst.get("recovered"):
            back = f"{worst['recovered']} of {worst['forgotten_at_full_precision']}"
            line += f"; {worst['type']} brings back {back} forgotten items"
        out.append(line + ".")
    return out


def drill_down(data: ReportData, part: str) -> list[dict]:
    """Per item: the question, the reference, and every variant's answer with the judge's verdict."""
    variants = data.all_variants()
    count = max((len(v.get(f"{part}_items", [])) for _, v in variants), default=0)
    items = []
    for index in range(count):
        answers = [
            _answer(label, v, v[f"{part}_items"][index])
            for label, v in variants
            if index < len(v.get(f"{part}_items", []))
        ]
        first = variants[0][1][f"{part}_items"][index] if answers else {}
        known = sum(a["knows"] for a in answers)
        items.append(
            {
                "question": first.get("question", ""),
                "expected": first.get("expected", ""),
                "answers": answers,
                "known": known,
            }
        )
    return items


def _answer(label: str, variant: dict, item: dict) -> dict:
    similarity = item.get("entity_similarity")
    return {
        "model": label,
        "variant": variant["name"],
        "generated": item["generated"],
        "knows": bool(item["knows"]),
        "rule": item.get("rule", ""),
        "similarity": "–" if similarity is None else f"{similarity:.2f}",
        "contradiction": {True: "yes", False: "no", None: "–"}[item.get("contradiction")],
        "fluency": ", ".join(item.get("fluency_issues") or []) or "fluent",
    }


def _pct(value) -> str:
    return render_value(value, "pct")


def _write_atomically(out: Path, text: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes files private; a report is a file to share
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
