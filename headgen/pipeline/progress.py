"""Progress display: one rich bar for the whole run plus one bar per running node (ctx.progress)."""
from __future__ import annotations

import threading
from typing import Any


class NullProgress:
    """Progress sink that shows nothing (``--quiet``)."""

    def __enter__(self) -> "NullProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def node_started(self, nid: str, label: str) -> None:
        """A node began running."""

    def node_progress(self, nid: str, done: float, total: float | None, desc: str | None) -> None:
        """A running node reported progress (done of total units)."""

    def node_finished(self, nid: str, status: str) -> None:
        """A node ended with ``status`` (done/cached/failed/skipped); advances the overall bar."""


class RichProgress(NullProgress):
    """rich.progress bars on stderr: overall ``total`` nodes plus a transient bar per running node."""

    def __init__(self, total: int, title: str = "pipeline"):
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                   TimeElapsedColumn)
        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TimeElapsedColumn(),
                                  console=Console(stderr=True), transient=False)
        self._overall = self._progress.add_task(title, total=total)
        self._tasks: dict[str, Any] = {}
        self._labels: dict[str, str] = {}
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def __enter__(self) -> "RichProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.stop()

    def node_started(self, nid: str, label: str) -> None:
        with self._lock:
            self._labels[nid] = label
            self._tasks[nid] = self._progress.add_task(f"  {label}", total=None)

    def node_progress(self, nid: str, done: float, total: float | None, desc: str | None) -> None:
        with self._lock:
            t = self._tasks.get(nid)
            if t is None:
                return
            label = self._labels[nid] + (f": {desc}" if desc else "")
            self._progress.update(t, completed=done, total=total, description=f"  {label}")

    def node_finished(self, nid: str, status: str) -> None:
        with self._lock:
            t = self._tasks.pop(nid, None)
            if t is not None:
                self._progress.remove_task(t)
            self.counts[status] = self.counts.get(status, 0) + 1
            summary = ", ".join(f"{v} {k}" for k, v in sorted(self.counts.items()))
            self._progress.update(self._overall, advance=1,
                                  description=f"pipeline ({summary})")
