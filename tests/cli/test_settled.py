"""The settled fast path's pure parts: the Engine event log judged, times read, receipts
named, written and refused, files fingerprinted, the policy's questions recorded."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reconciler import hostpaths
from reconciler.cli import settled

CUTOFF = 1_700_000_000_000_000_000


def event(when: int, kind: str = "container", action: str = "start") -> bytes:
    return json.dumps({"Type": kind, "Action": action, "timeNano": when}).encode()


ANCHOR = CUTOFF - 5


def test_a_log_that_begins_with_the_anchor_with_nothing_after_is_quiet() -> None:
    assert settled.quiet_since([event(ANCHOR), event(CUTOFF)], CUTOFF, ANCHOR)


def test_health_checks_after_the_cutoff_change_nothing() -> None:
    lines = [
        event(ANCHOR),
        event(CUTOFF + 1, action="exec_create: /bin/sh -c true"),
        event(CUTOFF + 2, action="exec_start: /bin/sh -c true"),
        event(CUTOFF + 3, action="exec_die"),
        b"",
    ]
    assert settled.quiet_since(lines, CUTOFF, ANCHOR)


@pytest.mark.parametrize(
    ("kind", "action"),
    [
        ("container", "die"),
        ("container", "health_status: unhealthy"),
        ("container", "update"),
        ("network", "disconnect"),
        ("volume", "destroy"),
        ("image", "tag"),
        ("daemon", "reload"),
        ("network", "exec_start"),  # only a container's exec is a health check
    ],
)
def test_any_other_event_after_the_cutoff_is_a_change(kind: str, action: str) -> None:
    lines = [event(ANCHOR), event(CUTOFF + 1, kind, action)]
    assert not settled.quiet_since(lines, CUTOFF, ANCHOR)


def test_a_log_that_no_longer_begins_with_the_anchor_may_have_dropped_events() -> None:
    """The Engine keeps its newest 256 events; a restarted one has none from before."""
    assert not settled.quiet_since([event(CUTOFF + 1, action="exec_die")], CUTOFF, ANCHOR)
    assert not settled.quiet_since([event(ANCHOR + 1), event(CUTOFF)], CUTOFF, ANCHOR)
    assert not settled.quiet_since([], CUTOFF, ANCHOR)


def test_an_event_without_a_time_is_not_trusted() -> None:
    lines = [event(ANCHOR), b'{"Type": "container"}']
    assert not settled.quiet_since(lines, CUTOFF, ANCHOR)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-03T20:52:57.261408523Z", 1796331177261408523),
        ("2026-12-03T21:52:57.261408523+01:00", 1796331177261408523),
        ("2026-12-03T15:52:57.5-05:00", 1796331177500000000),
        ("2026-12-03T20:52:57Z", 1796331177000000000),
        ("1970-01-01T00:00:00Z", 0),
        ("2000-02-29T12:00:00.000000001Z", 951825600000000001),
        ("not a time", None),
        ("", None),
    ],
)
def test_engine_times(text: str, expected: int | None) -> None:
    assert settled._time_ns(text) == expected


def test_the_receipt_name_ignores_what_a_shell_changes_between_commands() -> None:
    argv = ["apply", "-f", "m", "-p", "p"]
    env = {"HOME": "/root", "PATH": "/bin"}
    key = settled.key_of(argv, env, "/work")
    shell = {**env, "_": "/usr/bin/reconcile", "OLDPWD": "/", "SHLVL": "2", "PWD": "/work"}
    assert settled.key_of(argv, shell, "/work") == key
    assert settled.key_of([*argv, "--timings"], {**env, "RECONCILE_TIMINGS": "1"}, "/work") == key
    assert settled.key_of(argv, {**env, "DOCKER_HOST": "unix:///x"}, "/work") != key
    assert settled.key_of(argv, env, "/elsewhere") != key
    assert settled.key_of([*argv, "--prune"], env, "/work") != key


def test_a_receipt_is_read_back_only_from_this_users_private_files(tmp_path: Path) -> None:
    root = tmp_path / "state"
    root.mkdir(mode=0o700)
    settled.write(str(root), "k", {"written": 1.0, "stdout": "x\n"})
    receipt = root / "settled" / "k"
    assert oct(receipt.stat().st_mode & 0o777) == "0o600"
    assert settled._read(str(root), "k") == {
        "version": settled.VERSION,
        "written": 1.0,
        "stdout": "x\n",
    }

    receipt.chmod(0o644)
    assert settled._read(str(root), "k") is None
    receipt.chmod(0o600)
    (root / "settled").chmod(0o777)
    assert settled._read(str(root), "k") is None
    (root / "settled").chmod(0o700)

    receipt.rename(root / "settled" / "real")
    (root / "settled" / "k").symlink_to(root / "settled" / "real")
    assert settled._read(str(root), "k") is None


def test_a_receipt_holds_for_five_minutes_at_most(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settled, "_engine_holds", lambda engine: True)
    manifest = tmp_path / "set.yaml"
    manifest.write_text("x")
    receipt = {
        "written": 1000.0,
        "stdout": "no changes\n",
        "files": [[str(manifest), settled.signature(str(manifest))]],
        "host": [],
        "engine": {},
    }
    settled.write(str(tmp_path), "k", receipt)
    assert settled.check(str(tmp_path), "k", now=1010.0) == (
        "no changes\n",
        {"info": 1, "events.replay": 1},
    )
    assert settled.check(str(tmp_path), "k", now=1000.0 + settled.MAX_AGE + 1) is None
    assert settled.check(str(tmp_path), "k", now=999.0) is None  # a clock set back
    manifest.write_text("y")
    assert settled.check(str(tmp_path), "k", now=1010.0) is None


def test_a_tree_fingerprints_everything_under_a_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text("a")
    (tmp_path / "sub" / "b.env").write_text("b")
    (tmp_path / "link").symlink_to(tmp_path / "sub" / "b.env")
    entries = settled.tree(str(tmp_path))
    assert entries is not None
    paths = [p for p, _ in entries]
    assert paths == [
        str(tmp_path),
        str(tmp_path / "sub"),
        str(tmp_path / "a.yaml"),
        str(tmp_path / "link"),
        str(tmp_path / "sub" / "b.env"),  # the link's target
        str(tmp_path / "sub" / "b.env"),
    ]
    before = dict(entries)
    (tmp_path / "a.yaml").write_text("a")  # the same bytes, written again: a new ctime
    assert settled.signature(str(tmp_path / "a.yaml")) != before[str(tmp_path / "a.yaml")]
    assert settled.signature(str(tmp_path / "missing")) is None


def test_a_tree_too_large_is_not_fingerprinted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settled, "MAX_FILES", 3)
    for n in range(5):
        (tmp_path / f"{n}.yaml").write_text("x")
    assert settled.tree(str(tmp_path)) is None


def test_the_policys_questions_are_recorded_and_asked_again(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("hello")
    with hostpaths.Recording() as answers:
        hostpaths.realpath(str(tmp_path / "dir"))
        hostpaths.exists(str(tmp_path / "nothing"))
        hostpaths.mode_and_owner(str(tmp_path / "file"))
        hostpaths.listing(str(tmp_path))
        hostpaths.read_text(str(tmp_path / "file"), 3)
    hostpaths.exists("/")  # not recording any more
    assert [a[0] for a in answers] == ["realpath", "exists", "stat", "listing", "read_text"]
    recorded = json.loads(json.dumps(answers))  # as a receipt keeps them
    assert all(hostpaths.ask(q, p, n) == a for q, p, n, a in recorded)
    assert answers[3][3] == [[], ["dir"]]
    assert answers[4][3] == "hel"

    (tmp_path / "dir").rmdir()
    os.symlink("/etc", tmp_path / "dir")
    assert hostpaths.ask("realpath", str(tmp_path / "dir"), 0) == "/etc"
    assert hostpaths.ask(*recorded[0][:3]) != recorded[0][3]


def test_the_check_imports_nothing_heavy() -> None:
    """It runs in the console script before anything else: no click, pydantic, sqlite3, and
    no http.client (the Engine is asked over a raw socket)."""
    import subprocess
    import sys

    code = (
        "import sys, reconciler.cli.launch, reconciler.cli.settled\n"
        "heavy = ('click', 'pydantic', 'sqlite3', 'http.client', 'ruamel', 'cryptography')\n"
        "print(sorted(n for n in heavy if n in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
