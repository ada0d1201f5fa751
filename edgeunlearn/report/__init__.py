"""`edgeunlearn report`: one self-contained HTML file (inline CSS and SVG plots, no script, no network)
from a run folder: what each variant still knows, per quantization type, down to every answer."""

from edgeunlearn.report.build import write_report

__all__ = ["write_report"]
