"""The settled fast path as a user meets it (``reconcile apply`` run twice with nothing to
do): the third run prints what the second printed without a pass, and every kind of change
in between (a container stopped on the Engine, a manifest edited, a file added beside them,
an env file, a bind source swapped for a link to /etc, the environment, the state held open
by another process, an Engine restarted) makes the next apply run its pass and see it.

On a private Engine (scripts/private-dockerd): whether a receipt holds depends on the
Engine's event log, which the shared Engine fills with other tests' events.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PrivateEngine
from tests.docker.scenario import LOOP, render
from tests.e2e.conftest import RunReconcile

SET = """\
    apiVersion: reconcile/v1
    kind: Volume
    metadata: {name: $p-data}
    ---
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-app}
    spec:
      image: $image
      command: [sh, -c, '$loop']
      restartPolicy: "no"
      stopGracePeriod: 1s
      networkMode: none
      env: {MODE: "$mode"}
      envFiles: [$dir/app.env]
      mounts:
        - {type: volume, source: $p-data, target: /data}
        - {type: bind, source: $dir/conf, target: /conf, readOnly: true}
    """


class Rig:
    """A manifest directory, a state directory and the private Engine, for one project."""

    def __init__(
        self, run: RunReconcile, engine: PrivateEngine, prefix: str, image: str, tmp: Path
    ) -> None:
        self.run_reconcile = run
        self.engine = engine
        self.prefix = prefix
        self.image = image
        self.manifests = tmp / "manifests"
        self.inputs = tmp / "inputs"
        self.state = tmp / "state"
        self.last_pass: subprocess.CompletedProcess[str] | None = None
        self.manifests.mkdir()
        (self.inputs / "conf").mkdir(parents=True)
        (self.inputs / "app.env").write_text("COLOUR=blue\n")
        self.write()

    def write(self, mode: str = "one") -> None:
        text = render(SET, p=self.prefix, image=self.image, loop=LOOP, mode=mode, dir=self.inputs)
        (self.manifests / "set.yaml").write_text(text)

    def apply(self, **env: str) -> tuple[subprocess.CompletedProcess[str], bool]:
        """``reconcile apply --timings``; whether the receipt answered it."""
        done = self.run_reconcile(
            "apply",
            "-f",
            self.manifests,
            "-p",
            self.prefix,
            "--state-dir",
            self.state,
            "--timings",
            env={
                "DOCKER_HOST": self.engine.host,
                "RECONCILE_NO_SERVER": "1",
                "RECONCILE_SETTLED": "1",  # off for the rest of the suite (tests/conftest.py)
                **env,
            },
        )
        return done, "  settled " in done.stderr

    def settle(self) -> subprocess.CompletedProcess[str]:
        """Apply until the receipt answers: at once when the last apply was a no-op pass,
        else after one no-op pass (which leaves the receipt)."""
        done, settled = self.apply()
        assert done.returncode == 0, done.stderr
        if not settled:
            assert "no changes" in done.stdout, done.stdout
            self.last_pass = done
            done, settled = self.apply()
            assert settled and done.returncode == 0, done.stderr
        assert self.last_pass is not None
        assert done.stdout == self.last_pass.stdout, "the replay prints what the pass printed"
        assert "engine calls: 2 (events.replay=1, info=1)" in done.stderr
        return done

    def ran(self, **env: str) -> subprocess.CompletedProcess[str]:
        """An apply that must have run its pass."""
        done, settled = self.apply(**env)
        assert not settled, done.stderr
        self.last_pass = done
        return done


@pytest.fixture
def rig(
    run_reconcile: RunReconcile,
    loaded_private_engine: PrivateEngine,
    unique_prefix: str,
    test_image: str,
    tmp_path: Path,
) -> Rig:
    return Rig(run_reconcile, loaded_private_engine, unique_prefix, test_image, tmp_path)


def test_a_settled_apply_is_replayed_and_every_change_runs_the_pass(rig: Rig) -> None:
    first = rig.ran()
    assert first.returncode == 0, first.stderr
    assert "created" in first.stdout
    rig.settle()
    assert [p.name for p in (rig.state / "settled").iterdir()] != []

    # Drift on the Engine: the container stopped behind reconcile's back.
    client = rig.engine.client()
    client.containers.get(f"{rig.prefix}-app").stop(timeout=1)
    assert "start" in rig.ran().stdout
    assert client.containers.get(f"{rig.prefix}-app").status == "running"
    rig.settle()

    # A manifest edited: the change is planned and made.
    rig.write(mode="two")
    assert "recreate" in rig.ran().stdout
    rig.settle()

    # A file added beside the manifests (it could be a placement or a compose .env).
    (rig.manifests / "notes.txt").write_text("hello\n")
    assert "no changes" in rig.ran().stdout
    rig.settle()

    # An env file the container reads.
    (rig.inputs / "app.env").write_text("COLOUR=green\n")
    assert "recreate" in rig.ran().stdout
    rig.settle()

    # Another environment is another command.
    assert "no changes" in rig.ran(SOME_SETTING="1").stdout
    rig.settle()

    # Turned off: no receipt read, none written.
    receipts = sorted((rig.state / "settled").iterdir())
    for receipt in receipts:
        receipt.unlink()
    assert "no changes" in rig.ran(RECONCILE_SETTLED="0").stdout
    assert "no changes" in rig.ran(RECONCILE_SETTLED="0").stdout
    assert list((rig.state / "settled").iterdir()) == []
    rig.settle()
    client.close()


def test_a_bind_source_swapped_for_a_link_to_etc_is_judged_again(rig: Rig) -> None:
    assert rig.ran().returncode == 0
    rig.settle()
    conf = rig.inputs / "conf"
    conf.rmdir()
    conf.symlink_to("/etc")
    refused = rig.ran()
    assert refused.returncode != 0
    assert "/etc" in refused.stderr


def test_an_apply_that_warns_leaves_no_receipt(rig: Rig) -> None:
    """What the pass prints besides the plan (here the policy's warning about a manifest
    directory others may write) is printed again by the next apply, which runs its pass."""
    assert rig.ran().returncode == 0
    rig.settle()
    rig.manifests.chmod(0o777)
    try:
        for _ in range(2):
            warned = rig.ran()
            assert warned.returncode == 0, warned.stderr
            assert "writable by group and others" in warned.stderr
    finally:
        rig.manifests.chmod(0o755)
    rig.settle()


def test_state_held_open_by_another_process_runs_the_pass(rig: Rig) -> None:
    """A loop or an apply under way keeps the state database open (and its log there)."""
    assert rig.ran().returncode == 0
    rig.settle()
    (database,) = rig.state.glob("engines/*/state.db")  # the private Engine's own state
    holder = sqlite3.connect(database)
    try:
        holder.execute("PRAGMA journal_mode=WAL")
        holder.execute("SELECT count(*) FROM revisions").fetchall()
        assert database.with_name("state.db-wal").exists()
        assert "no changes" in rig.ran().stdout
    finally:
        holder.close()
    rig.settle()


def test_a_restarted_engine_runs_the_pass(rig: Rig) -> None:
    """A restart empties the Engine's event log: nothing tells what happened meanwhile."""
    assert rig.ran().returncode == 0
    rig.settle()
    rig.engine.stop()
    rig.engine.start()
    after = rig.ran()
    assert after.returncode == 0, after.stderr
    assert "start" in after.stdout  # restartPolicy "no": the Engine left it stopped


def test_a_receipt_others_may_write_is_not_read(rig: Rig) -> None:
    assert rig.ran().returncode == 0
    rig.settle()
    receipts = list((rig.state / "settled").iterdir())
    assert len(receipts) == 1
    os.chmod(receipts[0], 0o644)
    assert "no changes" in rig.ran().stdout
