"""``reconcile server``: a warm process that runs the console script's commands.

A command's own work (read the manifests, observe, plan, apply) takes tens of milliseconds;
starting Python, importing the libraries and building the validators costs more than that
every time. The server pays it once: it imports everything, builds every validator, then
listens on a unix socket in the state directory. For each command it forks: the child is a
fresh process with the client's arguments, working directory, environment, umask and
standard streams (received as file descriptors), runs the command exactly as the CLI would,
and reports the exit status. Nothing is shared between commands but the imported code.

Safety: the socket is the user's alone (0600 in the 0700 state directory, which is refused
when another user's), and a peer of another user is refused by its credentials; the client
checks the same of the server before it sends anything (``launch``). The server declines
(and the client runs the command itself) when the client is another installation, or when
this package's files changed since the server started; it then re-executes itself to load
the new code.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from io import TextIOWrapper
from pathlib import Path
from typing import Any, NoReturn

from reconciler.cli import collector, wire
from reconciler.errors import StateError
from reconciler.state import privatefiles
from reconciler.state.codeversion import code_fingerprint, running_code_fingerprint
from reconciler.state.privatedir import state_directory

# A client has this long to send its request; the server reads requests one at a time.
REQUEST_TIMEOUT = 5.0
BACKLOG = 64
# How often the server looks whether a cache it holds changed (a stat per file): often in
# the minute after a command (which is when its child rewrites them), seldom after that.
HOLD_POLL = 0.25
HOLD_BUSY = 60.0
HOLD_IDLE_POLL = 5.0

# One manifest of each kind, validated at start so that every validator is built before the
# first fork (pydantic builds them on first use).
_WARM_UP = """\
apiVersion: reconcile/v1
kind: Container
metadata: {name: warm-up, labels: {a: b}}
spec:
  image: warm-up
  command: [a]
  env: {A: b}
  mounts: [{type: volume, source: warm-up, target: /data}]
  networks: [warm-up]
---
apiVersion: reconcile/v1
kind: Volume
metadata: {name: warm-up}
spec: {}
---
apiVersion: reconcile/v1
kind: Network
metadata: {name: warm-up}
spec: {}
"""

Runner = Callable[[list[str]], None]
Log = Callable[[str], None]


def warm_up() -> None:
    """Import what commands use and build every validator, once, before any fork. What a
    command imports only when it runs (to keep a one-shot start small) is imported here too:
    each child would pay it again (cryptography alone is ~25 ms, to open the sealed caches)."""
    import cryptography.fernet  # noqa: F401 - imported for the children

    import reconciler.cli.cmd_apply
    import reconciler.cli.cmd_compose
    import reconciler.cli.cmd_history
    import reconciler.cli.cmd_images
    import reconciler.cli.cmd_loop
    import reconciler.cli.cmd_sync
    import reconciler.cli.settle
    import reconciler.converge.enginestate
    import reconciler.converge.overview
    import reconciler.converge.pipeline
    import reconciler.converge.records
    import reconciler.policy
    import reconciler.runtime.docker
    import reconciler.sources.files
    import reconciler.sources.hosts
    import reconciler.sources.naming
    import reconciler.sources.revision
    import reconciler.state.locking
    import reconciler.state.statedir
    from reconciler.loading import load_text
    from reconciler.manifests import any_manifest

    any_manifest()
    result = load_text(_WARM_UP, "<warm-up>")
    if result.problems:  # the sample is ours: a problem here is a bug, not a user's error
        raise AssertionError(f"warm-up manifests did not validate: {result.problems}")
    reconciler.policy.load_policy(None)


class Server:
    """The listening socket of one state directory and what it takes to fork a command."""

    def __init__(self, state_dir: Path, run: Runner, log: Log) -> None:
        self.state_dir = state_dir
        self.path = Path(wire.socket_path(str(state_dir)))
        self.run = run
        self.log = log
        self.fingerprint = running_code_fingerprint()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.inode: int | None = None

    def bind(self) -> None:
        """Listen at the socket path; refuse when another server already answers there, or
        when the state directory is not this user's alone (``privatedir``)."""
        for warning in state_directory(self.state_dir):
            self.log(f"warning: {warning}")
        if self.path.exists() or self.path.is_symlink():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(self.path))
            except OSError:
                self.path.unlink()  # a server that died left its socket behind
            else:
                raise StateError(f"a reconcile server already listens at {self.path}")
            finally:
                probe.close()
        old = os.umask(0o177)  # the socket is created 0600
        try:
            self.listener.bind(str(self.path))
        except OSError as exc:
            raise StateError(f"cannot listen at {self.path}: {exc}") from exc
        finally:
            os.umask(old)
        self.inode = self.path.stat().st_ino
        self.listener.listen(BACKLOG)

    def close(self) -> None:
        """Stop listening and remove the socket (only if it is still ours)."""
        try:
            if self.inode is not None and self.path.stat().st_ino == self.inode:
                self.path.unlink()
        except OSError:
            pass
        self.listener.close()

    def serve_forever(self, idle_exit: float | None = None) -> None:
        """Accept and fork until stopped by a signal or by a change of code, or until
        ``idle_exit`` seconds pass without a request. Between requests it holds the state
        directory's sealed caches (``hold_caches``), so a command need not read them."""
        last = time.monotonic()
        while True:
            self.hold_caches()
            quiet = time.monotonic() - last
            wait = HOLD_POLL if quiet < HOLD_BUSY else HOLD_IDLE_POLL
            if idle_exit is not None:
                left = last + idle_exit - time.monotonic()
                if left <= 0:
                    self.log(f"no command for {idle_exit:g}s: exiting")
                    return
                wait = min(wait, left)
            self.listener.settimeout(wait)  # > 0: a blocking accept with a timeout
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            last = time.monotonic()
            conn.settimeout(None)
            try:
                self.handle(conn)
            except Exception as exc:  # one bad client never stops the server
                self.log(f"request failed: {exc}")
            finally:
                conn.close()

    def handle(self, conn: socket.socket) -> None:
        """Read one request, check it, and fork its command (or say why not)."""
        if _peer_uid(conn) != os.geteuid():
            wire.send_line(conn, {"refused": "another user"})
            return
        conn.settimeout(REQUEST_TIMEOUT)
        request, fds = wire.receive_request(conn)
        why = ""
        try:
            for fd in fds:
                os.set_inheritable(fd, False)
            why = self.refusal(request, fds)
            if why:
                wire.send_line(conn, {"refused": why})
                self.log(f"declined {_command(request)}: {why}")
                return
            conn.settimeout(None)
            for stream in (sys.stdout, sys.stderr):
                stream.flush()  # or the child would write the server's buffered lines
            pid = os.fork()
            if pid == 0:
                self.listener.close()
                run_child(conn, request, fds, self.run)
            self.log(f"{_command(request)}: pid {pid}")
        finally:
            for fd in fds:
                os.close(fd)
            if why == "code changed":
                conn.close()
                self.restart()

    def hold_caches(self) -> None:
        """Read the sealed caches a command would read (the load cache, the inspect cache,
        the build contexts' digests: ``*.pickle`` in the state directory and in each Engine's
        directory under it) into memory, again only after a file changed: the commands forked
        next find them there (``privatefiles.hold``). ~20 ms per command at 100 containers.
        A stat per file while nothing changed, every ``HOLD_POLL`` seconds in the minute
        after a command and every ``HOLD_IDLE_POLL`` seconds after that."""
        paths = [*self.state_dir.glob("*.pickle"), *self.state_dir.glob("*/*/*.pickle")]
        privatefiles.hold(sorted(paths))

    def refusal(self, request: dict[str, Any], fds: Sequence[int]) -> str:
        """Why this request is not run here ('' when it is)."""
        argv = request.get("argv")
        if request.get("protocol") != wire.PROTOCOL:
            return "another protocol"
        if request.get("package") != wire.package_dir():
            return "another installation"
        if request.get("executable") != sys.executable:
            return "another interpreter"
        if (
            not isinstance(argv, list)
            or wire.command_of([str(a) for a in argv]) not in wire.FORWARDED
        ):
            return "not a forwarded command"
        if len(fds) != wire.STREAMS:
            return "no standard streams"
        if code_fingerprint() != self.fingerprint:
            return "code changed"
        return ""

    def restart(self) -> NoReturn:
        """Run again as a new process image, with the package's current code."""
        self.log("the package changed on disk: restarting to load it")
        self.close()
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def run_child(
    conn: socket.socket, request: dict[str, Any], fds: Sequence[int], run: Runner
) -> NoReturn:
    """In the forked child: become the client's command, run it, report its status. Never
    returns, whatever is raised: the server's loop must not go on in a child."""
    status = 1
    try:
        try:
            _become(request, fds)
            collector.pause()  # the warm pages are frozen; the command's own are not
            wire.send_line(conn, {"pid": os.getpid()})
            threading.Thread(target=_relay_signals, args=(conn,), daemon=True).start()
            status = _run(run, list(request["argv"]))
        finally:
            # The client leaves once it has the status: that is no interrupt any more.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            for stream in (sys.stdout, sys.stderr):
                # A closed or broken stream must not hide the status.
                with contextlib.suppress(Exception):
                    stream.flush()
            with contextlib.suppress(OSError):
                wire.send_line(conn, {"status": status})
    finally:
        os._exit(status)


def _become(request: dict[str, Any], fds: Sequence[int]) -> None:
    os.setpgid(0, 0)  # a Ctrl-C in the server's terminal is not the command's
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    env = {str(k): str(v) for k, v in dict(request["env"]).items()}
    os.environ.clear()
    os.environ.update(env)
    os.chdir(str(request["cwd"]))
    os.umask(int(request["umask"]))
    sys.argv = ["reconcile", *request["argv"]]
    sys.stdin = _stream(0, "r")
    sys.stdout = _stream(1, "w")
    sys.stderr = _stream(2, "w", errors="backslashreplace")


def _stream(fd: int, mode: str, errors: str = "strict") -> TextIOWrapper:
    """A standard stream on ``fd`` as Python would have set it up for this process."""
    interactive = os.isatty(fd)
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    binary = open(fd, mode + "b", buffering=-1, closefd=False)  # noqa: SIM115 - the stream
    return TextIOWrapper(
        binary,
        errors=errors,
        line_buffering=interactive or fd == 2,
        write_through=unbuffered,
    )


def _relay_signals(conn: socket.socket) -> None:
    """Deliver the client's relayed signals to this process; a client that went away is an
    interrupt (nobody waits for the command any more)."""
    relayed = {int(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)}
    for message in wire.messages(conn.makefile("rb")):
        signum = message.get("signal")
        if isinstance(signum, int) and signum in relayed:
            os.kill(os.getpid(), signum)
    os.kill(os.getpid(), signal.SIGINT)


def _run(run: Runner, argv: list[str]) -> int:
    try:
        run(argv)
    except SystemExit as exc:
        return _exit_code(exc.code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BaseException:  # what the interpreter would print for an uncaught error
        traceback.print_exc()
        return 1
    return 0


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    sys.stderr.write(f"{code}\n")
    return 1


def _command(request: dict[str, Any]) -> str:
    argv = request.get("argv")
    found = wire.command_of([str(a) for a in argv]) if isinstance(argv, list) else None
    return found or "?"


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, wire.PEERCRED.size)
    _pid, uid, _gid = wire.PEERCRED.unpack(creds)
    return int(uid)


def serve(state_dir: Path, run: Runner, log: Log, idle_exit: float | None = None) -> None:
    """Warm up, listen in ``state_dir`` and run commands until SIGTERM or SIGINT (or, with
    ``idle_exit``, until that many seconds pass without one)."""
    warm_up()
    server = Server(state_dir, run, log)
    server.bind()

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    gc.collect()
    gc.freeze()  # keep the collector from touching (and so copying) the warm pages in children
    log(f"listening at {server.path} (pid {os.getpid()})")
    try:
        server.serve_forever(idle_exit)
    finally:
        server.close()
