"""One state per Engine (``state.engines``): which directory each Engine's state is in, on
literal identities."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.errors import StateError
from reconciler.state.engines import EngineIdentity, known_state_dir, state_dir_for

LOCAL = EngineIdentity("AAAA:BBBB", "vm", "/var/lib/docker", "unix:///var/run/docker.sock", True)
REMOTE = EngineIdentity("CCCC:DDDD", "edge", "/var/lib/docker", "ssh://root@edge", False)
# A second daemon on the same machine: before Engine 23 the same ID (/etc/docker/key.json).
PRIVATE = EngineIdentity("AAAA:BBBB", "vm", "/tmp/e/data", "unix:///tmp/e/docker.sock", False)


def test_keys_are_stable_and_tell_engines_apart() -> None:
    assert LOCAL.key == "a176b5bbdca8ef6b"
    assert len({LOCAL.key, REMOTE.key, PRIVATE.key}) == 3
    # The same Engine reached another way is the same Engine.
    assert EngineIdentity("AAAA:BBBB", "vm", "/var/lib/docker", "ssh://root@vm", False).key == (
        LOCAL.key
    )


def test_the_machine_engine_keeps_the_state_directory_others_get_their_own(
    tmp_path: Path,
) -> None:
    assert state_dir_for(tmp_path, LOCAL) == tmp_path
    assert state_dir_for(tmp_path, REMOTE) == tmp_path / "engines" / REMOTE.key
    assert state_dir_for(tmp_path, PRIVATE) == tmp_path / "engines" / PRIVATE.key
    # The local Engine through ssh is still the local Engine: the claimed directory.
    via_ssh = EngineIdentity("AAAA:BBBB", "vm", "/var/lib/docker", "ssh://root@vm", False)
    assert state_dir_for(tmp_path, via_ssh) == tmp_path
    record = json.loads((tmp_path / "engines.json").read_text())
    assert record["root"] == {
        "id": "AAAA:BBBB",
        "key": LOCAL.key,
        "name": "vm",
        "rootDir": "/var/lib/docker",
    }
    assert record["addresses"] == {
        "unix:///var/run/docker.sock": LOCAL.key,
        "ssh://root@edge": REMOTE.key,
        "unix:///tmp/e/docker.sock": PRIVATE.key,
        "ssh://root@vm": LOCAL.key,
    }
    assert (tmp_path / "engines.json").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "engines").stat().st_mode & 0o777 == 0o700


def test_another_engine_at_the_usual_socket_does_not_get_the_claimed_state(
    tmp_path: Path,
) -> None:
    # The state directory was used with this machine's Engine; pointed (copied, or the
    # Engine reinstalled) at another one at the same socket, it is not that one's.
    assert state_dir_for(tmp_path, LOCAL) == tmp_path
    other = EngineIdentity("EEEE:FFFF", "vm", "/var/lib/docker", LOCAL.address, True)
    assert state_dir_for(tmp_path, other) == tmp_path / "engines" / other.key
    assert known_state_dir(tmp_path, LOCAL.address, True) == tmp_path / "engines" / other.key


def test_a_remote_engine_first_never_claims_the_state_directory(tmp_path: Path) -> None:
    assert state_dir_for(tmp_path, REMOTE) == tmp_path / "engines" / REMOTE.key
    assert state_dir_for(tmp_path, LOCAL) == tmp_path
    # An Engine that has a directory of its own keeps it, even at the usual socket.
    fresh = tmp_path / "fresh"
    via_ssh = EngineIdentity("AAAA:BBBB", "vm", "/var/lib/docker", "ssh://root@vm", False)
    assert state_dir_for(fresh, via_ssh) == fresh / "engines" / LOCAL.key
    assert state_dir_for(fresh, LOCAL) == fresh / "engines" / LOCAL.key


def test_commands_that_only_read_find_the_state_without_the_engine(tmp_path: Path) -> None:
    # Never used: the usual socket's state is the directory itself, others unknown.
    assert known_state_dir(tmp_path, LOCAL.address, True) == tmp_path
    assert known_state_dir(tmp_path, REMOTE.address, False) is None
    state_dir_for(tmp_path, LOCAL)
    state_dir_for(tmp_path, REMOTE)
    assert known_state_dir(tmp_path, LOCAL.address, True) == tmp_path
    assert known_state_dir(tmp_path, REMOTE.address, False) == tmp_path / "engines" / REMOTE.key
    assert known_state_dir(tmp_path, "ssh://never", False) is None


def test_an_unreadable_record_stops_everything(tmp_path: Path) -> None:
    (tmp_path / "engines.json").write_text("{oops")
    with pytest.raises(StateError, match="which Engine each state belongs to"):
        state_dir_for(tmp_path, LOCAL)
