"""The command line: Typer commands grouped by file, all Rich output in `ui`."""

from __future__ import annotations

import os
import signal
import sys


def main() -> None:
    from edgeunlearn.blas import reexec_with_openblas

    reexec_with_openblas()
    # a terminated run unwinds like Ctrl-C, so its temporary run folder is removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is fetched from a hub at run time
    from edgeunlearn.cli.app import app

    app()
