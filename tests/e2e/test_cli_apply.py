"""``reconcile apply/diff/get/delete`` as a user runs them: exit codes, output, Engine state."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from dataclasses import dataclass

import docker.errors
import pytest

from reconciler.runtime.docker import inspectstore
from reconciler.state.locking import project_lock
from tests.docker.scenario import CONTAINER, LOOP, MISSPELT, Scenario, read_volume_file
from tests.e2e.conftest import RunReconcile


@dataclass
class Cli:
    """Runs a command against one project, manifest directory and state directory."""

    run: RunReconcile
    sc: Scenario

    def __call__(self, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(
            command,
            "-f",
            self.sc.directory,
            "--project",
            self.sc.project,
            "--state-dir",
            self.sc.state_dir,
            *args,
        )

    def container(self, name: str, gen: int = 1) -> None:
        """Declare the container ``<project>-<name>`` in its own file."""
        self.sc.write(CONTAINER, f"{name}.yaml", name=name, loop=LOOP, gen=gen)


@pytest.fixture
def cli(run_reconcile: RunReconcile, sc: Scenario) -> Cli:
    return Cli(run_reconcile, sc)


def ok(result: subprocess.CompletedProcess[str], code: int = 0) -> str:
    """Stdout of a command that must exit with ``code``; never a traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


def _engine_events(sc: Scenario, since_ns: int) -> list[str]:
    """Actions the Engine reported since ``since_ns`` (time.time_ns()) on anything named with
    the project (execs aside: the test's own look-ups). Filtered by the events' own
    nanosecond stamps: a whole-second ``since`` would catch the apply just before."""
    found = []
    start = since_ns // 1_000_000_000 - 1
    for event in sc.client.events(since=start, until=int(time.time()) + 1, decode=True):
        if int(event.get("timeNano", 0)) < since_ns:
            continue
        actor = event.get("Actor", {})
        name = actor.get("Attributes", {}).get("name") or actor.get("ID", "")
        action = str(event.get("Action", ""))
        if name.startswith(sc.project) and not action.startswith("exec_"):
            found.append(f"{event.get('Type')} {action} {name}")
    return found


def _identity(sc: Scenario) -> str:
    """Whose entries the inspect store holds: this code and the test Engine."""
    info = sc.client.info()
    return inspectstore.identity(sc.runtime.host, str(info["ID"]))


def test_apply_twice_diff_exit_codes_and_json_plan(cli: Cli, sc: Scenario) -> None:
    sc.write(
        """\
        apiVersion: reconcile/v1
        kind: Network
        metadata: {name: $p-net}
        ---
        apiVersion: reconcile/v1
        kind: Volume
        metadata: {name: $p-data}
        """,
        "storage.yaml",
    )
    cli.container("a")
    cli.container("b")
    assert ok(cli("diff"), 3).startswith(f'Plan for project "{sc.project}": 4 to create')
    out = ok(cli("apply"))
    assert "Apply complete: 4 done, 0 failed, 0 skipped, 0 conflicts" in out
    assert sc.container_names() == [f"{sc.project}-a", f"{sc.project}-b"]

    out = ok(cli("apply"))
    assert out == f'Plan for project "{sc.project}": no changes; 4 in sync\n'
    # What the command read of the containers is left for the next one (inspect-store).
    kept = inspectstore.load(sc.state_dir, _identity(sc))
    assert kept is not None
    assert {found.name for _, found, _ in kept.containers.values()} == {
        f"{sc.project}-a",
        f"{sc.project}-b",
    }
    assert ok(cli("diff")) == out
    assert json.loads(ok(cli("diff", "-o", "json")))["hasChanges"] is False

    cli.container("b", gen=2)
    since = time.time_ns()
    out = ok(cli("diff"), 3)
    assert f"-/+ recreate Container/{sc.project}-b  (config-changed)" in out
    assert "env.GENERATION: 2 -> " not in out and "env.GENERATION: 1 -> 2" in out
    plan = json.loads(ok(cli("diff", "-o", "json"), 3))
    assert plan["summary"]["recreate"] == 1
    assert [(s["name"], s["action"], s["reason"]) for s in plan["steps"]] == [
        (f"{sc.project}-b", "recreate", "config-changed")
    ]
    assert ok(cli("apply", "--dry-run")).count("recreate") == 2  # the summary and the step
    ok(cli("delete", "--dry-run"))
    assert _engine_events(sc, since) == [], "a dry run or diff changed something"
    assert sc.container("b").attrs["Config"]["Env"].count("GENERATION=1") == 1
    ok(cli("apply"))
    ok(cli("diff"))


def test_diff_and_apply_exit_1_on_an_invalid_manifest(cli: Cli, sc: Scenario) -> None:
    cli.container("a")
    sc.write(MISSPELT, "bad.yaml")
    for command in ("diff", "apply"):
        result = cli(command)
        ok(result, 1)
        assert f"{sc.directory / 'bad.yaml'}:6:3" in result.stderr, result.stderr
        assert "did you mean restartPolicy?" in result.stderr
    assert sc.container_names() == [], "nothing is applied from an invalid set"


def test_diff_and_apply_exit_1_on_a_conflict(cli: Cli, sc: Scenario) -> None:
    cli.container("a")
    cli.container("b")
    foreign = sc.client.containers.run(
        sc.image, ["sleep", "300"], name=f"{sc.project}-b", detach=True
    )
    result = cli("diff")
    assert "conflict Container/" in ok(result, 1)
    result = cli("apply")
    ok(result, 1)
    assert f'error: Container/{sc.project}-b: a container named "{sc.project}-b"' in result.stderr
    assert "Apply incomplete: 1 done" in result.stdout
    assert sc.container("b").id == foreign.id
    assert sc.container("a").status == "running"


def test_get_json_reports_every_sync_state(cli: Cli, sc: Scenario) -> None:
    for name in ("synced", "drifted", "stopped", "gone"):
        cli.container(name)
    ok(cli("apply"))
    sc.container("stopped").stop(timeout=1)
    cli.container("drifted", gen=2)
    (sc.directory / "gone.yaml").unlink()
    cli.container("new")
    cli.container("taken")
    sc.client.containers.run(sc.image, ["sleep", "300"], name=f"{sc.project}-taken", detach=True)

    rows = json.loads(ok(cli("get", "-o", "json")))
    by_name = {r["name"].removeprefix(f"{sc.project}-"): r for r in rows}
    assert {n: (r["state"], r["sync"]) for n, r in by_name.items()} == {
        "synced": ("running", "synced"),
        "drifted": ("running", "drifted"),
        "stopped": ("exited", "drifted"),
        "gone": ("running", "not-declared"),
        "new": ("missing", "missing"),
        "taken": ("running", "conflict"),
    }
    assert all(r["kind"] == "Container" for r in rows)
    assert by_name["synced"]["source"].endswith("synced.yaml:2:1")

    # Without manifests: what the project owns, no sync verdict.
    result = cli.run("get", "--project", sc.project, "--state-dir", sc.state_dir, "-o", "json")
    rows = json.loads(ok(result))
    assert {(r["name"], r["sync"]) for r in rows} == {
        (f"{sc.project}-{n}", "-") for n in ("synced", "drifted", "stopped", "gone")
    }
    table = ok(cli("get"))
    assert table.splitlines()[0].split() == ["KIND", "NAME", "STATE", "HEALTH", "SYNC", "SOURCE"]


def test_delete_removes_containers_and_networks_and_keeps_retain_volumes(
    cli: Cli, sc: Scenario
) -> None:
    sc.write(
        """\
        apiVersion: reconcile/v1
        kind: Network
        metadata: {name: $p-net}
        ---
        apiVersion: reconcile/v1
        kind: Volume
        metadata: {name: $p-keep}
        ---
        apiVersion: reconcile/v1
        kind: Volume
        metadata: {name: $p-scratch}
        spec: {deletionPolicy: Delete}
        ---
        apiVersion: reconcile/v1
        kind: Container
        metadata: {name: $p-app}
        spec:
          image: $image
          command: [sh, -c, 'echo precious > /keep/file; echo temp > /scratch/file; $loop']
          stopGracePeriod: 1s
          networks: [$p-net]
          mounts:
            - {type: volume, source: $p-keep, target: /keep}
            - {type: volume, source: $p-scratch, target: /scratch}
        """,
        loop=LOOP,
    )
    ok(cli("apply"))
    assert read_volume_file(sc, f"{sc.project}-keep") == "precious\n"

    out = ok(cli("delete", "--dry-run"))
    assert f"- remove   Container/{sc.project}-app  (delete-requested)" in out
    assert sc.container_names() == [f"{sc.project}-app"]

    out = ok(cli("delete"))
    assert f"Volume/{sc.project}-keep: kept (deletionPolicy Retain)" in out
    assert sc.container_names() == []
    assert not sc.client.networks.list(names=[f"{sc.project}-net"])
    volumes = {v.name for v in sc.client.volumes.list(filters={"name": sc.project})}
    assert volumes == {f"{sc.project}-keep"}
    assert read_volume_file(sc, f"{sc.project}-keep") == "precious\n"

    ok(cli("apply"))
    assert sc.container("app").exec_run(["cat", "/keep/file"]).output == b"precious\n"
    ok(cli("diff"))
    ok(cli("delete"))
    ok(cli("delete"))  # nothing left to delete is not an error


def test_prune_guard_refuses_then_force_prune_removes(cli: Cli, sc: Scenario) -> None:
    for name in ("a", "b", "c"):
        cli.container(name)
    ok(cli("apply"))
    (sc.directory / "b.yaml").unlink()
    (sc.directory / "c.yaml").unlink()

    result = cli("apply", "--prune")
    ok(result, 1)
    assert "prune refused: it would remove more than half of the resources" in result.stderr
    assert "--force-prune" in result.stderr
    assert sc.container_names() == [f"{sc.project}-{n}" for n in ("a", "b", "c")]
    ok(cli("diff", "--prune"), 1)
    ok(cli("diff"))  # without --prune there is nothing to do

    out = ok(cli("apply", "--prune", "--force-prune"))
    assert f"Container/{sc.project}-b: removed" in out
    assert sc.container_names() == [f"{sc.project}-a"]
    ok(cli("diff", "--prune"))


def test_a_held_project_lock_makes_apply_fail_naming_the_holder(cli: Cli, sc: Scenario) -> None:
    cli.container("a")
    with project_lock(sc.state_dir, sc.project, "test-holder"):
        result = cli("apply")
    ok(result, 1)
    assert f'error: project "{sc.project}" is locked by pid {os.getpid()} (test-holder, since ' in (
        result.stderr
    )
    assert sc.container_names() == []
    ok(cli("apply"))


def test_a_secret_env_value_never_appears_in_output_or_labels(cli: Cli, sc: Scenario) -> None:
    manifest = """\
        apiVersion: reconcile/v1
        kind: Container
        metadata: {name: $p-db}
        spec:
          image: $image
          command: [sh, -c, '$loop']
          env: {DB_PASSWORD: $password, API_TOKEN: tok-$password, PLAIN: visible}
          stopGracePeriod: 1s
        """
    sc.write(manifest, loop=LOOP, password="hunter2")
    outputs = [cli("diff"), cli("diff", "-o", "json"), cli("apply", "--dry-run"), cli("apply")]
    outputs += [cli("get"), cli("get", "-o", "json")]

    sc.write(manifest, loop=LOOP, password="hunter3")
    changed = cli("diff")
    assert "env.DB_PASSWORD: *** -> ***" in ok(changed, 3)
    assert "env.API_TOKEN: *** -> ***" in changed.stdout
    outputs += [changed, cli("diff", "-o", "json"), cli("apply"), cli("get", "-o", "json")]

    # A failing create must not leak the environment in its error either.
    sc.write(
        """\
        apiVersion: reconcile/v1
        kind: Container
        metadata: {name: $p-broken}
        spec:
          image: $image
          env: {DB_PASSWORD: hunter2}
          securityOpt: [no-such-option]
        """,
        "broken.yaml",
    )
    failed = cli("apply")
    assert "no-such-option" in ok(failed, 1) + failed.stderr, "the Engine refused the create"
    outputs.append(failed)

    for result in outputs:
        for text in (result.stdout, result.stderr):
            assert "hunter2" not in text and "hunter3" not in text, (result.args, text)
    labels = sc.container("db").labels
    assert not any("hunter" in f"{k}={v}" for k, v in labels.items()), labels
    assert "PLAIN=visible" in sc.container("db").attrs["Config"]["Env"]


@pytest.mark.parametrize("how", ["env", "config"])
def test_a_docker_context_that_does_not_exist_stops_every_engine_command(
    cli: Cli, sc: Scenario, tmp_path: os.PathLike[str], how: str
) -> None:
    # The user's shell points at another Engine: planning against the local one would say
    # "in sync" about the wrong host. A context that does not exist stops every command.
    cli.container("web")
    config = os.path.join(str(tmp_path), "docker-config")
    os.makedirs(config)
    env = {"DOCKER_CONFIG": config}
    if how == "env":
        env["DOCKER_CONTEXT"] = "edge-box"
    else:
        with open(os.path.join(config, "config.json"), "w", encoding="utf-8") as handle:
            json.dump({"auths": {}, "currentContext": "edge-box"}, handle)
    common = ("-f", sc.directory, "-p", sc.project, "--state-dir", sc.state_dir)
    for command in ("diff", "apply", "get"):
        done = cli.run(command, *common, env={**env, "DOCKER_HOST": ""})
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert 'docker context "edge-box"' in done.stderr, done.stderr
        assert "does not exist" in done.stderr
    assert sc.client.containers.list(all=True, filters={"name": sc.project}) == []

    # DOCKER_HOST wins over a context, as it does for the docker CLI.
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    done = cli.run("apply", *common, env={**env, "DOCKER_HOST": host})
    assert done.returncode == 0, done.stderr
    # And the default context is the default Engine.
    done = cli.run("diff", *common, env={"DOCKER_CONFIG": config, "DOCKER_CONTEXT": "default"})
    assert done.returncode == 0, done.stderr


def test_containers_with_copied_labels_are_never_removed(cli: Cli, sc: Scenario) -> None:
    cli.container("web")
    cli.container("old")
    ok(cli("apply"))
    web = sc.container("web")
    # A `docker commit` of a managed container: the image carries all its labels, so a
    # container run from it looks like ours, under the replacement's name and under another.
    image = web.commit(repository=f"reconcile.local/{sc.project}", tag="copy")
    image_id = str(image.id)
    try:
        for suffix in ("web-reconcile-next", "web-copy"):
            sc.client.containers.run(
                image_id,
                ["sleep", "300"],
                name=f"{sc.project}-{suffix}",
                detach=True,
                network_mode="none",
            )
        copies = {f"{sc.project}-web-reconcile-next", f"{sc.project}-web-copy"}

        # A plain apply removed both (a leftover replacement, a duplicate); now each is a
        # conflict that says why, and stays.
        done = cli("apply")
        assert done.returncode == 1, done.stdout
        for name in copies:
            assert f"! conflict Container/{name}: " in done.stdout, done.stdout
            assert "cannot prove it created it" in done.stdout
        assert copies <= set(sc.container_names())

        # A recreate meets the copy under the replacement's name: it fails, the copy stays.
        cli.container("web", gen=2)
        done = cli("apply")
        assert done.returncode == 1
        assert "cannot prove it created" in done.stderr, done.stderr
        assert copies <= set(sc.container_names())
        cli.container("web", gen=1)

        # After a lost state, a prune removes nothing it cannot prove it created.
        (sc.state_dir / "state.db").unlink()
        (sc.directory / "old.yaml").unlink()
        for _ in range(2):  # the first pass rebuilds the inventory from labels
            done = cli("apply", "--prune", "--force-prune")
            assert "cannot prove it created it" in done.stdout + done.stderr
        assert f"{sc.project}-old" in sc.container_names()
        assert copies <= set(sc.container_names())
    finally:
        for name in (f"{sc.project}-web-reconcile-next", f"{sc.project}-web-copy"):
            with contextlib.suppress(docker.errors.NotFound):
                sc.client.containers.get(name).remove(force=True)
        sc.client.images.remove(image_id, force=True)
