"""Apply scenarios against the real Engine, in-process: ``converge`` with a real DockerRuntime
and State. Every scenario is applied, checked on the Engine with the docker SDK, then planned
again: the second plan must be empty.
"""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import docker.errors
import pytest
from docker import DockerClient

from reconciler.controllers.plan import Action, Reason
from reconciler.manifests import constants
from tests.docker.scenario import (
    LOOP,
    Scenario,
    build_image,
    changing_calls,
    host_port,
    project_containers,
    read_volume_file,
    remove_images,
    serve,
    wait_until,
)

# A container serving one page over HTTP on 127.0.0.1:$port ($serve: see scenario.serve).
WEB_ON_PORT = """\
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-web}
    spec:
      image: $image
      command: [sh, -c, '$serve']
      stopSignal: SIGKILL
      ports: [{containerPort: 8080, hostPort: $port, hostIP: 127.0.0.1}]
    """


def _started_at(raw: str) -> datetime:
    # The Engine writes nanoseconds; fromisoformat takes at most microseconds.
    head, _, frac = raw.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00")


def test_bind_tmpfs_and_named_volume_mounts_and_data_survives_recreate(sc: Scenario) -> None:
    (sc.directory / "conf").mkdir()
    (sc.directory / "conf" / "greeting").write_text("hello\n")
    manifest = """\
        apiVersion: reconcile/v1
        kind: Container
        metadata: {name: $p-app}
        spec:
          image: $image
          command: [sh, -c, '$loop']
          env: {GENERATION: "$gen"}
          stopGracePeriod: 1s
          mounts:
            - {type: bind, source: ./conf, target: /conf, readOnly: true}
            - {type: tmpfs, target: /scratch, sizeBytes: 16Mi, mode: "1770"}
            - {type: volume, source: $p-data, target: /data}
        ---
        apiVersion: reconcile/v1
        kind: Volume
        metadata: {name: $p-data}
        """
    sc.write(manifest, loop=LOOP, gen=1)
    sc.apply()

    mounts = {m["Target"]: m for m in sc.container("app").attrs["HostConfig"]["Mounts"]}
    assert mounts["/conf"]["Type"] == "bind"
    assert mounts["/conf"]["Source"] == str(sc.directory / "conf")
    assert mounts["/conf"]["ReadOnly"] is True
    assert mounts["/data"]["Type"] == "volume"
    assert mounts["/data"]["Source"] == f"{sc.project}-data"
    assert sc.exec("app", "cat", "/conf/greeting") == (0, "hello\n")
    code, _ = sc.exec("app", "touch", "/conf/new")
    assert code != 0, "a readOnly bind mount must refuse writes"
    code, proc_mounts = sc.exec("app", "cat", "/proc/mounts")
    scratch = [line for line in proc_mounts.splitlines() if " /scratch " in line]
    assert scratch and "size=16384k" in scratch[0] and "mode=1770" in scratch[0], scratch
    assert sc.exec("app", "sh", "-c", "echo kept > /data/file")[0] == 0
    sc.assert_in_sync()

    old_id = sc.container("app").id
    sc.write(manifest, loop=LOOP, gen=2)
    result = sc.apply()
    assert [(s.key, s.action, s.reason) for s in result.plan.steps] == [
        (f"Container/{sc.project}-app", Action.RECREATE, Reason.CONFIG_CHANGED)
    ]
    assert sc.container("app").id != old_id
    assert sc.exec("app", "cat", "/data/file") == (0, "kept\n")
    assert sc.container_names() == [f"{sc.project}-app"]
    sc.assert_in_sync()


def test_devices_capabilities_and_read_only_root(sc: Scenario) -> None:
    sc.write(
        """\
        apiVersion: reconcile/v1
        kind: Container
        metadata: {name: $p-hw}
        spec:
          image: $image
          command: [sh, -c, '$loop']
          stopGracePeriod: 1s
          devices:
            - {hostPath: /dev/null, containerPath: /dev/xnull, permissions: rw}
            - {hostPath: /dev/zero, containerPath: /dev/xzero, permissions: r}
          capabilities: {add: [NET_ADMIN], drop: [CHOWN]}
          readOnlyRootFilesystem: true
          mounts:
            - {type: tmpfs, target: /tmp}
        """,
        loop=LOOP,
    )
    sc.apply()

    host = sc.container("hw").attrs["HostConfig"]
    devices = {d["PathInContainer"]: d for d in host["Devices"]}
    assert devices["/dev/xnull"]["PathOnHost"] == "/dev/null"
    assert devices["/dev/xnull"]["CgroupPermissions"] == "rw"
    assert devices["/dev/xzero"]["CgroupPermissions"] == "r"
    assert host["ReadonlyRootfs"] is True
    assert {c.removeprefix("CAP_") for c in host["CapAdd"]} == {"NET_ADMIN"}
    assert {c.removeprefix("CAP_") for c in host["CapDrop"]} == {"CHOWN"}
    assert sc.exec("hw", "sh", "-c", "head -c 4 /dev/xzero | wc -c")[1].strip() == "4"
    assert sc.exec("hw", "sh", "-c", "echo x > /dev/xnull")[0] == 0
    code, out = sc.exec("hw", "touch", "/root-is-read-only")
    assert code != 0 and "Read-only file system" in out
    assert sc.exec("hw", "touch", "/tmp/writable")[0] == 0, "the tmpfs stays writable"
    assert sc.exec("hw", "ip", "link", "set", "lo", "mtu", "1400")[0] == 0, "NET_ADMIN added"
    code, out = sc.exec("hw", "chown", "nobody", "/tmp/writable")
    assert code != 0 and "not permitted" in out, "CHOWN dropped"
    sc.assert_in_sync()


@pytest.mark.skipif(
    not Path("/dev/loop-control").exists(),
    reason="needs /dev/loop-control (a device the Engine does not allow by default)",
)
def test_device_permissions_are_enforced(sc: Scenario) -> None:
    # /dev/null and /dev/zero are in the Engine's default device allowlist, so their
    # permissions are not enforced; loop-control is not, so "r" must refuse an open for write.
    sc.write(
        """\
        apiVersion: reconcile/v1
        kind: Container
        metadata: {name: $p-dev}
        spec:
          image: $image
          command: [sh, -c, '$loop']
          stopGracePeriod: 1s
          devices: [{hostPath: /dev/loop-control, containerPath: /dev/xloop, permissions: r}]
        """,
        loop=LOOP,
    )
    sc.apply()
    assert sc.exec("dev", "sh", "-c", ": < /dev/xloop")[0] == 0
    code, out = sc.exec("dev", "sh", "-c", ": > /dev/xloop")
    assert code != 0 and "not permitted" in out, out
    sc.assert_in_sync()


def test_published_port_is_reachable_on_localhost(sc: Scenario) -> None:
    port = host_port(sc.project)
    sc.write(
        WEB_ON_PORT,
        port=port,
        serve=serve(f"served-by-{sc.project}"),
    )
    sc.apply()

    bindings = sc.container("web").attrs["HostConfig"]["PortBindings"]
    assert bindings == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    body: list[str] = []

    def fetch() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
                body.append(answer.read().decode())
            return True
        except OSError:
            return False

    assert wait_until(fetch, timeout=10, interval=0.2), f"nothing answers on 127.0.0.1:{port}"
    assert body[-1] == f"served-by-{sc.project}\n"
    sc.assert_in_sync()


def test_network_aliases_resolve_between_containers(sc: Scenario) -> None:
    sc.write(
        """\
        apiVersion: reconcile/v1
        kind: Network
        metadata: {name: $p-net}
        ---
        apiVersion: reconcile/v1
        kind: Container
        metadata: {name: $p-server}
        spec:
          image: $image
          command: [sh, -c, '$serve']
          stopSignal: SIGKILL
          networks: [{name: $p-net, aliases: [$p-db, backend]}]
        ---
        apiVersion: reconcile/v1
        kind: Container
        metadata: {name: $p-client}
        spec:
          image: $image
          command: [sh, -c, '$loop']
          stopGracePeriod: 1s
          networks: [$p-net]
          dependsOn: [$p-server]
        """,
        loop=LOOP,
        serve=serve("pong", "ping"),
    )
    sc.apply()

    endpoint = sc.container("server").attrs["NetworkSettings"]["Networks"][f"{sc.project}-net"]
    assert {f"{sc.project}-db", "backend"} <= set(endpoint["Aliases"])
    for host in ("backend", f"{sc.project}-db", f"{sc.project}-server"):
        answers: list[tuple[int, str]] = []

        def get(host: str = host, answers: list[tuple[int, str]] = answers) -> bool:
            answers.append(sc.exec("client", "wget", "-q", "-O", "-", f"http://{host}:8080/ping"))
            return answers[-1] == (0, "pong\n")

        assert wait_until(get, timeout=10, interval=0.3), (host, answers[-1])
    sc.assert_in_sync()


def test_dependent_starts_only_after_its_dependency_is_healthy(sc: Scenario) -> None:
    sc.write(
        """\
        apiVersion: reconcile/v1
        kind: Container
        metadata: {name: $p-db}
        spec:
          image: $image
          command: [sh, -c, 'sleep 2; touch /tmp/ready; $loop']
          stopGracePeriod: 1s
          healthcheck: {test: "test -f /tmp/ready", interval: 1s, timeout: 1s, retries: 5}
        ---
        apiVersion: reconcile/v1
        kind: Container
        metadata: {name: $p-app}
        spec:
          image: $image
          command: [sh, -c, '$loop']
          stopGracePeriod: 1s
          dependsOn: [{name: $p-db, condition: healthy}]
        """,
        loop=LOOP,
    )
    sc.apply(health_timeout=30)

    db = sc.container("db").attrs["State"]
    assert db["Health"]["Status"] == "healthy"
    passed = [_started_at(entry["End"]) for entry in db["Health"]["Log"] if not entry["ExitCode"]]
    first_ok = min(passed)
    app_started = _started_at(sc.container("app").attrs["State"]["StartedAt"])
    assert app_started >= first_ok, "the dependent started before its dependency was healthy"
    sc.assert_in_sync()


def test_dependency_that_never_becomes_healthy_fails_with_a_clear_timeout(sc: Scenario) -> None:
    sc.write(
        """\
        apiVersion: reconcile/v1
        kind: Container
        metadata: {name: $p-db}
        spec:
          image: $image
          command: [sh, -c, '$loop']
          stopGracePeriod: 1s
          healthcheck: {test: "false", interval: 1s, timeout: 1s, retries: 1}
        ---
        apiVersion: reconcile/v1
        kind: Container
        metadata: {name: $p-app}
        spec:
          image: $image
          command: [sh, -c, '$loop']
          dependsOn: [{name: $p-db, condition: healthy}]
        """,
        loop=LOOP,
    )
    started = time.monotonic()
    result = sc.apply(expect_ok=False, health_timeout=3)
    assert time.monotonic() - started < 20
    assert result.outcome is not None
    assert [s.key for s in result.outcome.done] == [f"Container/{sc.project}-db"]
    [(step, message)] = result.outcome.failed
    assert step.key == f"Container/{sc.project}-app"
    assert message == (
        f'{sc.project}-app waited 3s for "{sc.project}-db" to be healthy; it is unhealthy'
    )
    assert sc.container_names() == [f"{sc.project}-db"], "the dependent must not be created"


@pytest.fixture
def built_images(docker_client: DockerClient, unique_prefix: str) -> Iterator[list[str]]:
    """IDs of images a test builds; removed afterwards (after the containers using them)."""
    ids: list[str] = []
    yield ids
    for name in project_containers(docker_client, unique_prefix):
        docker_client.containers.get(name).remove(force=True)
    remove_images(docker_client, ids)


_DOCKERFILE_LINE = {
    "content": "RUN echo {marker} > /marker",
    "label": "LABEL io.test.marker={marker}",
    "env": "ENV TEST_MARKER={marker}",
}


@pytest.mark.parametrize("change", sorted(_DOCKERFILE_LINE))
def test_tag_repointed_to_a_new_image_recreates_with_reason_image_changed(
    sc: Scenario, built_images: list[str], change: str
) -> None:
    tag = f"{sc.project}-img:1"

    def build(marker: str) -> str:
        line = _DOCKERFILE_LINE[change].format(marker=marker)
        return build_image(sc.client, sc.image, tag, line)

    built_images.append(build("one"))
    sc.write(
        """\
        apiVersion: reconcile/v1
        kind: Container
        metadata: {name: $p-app}
        spec:
          image: $tag
          pullPolicy: Never
          command: [sh, -c, '$loop']
          stopGracePeriod: 1s
        """,
        loop=LOOP,
        tag=tag,
    )
    sc.apply()
    assert sc.container("app").attrs["Image"] == built_images[0]
    sc.assert_in_sync()

    built_images.append(build("two"))
    assert built_images[1] != built_images[0]
    result = sc.apply()
    [step] = result.plan.steps
    assert (step.key, step.action, step.reason) == (
        f"Container/{sc.project}-app",
        Action.RECREATE,
        Reason.IMAGE_CHANGED,
    )
    assert sc.container("app").attrs["Image"] == built_images[1]
    sc.assert_in_sync()


def test_pull_policy_never_with_a_missing_image_is_a_conflict(sc: Scenario) -> None:
    sc.write(
        """\
        apiVersion: reconcile/v1
        kind: Container
        metadata: {name: $p-app}
        spec:
          image: $p-absent:1
          pullPolicy: Never
        ---
        apiVersion: reconcile/v1
        kind: Volume
        metadata: {name: $p-data}
        """
    )
    result = sc.apply(expect_ok=False)
    [conflict] = result.plan.conflicts
    assert (conflict.kind, conflict.name) == ("Container", f"{sc.project}-app")
    assert f'"{sc.project}-absent:1"' in conflict.message
    assert "pullPolicy is Never" in conflict.message
    assert sc.runtime.calls["image.pull"] == 0
    assert sc.container_names() == []
    assert [s.key for s in result.plan.steps] == [f"Volume/{sc.project}-data"]
    plan = sc.plan()
    assert not plan.steps and len(plan.conflicts) == 1


def test_dry_run_makes_no_engine_call_that_changes_anything(sc: Scenario) -> None:
    manifest = """\
        apiVersion: reconcile/v1
        kind: Network
        metadata: {name: $p-net}
        ---
        apiVersion: reconcile/v1
        kind: Volume
        metadata: {name: $p-data}
        ---
        apiVersion: reconcile/v1
        kind: Container
        metadata: {name: $p-a}
        spec:
          image: $image
          pullPolicy: $policy
          command: [sh, -c, '$loop']
          env: {GENERATION: "$gen"}
          stopGracePeriod: 1s
          networks: [$p-net]
          mounts: [{type: volume, source: $p-data, target: /data}]
          resources: {memory: $memory}
        ---
        apiVersion: reconcile/v1
        kind: Container
        metadata: {name: $p-b}
        spec:
          image: $image
          command: [sh, -c, '$loop']
          stopGracePeriod: 1s
        """

    def dry_run(prune: bool = False) -> set[Action]:
        sc.runtime.calls.clear()
        plan = sc.plan(prune=prune)
        assert changing_calls(sc.runtime.calls) == {}, sc.runtime.calls
        return {s.action for s in plan.steps}

    # Everything to create; pullPolicy Always must not pull in a dry run.
    sc.write(manifest, loop=LOOP, gen=1, memory="64Mi", policy="Always")
    _small_set(sc, "c")
    assert dry_run() == {Action.CREATE}
    assert sc.container_names() == []
    sc.write(manifest, loop=LOOP, gen=1, memory="64Mi", policy="IfNotPresent")
    sc.apply()
    sc.assert_in_sync()

    # Every other kind of change pending: recreate, update, start, remove (prune).
    sc.client.containers.get(f"{sc.project}-b").stop(timeout=1)
    (sc.directory / "c.yaml").unlink()
    sc.write(manifest, loop=LOOP, gen=2, memory="64Mi", policy="IfNotPresent")
    assert dry_run(prune=True) == {Action.RECREATE, Action.START, Action.REMOVE}
    sc.write(manifest, loop=LOOP, gen=1, memory="96Mi", policy="IfNotPresent")
    assert dry_run(prune=True) == {Action.UPDATE, Action.START, Action.REMOVE}
    assert sc.client.containers.get(f"{sc.project}-b").status == "exited"
    assert len(sc.container_names()) == 3


_SMALL = """\
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-$name}
    spec:
      image: $image
      command: [sh, -c, '$loop']
      stopGracePeriod: 1s
    """


def _small_set(sc: Scenario, *names: str) -> None:
    for name in names:
        sc.write(_SMALL, f"{name}.yaml", name=name, loop=LOOP)


def test_prune_removes_only_members_of_the_inventory(sc: Scenario) -> None:
    _small_set(sc, "a", "b", "c", "d")
    sc.apply()
    labels = sc.container("c").labels
    assert labels[constants.LABEL_PROJECT] == sc.project
    # Never created by this project, though labelled as one of its containers.
    lookalike = {**labels, constants.LABEL_NAME: f"{sc.project}-lookalike"}
    sc.client.containers.run(
        sc.image, ["sleep", "300"], name=f"{sc.project}-lookalike", labels=lookalike, detach=True
    )
    (sc.directory / "c.yaml").unlink()

    result = sc.apply(prune=True)
    assert [(s.engine_name, s.action, s.reason) for s in result.plan.steps] == [
        (f"{sc.project}-c", Action.REMOVE, Reason.NOT_DECLARED)
    ]
    assert project_containers(sc.client, sc.project) == sorted(
        f"{sc.project}-{n}" for n in ("a", "b", "d", "lookalike")
    )
    sc.assert_in_sync(prune=True)


def test_prune_spares_a_container_with_labels_copied_from_a_pruned_member(sc: Scenario) -> None:
    _small_set(sc, "a", "b", "c", "d")
    sc.apply()
    sc.client.containers.run(
        sc.image,
        ["sleep", "300"],
        name=f"{sc.project}-copy",
        labels=sc.container("c").labels,
        detach=True,
    )
    (sc.directory / "c.yaml").unlink()
    sc.apply(prune=True)
    assert project_containers(sc.client, sc.project) == sorted(
        f"{sc.project}-{n}" for n in ("a", "b", "copy", "d")
    )


def test_a_lost_state_never_lets_a_prune_remove_what_it_cannot_prove(sc: Scenario) -> None:
    _small_set(sc, "a", "b", "c", "d")
    sc.apply()
    # d is recreated once: a recreated container is no more provable than the others.
    slower = _SMALL.replace("stopGracePeriod: 1s", "stopGracePeriod: 2s")
    sc.write(slower, "d.yaml", name="d", loop=LOOP)
    assert sc.apply().plan.count(Action.RECREATE) == 1
    (sc.state_dir / "state.db").write_bytes(b"this is not an SQLite database\n" * 64)
    (sc.directory / "d.yaml").unlink()

    first = sc.apply(prune=True)
    assert any("corrupt" in w for w in first.warnings), first.warnings
    assert any("nothing is pruned" in w for w in first.warnings), first.warnings
    assert not first.plan.steps
    assert f"{sc.project}-d" in sc.container_names()
    assert list(sc.state_dir.glob("state.db.corrupt-*")), "the corrupt file is kept aside"

    # The inventory is rebuilt from labels, but labels prove nothing: d stays, with a
    # warning that says how to remove it. The declared containers are managed as before.
    second = sc.apply(prune=True)
    assert not second.plan.steps
    assert [w for w in second.plan.warnings if f'"{sc.project}-d"' in w] == [
        f'container "{sc.project}-d" carries the labels of project "{sc.project}" but reconcile '
        "cannot prove it created it (a lost state, copied labels): not pruned; remove it by "
        "hand if it should go"
    ]
    assert sc.container_names() == [f"{sc.project}-{n}" for n in ("a", "b", "c", "d")]
    sc.write(slower, "c.yaml", name="c", loop=LOOP)
    assert sc.apply(prune=True).plan.count(Action.RECREATE) == 1


def test_prune_keeps_retain_volumes_with_their_data_and_removes_delete_volumes(
    sc: Scenario,
) -> None:
    sc.write(
        """\
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
          command: [sh, -c, 'echo precious > /keep/file; $loop']
          stopGracePeriod: 1s
          mounts:
            - {type: volume, source: $p-keep, target: /keep}
            - {type: volume, source: $p-scratch, target: /scratch}
        """,
        "volumes.yaml",
        loop=LOOP,
    )
    _small_set(sc, "a", "b", "c")
    sc.apply()
    assert wait_until(lambda: sc.exec("app", "cat", "/keep/file") == (0, "precious\n"))
    (sc.directory / "volumes.yaml").unlink()

    result = sc.apply(prune=True)
    assert {(s.key, s.reason) for s in result.plan.steps} == {
        (f"Container/{sc.project}-app", Reason.NOT_DECLARED),
        (f"Volume/{sc.project}-scratch", Reason.NOT_DECLARED),
    }
    assert any(f"{sc.project}-keep" in w and "Retain" in w for w in result.plan.warnings), (
        result.plan.warnings
    )
    volumes = {v.name for v in sc.client.volumes.list(filters={"name": sc.project})}
    assert volumes == {f"{sc.project}-keep"}
    assert read_volume_file(sc, f"{sc.project}-keep") == "precious\n"
    sc.assert_in_sync(prune=True)


def test_network_change_recreates_it_and_reconnects_its_containers(sc: Scenario) -> None:
    manifest = """\
        apiVersion: reconcile/v1
        kind: Network
        metadata: {name: $p-net}
        spec: {internal: $internal}
        ---
        apiVersion: reconcile/v1
        kind: Container
        metadata: {name: $p-server}
        spec:
          image: $image
          command: [sh, -c, '$serve']
          stopSignal: SIGKILL
          networks: [{name: $p-net, aliases: [backend]}]
        ---
        apiVersion: reconcile/v1
        kind: Container
        metadata: {name: $p-client}
        spec:
          image: $image
          command: [sh, -c, '$loop']
          stopGracePeriod: 1s
          networks: [$p-net]
        """
    sc.write(manifest, internal="false", loop=LOOP, serve=serve("pong", "ping"))
    sc.apply()
    old_net = sc.client.networks.get(f"{sc.project}-net").id
    ids = {n: sc.container(n).id for n in ("server", "client")}

    sc.write(manifest, internal="true", loop=LOOP, serve=serve("pong", "ping"))
    result = sc.apply()
    assert {(s.key, s.action, s.reason) for s in result.plan.steps} == {
        (f"Network/{sc.project}-net", Action.RECREATE, Reason.CONFIG_CHANGED),
        (f"Container/{sc.project}-server", Action.UPDATE, Reason.NETWORK_REPLACED),
        (f"Container/{sc.project}-client", Action.UPDATE, Reason.NETWORK_REPLACED),
    }
    net = sc.client.networks.get(f"{sc.project}-net")
    assert net.id != old_net and net.attrs["Internal"] is True
    for name, ident in ids.items():
        container = sc.container(name)
        assert container.id == ident, "reconnected in place, not recreated"
        assert container.attrs["NetworkSettings"]["Networks"][net.name]["NetworkID"] == net.id
    answers: list[tuple[int, str]] = []

    def get() -> bool:
        answers.append(sc.exec("client", "wget", "-q", "-O", "-", "http://backend:8080/ping"))
        return answers[-1] == (0, "pong\n")

    assert wait_until(get, timeout=10, interval=0.3), answers[-1]
    sc.assert_in_sync()


def test_a_published_port_in_use_fails_clearly_and_the_next_pass_recovers(sc: Scenario) -> None:
    port = host_port(sc.project, 1)
    sc.write(
        WEB_ON_PORT,
        port=port,
        serve=serve("up"),
    )
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = sc.apply(expect_ok=False)
    assert result.outcome is not None
    [(step, message)] = result.outcome.failed
    assert step.key == f"Container/{sc.project}-web"
    assert str(port) in message and "Traceback" not in message, message

    result = sc.apply()
    assert [(s.action, s.reason) for s in result.plan.steps] in (
        [(Action.START, Reason.NOT_RUNNING)],
        [(Action.CREATE, Reason.MISSING)],
    )
    assert sc.container("web").status == "running"
    sc.assert_in_sync()


def test_a_recreate_whose_replacement_cannot_start_keeps_the_old_container_running(
    sc: Scenario,
) -> None:
    old_port, new_port = host_port(sc.project, 2), host_port(sc.project, 3)
    sc.write(WEB_ON_PORT, port=old_port, serve=serve("old"))
    sc.apply()
    before = sc.container("web")
    # The new port is taken on the host: the replacement is created but cannot start.
    sc.write(WEB_ON_PORT, port=new_port, serve=serve("new"))
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", new_port))
        squatter.listen()
        result = sc.apply(expect_ok=False)
        assert result.outcome is not None
        [(step, message)] = result.outcome.failed
        assert step.action is Action.RECREATE, step
        assert "the replacement did not start" in message and str(new_port) in message, message
        assert "previous container was kept and started again" in message
        # The service is back: the same container, running, still answering on the old port.
        after = sc.container("web")
        assert (after.id, after.status) == (before.id, "running")
        names = [c.name for c in sc.client.containers.list(all=True, filters={"name": sc.project})]
        assert names == [f"{sc.project}-web"], names
        assert wait_until(lambda: _get(old_port) == "old", timeout=10, interval=0.3)
    # With the port free again, the next pass recreates it.
    result = sc.apply()
    assert [s.action for s in result.plan.steps] == [Action.RECREATE]
    assert wait_until(lambda: _get(new_port) == "new", timeout=10, interval=0.3)


def _get(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=2) as answer:
            return str(answer.read().decode().strip())
    except OSError:
        return ""


def test_a_container_is_not_created_on_someone_elses_volume(sc: Scenario) -> None:
    foreign = sc.client.volumes.create(f"{sc.project}-data")  # made by hand, not ours
    sc.write(
        """\
        apiVersion: reconcile/v1
        kind: Volume
        metadata: {name: $p-data}
        ---
        apiVersion: reconcile/v1
        kind: Container
        metadata: {name: $p-writer}
        spec:
          image: $image
          command: [sh, -c, 'echo mine > /data/claimed; $loop']
          mounts: [{type: volume, source: $p-data, target: /data}]
        """,
        loop=LOOP,
    )
    result = sc.apply(expect_ok=False)
    assert {(c.kind, c.name) for c in result.plan.conflicts} == {
        ("Volume", f"{sc.project}-data"),
        ("Container", f"{sc.project}-writer"),
    }
    assert not result.plan.steps
    assert sc.container_names() == []
    with pytest.raises(docker.errors.ContainerError):
        read_volume_file(sc, foreign.name, "claimed")  # nothing was written into it
    assert sc.client.volumes.get(foreign.name).attrs["Labels"] in (None, {})


HARDENED = """\
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-app}
    spec:
      image: $image
      command: [sh, -c, '$loop']
      stopGracePeriod: 1s
      securityOpt: $opts
      resources: {memory: 64Mi, memorySwap: 128Mi}
    """


@pytest.mark.parametrize(
    "spelling",
    ["[no-new-privileges]", '["no-new-privileges:true"]', '["no-new-privileges=true"]'],
)
def test_equivalent_spellings_and_the_default_swap_never_show_as_drift(
    sc: Scenario, spelling: str
) -> None:
    # An explicit swap of twice the memory is the Engine's default: it read back as unset
    # and planned an update on every pass.
    sc.write(HARDENED, loop=LOOP, opts="[no-new-privileges]")
    sc.apply()
    sc.assert_in_sync()
    sc.write(HARDENED, loop=LOOP, opts=spelling)
    sc.assert_in_sync()
