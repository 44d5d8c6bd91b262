"""The state directory and what is in it are the user's alone: created 0700 and 0600 whatever
the umask, an older loose one of ours tightened (with a warning), one of another user or one
others may write and we cannot fix refused, and a directory that is not only reconcile's
never chmodded behind the user's back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.errors import StateError
from reconciler.state import privatefiles
from reconciler.state.database import State
from reconciler.state.locking import project_lock
from tests.state.mounts import needs_root, read_only

NOBODY = 65534
WEB = ("Container", "web", "shop.yaml:1")

# A writer killed after its commit leaves state.db with its -wal and -shm, as a crash does.
WRITER = """
import os, sys
from pathlib import Path
from reconciler.state.database import State
State.open(Path(sys.argv[1])).record("shop", [("Container", "web", "shop.yaml:1")])
os.kill(os.getpid(), 9)
"""
DATABASE = ("state.db", "state.db-wal", "state.db-shm")


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777


@pytest.fixture
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _crashed_writer(where: Path) -> None:
    done = subprocess.run([sys.executable, "-c", WRITER, str(where)], check=False)
    assert done.returncode == -signal.SIGKILL
    assert all((where / name).exists() for name in DATABASE)


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o277], indirect=True)
def test_a_new_state_is_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    where = tmp_path / "new" / "state"
    state = State.open(where)
    try:
        state.record("shop", [WEB])  # the -wal and -shm exist while it is open
        with project_lock(where, "shop", "apply"):
            assert mode(where / "locks") == 0o700
            assert mode(where / "locks" / "shop.lock") == 0o600
        assert privatefiles.write(where / "cache.pickle", {"a": 1})
        assert mode(where) == 0o700
        for name in (*DATABASE, "cache.pickle"):
            assert mode(where / name) == 0o600, name
        assert state.warnings == []
    finally:
        state.close()


def test_a_loose_state_of_ours_is_tightened_with_a_warning(tmp_path: Path) -> None:
    where = tmp_path / "state"
    _crashed_writer(where)
    where.chmod(0o755)  # what `mkdir` and an older version left
    for name in DATABASE:
        (where / name).chmod(0o644)

    state = State.open(where)
    try:
        assert mode(where) == 0o700
        assert all(mode(where / name) == 0o600 for name in DATABASE)
        assert state.warnings[0] == (
            f"the state directory {where} could be read by other users (mode 0755); made it 0700"
        )
        assert state.warnings[1:] == [
            f"{where / name} could be read by other users (mode 0644); made it 0600"
            for name in DATABASE
        ]
        assert state.inventory("shop") == frozenset({WEB[:2]})
    finally:
        state.close()

    again = State.open(where)
    try:
        assert again.warnings == []
    finally:
        again.close()


@pytest.mark.parametrize("shared", [0o1777, 0o755])
def test_a_loose_directory_holding_other_files_is_refused_and_left_alone(
    tmp_path: Path, shared: int
) -> None:
    # --state-dir /tmp or --state-dir ~ must not chmod /tmp or the home directory.
    where = tmp_path / "shared"
    where.mkdir()
    (where / "someone-elses").write_text("x")
    where.chmod(shared)

    with pytest.raises(StateError) as caught:
        State.open(where)
    exposed = "may be written" if shared & 0o022 else "could be read"
    assert str(caught.value) == (
        f"the state directory {where} {exposed} by other users (mode {shared:04o}) and "
        "holds files that are not reconcile's state; make it private (chmod 700) or use a "
        "directory of its own"
    )
    assert mode(where) == shared
    assert sorted(p.name for p in where.iterdir()) == ["someone-elses"]


@needs_root
def test_a_state_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    where = tmp_path / "theirs"
    where.mkdir(mode=0o700)
    os.chown(where, NOBODY, NOBODY)

    with pytest.raises(StateError) as caught:
        State.open(where)
    assert str(caught.value) == (
        f"the state directory {where} belongs to uid {NOBODY}, not to this user (uid 0): "
        f"run reconcile as uid {NOBODY}, or use a state directory of your own (--state-dir or "
        "RECONCILE_STATE_DIR)"
    )
    assert list(where.iterdir()) == []
    assert (where.stat().st_uid, mode(where)) == (NOBODY, 0o700)


@needs_root
def test_a_state_database_of_another_user_is_refused(tmp_path: Path) -> None:
    where = tmp_path / "state"
    State.open(where).close()
    os.chown(where / "state.db", NOBODY, NOBODY)

    with pytest.raises(StateError) as caught:
        State.open(where)
    assert str(caught.value).startswith(
        f"{where / 'state.db'} belongs to uid {NOBODY}, not to this user (uid 0): "
    )
    assert (where / "state.db").stat().st_uid == NOBODY


@needs_root
def test_a_directory_others_may_write_that_cannot_be_fixed_is_refused(tmp_path: Path) -> None:
    where = tmp_path / "state"
    where.mkdir()
    where.chmod(0o777)
    with read_only(where):
        with pytest.raises(StateError) as caught:
            State.open(where)
        message = str(caught.value)
        assert message.startswith(
            f"the state directory {where} may be written by other users (mode 0777) and "
            "cannot be made private ("
        ), message
        assert "Read-only file system" in message
    assert mode(where) == 0o777


@needs_root
def test_another_user_can_reach_nothing_in_a_state_directory_an_older_version_left(
    tmp_path: Path,
) -> None:
    # A real other user (a forked child as uid 65534), in a directory it may traverse.
    base = Path(tempfile.mkdtemp(prefix="reconcile-privacy-"))
    try:
        base.chmod(0o755)
        where = base / "state"
        _crashed_writer(where)
        where.chmod(0o755)
        for name in DATABASE:
            (where / name).chmod(0o644)
        (where / "git").mkdir(mode=0o755)
        (where / "git" / "checkout").write_text("a checkout")

        State.open(where).close()

        for target in (where, where / "state.db", where / "git" / "checkout"):
            assert _as_nobody_can_read(target) is False, target
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=True)


def _as_nobody_can_read(path: Path) -> bool:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        code = 3
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            if path.is_dir():
                os.listdir(path)
            else:
                path.read_bytes()
            code = 0
        except PermissionError:
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code in (0, 1), f"the child failed otherwise (exit {code})"
    return code == 0
