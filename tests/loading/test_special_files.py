"""Only regular files are manifests: a named pipe, a socket or a device in a manifest directory
is skipped (opening a pipe would block until something writes to it), one named explicitly is
a problem naming it, and a file whose name is not UTF-8 is a problem naming it escaped.

Real pipes and sockets in tmp_path. A load that would block runs in a thread with a deadline,
and the pipe is then opened for writing, so that a blocked reader always comes back."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from reconciler.errors import Problem
from reconciler.loading import discover, load
from reconciler.loading.discovery import display_name, read_limited

VOLUME = "apiVersion: reconcile/v1\nkind: Volume\nmetadata: {name: data}\n"
# Far longer than any of these loads takes; a blocked open never returns on its own.
DEADLINE = 10.0
T = TypeVar("T")


@pytest.fixture
def fifos() -> Iterator[list[Path]]:
    """Named pipes made by the test; each is opened for writing afterwards, so that a reader
    stuck in open() (the fault under test) gets end-of-file and its thread ends."""
    made: list[Path] = []
    yield made
    for path in made:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            continue  # no reader is waiting
        os.close(fd)


def mkfifo(path: Path, made: list[Path]) -> Path:
    os.mkfifo(path)
    made.append(path)
    return path


def within_deadline(call: Callable[[], T]) -> T:
    """``call()``'s result, failing the test if it has not returned within ``DEADLINE``."""
    result: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(call())
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(DEADLINE)
    if thread.is_alive():
        pytest.fail(f"did not return within {DEADLINE:.0f}s: it blocks")
    if errors:
        raise errors[0]
    return result[0]


def test_a_named_pipe_in_a_directory_is_skipped(tmp_path: Path, fifos: list[Path]) -> None:
    (tmp_path / "a.yaml").write_text(VOLUME)
    mkfifo(tmp_path / "pipe.yaml", fifos)
    result = within_deadline(lambda: load([tmp_path]))
    assert result.problems == ()
    assert result.files == (tmp_path / "a.yaml",)
    assert [m.name for m in result.manifests] == ["data"]


def test_a_socket_in_a_directory_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(VOLUME)
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "s.yaml"))
        assert discover([tmp_path]) == [tmp_path / "a.yaml"]


def test_a_symlink_to_a_device_is_skipped_and_one_to_a_file_is_read(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.yaml").write_text(VOLUME)
    directory = tmp_path / "m"
    directory.mkdir()
    (directory / "a.yaml").symlink_to(real / "a.yaml")
    (directory / "zero.yaml").symlink_to("/dev/zero")
    assert discover([directory]) == [directory / "a.yaml"]


def test_a_named_pipe_given_explicitly_is_a_problem_naming_it(
    tmp_path: Path, fifos: list[Path]
) -> None:
    pipe = mkfifo(tmp_path / "pipe.yaml", fifos)
    result = within_deadline(lambda: load([pipe]))
    assert result.manifests == ()
    assert [str(p) for p in result.problems] == [
        f"{pipe}: is a named pipe (FIFO), not a regular file; only regular files are manifests"
    ]


def test_a_file_that_became_a_pipe_after_discovery_does_not_block(
    tmp_path: Path, fifos: list[Path]
) -> None:
    # read_limited is what every load goes through: it never waits on a writer.
    pipe = mkfifo(tmp_path / "a.yaml", fifos)
    problem = within_deadline(lambda: read_limited(pipe))
    assert isinstance(problem, Problem)
    assert "named pipe" in problem.message


def test_a_device_given_explicitly_is_a_problem_naming_it() -> None:
    result = within_deadline(lambda: load(["/dev/null"]))
    assert [str(p) for p in result.problems] == [
        "/dev/null: is a character device, not a regular file; only regular files are manifests"
    ]


def test_a_file_name_that_is_not_utf8_is_a_problem_with_the_name_escaped(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(VOLUME)
    bad = Path(os.fsdecode(bytes(tmp_path) + b"/bad\xff.yaml"))
    bad.write_text(VOLUME.replace("data", "other"))
    result = load([tmp_path])
    escaped = f"{tmp_path}/bad\\xff.yaml"
    assert [str(p) for p in result.problems] == [
        f"{escaped}: the file name is not valid UTF-8; rename the file"
    ]
    assert [m.name for m in result.manifests] == ["data"]
    # Everything reported can be printed and stored as UTF-8.
    for problem in result.problems:
        str(problem).encode("utf-8")


def test_display_name_escapes_only_what_is_not_utf8() -> None:
    assert display_name("/srv/m/web.yaml") == "/srv/m/web.yaml"
    assert display_name("/srv/m/caf\u00e9.yaml") == "/srv/m/caf\u00e9.yaml"
    assert display_name(os.fsdecode(b"/srv/bad\xff\xfe.yaml")) == "/srv/bad\\xff\\xfe.yaml"
