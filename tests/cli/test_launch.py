"""The console script's side of ``reconcile server`` without an Engine: which commands go to
a server, where its socket is, what the server declines, and the request's round trip."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from reconciler.cli import launch, server, wire
from reconciler.errors import StateError
from reconciler.state.statedir import default_state_dir, default_state_dir_name


def test_short_commands_go_to_a_server_and_the_loops_never(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(wire.OPT_OUT, raising=False)
    assert launch.forwardable(["apply", "-f", "x"])
    assert launch.forwardable(["diff"]) and launch.forwardable(["validate", "x"])
    for argv in ([], ["run", "-m", "x"], ["sync"], ["server"], ["--help"], ["appl"]):
        assert not launch.forwardable(argv), argv
    monkeypatch.setenv(wire.OPT_OUT, "1")
    assert not launch.forwardable(["apply"])
    monkeypatch.setenv(wire.OPT_OUT, "0")
    assert launch.forwardable(["apply"])


def test_the_state_directory_comes_from_the_command_line_else_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RECONCILE_STATE_DIR", str(tmp_path / "env"))
    assert launch.state_dir_of(["apply", "-f", "x"]) == str(tmp_path / "env")
    assert launch.state_dir_of(["apply", "--state-dir", "/a", "--state-dir=/b"]) == "/b"
    assert launch.state_dir_of(["apply", "--state-dir=/b", "--state-dir", "/a"]) == "/a"
    assert launch.state_dir_of(["apply", "--", "--state-dir", "/a"]) == str(tmp_path / "env")
    assert wire.socket_path("/a") == "/a/server.sock"


def test_the_default_state_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_state_dir_name({"RECONCILE_STATE_DIR": "/s"}) == "/s"
    assert default_state_dir_name({"XDG_STATE_HOME": "/x"}) == "/x/reconcile"
    monkeypatch.setenv("HOME", "/home/u")
    assert default_state_dir({}) == Path("/home/u/.local/state/reconcile")


def _request(**changes: object) -> dict[str, object]:
    request = launch.request_for(["apply", "-f", "x"])
    request.update(changes)
    return request


def test_the_server_declines_other_installations_commands_and_changed_code(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    warm = server.Server(tmp_path, lambda argv: None, lambda message: None)
    streams = [0, 1, 2]
    assert warm.refusal(_request(), streams) == ""
    assert warm.refusal(_request(protocol=0), streams) == "another protocol"
    assert warm.refusal(_request(package="/elsewhere"), streams) == "another installation"
    assert warm.refusal(_request(executable="/usr/bin/python9"), streams) == ("another interpreter")
    assert warm.refusal(_request(argv=["run", "-m", "x"]), streams) == "not a forwarded command"
    assert warm.refusal(_request(argv=[]), streams) == "not a forwarded command"
    assert warm.refusal(_request(), [0]) == "no standard streams"
    monkeypatch.setattr(server, "code_fingerprint", lambda: "edited since")
    assert warm.refusal(_request(), streams) == "code changed"
    warm.listener.close()


def test_a_request_arrives_whole_with_the_callers_streams() -> None:
    client, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    read_end, write_end = os.pipe()
    try:
        request = _request(env={"BIG": "x" * 200_000})  # more than one read
        wire.send_request(client, request, [read_end, write_end, write_end])
        got, fds = wire.receive_request(peer)
        assert got == request and got["cwd"] == os.getcwd()
        assert got["executable"] == sys.executable and len(fds) == 3
        os.write(fds[1], b"through the passed descriptor")
        assert os.read(read_end, 100) == b"through the passed descriptor"
        for fd in fds:
            os.close(fd)
        client.sendall(b"\x00\x00")
        with pytest.raises(ValueError):
            wire.receive_request(peer)
    finally:
        for end in (client, peer):
            end.close()
        os.close(read_end)
        os.close(write_end)


def test_messages_are_read_a_line_each_until_the_other_side_closes() -> None:
    client, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        wire.send_line(client, {"pid": 7})
        client.sendall(b"not json\n[1, 2]\n")
        wire.send_line(client, {"status": 3})
        client.close()
        assert list(wire.messages(peer.makefile("rb"))) == [{"pid": 7}, {"status": 3}]
    finally:
        peer.close()


def test_importing_the_launcher_loads_no_click_pydantic_or_sqlite() -> None:
    # Start-up must stay cheap: a command a server runs never pays for these in the caller.
    # A fresh interpreter, since this one has long imported everything.
    import subprocess

    code = (
        "import sys\n"
        "import reconciler.cli.launch\n"
        "heavy = ('click', 'pydantic', 'sqlite3', '_sqlite3', 'ruamel', 'docker')\n"
        "print(sorted(n for n in heavy if n in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_a_server_listens_only_in_a_private_state_directory(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    logged: list[str] = []
    warm = server.Server(loose, lambda argv: None, logged.append)
    try:
        warm.bind()
        assert loose.stat().st_mode & 0o777 == 0o700
        assert (loose / wire.SOCKET_NAME).stat().st_mode & 0o777 == 0o600
        assert logged == [
            f"warning: the state directory {loose} could be read by other users (mode 0755); "
            "made it 0700"
        ]
    finally:
        warm.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="gives a directory to another user: needs root")
def test_a_server_refuses_a_state_directory_of_another_user(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)
    warm = server.Server(theirs, lambda argv: None, lambda message: None)
    try:
        with pytest.raises(StateError, match=f"^the state directory {theirs} belongs to uid 65534"):
            warm.bind()
        assert list(theirs.iterdir()) == []
    finally:
        warm.close()


@pytest.mark.parametrize(
    ("env", "tty", "wanted"),
    [
        ({}, True, True),  # a person at a terminal
        ({}, False, False),  # a script, CI, a timer
        ({"RECONCILE_SERVER": "auto"}, False, True),
        ({"RECONCILE_SERVER": "off"}, True, False),
        ({"RECONCILE_NO_SERVER": "1"}, True, False),
        ({"RECONCILE_NO_SERVER": "1", "RECONCILE_SERVER": "auto"}, True, False),
    ],
)
def test_a_server_is_started_on_first_use_at_a_terminal_unless_turned_off(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], tty: bool, wanted: bool
) -> None:
    for key in ("RECONCILE_SERVER", "RECONCILE_NO_SERVER"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: tty)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    assert launch.autostart_wanted() is wanted


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["apply", "-f", "x"], "apply"),
        (["--context", "lab", "diff", "-f", "x"], "diff"),
        (["--context=lab", "get"], "get"),
        (["--context"], None),
        ([], None),
    ],
)
def test_the_command_comes_after_the_global_options(argv: list[str], command: str | None) -> None:
    assert wire.command_of(argv) == command
