"""How the console script reaches a warm ``reconcile server``: where it listens, which
commands it runs, and the messages both sides exchange (the standard library and the
``statedir`` leaf only: the client reads it before anything heavy is imported).

Messages are JSON. The request is length-prefixed and carries the client's standard
streams as file descriptors; everything after it is one JSON object per line: the server's
answer (``{"pid": N}`` when the command started, ``{"refused": why}`` when nothing was run),
the client's relayed signals (``{"signal": N}``), and the command's ``{"status": N}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct

from reconciler.state import statedir

# Not typing.TYPE_CHECKING: the console script imports this module, and typing costs ~2 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import Any, BinaryIO

SOCKET_NAME = statedir.SOCKET_NAME
PROTOCOL = 1
# Commands a server runs. The long-running ones (`run`, `sync`) gain nothing from a warm
# start and are better owned by a process (and supervisor) of their own.
FORWARDED = frozenset(
    {
        "apply",
        "diff",
        "get",
        "delete",
        "validate",
        "history",
        "rollback",
        "status",
        "events",
        "images",
    }
)
OPT_OUT = "RECONCILE_NO_SERVER"
# Options taking a value that may come before the command (the group's own options), and
# the group's flags.
GLOBAL_OPTIONS = ("--context", "--backend")
GLOBAL_FLAGS = ("--timings",)
_HEADER = struct.Struct("!I")
# struct ucred, what SO_PEERCRED gives on a connected socket: pid, uid, gid.
PEERCRED = struct.Struct("iII")
MAX_REQUEST = 4 << 20
STREAMS = 3  # stdin, stdout, stderr


def command_of(argv: Sequence[str]) -> str | None:
    """The command a command line runs: its first word after the global options
    (``--context NAME`` or ``--context=NAME``)."""
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg in GLOBAL_OPTIONS:
            index += 2
        elif arg in GLOBAL_FLAGS or arg.split("=", 1)[0] in GLOBAL_OPTIONS:
            index += 1
        else:
            return arg
    return None


def socket_path(state_dir: str) -> str:
    """Where a server for ``state_dir`` listens."""
    return os.path.join(state_dir, SOCKET_NAME)


def package_dir() -> str:
    """This package's directory: a server answers only clients of the same installation."""
    return os.path.dirname(os.path.realpath(__file__))


def send_request(sock: socket.socket, request: dict[str, Any], fds: Sequence[int]) -> None:
    """The length-prefixed request, with ``fds`` attached to its first bytes."""
    body = json.dumps(request).encode()
    data = _HEADER.pack(len(body)) + body
    sent = socket.send_fds(sock, [data], list(fds))
    if sent < len(data):
        sock.sendall(data[sent:])


def receive_request(sock: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """A request and the file descriptors that came with it. Raises ValueError on anything
    malformed (the descriptors received so far are closed first)."""
    data, fds, _flags, _addr = socket.recv_fds(sock, 65536, STREAMS)
    try:
        if len(data) < _HEADER.size:
            raise ValueError("short request")
        (size,) = _HEADER.unpack_from(data)
        if size > MAX_REQUEST:
            raise ValueError("request too large")
        body = bytearray(data[_HEADER.size :])
        while len(body) < size:
            chunk = sock.recv(min(65536, size - len(body)))
            if not chunk:
                raise ValueError("truncated request")
            body += chunk
        request = json.loads(bytes(body[:size]))
        if not isinstance(request, dict):
            raise ValueError("request is not an object")
    except (ValueError, OSError):
        for fd in fds:
            _close(fd)
        raise ValueError("malformed request") from None
    return request, fds


def send_line(sock: socket.socket, message: dict[str, Any]) -> None:
    """One JSON message on a line of its own."""
    sock.sendall(json.dumps(message).encode() + b"\n")


def messages(reader: BinaryIO) -> Iterator[dict[str, Any]]:
    """The messages on ``reader``, one a line, until the other side closes (or the connection
    breaks); a line that is not a JSON object is skipped."""
    while True:
        try:
            line = reader.readline()
        except OSError:
            return
        if not line:
            return
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict):
            yield message


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
