"""The per-project lock: exclusive per project, naming its holder, released with the block."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.errors import LockHeld
from reconciler.state.locking import project_lock

HOLDER = """
import sys
from pathlib import Path
from reconciler.state.locking import project_lock
with project_lock(Path(sys.argv[1]), "shop", "watch"):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_second_lock_in_the_same_process_conflicts_and_names_the_holder(tmp_path: Path) -> None:
    # flock belongs to the open file description: a second os.open conflicts even in-process.
    with (
        project_lock(tmp_path, "shop", "apply"),
        pytest.raises(LockHeld) as caught,
        project_lock(tmp_path, "shop", "delete"),
    ):
        pytest.fail("the second lock was granted")
    message = str(caught.value)
    assert re.fullmatch(
        rf'project "shop" is locked by pid {os.getpid()} \(apply, since \S+\); '
        "wait for it to finish or stop it",
        message,
    ), message


def test_a_lock_held_by_another_process_names_its_pid_and_purpose(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        held = pytest.raises(LockHeld, match=rf"locked by pid {holder.pid} \(watch, since ")
        with held, project_lock(tmp_path, "shop", "apply"):
            pass
    finally:
        holder.communicate("\n", timeout=10)
    with project_lock(tmp_path, "shop", "apply"):
        pass  # released when the holder exited


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    holder.kill()
    holder.communicate(timeout=10)
    with project_lock(tmp_path, "shop", "apply"):
        pass


def test_different_projects_do_not_conflict(tmp_path: Path) -> None:
    with project_lock(tmp_path, "shop", "apply"), project_lock(tmp_path, "blog", "apply"):
        assert sorted(p.name for p in (tmp_path / "locks").iterdir()) == [
            "blog.lock",
            "shop.lock",
        ]


def test_the_lock_is_released_after_the_block_even_on_error(tmp_path: Path) -> None:
    with project_lock(tmp_path, "shop", "apply"):
        pass
    with pytest.raises(RuntimeError), project_lock(tmp_path, "shop", "apply"):
        raise RuntimeError("inside")
    with project_lock(tmp_path, "shop", "again"):
        pass


def test_an_unusable_state_directory_is_a_state_error(tmp_path: Path) -> None:
    from reconciler.errors import StateError

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    refused = pytest.raises(StateError, match=r"cannot use the state directory .*: it is not a")
    with refused, project_lock(blocker, "shop", "apply"):
        pass
    (tmp_path / "locks").write_text("not a directory either")
    refused = pytest.raises(StateError, match="cannot open the lock file in")
    with refused, project_lock(tmp_path, "shop", "apply"):
        pass
