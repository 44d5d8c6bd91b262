"""The embedded state database: inventory, journal, key, corruption and atomic writes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.state.database import State
from reconciler.state.records import Event


@pytest.fixture
def db(tmp_path: Path) -> Iterator[State]:
    state = State.open(tmp_path / "state")
    yield state
    state.close()


def test_open_creates_the_directory_and_the_database(tmp_path: Path) -> None:
    where = tmp_path / "a" / "b"
    state = State.open(where)
    try:
        assert state.path == where / "state.db"
        assert state.path.is_file()
        assert (where.stat().st_mode & 0o777) == 0o700
        assert state.warnings == []
        assert state.projects() == []
    finally:
        state.close()


def test_inventory_is_none_for_an_unknown_project_and_empty_once_recorded(db: State) -> None:
    assert db.inventory("shop") is None
    db.record("shop", [])
    assert db.inventory("shop") == frozenset()
    assert db.inventory("other") is None
    assert db.projects() == ["shop"]


def test_record_and_forget(db: State) -> None:
    db.record("shop", [("Container", "web", "shop.yaml:3"), ("Volume", "data", "shop.yaml:1")])
    db.record("shop", [("Container", "web", "shop.yaml:9")])  # again: no duplicate
    db.record("other", [("Container", "web", "o.yaml:1")])
    assert db.inventory("shop") == frozenset({("Container", "web"), ("Volume", "data")})
    db.forget("shop", [("Container", "web"), ("Network", "never-recorded")])
    assert db.inventory("shop") == frozenset({("Volume", "data")})
    assert db.inventory("other") == frozenset({("Container", "web")})
    db.forget("shop", [("Volume", "data")])
    assert db.inventory("shop") == frozenset()  # still known, just empty


def test_the_inventory_survives_a_reopen(tmp_path: Path) -> None:
    first = State.open(tmp_path)
    first.record("shop", [("Network", "front", "shop.yaml:1")])
    key = first.hash_key
    first.close()
    second = State.open(tmp_path)
    try:
        assert second.inventory("shop") == frozenset({("Network", "front")})
        assert second.hash_key == key
        assert len(key) == 32
    finally:
        second.close()


def test_each_state_has_its_own_hash_key(tmp_path: Path) -> None:
    a, b = State.open(tmp_path / "a"), State.open(tmp_path / "b")
    try:
        assert a.hash_key != b.hash_key
    finally:
        a.close()
        b.close()


def test_a_corrupt_file_is_moved_aside_with_a_warning(tmp_path: Path) -> None:
    good = State.open(tmp_path)
    good.record("shop", [("Container", "web", "shop.yaml:1")])
    old_key = good.hash_key
    good.close()
    garbage = b"this is not an sqlite database" * 100
    (tmp_path / "state.db").write_bytes(garbage)

    state = State.open(tmp_path)
    try:
        (aside,) = tmp_path.glob("state.db.corrupt-*")
        assert aside.read_bytes() == garbage
        (warning,) = state.warnings
        assert warning.startswith(f"state database {tmp_path / 'state.db'} was unreadable (")
        assert f"moved to {aside.name} and started anew" in warning
        assert state.inventory("shop") is None
        assert state.hash_key != old_key
    finally:
        state.close()


def event(n: int, project: str = "shop") -> Event:
    return Event(project, 1000.0 + n, "Container", f"c{n}", "create", "missing", "done", f"#{n}")


def test_events_come_back_oldest_first_latest_limit_per_project(db: State) -> None:
    db.add_events([event(1), event(2), event(3, "other")])
    db.add_events([event(4), event(5)])
    assert db.events("shop") == [event(1), event(2), event(4), event(5)]
    assert db.events("shop", limit=2) == [event(4), event(5)]
    assert db.events("other") == [event(3, "other")]
    assert db.events("nobody") == []


class Boom(Exception):
    pass


def failing_after_one(first: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    yield first
    raise Boom


def test_a_write_that_fails_part_way_leaves_nothing_behind(db: State) -> None:
    # The entries are read inside the transaction, after the project row is written: an error
    # while reading them must roll that row back too.
    with pytest.raises(Boom):
        db.record("shop", failing_after_one(("Container", "web", "shop.yaml:1")))  # type: ignore[arg-type]
    assert db.inventory("shop") is None
    assert db.projects() == []

    db.record("shop", [("Container", "web", "s:1"), ("Volume", "data", "s:2")])
    with pytest.raises(Boom):
        db.forget("shop", failing_after_one(("Container", "web")))  # type: ignore[arg-type]
    assert db.inventory("shop") == frozenset({("Container", "web"), ("Volume", "data")})

    def events() -> Iterator[Event]:
        yield event(1)
        raise Boom

    with pytest.raises(Boom):
        db.add_events(events())
    assert db.events("shop") == []


def test_a_write_the_database_refuses_is_rolled_back_and_the_next_one_works(db: State) -> None:
    with pytest.raises(sqlite3.Error):  # a value SQLite cannot bind, after the project row
        db.record("shop", [("Container", "web", object())])  # type: ignore[list-item]
    assert db.inventory("shop") is None
    db.record("shop", [("Container", "web", "s:1")])
    assert db.inventory("shop") == frozenset({("Container", "web")})
