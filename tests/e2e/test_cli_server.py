"""``reconcile server`` as a user runs it: commands given to the console script run in the
warm server with the caller's directory, environment and streams, give the same output and
exit codes as without it, stop on the caller's Ctrl-C, and fall back to running in the
caller's process whenever no server (or a dead one) is there."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.cli import wire
from tests.docker.scenario import CONTAINER, LOOP, MISSPELT, Scenario
from tests.e2e.conftest import RunReconcile

NEVER_HEALTHY = """\
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-sick}
    spec:
      image: $image
      command: [sh, -c, '$loop']
      stopGracePeriod: 1s
      healthcheck: {test: [CMD, "false"], interval: 1s, timeout: 1s, retries: 1}
    """


@dataclass
class Server:
    """A ``reconcile server`` process for one state directory, and its log."""

    process: subprocess.Popen[str]
    socket: Path
    log: Path

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()

    def ran(self, command: str) -> list[int]:
        """Pids of the children it forked for ``command``."""
        prefix = f"reconcile server: {command}: pid "
        return [int(line[len(prefix) :]) for line in self.lines() if line.startswith(prefix)]


def start_server(reconcile_bin: Path, state_dir: Path, log: Path) -> Server:
    handle = log.open("w")
    process = subprocess.Popen(
        [str(reconcile_bin), "server", "--state-dir", str(state_dir)],
        stdin=subprocess.DEVNULL,
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
    )
    handle.close()
    server = Server(process, state_dir / wire.SOCKET_NAME, log)
    deadline = time.monotonic() + 30
    while "listening at" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"reconcile server did not start:\n{log.read_text()}", pytrace=False)
        time.sleep(0.05)
    return server


@pytest.fixture
def server(reconcile_bin: Path, sc: Scenario, tmp_path: Path) -> Iterator[Server]:
    running = start_server(reconcile_bin, sc.state_dir, tmp_path / "server.log")
    try:
        yield running
    finally:
        running.process.terminate()
        try:
            running.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            running.process.kill()


def ok(result: subprocess.CompletedProcess[str], code: int = 0) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_apply_diff_and_get_run_in_the_server_as_they_would_in_the_caller(
    run_reconcile: RunReconcile, sc: Scenario, server: Server
) -> None:
    sc.write(CONTAINER, "a.yaml", name="a", loop=LOOP, gen=1)
    # A relative path and the state directory from the environment: the caller's working
    # directory and environment are the command's.
    args = ("-f", sc.directory.name, "--project", sc.project)
    env = {"RECONCILE_STATE_DIR": str(sc.state_dir)}
    cwd = sc.directory.parent

    out = ok(run_reconcile("apply", *args, env=env, cwd=cwd))
    assert f"Container/{sc.project}-a: created" in out
    assert sc.container("a").status == "running"
    assert len(server.ran("apply")) == 1

    assert "no changes" in ok(run_reconcile("diff", *args, env=env, cwd=cwd))
    sc.write(CONTAINER, "a.yaml", name="a", loop=LOOP, gen=2)
    warm = run_reconcile("diff", *args, env=env, cwd=cwd)
    cold = run_reconcile("diff", *args, env={**env, wire.OPT_OUT: "1"}, cwd=cwd)
    assert (warm.returncode, warm.stdout, warm.stderr) == (
        cold.returncode,
        cold.stdout,
        cold.stderr,
    )
    assert warm.returncode == 3 and "GENERATION=" not in warm.stdout
    assert "env.GENERATION: 1 -> 2" in warm.stdout
    assert len(server.ran("diff")) == 2, "RECONCILE_NO_SERVER=1 runs in the caller"

    assert f"{sc.project}-a" in ok(run_reconcile("get", *args, "-o", "json", env=env, cwd=cwd))
    assert server.ran("get")


def test_a_bad_manifest_fails_the_same_through_the_server(
    run_reconcile: RunReconcile, sc: Scenario, server: Server
) -> None:
    sc.write(MISSPELT, "bad.yaml")
    args = ("-f", sc.directory, "--project", sc.project, "--state-dir", sc.state_dir)
    result = run_reconcile("apply", *args)
    ok(result, 1)
    assert f"{sc.directory / 'bad.yaml'}:6:3" in result.stderr
    assert server.ran("apply")
    assert sc.container_names() == []


def test_ctrl_c_interrupts_the_command_and_a_vanished_caller_stops_it(
    reconcile_bin: Path, sc: Scenario, server: Server
) -> None:
    sc.write(NEVER_HEALTHY, "sick.yaml", loop=LOOP)
    command = [
        str(reconcile_bin), "apply", "-f", str(sc.directory), "--project", sc.project,
        "--state-dir", str(sc.state_dir), "--wait", "--wait-timeout", "120",
    ]  # fmt: skip

    def started() -> subprocess.Popen[str]:
        before = len(server.ran("apply"))
        caller = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while len(server.ran("apply")) == before or not sc.container_names():
            assert time.monotonic() < deadline, "the apply did not start in the server"
            time.sleep(0.1)
        time.sleep(1)  # inside the wait now
        return caller

    caller = started()
    child = server.ran("apply")[-1]
    caller.send_signal(signal.SIGINT)
    _, err = caller.communicate(timeout=30)
    assert caller.returncode == 130, err
    assert "interrupted" in err
    assert not _alive(child) or _wait_gone(child)

    caller = started()
    child = server.ran("apply")[-1]
    caller.kill()  # the caller is gone: nobody waits for the command any more
    caller.communicate(timeout=30)
    assert _wait_gone(child), "the command went on without its caller"


def _wait_gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_the_socket_is_private_and_a_second_server_is_refused(
    run_reconcile: RunReconcile, sc: Scenario, server: Server
) -> None:
    assert server.socket.stat().st_mode & 0o777 == 0o600
    second = run_reconcile("server", "--state-dir", sc.state_dir, timeout=60)
    ok(second, 1)
    assert "already listens" in second.stderr
    assert server.process.poll() is None


def test_without_a_live_server_commands_run_in_the_caller(
    run_reconcile: RunReconcile, sc: Scenario
) -> None:
    sc.write(CONTAINER, "a.yaml", name="a", loop=LOOP, gen=1)
    # What a killed server leaves behind: a socket file nobody listens on.
    sc.state_dir.mkdir(parents=True, exist_ok=True)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sc.state_dir / wire.SOCKET_NAME))
    stale.close()
    args = ("-f", sc.directory, "--project", sc.project, "--state-dir", sc.state_dir)
    assert f"Container/{sc.project}-a: created" in ok(run_reconcile("apply", *args))
    assert "no changes" in ok(run_reconcile("diff", *args))


def _server_pids(state_dir: Path) -> list[int]:
    """Pids of the ``reconcile server`` processes of ``state_dir`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"server" in argv and str(state_dir).encode() in argv:
            found.append(int(entry.name))
    return found


def test_a_server_starts_on_first_use_serves_the_next_commands_and_exits_when_idle(
    reconcile_bin: Path, sc: Scenario
) -> None:
    """RECONCILE_SERVER=auto (the default at a terminal): the first command runs in its own
    process and starts a server; the next ones run in it; it exits after its idle time and
    leaves nothing behind."""
    sc.write(CONTAINER, "a.yaml", name="a", loop=LOOP, gen=1)
    sc.state_dir.mkdir(mode=0o700, exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(sc.state_dir),
        "RECONCILE_SERVER": "auto",
        "RECONCILE_SERVER_IDLE": "4",
    }
    args = [str(reconcile_bin), "diff", "-f", str(sc.directory), "-p", sc.project]
    args += ["--state-dir", str(sc.state_dir)]
    first = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    assert first.returncode == 3, first.stderr
    log = sc.state_dir / "server.log"
    deadline = time.monotonic() + 30
    while not (log.exists() and "listening at" in log.read_text()):
        assert time.monotonic() < deadline, log.read_text() if log.exists() else "no log"
        time.sleep(0.05)
    second = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    assert (second.returncode, second.stdout) == (first.returncode, first.stdout)
    assert "diff: pid " in log.read_text()  # the second one ran in the server
    assert len(_server_pids(sc.state_dir)) == 1
    # A third command while it runs starts no second server.
    subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    assert len(_server_pids(sc.state_dir)) == 1
    deadline = time.monotonic() + 30
    while _server_pids(sc.state_dir):
        assert time.monotonic() < deadline, "the server did not exit when idle"
        time.sleep(0.2)
    assert not (sc.state_dir / wire.SOCKET_NAME).exists()
    assert "exiting" in log.read_text()


def test_no_server_is_started_off_a_terminal_or_when_turned_off(
    reconcile_bin: Path, sc: Scenario
) -> None:
    sc.write(CONTAINER, "a.yaml", name="a", loop=LOOP, gen=1)
    sc.state_dir.mkdir(mode=0o700, exist_ok=True)
    base = {"PATH": os.environ["PATH"], "HOME": str(sc.state_dir)}
    args = [str(reconcile_bin), "diff", "-f", str(sc.directory), "-p", sc.project]
    args += ["--state-dir", str(sc.state_dir)]
    for extra in (
        {},
        {"RECONCILE_SERVER": "off"},
        {"RECONCILE_NO_SERVER": "1", "RECONCILE_SERVER": "auto"},
    ):
        done = subprocess.run(args, capture_output=True, text=True, env=base | extra, check=False)
        assert done.returncode == 3, done.stderr
    time.sleep(1.0)
    assert _server_pids(sc.state_dir) == []
    assert not (sc.state_dir / "server.log").exists()
