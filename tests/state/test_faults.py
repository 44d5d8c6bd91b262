"""Faults of the state database done for real: another process holding it, a full disk, and
corruption. Only corruption moves the database aside (with its -wal and -shm); anything else
is a StateError that leaves every file where and as it was."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.errors import StateError
from reconciler.state.database import State
from reconciler.state.records import Event
from tests.state.mounts import fill, needs_root, tmpfs

WEB = ("Container", "web", "shop.yaml:1")

HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("held", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


def _filled(where: Path) -> bytes:
    """A state at ``where`` with one inventory entry; its hash key."""
    state = State.open(where)
    try:
        state.record("shop", [WEB])
        return state.hash_key
    finally:
        state.close()


def _assert_intact(where: Path, key: bytes) -> None:
    state = State.open(where)
    try:
        assert state.warnings == []
        assert state.inventory("shop") == frozenset({WEB[:2]})
        assert state.hash_key == key
    finally:
        state.close()


def _nothing_moved(where: Path) -> None:
    assert not [p.name for p in where.iterdir() if "corrupt" in p.name]


@pytest.fixture
def holder() -> Iterator[Callable[[Path], Callable[[], None]]]:
    """Start a second process holding ``BEGIN EXCLUSIVE`` on a database; what ends it (the
    test's end does, at the latest)."""
    started: list[subprocess.Popen[str]] = []

    def release(process: subprocess.Popen[str]) -> None:
        if process.returncode is None:
            process.communicate("\n", timeout=10)
            assert process.returncode == 0

    def hold(database: Path) -> Callable[[], None]:
        process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(database)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        assert process.stdout is not None and process.stdout.readline() == "held\n"
        return lambda: release(process)

    yield hold
    for process in started:
        release(process)


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_a_database_another_process_holds_is_an_error_and_stays_where_it_is(
    tmp_path: Path, holder: Callable[[Path], Callable[[], None]], journal: str
) -> None:
    key = _filled(tmp_path)
    if journal == "delete":  # as another tool may leave it: then even reading waits
        conn = sqlite3.connect(tmp_path / "state.db")
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.close()
    release = holder(tmp_path / "state.db")

    started = time.monotonic()
    with pytest.raises(StateError) as caught:
        State.open(tmp_path, busy_timeout=0.2)
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert message.startswith(f"state database {tmp_path / 'state.db'} is locked"), message
    assert "try again" in message
    _nothing_moved(tmp_path)

    release()
    _assert_intact(tmp_path, key)


def test_a_write_while_another_process_holds_the_database_is_an_error_and_the_next_works(
    tmp_path: Path, holder: Callable[[Path], Callable[[], None]]
) -> None:
    key = _filled(tmp_path)
    state = State.open(tmp_path, busy_timeout=0.2)
    try:
        release = holder(tmp_path / "state.db")
        with pytest.raises(StateError, match="is locked"):
            state.record("shop", [("Volume", "data", "shop.yaml:9")])
        assert state.inventory("shop") == frozenset({WEB[:2]})  # reading still works
        release()
        state.record("shop", [("Volume", "data", "shop.yaml:9")])  # no transaction left open
        assert state.inventory("shop") == frozenset({WEB[:2], ("Volume", "data")})
        assert state.hash_key == key
    finally:
        state.close()


@needs_root
def test_opening_on_a_full_disk_is_an_error_and_moves_nothing(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk") as disk:
        where = disk / "state"
        key = _filled(where)
        before = (where / "state.db").read_bytes()
        filler = fill(disk)

        with pytest.raises(StateError) as caught:
            State.open(where)
        message = str(caught.value)
        assert message.startswith(f"state database {where / 'state.db'}"), message
        assert "disk is full" in message, message
        _nothing_moved(where)
        assert (where / "state.db").read_bytes() == before

        filler.unlink()
        _assert_intact(where, key)


def _events(count: int) -> list[Event]:
    return [
        Event("shop", 1000.0 + n, "Container", "web", "create", "missing", "done", "x" * 1000)
        for n in range(count)
    ]


@needs_root
def test_a_write_on_a_full_disk_is_an_error_and_the_state_survives_it(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk") as disk:
        where = disk / "state"
        key = _filled(where)
        state = State.open(where)
        try:
            filler = fill(disk)
            with pytest.raises(StateError, match="disk is full"):
                state.add_events(_events(200))
            assert state.events("shop") == []  # rolled back, and reading still works
            filler.unlink()
            state.add_events(_events(200))  # the same connection writes again
        finally:
            state.close()
        _assert_intact(where, key)


@needs_root
def test_the_cli_reports_a_full_disk_in_one_line_and_exits_1(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk") as disk:
        where = disk / "state"
        key = _filled(where)
        filler = fill(disk)
        done = subprocess.run(
            [str(Path(sys.executable).with_name("reconcile")), "history", "-p", "shop",
             "--state-dir", str(where)],
            env={**os.environ, "RECONCILE_NO_SERVER": "1"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )  # fmt: skip
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert done.stderr.startswith(f"error: state database {where / 'state.db'}"), done.stderr
        assert "disk is full" in done.stderr
        _nothing_moved(where)
        filler.unlink()
        _assert_intact(where, key)


# A writer killed after its last commit leaves state.db with its -wal and -shm; then one of
# three kinds of damage to state.db: what sqlite calls "file is not a database", "database
# disk image is malformed", and what only the quick check finds. The first checkpoint puts
# the schema (page 1) in state.db, so that the WAL does not hide the damage to it.
WRITER = """
import os, sys
from pathlib import Path
from reconciler.state.database import State
state = State.open(Path(sys.argv[1]))
state._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
state.record("shop", [("Container", "web", "shop.yaml:1")])
if sys.argv[2] == "checkpoint":  # everything in state.db, an empty -wal
    state._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
os.kill(os.getpid(), 9)
"""
PAGE = 4096


def _garbage_header(data: bytearray) -> bytearray:
    data[:100] = b"this is not an sqlite database " * 3 + b"1234567"
    return data


def _damaged_pages(data: bytearray) -> bytearray:
    for page in range(2, len(data) // PAGE):
        data[page * PAGE : (page + 1) * PAGE] = b"\xff" * PAGE
    return data


def _unused_page(data: bytearray) -> bytearray:
    pages = struct.unpack(">I", data[28:32])[0]
    data[28:32] = struct.pack(">I", pages + 1)
    return data + b"\0" * PAGE


@pytest.mark.parametrize(
    ("damage", "checkpoint", "reason"),
    [
        (_garbage_header, "", "file is not a database"),
        (_damaged_pages, "", "database disk image is malformed"),
        (_unused_page, "checkpoint", r"Page \d+ is never used"),
    ],
)
def test_only_a_corrupt_database_is_moved_aside_and_with_its_wal_and_shm(
    tmp_path: Path,
    damage: Callable[[bytearray], bytearray],
    checkpoint: str,
    reason: str,
) -> None:
    killed = subprocess.run(
        [sys.executable, "-c", WRITER, str(tmp_path), checkpoint or "-"], check=False
    )
    assert killed.returncode == -signal.SIGKILL
    files = {"state.db-wal": (tmp_path / "state.db-wal").read_bytes()}
    files["state.db"] = bytes(damage(bytearray((tmp_path / "state.db").read_bytes())))
    (tmp_path / "state.db").write_bytes(files["state.db"])

    state = State.open(tmp_path)
    try:
        (aside,) = tmp_path.glob("state.db.corrupt-*[0-9]")
        for name, body in files.items():  # as they were found (the -shm is a mere index)
            assert (tmp_path / name.replace("state.db", aside.name)).read_bytes() == body, name
        assert (tmp_path / f"{aside.name}-shm").exists()
        (warning,) = state.warnings
        assert warning.startswith(f"state database {tmp_path / 'state.db'} was unreadable (")
        assert re.search(reason, warning), warning
        moved = f"{aside.name}, {aside.name}-wal, {aside.name}-shm"
        assert f"moved to {moved} and started anew" in warning
        assert state.inventory("shop") is None  # a new database, not the old one's WAL
        state.record("shop", [("Volume", "data", "shop.yaml:2")])
        assert state.inventory("shop") == frozenset({("Volume", "data")})
    finally:
        state.close()
