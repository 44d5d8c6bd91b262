"""The settled fast path: an ``apply`` that would find nothing to do says so without a pass.

An ``apply`` whose plan came out empty (nothing to change, no conflict, no warning) leaves a
**receipt** in ``STATE_DIR/settled/``: what it printed, and everything its plan depended on,
each in a form that is cheap to ask again:

- the command line, working directory, environment (but the shell's own ``_``, ``OLDPWD``,
  ``PWD``, ``SHLVL``), terminal, user and reconcile's code, as the receipt's name (a digest);
- every file under the manifest paths (recursively, as the policy's directory check walks
  them), the compose files and every file they read, the env and secret files, the policy
  file, the docker CLI's configuration: type, owner, mode, size, mtime and ctime (a write,
  a chmod or a replacement changes the ctime; nobody can set it back);
- the host filesystem's answers the policy judged by (``hostpaths``: bind sources resolved,
  sockets under them, ...);
- the state database's files: unchanged by the pass (a pass that wrote state, a lifted
  rollback pin say, leaves no receipt), and its write-ahead log absent, as it is when no
  process has the state open (a running loop, an apply under way keep one there);
- the Engine: its socket file, ID, name and data root, and its clock before the pass.

The next ``apply`` with the same name replays the output (exit 0) instead of running when,
within five minutes, every file and answer is the same, and the Engine's event log, replayed
from its newest event before the receipt's clock up to ``/info``'s clock, still begins with
that event and holds none after the receipt's clock but a container's ``exec_*`` (health
checks). Every change an
Engine makes to a container, image, network or volume is an event; anything else that the
pass read is a file above. Otherwise the command runs as always, and nothing is lost but the
~10-20 ms of the check (measured with ``--timings``: 9-16 ms).

Standard library only: this runs in the console script's process before anything else is
imported (``launch.main``), where the whole check costs about as much as Python's start.
See docs/decisions/settled-fast-path.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import sys
import time

from reconciler import hostpaths

# Not typing.TYPE_CHECKING: importing typing costs ~2 ms at every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

VERSION = 1
DIRECTORY = "settled"
# How long a receipt is trusted at most, as the inspect store's entries: whatever the
# reasoning above missed heals within this.
MAX_AGE = 300.0
# A directory tree larger than this is not fingerprinted (the pass then leaves no receipt).
MAX_FILES = 5000
# Variables a shell changes between two commands without meaning anything by it.
VOLATILE = frozenset({"_", "OLDPWD", "PWD", "SHLVL"})
# Variables of reconcile's own that do not change what a command does.
UNKEYED = frozenset({"RECONCILE_TIMINGS", "_RECONCILE_TIMINGS_START"})
TIMINGS_FLAG = "--timings"
# Container events that change nothing a plan reads (a healthcheck runs as an exec).
HARMLESS_ACTIONS = ("exec_create", "exec_start", "exec_die", "exec_detach")
ENGINE_TIMEOUT = 2.0


# Set to 0 (or off) to turn the fast path off: every apply then runs its pass.
OPT_OUT = "RECONCILE_SETTLED"


def enabled() -> bool:
    """Whether the fast path is on (``RECONCILE_SETTLED`` is not 0/off/no/false): off, no
    receipt is read or written."""
    return os.environ.get(OPT_OUT, "").lower() not in ("0", "off", "no", "false")


def replay(argv: list[str], state_root: str) -> int | None:
    """For the console script: print what the settled ``apply`` printed and return its exit
    status when its receipt still holds; None when the command must run."""
    if not enabled():
        return None
    from reconciler import timings

    timed = timings.wanted(argv)
    if timed:
        timings.begin(argv)
    with timings.phase("settled"):
        found = check(state_root, key_of(argv, os.environ, os.getcwd()))
    if found is None:
        if timed:
            timings.launched()  # the command's own report counts from here again
        return None
    output, calls = found
    sys.stdout.write(output)
    sys.stdout.flush()
    if timed:
        timings.count_calls(calls)
        timings.report()
    return 0


# -- what a receipt is named by ------------------------------------------------------------


def key_of(argv: Sequence[str], environ: Mapping[str, str], cwd: str) -> str:
    """The receipt name of a command line run here, now: a digest of everything that makes
    two runs the same command (the ``--timings`` flag aside)."""
    words = [a for a in argv if a != TIMINGS_FLAG]
    env = sorted((k, v) for k, v in environ.items() if k not in VOLATILE and k not in UNKEYED)
    terminal = [os.isatty(1), os.isatty(2)]
    try:
        size = list(os.get_terminal_size(1)) if terminal[0] else []
    except OSError:
        size = []
    material = [VERSION, words, env, cwd, terminal, size, os.geteuid(), code_stamp()]
    return hashlib.sha256(json.dumps(material).encode()).hexdigest()


def code_stamp() -> list[Any]:
    """Python's version, and the name, size and mtime of reconcile's modules and of
    pydantic's version file: another installation or an edit is another command."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found: list[Any] = [sys.version]
    directories = [package]
    while directories:
        with os.scandir(directories.pop()) as listed:
            entries = sorted(listed, key=lambda e: e.name)
        for entry in entries:
            if entry.name.endswith(".py"):
                info = entry.stat()
                found.append([entry.path[len(package) :], info.st_size, info.st_mtime_ns])
            elif entry.name != "__pycache__" and entry.is_dir(follow_symlinks=False):
                directories.append(entry.path)
    for place in sys.path:
        found.append(signature(os.path.join(place or ".", "pydantic", "version.py")))
    return found


def signature(path: str) -> list[int] | None:
    """What says a file is still the one read: type and permissions, owner, device and
    inode, size, mtime and ctime (not following a final symlink; None when missing)."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return [
        info.st_mode,
        info.st_uid,
        info.st_dev,
        info.st_ino,
        info.st_size,
        info.st_mtime_ns,
        info.st_ctime_ns,
    ]


def tree(path: str) -> list[list[Any]] | None:
    """``path`` and, for a directory, everything under it, each with its ``signature``
    (symlinks to directories are not followed; a symlink's target is, once, as a file);
    None when there are more than ``MAX_FILES``."""
    entries = [[path, signature(path)]]
    if os.path.islink(path) and os.path.exists(path):
        entries.append([os.path.realpath(path), signature(os.path.realpath(path))])
    if not os.path.isdir(path):
        return entries
    for directory, subdirectories, files in os.walk(path):
        subdirectories.sort()
        for name in [*subdirectories, *sorted(files)]:
            full = os.path.join(directory, name)
            entries.append([full, signature(full)])
            if os.path.islink(full) and not os.path.isdir(full):
                real = os.path.realpath(full)
                entries.append([real, signature(real)])
        if len(entries) > MAX_FILES:
            return None
    return entries


# -- writing ---------------------------------------------------------------------------------


def directory_of(state_root: str) -> str:
    """Where the receipts of a state directory live."""
    return os.path.join(state_root, DIRECTORY)


def write(state_root: str, key: str, receipt: Mapping[str, Any]) -> None:
    """Leave ``receipt`` as ``key`` (atomically, readable by this user only)."""
    directory = directory_of(state_root)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    final = os.path.join(directory, key)
    temporary = f"{final}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w") as file:
            json.dump({"version": VERSION, **receipt}, file)
        os.replace(temporary, final)
    except BaseException:
        try:  # noqa: SIM105 - contextlib is not imported here (see the module's docstring)
            os.unlink(temporary)
        except OSError:
            pass
        raise


def forget(state_root: str, key: str) -> None:
    """Remove the receipt ``key`` (a command that ran the pass and did not settle)."""
    try:  # noqa: SIM105 - contextlib is not imported here (see the module's docstring)
        os.unlink(os.path.join(directory_of(state_root), key))
    except OSError:
        pass


# -- checking ----------------------------------------------------------------------------------


def check(state_root: str, key: str, now: float | None = None) -> tuple[str, dict[str, int]] | None:
    """The output to replay when the receipt ``key`` still holds, with the Engine calls the
    check made; None when the command must run."""
    receipt = _read(state_root, key)
    if receipt is None:
        return None
    now = time.time() if now is None else now
    written = receipt.get("written")
    if not isinstance(written, float | int) or not 0 <= now - written < MAX_AGE:
        return None
    if not _files_hold(receipt):
        return None
    for question, path, limit, answer in receipt.get("host", []):
        try:
            if hostpaths.ask(question, path, limit) != answer:
                return None
        except (ValueError, TypeError):
            return None
    engine = receipt.get("engine")
    if not isinstance(engine, dict) or not _engine_holds(engine):
        return None
    output = receipt.get("stdout")
    return (output, {"info": 1, "events.replay": 1}) if isinstance(output, str) else None


def _read(state_root: str, key: str) -> dict[str, Any] | None:
    """The receipt, only from a directory and file that are this user's alone."""
    directory = directory_of(state_root)
    me = os.geteuid()
    try:
        info = os.lstat(directory)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != me or info.st_mode & 0o022:
            return None
        fd = os.open(os.path.join(directory, key), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if info.st_uid != me or info.st_mode & 0o077 or not stat.S_ISREG(info.st_mode):
            return None
        with os.fdopen(fd, "rb") as file:
            fd = -1
            receipt = json.loads(file.read())
    except (OSError, ValueError):
        return None
    finally:
        if fd >= 0:
            os.close(fd)
    if not isinstance(receipt, dict) or receipt.get("version") != VERSION:
        return None
    return receipt


def _files_hold(receipt: Mapping[str, Any]) -> bool:
    files = receipt.get("files")
    if not isinstance(files, list) or not files:
        return False
    return all(
        isinstance(item, list) and len(item) == 2 and signature(item[0]) == item[1]
        for item in files
    )


def _engine_holds(engine: Mapping[str, Any]) -> bool:
    """Whether the Engine is the one the receipt names and did nothing since its clock."""
    path = engine.get("socket")
    cutoff = engine.get("cutoff_ns")
    anchor = engine.get("anchor_ns")
    if not isinstance(path, str) or not isinstance(cutoff, int) or not isinstance(anchor, int):
        return False
    if signature(path) != engine.get("signature"):
        return False  # another file there: the Engine was restarted, or is another one
    try:
        info = json.loads(_get(path, "/info"))
        if [info.get("ID"), info.get("Name"), info.get("DockerRootDir")] != engine.get("who"):
            return False
        clock = _time_ns(str(info.get("SystemTime") or ""))
        if clock is None or clock < cutoff:
            return False
        log = _get(path, f"/events?since={_stamp(anchor)}&until={_stamp(clock)}")
    except (OSError, ValueError, AttributeError):
        return False
    return quiet_since(log.splitlines(), cutoff, anchor)


def anchor_before(socket_path: str, cutoff: int) -> int | None:
    """The time of the Engine's newest event at or before ``cutoff``, still in its log:
    the event a later check's replay must begin with (None when there is none)."""
    try:
        log = _get(socket_path, f"/events?since=0&until={_stamp(cutoff)}")
        times = [json.loads(line).get("timeNano") for line in log.splitlines() if line.strip()]
    except (OSError, ValueError, AttributeError):
        return None
    found = [t for t in times if isinstance(t, int) and t <= cutoff]
    return max(found) if found else None


def quiet_since(lines: Iterable[bytes], cutoff: int, anchor: int) -> bool:
    """Whether an Engine event log replayed from ``anchor`` (one JSON event a line, oldest
    first; ``anchor`` an event at or before ``cutoff``) still begins with that event (so
    that none after it can have been dropped: the Engine keeps only its newest events, and
    a restarted one none) and holds none after ``cutoff`` but a container's ``exec_*``."""
    first = True
    for line in lines:
        if not line.strip():
            continue
        event = json.loads(line)
        when = event.get("timeNano")
        if not isinstance(when, int) or (first and when != anchor):
            return False
        first = False
        if when > cutoff and not (
            event.get("Type") == "container" and _action(event) in HARMLESS_ACTIONS
        ):
            return False
    return not first


def _stamp(nanos: int) -> str:
    """A time for the Engine's ``since`` and ``until``: seconds and nanoseconds."""
    seconds, rest = divmod(nanos, 1_000_000_000)
    return f"{seconds}.{rest:09d}"


def _action(event: Mapping[str, Any]) -> str:
    """An event's action without what the Engine appends (``exec_start: /bin/sh -c ...``)."""
    return str(event.get("Action") or "").partition(":")[0]


def _get(path: str, target: str) -> bytes:
    """The body of an HTTP/1.0 ``GET`` to the Engine's unix socket (the Engine answers it
    whole and closes); raises OSError unless the answer is a 200."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(ENGINE_TIMEOUT)
        sock.connect(path)
        sock.sendall(f"GET {target} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
        chunks = []
        while True:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or status[1] != b"200":
        raise OSError(f"the Engine answered {target} with {head[:40]!r}")
    return body


def _time_ns(text: str) -> int | None:
    """An RFC 3339 time with up to nine fraction digits (``/info``'s ``SystemTime``) in
    nanoseconds since the epoch; None when it is not one."""
    try:
        date, clock = text.split("T")
        zone = 0
        if clock.endswith("Z"):
            clock = clock[:-1]
        else:
            for sign in ("+", "-"):
                if sign in clock:
                    clock, _, offset = clock.rpartition(sign)
                    hours, minutes = (int(x) for x in offset.split(":"))
                    zone = (hours * 3600 + minutes * 60) * (1 if sign == "+" else -1)
        year, month, day = (int(x) for x in date.split("-"))
        whole, _, fraction = clock.partition(".")
        hour, minute, second = (int(x) for x in whole.split(":"))
        nanos = int(fraction[:9].ljust(9, "0")) if fraction else 0
    except ValueError:
        return None
    seconds = _days(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - zone
    return seconds * 1_000_000_000 + nanos


def _days(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
    days_from_civil: ``calendar`` costs ~3 ms to import, in a path that takes ~40 ms)."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    of_era = year - era * 400
    of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    of_era_days = of_era * 365 + of_era // 4 - of_era // 100 + of_year
    return era * 146097 + of_era_days - 719468
