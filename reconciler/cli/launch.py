"""The ``reconcile`` console script: hand the command to a warm ``reconcile server`` when one
listens in the state directory, else run it in this process.

Every command starts here, so this module imports only small standard-library modules; the
CLI (click, pydantic, the models) is imported only when the command runs in this process. A
server runs the command in a forked copy of itself that already has every module imported
and every validator built, with this process's arguments, working directory, environment,
umask and standard streams (passed as file descriptors), so it behaves as it would here.
This process relays its signals and exits with the command's status. When no server
answers, or it declines (another installation, changed code), the command runs here: a
command is never run twice.

The request carries the whole environment (secrets included) and the terminal, and the
server's answer is what the user sees: it goes only to a server that is the user's own.
Before sending anything this process checks that the state directory is the user's and
nobody else may write it, that the socket is the user's, and that the process listening on
it runs as the user (its credentials on the connected socket); if any of that fails the
command runs here, as when no server runs. Decision note: docs/decisions/cli-server.md.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import sys

from reconciler import timings
from reconciler.cli import wire
from reconciler.state.statedir import default_state_dir_name, not_private

# Not typing.TYPE_CHECKING, nor contextlib below: each costs ~2 ms at every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from types import FrameType
    from typing import Any, NoReturn

RELAYED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
# RECONCILE_SERVER: "auto" starts a warm server on first use, "off" never; unset, a server
# is started when the command runs at a terminal (a person at a shell: scripts and CI start
# one by hand if they want it). RECONCILE_NO_SERVER=1 turns the warm path off altogether.
AUTO = "RECONCILE_SERVER"
# A server started on first use exits after this long without a command
# (RECONCILE_SERVER_IDLE, in seconds, says otherwise).
IDLE_EXIT = 900.0


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
    return wire.command_of(argv) in wire.FORWARDED


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


def distrust(state_dir: str, path: str) -> str | None:
    """Why the socket at ``path`` in ``state_dir`` may not be this user's server ('' when
    nothing speaks against it; None when there is no socket at all)."""
    try:
        directory = os.stat(state_dir)
        server = os.lstat(path)  # a symbolic link there is not the user's socket
    except OSError:
        return None
    if not stat.S_ISSOCK(server.st_mode):
        return f"{path} is not a socket"
    return not_private(directory, f"the state directory {state_dir}") or not_private(server, path)


def peer_distrust(sock: socket.socket) -> str:
    """Why the process listening on the connected ``sock`` is not this user's ('' when it
    is): checked on the connection itself, so no file swapped meanwhile can fool it."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, wire.PEERCRED.size)
    pid, uid, _gid = wire.PEERCRED.unpack(creds)
    me = os.geteuid()
    return "" if uid == me else f"its server (pid {pid}) runs as uid {uid}, not as uid {me}"


def forward(argv: Sequence[str], state_dir: str) -> int | None:
    """Run ``argv`` in the server of ``state_dir``: the command's exit status, or None when
    no server of this user's took it (then nothing was run; and nothing was sent to one that
    is not this user's)."""
    path = wire.socket_path(state_dir)
    why = distrust(state_dir, path)
    if why is None:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if not why:  # connecting sends nothing, and tells who listens
            sock.connect(path)
            why = peer_distrust(sock)
        if why:
            sys.stderr.write(f"warning: not using the reconcile server at {path}: {why}\n")
            sock.close()
            return None
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


def autostart_wanted() -> bool:
    """Whether a warm server should be started for the next commands (see ``AUTO``)."""
    if os.environ.get(wire.OPT_OUT, "") not in ("", "0"):
        return False
    choice = os.environ.get(AUTO, "")
    if choice in ("off", "0", "no"):
        return False
    if choice in ("auto", "on", "1", "yes"):
        return True
    return sys.stdin.isatty() and sys.stderr.isatty()


def autostart(state_dir: str) -> bool:
    """Start ``reconcile server --idle-exit`` for ``state_dir`` in the background, detached
    (its log: ``STATE_DIR/server.log``); this command still runs here. Only in a state
    directory that exists and is this user's alone; two starting at once are fine (the
    second finds the first listening and exits)."""
    try:
        if not_private(os.stat(state_dir), state_dir):
            return False
    except OSError:
        return False
    import subprocess

    log_path = os.path.join(state_dir, "server.log")
    try:
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    except OSError:
        return False
    code = "from reconciler.cli.app import main; main()"
    idle = os.environ.get("RECONCILE_SERVER_IDLE", "") or str(IDLE_EXIT)
    args = ["server", "--state-dir", state_dir, "--idle-exit", idle]
    try:
        subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
            env={k: v for k, v in os.environ.items() if k != AUTO},
        )
    except OSError:
        return False
    finally:
        os.close(log)
    return True


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``reconcile`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if timings.wanted(args):
        timings.launched()
    if wire.command_of(args) == "apply":
        # An apply that settled before, with nothing changed since, prints what it printed
        # (cli/settled.py): no pass, no server, ~15 ms of checks.
        from reconciler.cli import settled

        status = settled.replay(args, state_dir_of(args))
        if status is not None:
            os._exit(status)
    if forwardable(args):
        state_dir = state_dir_of(args)
        status = forward(args, state_dir)
        if status is not None:
            # Nothing of this process needs tearing down (the command ran elsewhere):
            # skipping the interpreter's finalization saves a few milliseconds.
            sys.stderr.flush()
            os._exit(status)
        if autostart_wanted():
            autostart(state_dir)  # for the next command; a live one makes it exit at once
    from reconciler.cli.app import main as run_here

    if wire.command_of(args) not in wire.FORWARDED:
        run_here(args)  # run, sync, server...: long-lived, they exit the ordinary way
        return
    from reconciler.cli import collector

    collector.pause()  # a one-shot command: see cli/collector.py
    try:
        run_here(args)
    except SystemExit as exc:
        leave(exc)
    leave(SystemExit(0))


def leave(exc: SystemExit) -> NoReturn:
    """End a one-shot command run in this process as the warm server's child ends: its
    streams flushed, then ``os._exit``, skipping the interpreter's teardown, which frees
    every object of the models and the CLI one by one (60-90 ms after a no-op apply of 50,
    measured: longer than the pass). Anything the ordinary exit would do differently takes
    the ordinary exit: a code that is not a number (printed by Python), a thread other than
    a daemon one still running, a stream that cannot be flushed."""
    code = exc.code
    threading = sys.modules.get("threading")
    busy = threading is not None and any(
        t.is_alive() and not t.daemon and t is not threading.main_thread()
        for t in threading.enumerate()
    )
    if busy or not (code is None or isinstance(code, int)):
        raise exc
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        raise exc from None
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.shutdown()
    os._exit((code or 0) & 0xFF)
