"""The Swarm backend's mapping, on literals: what ``translate`` writes reads back through
``normalize`` as the service view of the config, so a fresh service is in sync; Engine
spellings (digest pins, Swarm's ``IP name`` hosts, network IDs) read as written."""

from __future__ import annotations

from reconciler.runtime.swarm import normalize, translate
from reconciler.values import swarm
from reconciler.values.configs import (
    ContainerConfig,
    HealthcheckConfig,
    MountConfig,
    NetworkAttachmentConfig,
    PortBinding,
    ResourceConfig,
    RolloutConfig,
    ServiceConfig,
    VolumeConfig,
)

CONFIG = ContainerConfig(
    image="reconcile.local/busybox:latest",
    entrypoint=("httpd",),
    cmd=("-f", "-p", "8080"),
    env=(("A", "1"), ("B", "x=y")),
    user="101:101",
    working_dir="/srv",
    hostname="web",
    extra_hosts=("db.local:10.0.0.5",),
    ports=(PortBinding(8080, "tcp", "", 18080), PortBinding(9090, "tcp", "", None)),
    mounts=(
        MountConfig("/data", "volume", "data"),
        MountConfig("/etc/app", "bind", "/srv/app", read_only=True, propagation="rslave"),
        MountConfig("/tmp", "tmpfs", tmpfs_size=1 << 20, tmpfs_mode=0o1777),
    ),
    group_add=("dialout",),
    cap_add=("NET_BIND_SERVICE",),
    cap_drop=("ALL",),
    read_only_rootfs=True,
    sysctls=(("net.core.somaxconn", "1024"),),
    networks=(NetworkAttachmentConfig("front", ("web",)),),
    restart_policy="on-failure:3",
    healthcheck=HealthcheckConfig(("CMD", "true"), interval=1_000_000_000, retries=3),
    resources=ResourceConfig(
        memory=64 << 20, memory_reservation=32 << 20, memory_swap=128 << 20, nano_cpus=250_000_000
    ),
    stop_signal="SIGTERM",
    stop_timeout=20,
    init=True,
    labels=(("app", "shop"),),
    service=ServiceConfig(
        replicas=3,
        constraints=("node.role==worker",),
        update=RolloutConfig(parallelism=2, delay=5_000_000_000, order="start-first"),
    ),
)


def test_a_written_spec_reads_back_as_its_service_view() -> None:
    spec = translate.service_spec("web", CONFIG, {"io.reconcile.project": "shop"})
    # Swarm keeps a task's networks by ID.
    spec["TaskTemplate"]["Networks"][0]["Target"] = "n1d"
    read = normalize.service_config(spec, {"n1d": "front"})
    assert read == swarm.service_view(CONFIG)


def test_the_view_keeps_what_a_service_can_hold() -> None:
    view = swarm.service_view(CONFIG)
    assert view.ports == (PortBinding(8080, "tcp", "", 18080),)  # exposed-only: not published
    assert view.restart_policy == "on-failure:3"
    assert view.resources.memory_swap == 0
    assert swarm.service_view(ContainerConfig(image="x", restart_policy="unless-stopped")) == (
        ContainerConfig(image="x", restart_policy="always", service=ServiceConfig())
    )


def test_engine_spellings_read_as_written() -> None:
    spec = translate.service_spec("web", ContainerConfig(image="busybox:1"), {})
    spec["TaskTemplate"]["ContainerSpec"]["Image"] = "busybox:1@sha256:" + "a" * 64
    assert normalize.service_config(spec, {}).image == "busybox:1"
    assert translate.swarm_host("db:10.0.0.5") == "10.0.0.5 db"
    assert normalize.docker_host("10.0.0.5 db") == "db:10.0.0.5"


def test_a_named_volume_carries_its_driver_to_the_nodes() -> None:
    spec = translate.service_spec(
        "web", CONFIG, {}, {"data": VolumeConfig("local", (("type", "tmpfs"),))}
    )
    volume = spec["TaskTemplate"]["ContainerSpec"]["Mounts"][0]
    assert volume["VolumeOptions"]["DriverConfig"] == {
        "Name": "local",
        "Options": {"type": "tmpfs"},
    }


def test_task_counts_make_the_status() -> None:
    spec = translate.service_spec("web", CONFIG, {})
    status = normalize.service_status({"Spec": spec, "ServiceStatus": {"RunningTasks": 3}})
    assert (status.state, status.health, status.running) == ("running", "healthy", True)
    starting = normalize.service_status({"Spec": spec, "ServiceStatus": {"RunningTasks": 1}})
    assert (starting.state, starting.health, starting.running) == ("created", "starting", False)
    spec["Mode"]["Replicated"]["Replicas"] = 0
    assert normalize.service_status({"Spec": spec}).state == "exited"
