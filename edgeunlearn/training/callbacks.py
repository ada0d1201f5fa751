"""Progress reporting from the library: a callback whose methods do nothing by default.
The CLI subclasses it with Rich; tests can record what they receive."""

from __future__ import annotations


class Progress:
    def stage(self, name: str, total: int | None = None) -> None:
        """A new stage begins (e.g. "train", "quantize", "check"), with `total` steps if known."""

    def advance(self, detail: str = "", **metrics) -> None:
        """One step of the current stage is done."""

    def variant(self, result) -> None:
        """One model variant has been checked (a `VariantResult`)."""

    def note(self, message: str) -> None:
        """Something the user should read (a fallback taken, a type skipped)."""


SILENT = Progress()
