"""The terminal display of pulls and builds, fed the Engine's own progress objects."""

from __future__ import annotations

from typing import Any

from reconciler.cli.transfers import TerminalTransfers

PULL: list[dict[str, Any]] = [
    {"status": "Pulling from upd/app", "id": "live"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "ea5832fee012"},
    {
        "status": "Downloading",
        "progressDetail": {"current": 524288, "total": 2097152},
        "id": "ea5832fee012",
    },
    {"status": "Pull complete", "progressDetail": {}, "id": "ea5832fee012"},
    {"status": "Digest: sha256:5a5db8b23e0d"},
    {"status": "Status: Downloaded newer image for 127.0.0.1:5055/upd/app:live"},
]
BUILD: list[dict[str, Any]] = [
    {"stream": "Step 1/3 : FROM reconcile.local/busybox:latest"},
    {"stream": "\n"},
    {"stream": " ---> 1b1e601e11f1\n"},
    {"stream": "Step 2/3 : COPY . /app"},
]


def test_a_task_per_layer_and_one_per_build_with_what_they_did() -> None:
    shown = TerminalTransfers()
    for item in PULL:
        shown("127.0.0.1:5055/upd/app:live", item)
    for item in BUILD:
        shown("shop/web:dev", item)
    progress = shown._progress
    assert progress is not None
    tasks = {t.description: t for t in progress.tasks}
    layer = tasks["127.0.0.1:5055/upd/app:live ea5832fee012 pull complete"]
    assert (layer.completed, layer.total) == (1, 1)
    build = tasks["shop/web:dev build: COPY . /app"]
    assert (build.completed, build.total, build.fields["amount"]) == (1, 3, "step 2/3")
    assert len(tasks) == 2  # "Pulling from", "Digest" and "Status" lines are no layers
    shown.close()
    assert shown._progress is None


def test_nothing_is_started_without_an_event() -> None:
    shown = TerminalTransfers()
    shown.close()
    assert shown._progress is None
