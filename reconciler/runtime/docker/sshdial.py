"""A connection to a remote Engine through ``ssh HOST docker system dial-stdio``, as the
docker CLI's ``connhelper`` makes one: one ssh process per connection, its stdin and stdout
one end of a socket pair whose other end ``client`` speaks HTTP on, so keep-alive pooling,
timeouts, polling and ``shutdown`` work as on a unix socket.

The process runs in a session of its own (a Ctrl-C at the terminal is reconcile's to handle,
not ssh's to die of) with the caller's environment (``SSH_AUTH_SOCK``, ``HOME``); its
stderr is kept in an anonymous file so that a failure can say why (an unknown host key, a
refused key, no docker on the host). Nothing here logs.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Mapping

from reconciler.runtime.docker.addresses import Ssh

# How long ssh may take to exit after being told to (SIGTERM), and how long to wait for the
# reason of a failure (ssh exits right after writing it).
EXIT_WAIT = 3.0
REASON_WAIT = 2.0
MAX_REASON = 4000


class Channel:
    """One ssh process and this side's socket. ``close`` ends both."""

    def __init__(self, target: Ssh, environment: Mapping[str, str] | None, timeout: float) -> None:
        self.target = target
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._stderr = os.memfd_create("reconcile-ssh-stderr", os.MFD_CLOEXEC)
        try:
            self.process = subprocess.Popen(
                target.argv(max(1, int(timeout))),
                stdin=theirs.fileno(),
                stdout=theirs.fileno(),
                stderr=self._stderr,
                start_new_session=True,
                close_fds=True,
                env=dict(os.environ if environment is None else environment),
            )
        except BaseException:
            ours.close()
            os.close(self._stderr)
            raise
        finally:
            theirs.close()
        ours.settimeout(timeout)
        self.sock = ours
        self._killed = False
        self._said: str | None = None  # what ssh wrote to stderr, kept when closed

    def failure(self) -> str:
        """Why the channel broke, when ssh ended: its exit status and what it said ('' while
        it still runs, e.g. the Engine itself hung up, or when it ended only because it was
        told to)."""
        if self._said is None:
            try:
                self.process.wait(REASON_WAIT)
            except subprocess.TimeoutExpired:
                return ""
        text = self._said if self._said is not None else _read(self._stderr)
        said = " ".join(line.strip() for line in text.splitlines() if line.strip())
        status = self.process.returncode
        if not said and (status == 0 or self._killed):
            return ""
        where = f"ssh to {self.target.host}" + (
            f" port {self.target.port}" if self.target.port else ""
        )
        return f"{where} exited with status {status}" + (f": {said}" if said else "")

    def close(self) -> None:
        """Close this side and end the ssh process (SIGTERM, then SIGKILL if it lingers);
        what it said stays readable for ``failure``. Closing twice does nothing."""
        if self._said is not None:
            return
        with contextlib.suppress(OSError):
            self.sock.close()
        if self.process.poll() is None:
            self._killed = True
            with contextlib.suppress(OSError):
                self.process.terminate()
            try:
                self.process.wait(EXIT_WAIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._said = _read(self._stderr)
        with contextlib.suppress(OSError):
            os.close(self._stderr)


def _read(fd: int) -> str:
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        data = os.pread(fd, MAX_REASON, max(0, size - MAX_REASON))
    except OSError:
        return ""
    return data.decode("utf-8", "replace")
