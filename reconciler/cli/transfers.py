"""Pulls and builds, shown as they happen on a terminal: a bar per layer of a pull (bytes
downloaded and extracted), the current step of a build. Only on a terminal, and only for the
text output: logs, ``-o json`` and pipes stay quiet. rich is imported on the first event, so
a command that pulls and builds nothing never pays for it."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_DONE = ("Pull complete", "Already exists", "Download complete")


class TerminalTransfers:
    """A sink for ``Runtime.set_progress``: renders the Engine's progress objects with rich.
    Safe to call from the applier's threads; ``close`` removes the bars."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._progress: Any = None
        self._tasks: dict[tuple[str, str], Any] = {}

    def __call__(self, ref: str, item: Mapping[str, Any]) -> None:
        with self._lock:
            progress = self._started()
            stream = item.get("stream")
            if isinstance(stream, str):
                self._build_step(progress, ref, stream.strip())
                return
            layer, status = item.get("id"), item.get("status")
            if not isinstance(layer, str) or not isinstance(status, str):
                return
            if status.startswith(("Pulling from", "Digest:", "Status:")):
                return  # lines about the whole pull, not a layer
            key = (ref, layer)
            detail = item.get("progressDetail") or {}
            total, current = detail.get("total"), detail.get("current")
            label = f"{ref} {layer[:12]} {status.lower()}"
            if key not in self._tasks:
                self._tasks[key] = progress.add_task(label, total=None, amount="")
            task = self._tasks[key]
            if status in _DONE and status != "Download complete":
                progress.update(task, description=label, total=1, completed=1, amount="")
            elif isinstance(total, int) and isinstance(current, int) and total > 0:
                amount = f"{current / 1e6:.1f}/{total / 1e6:.1f} MB"
                progress.update(
                    task, description=label, total=total, completed=current, amount=amount
                )
            else:
                progress.update(task, description=label)

    def _build_step(self, progress: Any, ref: str, line: str) -> None:
        found = _STEP.match(line)
        if not found:
            return
        step, steps, what = int(found.group(1)), int(found.group(2)), found.group(3)
        key = (ref, "build")
        label = f"{ref} build: {what[:60]}"
        if key not in self._tasks:
            self._tasks[key] = progress.add_task(label, total=steps, amount="")
        progress.update(
            self._tasks[key],
            description=label,
            total=steps,
            completed=step - 1,
            amount=f"step {step}/{steps}",
        )

    def _started(self) -> Any:
        if self._progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("  {task.description}"),
                BarColumn(),
                TextColumn("{task.fields[amount]}"),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
        return self._progress

    def close(self) -> None:
        """Stop rendering and remove the bars (the step lines say what was done)."""
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None
            self._tasks.clear()
