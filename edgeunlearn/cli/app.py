"""The Typer application: commands are defined in their own modules and registered here."""

import typer

from edgeunlearn.cli import augment, checks, doctor, release, report, runs

app = typer.Typer(
    name="edgeunlearn",
    help="Make a small local LLM forget facts, and check the forgetting survives GGUF quantization.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
runs.register(app)
augment.register(app)
checks.register(app)
report.register(app)
release.register(app)
doctor.register(app)
