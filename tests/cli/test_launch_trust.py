"""The console script gives nothing to a server that is not the caller's own.

A ``server.sock`` planted by another user (state in a shared directory, a state directory
someone else made) would otherwise receive the caller's whole environment and terminal, and
could print anything and report success. Before sending anything the client checks that the
state directory is the caller's and nobody else may write it, that the socket file is the
caller's, and that the process listening on it runs as the caller (SO_PEERCRED); otherwise
the command runs in the caller's process, as when no server runs.

Done for real, as root: a planted server in another process, listening as (or with a socket
file of) uid 65534, records what it receives and answers as an attacker would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.cli import wire

NOBODY = 65534
RECONCILE = Path(sys.executable).with_name("reconcile")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="plants a server of another user: needs root"
)

# Binds as root (so the socket can be placed anywhere), gives the socket file to FILE_OWNER,
# then listens as RUN_AS (SO_PEERCRED reports who called listen()). For each connection it
# prints what it received; given a request, it does what an attacker would: fake output on
# the caller's stdout and a success.
PLANTED = r"""
import json, os, socket, sys
path, file_owner, run_as = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(path)
if file_owner >= 0:
    os.chown(path, file_owner, file_owner)
if run_as >= 0:
    os.setgroups([])
    os.setgid(run_as)
    os.setuid(run_as)
listener.listen(8)
print(json.dumps({"listening": os.getuid()}), flush=True)
while True:
    conn, _ = listener.accept()
    conn.settimeout(5)
    try:
        data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    except OSError:
        data, fds = b"", []
    print(json.dumps({"received": data.decode(errors="replace"), "fds": len(fds)}), flush=True)
    if data:
        conn.sendall(b'{"pid": 1}\n')
        if len(fds) == 3:
            os.write(fds[1], b"FAKE OUTPUT\n")
        conn.sendall(b'{"status": 0}\n')
    for fd in fds:
        os.close(fd)
    conn.close()
"""

MANIFEST = """\
apiVersion: reconcile/v1
kind: Container
metadata: {name: web}
spec: {image: busybox}
"""


@dataclass
class Planted:
    """A planted server and what it was given."""

    process: subprocess.Popen[str]
    state_dir: Path

    def received(self) -> list[dict[str, object]]:
        self.process.kill()
        out, _ = self.process.communicate(timeout=10)
        return [json.loads(line) for line in out.splitlines()]


def plant(state_dir: Path, file_owner: int, run_as: int) -> Planted:
    process = subprocess.Popen(
        [sys.executable, "-c", PLANTED, wire.socket_path(str(state_dir)), str(file_owner),
         str(run_as)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    first = process.stdout.readline()
    assert json.loads(first) == {"listening": run_as if run_as >= 0 else 0}, first
    return Planted(process, state_dir)


@pytest.fixture
def planted() -> Iterator[list[Planted]]:
    servers: list[Planted] = []
    yield servers
    for server in servers:
        server.process.kill()
        server.process.wait(timeout=10)


def reconcile(state_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != wire.OPT_OUT}
    env.update(RECONCILE_STATE_DIR=str(state_dir), ROOTS_SECRET="hunter2")
    return subprocess.run(
        [str(RECONCILE), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _layout(tmp_path: Path, case: str) -> tuple[Path, int, int]:
    """The state directory of ``case``, the socket file's owner and the listener's uid."""
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    if case == "shared directory":  # state kept in a directory every user may write
        state_dir.chmod(0o1777)
        return state_dir, NOBODY, NOBODY
    if case == "their directory":  # a state directory another user made first
        os.chown(state_dir, NOBODY, NOBODY)
        return state_dir, NOBODY, NOBODY
    if case == "their socket file":
        return state_dir, NOBODY, -1
    assert case == "their process"  # the socket file is root's: only SO_PEERCRED tells
    return state_dir, -1, NOBODY


CASES = ["shared directory", "their directory", "their socket file", "their process"]


@pytest.mark.parametrize("case", CASES)
def test_a_server_of_another_user_gets_nothing_and_the_command_runs_here(
    tmp_path: Path, planted: list[Planted], case: str
) -> None:
    state_dir, file_owner, run_as = _layout(tmp_path, case)
    planted.append(server := plant(state_dir, file_owner, run_as))
    (tmp_path / "web.yaml").write_text(MANIFEST)

    result = reconcile(state_dir, "validate", "web.yaml", cwd=tmp_path)

    assert (result.returncode, result.stdout) == (0, "OK: 1 file, 1 Container\n"), result
    assert "FAKE" not in result.stdout + result.stderr
    assert result.stderr.startswith(
        f"warning: not using the reconcile server at {state_dir / wire.SOCKET_NAME}: "
    ), result.stderr
    got = server.received()
    assert all(entry == {"received": "", "fds": 0} for entry in got), got
    if case == "their process":
        assert got, "the client connected only to learn who listens"


def test_status_with_a_planted_server_reports_the_real_state(
    tmp_path: Path, planted: list[Planted]
) -> None:
    state_dir, file_owner, run_as = _layout(tmp_path, "their process")
    planted.append(server := plant(state_dir, file_owner, run_as))

    result = reconcile(state_dir, "status", "-p", "x", "--state-dir", str(state_dir), cwd=tmp_path)

    assert result.returncode == 1, result
    assert "FAKE" not in result.stdout
    assert result.stderr.splitlines()[-1] == (
        'no status for project "x": has `reconcile run` ever run for it?'
    )
    assert all(entry == {"received": "", "fds": 0} for entry in server.received())
    assert (state_dir / "state.db").stat().st_mode & 0o777 == 0o600


def test_the_callers_own_planted_socket_is_used(tmp_path: Path, planted: list[Planted]) -> None:
    # The control: the same planted server as the caller's own gets the request (and so
    # its fake answer shows), which is what makes the cases above meaningful.
    state_dir, _, _ = _layout(tmp_path, "their process")
    planted.append(server := plant(state_dir, -1, -1))
    (tmp_path / "web.yaml").write_text(MANIFEST)

    result = reconcile(state_dir, "validate", "web.yaml", cwd=tmp_path)

    assert (result.returncode, result.stdout) == (0, "FAKE OUTPUT\n"), result
    (entry,) = server.received()
    assert "hunter2" in str(entry["received"]) and entry["fds"] == 3
