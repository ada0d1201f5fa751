"""All Rich output: progress for long stages, one line per checked variant, the results table."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichBar
from rich.table import Table

from edgeunlearn.training.callbacks import Progress

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


def fail(message: str) -> None:
    errors.print(f"[bold red]error:[/] {message}", soft_wrap=True)


class RichProgress(Progress):
    """Bars for stages with a known length, a printed line otherwise."""

    def __init__(self):
        self.bar: RichBar | None = None
        self.task = None
        self.done = 0
        self.total = 0

    def stage(self, name: str, total: int | None = None) -> None:
        self._close()
        self.done, self.total = 0, total or 0
        if total:
            self.bar = RichBar(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=console,
                disable=not sys.stdout.isatty(),
            )
            self.bar.start()
            self.task = self.bar.add_task(name, total=total, detail="")
        console.print(f"[bold cyan]▸ {name}[/]")

    def advance(self, detail: str = "", **metrics) -> None:
        self.done += 1
        if self.bar is not None and not self.bar.disable:
            self.bar.update(self.task, advance=1, detail=detail)
        elif "step" in metrics and (self.done % 10 == 0 or self.done == self.total):
            console.print(f"  step {self.done}/{self.total}  {detail}")  # logs without a terminal

    def variant(self, result) -> None:
        f, r, g = result.forget, result.retain, result.general
        general = f"   general {sum(i.knows for i in g)}/{len(g)} known" if g else ""
        line = (
            f"  {result.spec.name:<24} forget {sum(i.knows for i in f)}/{len(f)} known"
            f"   retain {sum(i.knows for i in r)}/{len(r)} known{general}   ({result.seconds:.1f} s)"
        )
        console.print(line) if self.bar is None else self.bar.console.print(line)
        self.advance(result.spec.name)

    def note(self, message: str) -> None:
        console.print(f"[yellow]note:[/] {message}")

    def close(self) -> None:
        self._close()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _held(types: dict | None) -> str:
    if not types:
        return "–"
    quantized = {k: v for k, v in types.items() if k not in ("F32",)}
    return " ".join(f"{k}×{v}" for k, v in quantized.items())


COLUMNS = (
    "variant",
    "tensors held",
    "forget known",
    "retain known",
    "general known",
    "forget vs base",
    "retain vs base",
    "recovered",
)
WIDE_TABLE = 150  # below this console width the tensor-type column is left to results.txt


def results_table(summary: dict, with_types: bool = True) -> Table:
    table = Table(title="Knowledge kept per variant (share of items whose greedy answer still has the fact)")
    columns = [c for c in COLUMNS if with_types or c != "tensors held"]
    for column in columns:
        left = column in ("variant", "tensors held")
        table.add_column(column, justify="left" if left else "right", no_wrap=column == "variant")
    for row in summary["variants"]:
        recovered = "–"
        if row.get("forgotten_at_full_precision"):
            recovered = f"{row['recovered']}/{row['forgotten_at_full_precision']} ({_pct(row['recovery_rate'])})"
        cells = {
            "variant": row["name"],
            "tensors held": _held(row.get("tensor_types")),
            "forget known": _pct(row["forget_known"]),
            "retain known": _pct(row["retain_known"]),
            "general known": _pct(row.get("general_known")),
            "forget vs base": _pct(row.get("forget_kept_vs_base")),
            "retain vs base": _pct(row.get("retain_kept_vs_base")),
            "recovered": recovered,
        }
        table.add_row(*(cells[c] for c in columns))
    return table


def shown_figures(summary: dict) -> list:
    """The terminal's figures that some variant has (a quick check has none)."""
    from edgeunlearn.figures import figures

    return [f for f in figures() if f.terminal and any(f.value(row) is not None for row in summary["variants"])]


def metrics_table(summary: dict) -> Table | None:
    shown = shown_figures(summary)
    if not shown:
        return None
    table = Table(title="Evaluation per variant (legend below)", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("variant", no_wrap=True)
    for figure in shown:
        table.add_column(figure.header, justify="right", no_wrap=True)
    for row in summary["variants"]:
        table.add_row(row["name"], *(figure.cell(row) for figure in shown))
    return table


def metric_notes(summary: dict) -> list[str]:
    """The legend, then why a figure is missing: no NLI model, no retain model, data without TOFU fields."""
    shown = shown_figures(summary)
    if not shown:
        return ["quick check: known / recovery only (drop --quick for every figure)"]
    notes = ["; ".join(f"{f.header}: {f.help}" for f in shown)]
    notes += [summary.get(part, {}).get("note") for part in ("judge", "reference")]
    notes.append(next((v["tofu_note"] for v in summary["variants"] if v.get("tofu_note")), None))
    return [note for note in notes if note]


def show_results(summary: dict, folder: Path | None = None) -> None:
    """Print the tables and notes; also save them as results.txt beside results.json."""
    wide = console.width >= WIDE_TABLE
    table = results_table(summary)
    grid = summary.get("grid", {}).get("note")
    console.print(table if wide else results_table(summary, with_types=False))
    if not wide:
        console.print("tensor types each file really holds: results.txt (a wider terminal shows them here)")
    if grid:
        console.print(f"[bold]grid:[/] {grid}")
    lines = verdict_lines(summary)
    for line in lines:
        console.print(f"[bold]{line}[/]" if " come back" in line else line)
    metrics = metrics_table(summary)
    if metrics is not None:
        console.print(metrics)
    for note in metric_notes(summary):
        console.print(f"[dim]{note}[/]")
    if folder is not None:
        recorder = Console(record=True, width=160, file=io.StringIO())
        grid_line = f"grid: {grid}" if grid else None
        for part in (table, grid_line, *lines, metrics_table(summary), *metric_notes(summary)):
            if part is not None:
                recorder.print(part, soft_wrap=isinstance(part, str))
        (Path(folder) / "results.txt").write_text(recorder.export_text())


def verdict_lines(summary: dict) -> list[str]:
    """One line per quantized type: do the forgotten facts stay forgotten there; then which retain set was read;
    then the relearning attack, when it ran."""
    from edgeunlearn.pipeline.relearn_attack import attack_lines

    lines = [v["line"] for v in summary.get("verdicts", [])]
    lines += [summary["retain_checked"]] if summary.get("retain_checked") else []
    return lines + (attack_lines(summary["relearn"]) if summary.get("relearn") else [])


COMPARE_WIDE = 140  # below this console width the comparison prints as three compact tables
COMPARE_TITLES = {
    "both": "Methods compared: forget / retain known (+ forgotten items the type brings back)",
    "cost": "Methods compared: training cost and fluency",
    "forget": "Forget known (+ forgotten items the type brings back)",
    "retain": "Retain known",
    "metrics": "Evaluation: LS, AUC, FQ at full precision; KFR / KRR per type",
}
FULL_PRECISION_FIGURES = ("general_known", "forget_ls", "membership_auc", "forget_quality")  # compare's metrics


def comparison_table(comparison: dict, part: str = "both") -> Table:
    """One row per method. `part`: both (everything), or for narrow terminals cost, forget or retain."""
    from edgeunlearn.figures import FIGURES, figures, render

    figures()  # the registry, loaded
    types = ["fp32", "F16", *comparison["types"]]
    compact = part != "both"
    table = Table(title=COMPARE_TITLES[part], box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD, pad_edge=not compact)
    columns = ["method"] + (["train s", "peak MB", "fluent"] if part in ("both", "cost") else [])
    shown = [FIGURES.get(key) for key in FULL_PRECISION_FIGURES] if part == "metrics" else []
    columns += [f.header for f in shown]
    columns += types if part != "cost" else []
    for column in columns:
        table.add_column(column, justify="left" if column == "method" else "right", no_wrap=True)
    base = {**comparison["base"], "fp32": comparison["base"].get("F16")}  # the base is checked as F16 only
    rows = [("base", None, base)] + [(r["label"], r, r["variants"]) for r in comparison["methods"]]
    for label, row, variants in rows:
        cells = [label]
        if part in ("both", "cost"):
            fluent = variants.get("fp32", {}).get("forget_fluent") if row else None
            cost = [f"{row['train_seconds']:.0f}", f"{row['peak_memory_mb']:.0f}"] if row else ["–", "–"]
            cells += cost + [_pct(fluent)]
        if part == "metrics":
            cells += [render((variants.get("fp32") or {}).get(f.key), f.fmt) for f in shown]
        if part != "cost":
            cells += [_cell(variants.get(t), part, row is not None and t not in ("fp32", "F16")) for t in types]
        table.add_row(*cells)
    return table


def _cell(cell: dict | None, part: str, recovery: bool) -> str:
    if not cell:
        return "–"
    if part == "metrics":
        return f"{_pct(cell.get('kfr'))} / {_pct(cell.get('krr'))}"
    values = {"forget": _pct(cell["forget_known"]), "retain": _pct(cell["retain_known"])}
    text = values[part] if part in values else f"{values['forget']} / {values['retain']}"
    if part != "retain" and recovery and cell.get("recovered") is not None:
        text += f" (+{cell['recovered']})" if part == "both" else f" +{cell['recovered']}"
    return text


def show_comparison(comparison: dict, folder: Path) -> None:
    wide = comparison_table(comparison)
    parts = ["both"] if console.width >= COMPARE_WIDE else ["cost", "forget", "retain"]
    for part in [*parts, "metrics"]:
        console.print(comparison_table(comparison, part))
    from edgeunlearn.figures import FIGURES, figures

    figures()  # the registry, loaded
    explained = [FIGURES.get(key) for key in ("forget_fluent", *FULL_PRECISION_FIGURES)]
    legend = "; ".join(f"{f.header}: {f.help}" for f in explained)
    legend += " (at full precision). Each method's answers: <out>/<method>/results.json"
    notes = [legend, *(comparison.get(k, {}).get("note") for k in ("judge", "reference"))]
    notes += [comparison.get("retain_checked")]
    notes += [f"{row['label']}: {v}" for row in comparison["methods"] for v in row.get("verdicts", [])]
    notes += [f"{row['label']}: {line}" for row in comparison["methods"] for line in _attack(row)]
    for note in filter(None, notes):
        console.print(note, soft_wrap=True)
    recorder = Console(record=True, width=200, file=io.StringIO())
    recorder.print(wide)
    recorder.print(comparison_table(comparison, "metrics"))
    for note in filter(None, notes):
        recorder.print(note, soft_wrap=True)
    (Path(folder) / "compare.txt").write_text(recorder.export_text())


def _attack(row: dict) -> list[str]:
    from edgeunlearn.pipeline.relearn_attack import attack_lines

    return attack_lines(row["relearn"]) if row.get("relearn") else []


def show_base_knowledge(result) -> None:
    """The base model's answers, shown before any unlearning: what there is to forget."""
    table = Table(title=f"What the base model knows ({result.spec.name})")
    for column in ("set", "question", "base answer", "known"):
        table.add_column(column)
    for name, items in (("forget", result.forget), ("retain", result.retain)):
        for item in items:
            table.add_row(name, item.question, item.generated[:70], "yes" if item.knows else "no")
    console.print(table)


def show_reveal(revealed, top: int = 8) -> None:
    """The pulls with the best reward: which instruction, how relevant and diverse its responses were, which
    facts its samples agreed on."""
    table = Table(title="Reveal: best instructions (facts: stated by several samples of the pull)")
    for column in ("instruction", "relevance", "diversity", "facts", "reward"):
        table.add_column(column, justify="left" if column in ("instruction", "facts") else "right")
    for pull in sorted(revealed.pulls, key=lambda p: -p.reward)[:top]:
        facts = ", ".join(pull.facts[:5]) + (" …" if len(pull.facts) > 5 else "")
        table.add_row(pull.instruction, f"{pull.relevance:.2f}", f"{pull.diversity:.2f}", facts, f"{pull.reward:.2f}")
    console.print(table)


def _guard_text(reading: dict | None) -> str:
    """The retain guard's reading: watched retain items and general facts kept, as shares of the base's."""
    if not reading:
        return "–"
    return f"{_pct(reading['retain_kept'])} / {_pct(reading['general_kept'])}"


def show_rounds(rounds: list[dict]) -> None:
    table = Table(title="Reveal-and-Release, per round (round 0: the base model)")
    columns = ("round", "revealed", "facts", "still revealed", "relevance", "diversity", "forget known", "retain known")
    columns += ("guard: watched / general",)
    for column in (*columns, "s", "peak MB"):
        table.add_column(column, justify="right")
    for r in rounds:
        still = r.get("still_revealed")
        table.add_row(
            str(r["round"]),
            str(r["revealed"]),
            str(r.get("facts", 0)) if r["round"] else "–",
            "–" if still is None else f"{still} of {r.get('facts', 0)}",
            f"{r['relevance']:.2f}",
            f"{r['diversity']:.2f}",
            _pct(r["forget_known"]),
            _pct(r["retain_known"]),
            _guard_text(r.get("retain_guard")),
            f"{r['seconds']:.0f}",
            f"{r['peak_memory_mb']:.0f}",
        )
    console.print(table)
    for r in rounds:
        if r.get("fact_examples"):
            still = ", ".join(r.get("still_examples") or []) or "none"
            console.print(
                f"round {r['round']} revealed: {', '.join(r['fact_examples'])} — still revealed after it: {still}"
            )
    stopped = next((r["stopped"] for r in rounds if r.get("stopped")), None)
    if stopped:
        console.print(f"[yellow]stopped:[/] {stopped}")
