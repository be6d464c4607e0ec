"""A rich progress bar with ETA for probe runs (quiet when not interactive)."""
from __future__ import annotations

import contextlib
import sys


@contextlib.contextmanager
def progress_printer(interactive: bool):
    """Yield a callback(done, total, label) that draws progress on stderr."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = Console(file=sys.stderr)
    if not (interactive and console.is_terminal):
        def plain(done: int, total: int, label: str) -> None:
            print(f"lrcn-advise: probe {done}/{total} {label}", file=sys.stderr, flush=True)
        yield plain
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("probes", total=None)

        def update(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=f"probes: {label}")
        yield update
