"""The host filesystem's answers the host-access policy judges by, as plain values, and a
record of every answer given while recording is on.

The policy asks through ``policy.paths.OsHostFS``, which calls these functions. An apply
whose plan is empty records the answers (``Recording``), and the settled fast path
(``cli/settled.py``) asks the same questions again before it may say "no changes" without
a pass: a bind source that became a symlink to ``/etc`` since then gets a different answer,
and the command takes the whole pass, where the policy sees it.

Standard library only, and small: the fast path runs in the console script's own process
before anything else is imported.
"""

from __future__ import annotations

import os
import stat

# Not typing.TYPE_CHECKING: importing typing costs ~2 ms at every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")
    # One answer: [question, path, limit, answer], JSON-friendly (lists for tuples).
    Answer = list[Any]


class _Recorder:
    answers: list[Answer] | None = None


_recorder = _Recorder()


def realpath(path: str) -> str:
    """``os.path.realpath`` (missing tails kept as written)."""
    return _note("realpath", path, 0, os.path.realpath(path))


def exists(path: str) -> bool:
    """``os.path.exists`` (following symlinks)."""
    return _note("exists", path, 0, os.path.exists(path))


def mode_and_owner(path: str) -> list[int] | None:
    """``[st_mode, st_uid]`` of ``path`` (following symlinks), None on any error."""
    try:
        info = os.stat(path)
    except OSError:
        return _note("stat", path, 0, None)
    return _note("stat", path, 0, [info.st_mode, info.st_uid])


def listing(path: str) -> list[list[str]] | None:
    """``[sockets, directories]`` directly inside ``path``, each sorted (symlinks are
    neither); None when it is not a directory this process can read."""
    sockets: list[str] = []
    directories: list[str] = []
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        directories.append(entry.name)
                    elif entry.is_file(follow_symlinks=False) or entry.is_symlink():
                        continue
                    elif stat.S_ISSOCK(entry.stat(follow_symlinks=False).st_mode):
                        sockets.append(entry.name)
                except OSError:
                    continue  # gone since the listing
    except OSError:
        return _note("listing", path, 0, None)
    return _note("listing", path, 0, [sorted(sockets), sorted(directories)])


def read_text(path: str, limit: int) -> str | None:
    """The first ``limit`` characters of the file, decoded as UTF-8; None on any error."""
    try:
        with open(path, encoding="utf-8") as file:
            text: str | None = file.read(limit)
    except (OSError, UnicodeDecodeError):
        text = None
    return _note("read_text", path, limit, text)


def ask(question: str, path: str, limit: int) -> Any:
    """The answer to one recorded question, asked again now."""
    if question == "realpath":
        return realpath(path)
    if question == "exists":
        return exists(path)
    if question == "stat":
        return mode_and_owner(path)
    if question == "listing":
        return listing(path)
    if question == "read_text":
        return read_text(path, limit)
    raise ValueError(f"unknown question {question!r}")


class Recording:
    """``with Recording() as answers:`` every answer given meanwhile lands in ``answers``
    (in this process; recordings do not nest)."""

    def __enter__(self) -> list[Answer]:
        _recorder.answers = []
        return _recorder.answers

    def __exit__(self, *_: object) -> None:
        _recorder.answers = None


def _note(question: str, path: str, limit: int, answer: T) -> T:
    if _recorder.answers is not None:
        _recorder.answers.append([question, path, limit, answer])
    return answer
