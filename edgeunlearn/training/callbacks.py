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


class StageClock(Progress):
    """Passes everything on to `inner` and times each stage (wall seconds from its start to the next one's)."""

    def __init__(self, inner: Progress):
        import time

        self.inner, self._now = inner, time.perf_counter
        self.stages: list[tuple[str, float]] = []
        self._started = None

    def stage(self, name: str, total: int | None = None) -> None:
        self._close()
        self._started = (name, self._now())
        self.inner.stage(name, total)

    def advance(self, detail: str = "", **metrics) -> None:
        self.inner.advance(detail, **metrics)

    def variant(self, result) -> None:
        self.inner.variant(result)

    def note(self, message: str) -> None:
        self.inner.note(message)

    def seconds(self) -> list[dict]:
        """Every stage so far, the open one up to now: [{"stage", "seconds"}]."""
        self._close()
        return [{"stage": name, "seconds": round(s, 2)} for name, s in self.stages]

    def _close(self) -> None:
        if self._started is not None:
            name, t0 = self._started
            self.stages.append((name, self._now() - t0))
            self._started = None
