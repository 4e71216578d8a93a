"""The stage progress bar the long commands show on standard error (``demo``, ``vpp week``)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["stage_progress"]


def stage_progress(console: Console, *, as_json: bool) -> Progress:
    """A bar of named stages on ``console``; with ``--json`` it clears itself when done and is
    off when ``console`` is not a terminal, so that standard output stays one JSON object."""
    return Progress(
        TextColumn("[progress.description]{task.description:<28}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=as_json,
        disable=not console.is_terminal and as_json,
    )
