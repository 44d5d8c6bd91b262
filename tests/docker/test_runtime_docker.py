"""DockerRuntime against the real Engine: create -> observe round-trips, drift, errors, events.

Every resource is named with ``unique_prefix`` (or labelled with it as the project), so the
fixture removes it whatever the outcome.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from docker import DockerClient

from reconciler.errors import EngineUnavailable, ImageNotFound, PermanentBackendError
from reconciler.manifests import constants
from reconciler.runtime.base import EngineEvent, ObserveRequest, Runtime
from reconciler.runtime.docker import DockerRuntime, client
from reconciler.values.configs import (
    ContainerConfig,
    DeviceConfig,
    HealthcheckConfig,
    MountConfig,
    NetworkAttachmentConfig,
    NetworkConfig,
    PortBinding,
    ResourceConfig,
    SubnetConfig,
    VolumeConfig,
)
from reconciler.values.observed import ImageInfo, ObservedContainer

SECOND = 1_000_000_000


@pytest.fixture
def runtime() -> Iterator[DockerRuntime]:
    rt = DockerRuntime.from_env()
    yield rt
    rt.close()


def ownership_labels(project: str, name: str) -> dict[str, str]:
    return {
        constants.LABEL_MANAGED_BY: constants.MANAGED_BY_VALUE,
        constants.LABEL_PROJECT: project,
        constants.LABEL_NAME: name,
        constants.LABEL_CONFIG_HASH: "h1",
    }


def with_image_defaults(config: ContainerConfig, image: ImageInfo) -> ContainerConfig:
    """What the Engine reports for ``config``: the image's env and labels merged in, and
    its EXPOSEd ports, user, workdir, stop signal where the config leaves them unset."""
    env = dict(image.env) | dict(config.env)
    labels = dict(image.labels) | dict(config.labels)
    return replace(
        config,
        env=tuple(sorted(env.items())),
        labels=tuple(sorted(labels.items())),
        cmd=config.cmd if config.cmd is not None or config.entrypoint else image.cmd,
        entrypoint=config.entrypoint if config.entrypoint is not None else image.entrypoint,
        user=config.user or image.user or None,
        working_dir=config.working_dir or image.working_dir or None,
        stop_signal=config.stop_signal or image.stop_signal,
        healthcheck=config.healthcheck or image.healthcheck,
    )


def observe_one(rt: DockerRuntime, project: str, name: str) -> ObservedContainer:
    """The container as observed, less what the Engine fills in that the planner judges
    against its defaults (``compare``): table-driven fields the config leaves unset, and the
    MAC addresses the Engine makes up where none was asked for."""
    state = rt.observe(ObserveRequest(project=project, container_names=frozenset({name})))
    found = state.containers[name]
    if found.config is None:
        return found
    filled = replace(
        found.config,
        options=(),
        networks=tuple(replace(n, mac_address=None) for n in found.config.networks),
    )
    return replace(found, config=filled)


def test_satisfies_the_protocol() -> None:
    rt: Runtime = DockerRuntime.from_env()
    assert isinstance(rt, DockerRuntime)


def test_construction_makes_no_engine_call() -> None:
    rt = DockerRuntime.from_env({"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert sum(rt.calls.values()) == 0


def test_rich_config_round_trips(
    runtime: DockerRuntime, test_image: str, unique_prefix: str, tmp_path: Path
) -> None:
    project = unique_prefix
    name = f"{unique_prefix}-rich"
    net_a, net_b, vol = f"{unique_prefix}-a", f"{unique_prefix}-b", f"{unique_prefix}-data"
    runtime.create_network(net_a, NetworkConfig(), ownership_labels(project, net_a))
    net_b_config = NetworkConfig(subnets=(SubnetConfig("10.213.77.0/24", "10.213.77.1"),))
    runtime.create_network(net_b, net_b_config, ownership_labels(project, net_b))
    runtime.create_volume(vol, VolumeConfig(), ownership_labels(project, vol))
    bind_dir = tmp_path / "conf"
    bind_dir.mkdir()
    # Ports derived from the prefix: parallel tests and a running example must not collide.
    port = 30000 + int(unique_prefix.removeprefix("rt-")[:4], 16) % 5000 * 2
    config = ContainerConfig(
        image=test_image,
        entrypoint=("/bin/sh", "-c"),
        cmd=("sleep 300",),
        env=(("API_TOKEN", "s3cret"), ("MODE", "prod")),
        user="1000:1000",
        working_dir="/work",
        hostname="rich-host",
        extra_hosts=("db.local:10.0.0.5", "cache.local:10.0.0.6"),
        ports=(
            PortBinding(8080, "tcp", "127.0.0.1", port),
            PortBinding(5353, "udp", "127.0.0.1", port + 1),
            PortBinding(9000),
        ),
        mounts=(
            MountConfig("/conf", "bind", str(bind_dir), read_only=True, propagation="rprivate"),
            MountConfig("/scratch", "tmpfs", tmpfs_size=8 * 1024 * 1024, tmpfs_mode=0o1777),
            MountConfig("/data", "volume", vol),
        ),
        devices=(
            DeviceConfig("/dev/null", "/dev/xnull", "rw"),
            DeviceConfig("/dev/zero", "/dev/xzero", "r"),
        ),
        device_cgroup_rules=("c 1:3 rwm",),
        group_add=("10", "20"),
        cap_add=("NET_ADMIN", "NET_BIND_SERVICE"),
        cap_drop=("MKNOD",),
        read_only_rootfs=True,
        security_opt=("no-new-privileges=true",),  # as the desired side spells it
        sysctls=(("net.ipv4.ip_unprivileged_port_start", "80"),),
        networks=(
            NetworkAttachmentConfig(net_a, aliases=("api", "web")),
            NetworkAttachmentConfig(net_b, aliases=("backend",), ipv4_address="10.213.77.10"),
        ),
        restart_policy="on-failure:3",
        healthcheck=HealthcheckConfig(
            test=("CMD-SHELL", "true"),
            interval=5 * SECOND,
            timeout=2 * SECOND,
            start_period=1 * SECOND,
            retries=3,
        ),
        resources=ResourceConfig(
            memory=64 * 1024 * 1024,
            memory_reservation=32 * 1024 * 1024,
            nano_cpus=500_000_000,
            cpu_shares=512,
            pids_limit=100,
        ),
        stop_signal="SIGINT",
        stop_timeout=7,
        init=True,
        labels=(("app", "shop"), ("tier", "web")),
    )
    # Sorted collections, as the desired side builds them.
    config = replace(
        config,
        extra_hosts=tuple(sorted(config.extra_hosts)),
        ports=tuple(sorted(config.ports)),
        mounts=tuple(sorted(config.mounts)),
        networks=tuple(sorted(config.networks)),
    )
    image = runtime.inspect_image(test_image)
    assert image is not None

    ident = runtime.create_container(name, config, ownership_labels(project, name))
    observed = observe_one(runtime, project, name)
    assert observed.id == ident
    assert observed.image_id == image.id
    assert observed.ownership.project == project
    assert observed.ownership.name == name
    assert observed.status.state == "created"
    assert observed.config == with_image_defaults(config, image)
    state = runtime.observe(ObserveRequest(project=project))
    assert state.networks[net_b].config == replace(
        net_b_config, labels=(), driver_opts=state.networks[net_b].config.driver_opts
    )
    assert state.networks[net_b].containers == (name,)
    assert state.volumes[vol].ownership.project == project

    # Running adds the Engine's own aliases (short id, hostname): still equal.
    runtime.start_container(name)
    running = observe_one(runtime, project, name)
    assert running.status.running
    assert running.config == observed.config


def test_minimal_config_reads_back_the_image_defaults(
    runtime: DockerRuntime, test_image: str, unique_prefix: str
) -> None:
    name = f"{unique_prefix}-min"
    config = ContainerConfig(image=test_image)
    runtime.create_container(name, config, ownership_labels(unique_prefix, name))
    image = runtime.inspect_image(test_image)
    assert image is not None

    observed = observe_one(runtime, unique_prefix, name).config
    assert observed is not None
    # Exactly: the image's env (PATH) and labels, its CMD, everything else unset/default.
    assert observed == replace(config, env=image.env, labels=image.labels, cmd=image.cmd)
    assert dict(observed.env)["PATH"]
    assert observed.networks == ()
    assert observed.network_mode is None
    assert observed.restart_policy == "no"
    assert observed.resources == ResourceConfig()


def test_update_drift_shows_in_resources(
    runtime: DockerRuntime, docker_client: DockerClient, test_image: str, unique_prefix: str
) -> None:
    name = f"{unique_prefix}-upd"
    resources = ResourceConfig(memory=64 * 1024 * 1024, pids_limit=50)
    config = ContainerConfig(image=test_image, cmd=("sleep", "300"), resources=resources)
    runtime.create_container(name, config, ownership_labels(unique_prefix, name))
    before = observe_one(runtime, unique_prefix, name).config
    assert before is not None
    assert before.resources == resources

    # Drift by hand, the way `docker update` does it.
    docker_client.api.update_container(name, mem_limit="96m", cpu_shares=256)
    drifted = observe_one(runtime, unique_prefix, name).config
    assert drifted is not None
    assert drifted.resources.memory == 96 * 1024 * 1024
    assert drifted.resources.cpu_shares == 256

    # And back in place through the backend.
    runtime.update_container(name, replace(resources, cpu_shares=256), "unless-stopped")
    repaired = observe_one(runtime, unique_prefix, name).config
    assert repaired is not None
    assert repaired.resources == replace(resources, cpu_shares=256)
    assert repaired.restart_policy == "unless-stopped"


def test_network_disconnect_shows_and_is_idempotent(
    runtime: DockerRuntime, test_image: str, unique_prefix: str
) -> None:
    name, net = f"{unique_prefix}-nc", f"{unique_prefix}-net"
    other = f"{unique_prefix}-other"
    runtime.create_network(net, NetworkConfig(), ownership_labels(unique_prefix, net))
    runtime.create_network(other, NetworkConfig(), ownership_labels(unique_prefix, other))
    config = ContainerConfig(
        image=test_image,
        cmd=("sleep", "300"),
        networks=(NetworkAttachmentConfig(net, ("x",)), NetworkAttachmentConfig(other)),
    )
    runtime.create_container(name, config, ownership_labels(unique_prefix, name))
    runtime.start_container(name)
    state = runtime.observe(ObserveRequest(project=unique_prefix))
    assert state.networks[net].containers == (name,)
    found = observe_one(runtime, unique_prefix, name).config
    assert found is not None
    assert found.networks == config.networks

    runtime.disconnect_network(name, other)
    runtime.disconnect_network(name, other)  # not attached: not an error
    after = observe_one(runtime, unique_prefix, name).config
    assert after is not None
    assert after.networks == (NetworkAttachmentConfig(net, ("x",)),)

    runtime.connect_network(name, NetworkAttachmentConfig(other, ("back",)))
    again = observe_one(runtime, unique_prefix, name).config
    assert again is not None
    assert again.networks[1] == NetworkAttachmentConfig(other, ("back",))


def test_observe_call_count_is_one_list_per_kind_plus_inspects(
    runtime: DockerRuntime, test_image: str, unique_prefix: str
) -> None:
    names = [f"{unique_prefix}-c{i}" for i in range(5)]
    for name in names:
        runtime.create_container(
            name, ContainerConfig(image=test_image), ownership_labels(unique_prefix, name)
        )
    unowned = f"{unique_prefix}-wanted"
    runtime.create_container(unowned, ContainerConfig(image=test_image), {})
    runtime.ping()  # the first use negotiates the API version and reads the cgroup version
    runtime.calls.clear()

    request = ObserveRequest(
        project=unique_prefix,
        container_names=frozenset({unowned}),
        image_refs=frozenset({test_image, "reconcile.local/missing:never"}),
    )
    state = runtime.observe(request)
    assert set(state.containers) == {*names, unowned}
    assert state.containers[unowned].ownership.project is None
    assert state.images["reconcile.local/missing:never"] is None
    assert state.images[test_image] is not None
    # 1 container list + 6 inspects + 1 volume list + 1 network list + 2 image inspects.
    assert dict(runtime.calls) == {
        "container.list": 1,
        "container.inspect": 6,
        "volume.list": 1,
        "network.list": 1,
        "image.inspect": 2,
    }
    assert sum(runtime.calls.values()) == 11


def test_replacement_and_volumes_are_observed(
    runtime: DockerRuntime, test_image: str, unique_prefix: str
) -> None:
    wanted = f"{unique_prefix}-web"
    next_name = wanted + constants.REPLACEMENT_SUFFIX
    runtime.create_container(next_name, ContainerConfig(image=test_image), {})
    vol = f"{unique_prefix}-v"
    runtime.create_volume(vol, VolumeConfig(labels=(("k", "v"),)), {})
    state = runtime.observe(
        ObserveRequest(
            project="someone-else",
            container_names=frozenset({wanted}),
            volume_names=frozenset({vol}),
        )
    )
    assert set(state.containers) == {next_name}
    assert state.volumes[vol].config == VolumeConfig(labels=(("k", "v"),))


def test_observe_raises_on_an_unreachable_engine() -> None:
    rt = DockerRuntime.from_env({"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    started = time.monotonic()
    with pytest.raises(EngineUnavailable, match="cannot reach the Docker Engine at unix://"):
        rt.observe(ObserveRequest(project="p"))
    assert time.monotonic() - started < 5


def test_errors_are_translated(
    runtime: DockerRuntime, test_image: str, unique_prefix: str, tmp_path: Path
) -> None:
    missing_bind = ContainerConfig(
        image=test_image, mounts=(MountConfig("/x", "bind", str(tmp_path / "nope")),)
    )
    with pytest.raises(PermanentBackendError, match="bind mount source does not exist"):
        runtime.create_container(f"{unique_prefix}-bind", missing_bind, {})
    assert not (tmp_path / "nope").exists()

    secret = ContainerConfig(image="reconcile.local/missing:never", env=(("PASSWORD", "hunter2"),))
    with pytest.raises(ImageNotFound) as caught:
        runtime.create_container(f"{unique_prefix}-img", secret, {})
    assert "hunter2" not in str(caught.value)

    name = f"{unique_prefix}-dup"
    runtime.create_container(name, ContainerConfig(image=test_image), {})
    with pytest.raises(PermanentBackendError, match="already exists"):
        runtime.create_container(name, ContainerConfig(image=test_image), {})

    vol = f"{unique_prefix}-used"
    runtime.create_volume(vol, VolumeConfig(), {})
    user = f"{unique_prefix}-user"
    runtime.create_container(
        user, ContainerConfig(image=test_image, mounts=(MountConfig("/d", "volume", vol),)), {}
    )
    with pytest.raises(PermanentBackendError, match=f"cannot remove volume '{vol}': it is in use"):
        runtime.remove_volume(vol)

    with pytest.raises(ImageNotFound, match="cannot pull image"):
        runtime.pull_image("reconcile.local/missing:never")

    # Missing resources: removal is a no-op, status is None.
    runtime.remove_container(f"{unique_prefix}-ghost")
    runtime.remove_volume(f"{unique_prefix}-ghost")
    runtime.remove_network(f"{unique_prefix}-ghost")
    assert runtime.container_status(f"{unique_prefix}-ghost") is None


def test_lifecycle_start_stop_rename_remove(
    runtime: DockerRuntime, test_image: str, unique_prefix: str
) -> None:
    name = f"{unique_prefix}-life"
    runtime.create_container(name, ContainerConfig(image=test_image, cmd=("sleep", "300")), {})
    runtime.start_container(name)
    runtime.start_container(name)  # running already: a no-op
    status = runtime.container_status(name)
    assert status is not None
    assert status.running
    assert status.started_at
    runtime.stop_container(name, timeout=1)
    stopped = runtime.container_status(name)
    assert stopped is not None
    assert stopped.state == "exited"
    renamed = f"{unique_prefix}-life2"
    runtime.rename_container(name, renamed)
    assert runtime.container_status(name) is None
    runtime.remove_container(renamed)
    assert runtime.container_status(renamed) is None


def test_events_deliver_die_and_stop_promptly(
    runtime: DockerRuntime, docker_client: DockerClient, test_image: str, unique_prefix: str
) -> None:
    name = f"{unique_prefix}-ev"
    runtime.create_container(
        name,
        ContainerConfig(image=test_image, cmd=("sleep", "300")),
        ownership_labels(unique_prefix, name),
    )
    runtime.start_container(name)
    stop = threading.Event()
    seen: list[EngineEvent] = []
    ready = threading.Event()

    def consume() -> None:
        for event in runtime.events(stop):
            seen.append(event)
            ready.set()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    time.sleep(0.5)  # let the stream open before the event happens
    docker_client.api.kill(name)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(
        e.name == name and e.action == "die" for e in seen
    ):
        time.sleep(0.05)
    die = [e for e in seen if e.name == name and e.action == "die"]
    assert die, seen
    assert die[0].type == "container"
    assert die[0].project == unique_prefix

    stopped_at = time.monotonic()
    stop.set()
    consumer.join(timeout=2)
    assert not consumer.is_alive()
    assert time.monotonic() - stopped_at < 1.5


def test_create_retried_after_a_timeout_adopts_its_own_container(
    runtime: DockerRuntime, test_image: str, unique_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Engine created the container but the answer was lost: the retry adopts it."""
    api = runtime._engine.api
    real = api.post
    lost: list[str] = []

    def create_then_time_out(
        path: str, body: Any = None, params: Any = None, *, timeout: float | None = None
    ) -> Any:
        answer = real(path, body, params, timeout=timeout)
        if path == "/containers/create" and not lost:
            lost.append(answer["Id"])
            raise client.ResponseTimeout("no answer within 30 s")
        return answer

    monkeypatch.setattr(api, "post", create_then_time_out)
    name = f"{unique_prefix}-retry"
    labels = ownership_labels(unique_prefix, name)
    ident = runtime.create_container(name, ContainerConfig(image=test_image), labels)
    assert ident == lost[0]
    assert runtime.calls["container.create"] == 2

    # A clash with somebody else's container is never adopted, retry or not.
    lost.clear()
    other = f"{unique_prefix}-retry2"
    runtime.create_container(other, ContainerConfig(image=test_image), {})
    monkeypatch.setattr(api, "post", real)
    with pytest.raises(PermanentBackendError, match="already exists"):
        runtime.create_container(other, ContainerConfig(image=test_image), labels)
