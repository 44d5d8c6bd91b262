"""Files in a manifest directory that are not plain manifests, for ``validate``, ``apply`` and
``run`` on the real Engine: a named pipe (reading it would block until something writes to it)
is skipped, or a problem naming it when given with -f; a file whose name is not UTF-8 is a
problem naming it escaped. Never a hang, never a traceback."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docker.scenario import LOOP
from tests.e2e.conftest import RunReconcile
from tests.e2e.loop_helpers import CONTAINER, LoopRig

# A command that hangs is stopped with a test failure after this long.
HANG = 60.0
# The rig's container, off the network: none of these tests needs one.
OFFLINE = CONTAINER.rstrip(" ") + "      networkMode: none\n"


def declare(rig: LoopRig, name: str, path: Path | None = None) -> Path:
    """Declare container ``<project>-<name>`` in ``<name>.yaml`` (or ``path``)."""
    path = path or rig.directory / f"{name}.yaml"
    path.write_text(rig.render(OFFLINE, name=name, gen=1, command=LOOP))
    return path


@pytest.fixture
def pipe(rig: LoopRig) -> Iterator[Path]:
    """pipe.yaml, a named pipe in the rig's manifest directory; a reader left blocked on it
    (the fault under test) is released afterwards by opening it for writing."""
    path = rig.directory / "pipe.yaml"
    os.mkfifo(path)
    yield path
    with contextlib.suppress(OSError):  # no reader is waiting
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def assert_clean(*outputs: str) -> None:
    for output in outputs:
        assert "Traceback" not in output, output


def test_a_named_pipe_in_the_directory_is_skipped_by_validate_apply_and_run(
    rig: LoopRig, run_reconcile: RunReconcile, pipe: Path
) -> None:
    declare(rig, "a")
    checked = run_reconcile("validate", "-f", rig.directory, timeout=HANG)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OK: 1 file, 1 Container" in checked.stdout

    applied = rig.cli("apply", "-f", str(rig.directory), timeout=HANG)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert rig.running("a")

    declare(rig, "b")
    rig.start()
    rig.eventually(lambda: rig.resource("b").get("status") == "synced", "the loop applies b")
    # Prune-safe once the files just written have been quiet for a while.
    rig.eventually(lambda: rig.status()["source"]["pruneSafe"] is True, "the source is whole")
    assert rig.status()["source"]["problems"] == []
    assert_clean(applied.stderr, checked.stderr)


def test_a_named_pipe_given_with_f_is_a_problem_naming_it(
    rig: LoopRig, run_reconcile: RunReconcile, pipe: Path
) -> None:
    message = f"{pipe}: is a named pipe (FIFO), not a regular file"
    checked = run_reconcile("validate", "-f", pipe, timeout=HANG)
    assert checked.returncode == 1
    assert message in checked.stdout + checked.stderr
    applied = rig.cli("apply", "-f", str(pipe), timeout=HANG)
    assert applied.returncode == 1
    assert message in applied.stderr
    assert_clean(checked.stderr, applied.stderr)


def test_a_file_name_that_is_not_utf8_is_a_problem_never_a_traceback(
    rig: LoopRig, run_reconcile: RunReconcile
) -> None:
    declare(rig, "a")
    declare(rig, "b", Path(os.fsdecode(bytes(rig.directory) + b"/bad\xff.yaml")))
    escaped = f"{rig.directory}/bad\\xff.yaml"
    message = f"{escaped}: the file name is not valid UTF-8; rename the file"

    checked = run_reconcile("validate", "-f", rig.directory, timeout=HANG)
    assert checked.returncode == 1
    assert message in checked.stdout + checked.stderr
    as_json = run_reconcile("validate", "-f", rig.directory, "-o", "json", timeout=HANG)
    assert [p["file"] for p in json.loads(as_json.stdout)["problems"]] == [escaped]

    applied = rig.cli("apply", "-f", str(rig.directory), timeout=HANG)
    assert applied.returncode == 1
    assert message in applied.stderr
    assert rig.names() == [], "nothing was applied"
    assert_clean(checked.stderr, as_json.stderr, applied.stderr)

    # The loop applies the rest, reports the file, and prunes nothing while it is there.
    loop = rig.start()
    rig.eventually(lambda: rig.resource("a").get("status") == "synced", "the loop applies a")
    source = rig.status()["source"]
    assert source["unknownFiles"] == [escaped]
    assert source["problems"] == [message]
    assert source["pruneSafe"] is False
    shown = rig.cli("status")
    assert shown.returncode == 0, shown.stderr
    assert f"invalid manifest: {message}" in shown.stdout
    assert rig.names() == ["a"]
    assert loop.alive
    assert any(message in line["msg"] for line in loop.log())
    assert_clean(shown.stderr, loop.log_path.read_text(errors="replace"))
