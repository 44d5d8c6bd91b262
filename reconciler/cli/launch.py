"""The ``reconcile`` console script: hand the command to a warm ``reconcile server`` when one
listens in the state directory, else run it in this process.

Every command starts here, so this module imports only small standard-library modules; the
CLI (click, pydantic, the models) is imported only when the command runs in this process. A
server runs the command in a forked copy of itself that already has every module imported
and every validator built, with this process's arguments, working directory, environment,
umask and standard streams (passed as file descriptors), so it behaves as it would here.
This process relays its signals and exits with the command's status. When no server
answers, or it declines (another installation, changed code), the command runs here: a
command is never run twice. Decision note: docs/decisions/cli-server.md.
"""

from __future__ import annotations

import os
import signal
import socket
import sys

from reconciler.cli import wire
from reconciler.state.statedir import default_state_dir_name

# Not typing.TYPE_CHECKING, nor contextlib below: each costs ~2 ms at every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from types import FrameType
    from typing import Any

RELAYED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def state_dir_of(argv: Sequence[str]) -> str:
    """The state directory a command line names (``--state-dir X`` or ``--state-dir=X``;
    the last one wins, as with click), else the default."""
    found: str | None = None
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--state-dir" and index + 1 < len(argv):
            found = argv[index + 1]
        elif arg.startswith("--state-dir="):
            found = arg.split("=", 1)[1]
    return found if found else default_state_dir_name()


def forwardable(argv: Sequence[str]) -> bool:
    """Whether a server may run this command line: a forwarded command named in full, and
    no ``RECONCILE_NO_SERVER`` in the environment."""
    if os.environ.get(wire.OPT_OUT, "") not in ("", "0"):
        return False
    return bool(argv) and argv[0] in wire.FORWARDED


def request_for(argv: Sequence[str]) -> dict[str, Any]:
    """What a server needs to run ``argv`` as this process would."""
    umask = os.umask(0o022)
    os.umask(umask)
    return {
        "protocol": wire.PROTOCOL,
        "argv": list(argv),
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "umask": umask,
        "executable": sys.executable,
        "package": wire.package_dir(),
    }


def forward(argv: Sequence[str], path: str) -> int | None:
    """Run ``argv`` in the server listening at ``path``: the command's exit status, or None
    when no server took it (then nothing was run)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        wire.send_request(sock, request_for(argv), [0, 1, 2])
        reader = sock.makefile("rb")
        answers = wire.messages(reader)
        answer = next(answers, {})
    except OSError:
        sock.close()
        return None
    if "pid" not in answer:
        sock.close()
        return None
    return _relay(sock, answers)


def _relay(sock: socket.socket, answers: Iterator[dict[str, Any]]) -> int:
    """Pass our signals on to the command until it reports its exit status."""

    def relay(signum: int, _frame: FrameType | None) -> None:
        try:  # noqa: SIM105 - contextlib is not imported here (see above)
            wire.send_line(sock, {"signal": signum})
        except OSError:
            pass

    for signum in RELAYED:
        signal.signal(signum, relay)
    for message in answers:
        if "status" in message:
            return int(message["status"])
    sys.stderr.write("error: the reconcile server ended the command without a status\n")
    return 1


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``reconcile`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if forwardable(args):
        path = wire.socket_path(state_dir_of(args))
        if os.path.exists(path):
            status = forward(args, path)
            if status is not None:
                # Nothing of this process needs tearing down (the command ran elsewhere):
                # skipping the interpreter's finalization saves a few milliseconds.
                sys.stderr.flush()
                os._exit(status)
    from reconciler.cli.app import main as run_here

    run_here(args)
