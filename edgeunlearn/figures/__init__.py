"""Every figure a check reports, defined once: its key, where its value sits in a results.json variant row
(or how it is computed from the checked answers), what it needs, headers, help text and format. The terminal
tables, `compare`, the report and results.json all read this registry, so a new figure is one file in this
package (see `fluency.py`): define a `Figure` with a `compute` and register it; the package loads every module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edgeunlearn.registry import Registry


@dataclass(frozen=True)
class Figure:
    key: str  # results.json key of the value (compare.json cells use the same key)
    header: str  # short column header (terminal)
    title: str  # the report's column header
    help: str  # one line: what it means and which set it reads
    path: tuple[str, ...]  # where the value sits in a variant row: a key, then nested keys
    fmt: str  # pct, p (a p-value), or a number of decimals ("2", "3")
    needs: str = ""  # what else it needs to be computed: "", "holdout", "retain model", "TOFU fields"
    terminal: bool = True  # a column of the terminal's evaluation table
    compute: Callable | None = None  # VariantResult → value, for figures not computed elsewhere

    def value(self, row: dict):
        value = row
        for key in self.path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def cell(self, row: dict) -> str:
        return render(self.value(row), self.fmt)


def render(value, fmt: str) -> str:
    if value is None:
        return "–"
    if fmt == "pct":
        return f"{100 * value:.0f}%"
    if fmt == "p":
        return f"{value:.2f}" if value >= 0.01 else f"{value:.0e}"
    return f"{value:.{int(fmt)}f}"


FIGURES: Registry[Figure] = Registry("figure")
ORDER: list[str] = []  # registration order: the order of the columns


def register(figure: Figure) -> Figure:
    FIGURES.register(figure.key, figure)
    ORDER.append(figure.key)
    return figure


def figures() -> list[Figure]:
    _load()
    return [FIGURES.get(key) for key in ORDER]


def computed(result) -> dict:
    """The figures a VariantResult gets from the registry's own `compute` functions."""
    return {f.key: f.compute(result) for f in figures() if f.compute is not None}


def _load() -> None:
    """Import every module of this package once: each registers its figures (core first: column order)."""
    import importlib
    import pkgutil

    global _loaded
    if _loaded:
        return
    names = sorted(m.name for m in pkgutil.iter_modules(__path__))
    for name in ["core", *(n for n in names if n != "core")]:
        importlib.import_module(f"{__name__}.{name}")
    _loaded = True


_loaded = False
