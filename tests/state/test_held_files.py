"""A warm server holds the sealed cache files in memory (``privatefiles.hold``): what a
command reads is still exactly the file on disk."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.state import privatefiles


@pytest.fixture
def private(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "state"
    directory.mkdir(mode=0o700)
    yield directory
    privatefiles._HELD.clear()


@pytest.fixture
def disk_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    reads: list[Path] = []
    real = privatefiles._read

    def counted(path: Path) -> tuple[bool, object | None, tuple[int, ...] | None]:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(privatefiles, "_read", counted)
    return reads


def test_a_held_file_is_read_from_memory_while_it_is_unchanged(
    private: Path, disk_reads: list[Path]
) -> None:
    path = private / "load-cache.pickle"
    assert privatefiles.write(path, {"entries": {"a": 1}})
    privatefiles.hold([path])
    privatefiles.hold([path])  # unchanged: not read again
    assert disk_reads == [path]
    assert privatefiles.read(path) == (True, {"entries": {"a": 1}})
    assert privatefiles.read(path) == (True, {"entries": {"a": 1}})
    assert disk_reads == [path]
    assert privatefiles.held() == [path]


def test_a_rewritten_file_is_read_from_disk_and_held_again(
    private: Path, disk_reads: list[Path]
) -> None:
    path = private / "inspect-cache.pickle"
    assert privatefiles.write(path, {"rev": 1})
    privatefiles.hold([path])
    assert privatefiles.write(path, {"rev": 2})
    assert privatefiles.read(path) == (True, {"rev": 2})
    assert len(disk_reads) == 2
    privatefiles.hold([path])
    assert len(disk_reads) == 3
    assert privatefiles.read(path) == (True, {"rev": 2})
    assert len(disk_reads) == 3


@pytest.mark.parametrize("loosened", ["file", "directory"])
def test_a_file_others_may_now_write_is_neither_given_from_memory_nor_held(
    private: Path, loosened: str
) -> None:
    path = private / "load-cache.pickle"
    assert privatefiles.write(path, {"entries": {}})
    privatefiles.hold([path])
    os.chmod(path if loosened == "file" else private, 0o622 if loosened == "file" else 0o777)
    assert privatefiles.read(path) == (False, None)
    privatefiles.hold([path])
    assert privatefiles.held() == []


def test_a_removed_file_is_let_go(private: Path) -> None:
    path = private / "load-cache.pickle"
    assert privatefiles.write(path, {"entries": {}})
    privatefiles.hold([path])
    path.unlink()
    assert privatefiles.read(path) == (True, None)
    privatefiles.hold([path])
    assert privatefiles.held() == []


def test_a_torn_or_foreign_file_is_not_held(private: Path) -> None:
    path = private / "load-cache.pickle"
    path.write_bytes(b"not a sealed pickle")
    path.chmod(0o600)
    privatefiles.hold([path])
    assert privatefiles.held() == []
    assert privatefiles.read(path) == (True, None)


def test_a_server_holds_its_caches_while_it_waits_and_exits_when_idle(private: Path) -> None:
    from reconciler.cli.server import Server

    cache = private / "load-cache.pickle"
    assert privatefiles.write(cache, {"entries": {}})
    engine = private / "engines" / "abc"
    engine.mkdir(parents=True, mode=0o700)
    inspected = engine / "inspect-cache.pickle"
    assert privatefiles.write(inspected, {"kept": 1})
    said: list[str] = []
    server = Server(private, lambda argv: None, said.append)
    server.bind()
    try:
        server.serve_forever(idle_exit=0.3)
    finally:
        server.close()
    assert sorted(privatefiles.held()) == sorted([cache, inspected])
    assert said[-1] == "no command for 0.3s: exiting"
    assert not (private / "server.sock").exists()
