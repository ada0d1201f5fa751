"""`edgeunlearn report RUN_DIR`: the self-contained HTML report of a run, compare or check folder."""

from __future__ import annotations

from pathlib import Path

import typer

from edgeunlearn.cli import common as c
from edgeunlearn.cli.ui import console


def report(
    run_dir: Path = typer.Argument(..., help="folder written by run, demo, compare or check"),
    out: c.OptPath = typer.Option(None, "--out", help="HTML file to write (default: RUN_DIR/report.html)"),
    redact: bool = typer.Option(False, "--redact", help="replace every question and answer with an id"),
) -> None:
    """Write one offline HTML file: plots per quantization type, figures per variant, every answer."""
    from edgeunlearn.report import write_report

    path = write_report(run_dir, out, redact)
    console.print(f"[green]report[/] → {path}" + ("  (item texts redacted)" if redact else ""))


def register(app: typer.Typer) -> None:
    app.command("report")(c.reports_errors(report))
