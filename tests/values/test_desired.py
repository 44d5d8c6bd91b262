"""desired.build: literal manifests in, exact comparable configs out (golden values)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from reconciler.manifests import Manifest, any_manifest
from reconciler.values import desired
from reconciler.values.configs import (
    ContainerConfig,
    DeviceConfig,
    GpuRequest,
    HealthcheckConfig,
    MountConfig,
    NetworkAttachmentConfig,
    NetworkConfig,
    PortBinding,
    ResourceConfig,
    SubnetConfig,
    VolumeConfig,
)

Mi = 1024**2
S = 1_000_000_000


def doc(kind: str, name: str, spec: dict[str, Any] | None = None, **meta: Any) -> Manifest:
    body: dict[str, Any] = {
        "apiVersion": "reconcile/v1",
        "kind": kind,
        "metadata": {"name": name, **meta},
    }
    if spec is not None:
        body["spec"] = spec
    return any_manifest().validate_python(body)


def build(*docs: Manifest) -> desired.DesiredState:
    return desired.build("shop", ((d, f"shop.yaml:{i + 1}") for i, d in enumerate(docs)))


def config(**spec: Any) -> ContainerConfig:
    """The config of a container ``web`` with this spec (image defaults to ``busybox``)."""
    state = build(doc("Container", "web", {"image": "busybox", **spec}))
    return state.containers["web"].config


def test_a_full_container_normalizes_to_exact_values() -> None:
    manifest = doc(
        "Container",
        "web",
        {
            "image": "busybox:1.36",
            "pullPolicy": "Never",
            "command": ["httpd"],
            "args": ["-f", "-p", "80"],
            "env": {"ZED": "last", "API_TOKEN": "t0k3n", "PORT": 8080, "ALPHA": "first"},
            "user": 1000,
            "workingDir": "/srv",
            "hostname": "www",
            "extraHosts": ["db.local:10.0.0.2", "api.local:10.0.0.3", "db.local:10.0.0.2"],
            "ports": [
                {"containerPort": 80, "hostPort": 8080},
                {"containerPort": 53, "protocol": "udp"},
                {"containerPort": 80, "hostPort": 8080},
            ],
            "mounts": [
                {"type": "volume", "source": "data", "target": "/data", "readOnly": True},
                {"type": "tmpfs", "target": "/tmp", "sizeBytes": "64Mi", "mode": "1777"},
                {"type": "bind", "source": "/etc/hosts", "target": "/h", "propagation": "rslave"},
            ],
            "devices": [
                {"hostPath": "/dev/fuse", "permissions": "wr"},
                {"hostPath": "/dev/null", "containerPath": "/dev/nothing"},
            ],
            "deviceCgroupRules": ["c 10:229 rwm"],
            "gpus": {"count": "all"},
            "groupAdd": ["video", 44, "video"],
            "capabilities": {"add": ["net_admin", "CAP_SYS_TIME"], "drop": ["ALL"]},
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "securityOpt": ["no-new-privileges"],
            "sysctls": {"net.core.somaxconn": 1024},
            "networks": [
                {"name": "front", "aliases": ["web", "www", "site"]},
                "back",
            ],
            "restartPolicy": "on-failure:3",
            "healthcheck": {
                "test": "wget -q -O- localhost",
                "interval": "10s",
                "timeout": "2s",
                "startPeriod": "1m",
                "retries": 3,
            },
            "dependsOn": ["db", {"name": "cache", "condition": "healthy"}],
            "resources": {"memory": "256Mi", "cpus": "0.5", "cpuShares": 512, "pids": 100},
            "stopSignal": "TERM",
            "stopGracePeriod": "10s",
            "init": True,
            "tty": True,
        },
        labels={"team": "web", "app": "shop"},
    )
    web = build(manifest).containers["web"]
    assert web.config == ContainerConfig(
        image="busybox:1.36",
        entrypoint=("httpd",),
        cmd=("-f", "-p", "80"),
        env=(("ALPHA", "first"), ("API_TOKEN", "t0k3n"), ("PORT", "8080"), ("ZED", "last")),
        user="1000",
        working_dir="/srv",
        hostname="www",
        extra_hosts=("api.local:10.0.0.3", "db.local:10.0.0.2"),
        ports=(PortBinding(53, "udp"), PortBinding(80, "tcp", "", 8080)),
        mounts=(
            MountConfig("/data", "volume", "data", read_only=True),
            MountConfig("/h", "bind", "/etc/hosts", propagation="rslave"),
            MountConfig("/tmp", "tmpfs", tmpfs_size=64 * Mi, tmpfs_mode=0o1777),
        ),
        devices=(
            DeviceConfig("/dev/fuse", "/dev/fuse", "rw"),
            DeviceConfig("/dev/null", "/dev/nothing", "rwm"),
        ),
        device_cgroup_rules=("c 10:229 rwm",),
        gpus=GpuRequest("nvidia", -1, (), ("gpu",)),
        group_add=("44", "video"),
        cap_add=("NET_ADMIN", "SYS_TIME"),
        cap_drop=("ALL",),
        read_only_rootfs=True,
        security_opt=("no-new-privileges=true",),
        sysctls=(("net.core.somaxconn", "1024"),),
        # Sorted by name; "web" (the container's name) and "www" (its hostname) are implicit.
        networks=(NetworkAttachmentConfig("back"), NetworkAttachmentConfig("front", ("site",))),
        restart_policy="on-failure:3",
        healthcheck=HealthcheckConfig(
            ("CMD-SHELL", "wget -q -O- localhost"), 10 * S, 2 * S, 60 * S, 3
        ),
        resources=ResourceConfig(
            memory=256 * Mi,
            memory_swap=256 * Mi,
            nano_cpus=500_000_000,
            cpu_shares=512,
            pids_limit=100,
        ),
        stop_signal="SIGTERM",
        stop_timeout=10,
        init=True,
        tty=True,
        labels=(("app", "shop"), ("team", "web")),
    )
    assert web.name == "web"
    assert web.source == "shop.yaml:1"
    assert web.pull_policy == "Never"
    assert web.depends_on == (("cache", "healthy"), ("db", "started"))
    assert web.secret_env == frozenset({"API_TOKEN"})
    assert web.volumes == ("data",)
    assert web.networks == ("back", "front")


def test_a_minimal_container_has_engine_defaults() -> None:
    assert config() == ContainerConfig(image="busybox", restart_policy="unless-stopped")


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({}, ResourceConfig()),
        ({"memory": "64Mi"}, ResourceConfig(memory=64 * Mi, memory_swap=64 * Mi)),
        # Twice the memory is the Engine's default swap, which reads back as 0.
        ({"memory": "64Mi", "memorySwap": "128Mi"}, ResourceConfig(memory=64 * Mi)),
        (
            {"memory": "64Mi", "memorySwap": "96Mi"},
            ResourceConfig(memory=64 * Mi, memory_swap=96 * Mi),
        ),
        ({"memoryReservation": "32Mi"}, ResourceConfig(memory_reservation=32 * Mi)),
        ({"cpus": 2}, ResourceConfig(nano_cpus=2 * S)),
    ],
)
def test_memory_alone_caps_swap_at_memory(
    resources: dict[str, Any], expected: ResourceConfig
) -> None:
    assert config(resources=resources).resources == expected


@pytest.mark.parametrize(
    ("written", "normalized"),
    [
        ("no", "no"),
        ("always", "always"),
        ("on-failure", "on-failure"),
        ("on-failure:5", "on-failure:5"),
    ],
)
def test_restart_policy_as_written(written: str, normalized: str) -> None:
    assert config(restartPolicy=written).restart_policy == normalized


def test_the_manifest_refuses_on_failure_0() -> None:
    with pytest.raises(ValidationError, match="restartPolicy"):
        config(restartPolicy="on-failure:0")


@pytest.mark.parametrize(
    ("written", "signal"),
    [
        ("TERM", "SIGTERM"),
        ("SIGKILL", "SIGKILL"),
        ("RTMIN+1", "SIGRTMIN+1"),
        (9, "9"),
        ("15", "15"),
    ],
)
def test_stop_signal_gets_the_sig_prefix_unless_numeric(written: object, signal: str) -> None:
    assert config(stopSignal=written).stop_signal == signal


@pytest.mark.parametrize(("grace", "seconds"), [("10s", 10), ("1m", 60), ("0s", 0)])
def test_stop_grace_period_becomes_whole_seconds(grace: str, seconds: int) -> None:
    assert config(stopGracePeriod=grace).stop_timeout == seconds


@pytest.mark.parametrize(("mode", "value"), [("1777", 0o1777), ("0755", 0o755), ("700", 0o700)])
def test_tmpfs_mode_is_octal(mode: str, value: int) -> None:
    (mount,) = config(mounts=[{"type": "tmpfs", "target": "/t", "mode": mode}]).mounts
    assert mount == MountConfig("/t", "tmpfs", tmpfs_mode=value)


def test_devices_default_their_container_path_and_normalize_permissions() -> None:
    devices = [
        {"hostPath": "/dev/snd", "permissions": "mw"},
        {"hostPath": "/dev/fuse", "permissions": "wr"},
        {"hostPath": "/dev/fuse", "permissions": "rw"},  # the same device twice: one entry
        {"hostPath": "/dev/kvm"},
    ]
    assert config(devices=devices).devices == (
        DeviceConfig("/dev/fuse", "/dev/fuse", "rw"),
        DeviceConfig("/dev/kvm", "/dev/kvm", "rwm"),
        DeviceConfig("/dev/snd", "/dev/snd", "wm"),
    )


def test_aliases_the_engine_adds_itself_are_dropped() -> None:
    networks = [{"name": "front", "aliases": ["web", "api", "host1", "api"]}]
    assert config(networks=networks, hostname="host1").networks == (
        NetworkAttachmentConfig("front", ("api",)),
    )


@pytest.mark.parametrize(
    ("spec", "networks", "mode"),
    [
        ({}, (), None),
        ({"networkMode": "bridge"}, (), None),
        ({"networkMode": "host"}, (), "host"),
        ({"networkMode": "none"}, (), "none"),
        (
            {"networks": ["b", "a"]},
            (NetworkAttachmentConfig("a"), NetworkAttachmentConfig("b")),
            None,
        ),
    ],
)
def test_networks_and_network_mode(
    spec: dict[str, Any], networks: tuple[NetworkAttachmentConfig, ...], mode: str | None
) -> None:
    got = config(**spec)
    assert (got.networks, got.network_mode) == (networks, mode)


def test_volumes_and_networks_normalize_too() -> None:
    state = build(
        doc(
            "Volume", "data", {"driverOpts": {"type": "tmpfs", "device": "tmpfs"}}, labels={"a": 1}
        ),
        doc("Volume", "scratch", {"deletionPolicy": "Delete"}),
        doc(
            "Network",
            "front",
            {
                "internal": True,
                "enableIPv6": True,
                "subnets": [
                    {"subnet": "10.2.0.0/24"},
                    {"subnet": "10.1.0.0/24", "gateway": "10.1.0.1", "ipRange": "10.1.0.128/25"},
                ],
            },
        ),
    )
    data, scratch = state.volumes["data"], state.volumes["scratch"]
    assert data.config == VolumeConfig(
        "local", (("device", "tmpfs"), ("type", "tmpfs")), (("a", "1"),)
    )
    assert (data.deletion_policy, scratch.deletion_policy) == ("Retain", "Delete")
    assert (data.source, scratch.source) == ("shop.yaml:1", "shop.yaml:2")
    assert state.networks["front"].config == NetworkConfig(
        driver="bridge",
        internal=True,
        enable_ipv6=True,
        subnets=(
            SubnetConfig("10.1.0.0/24", "10.1.0.1", "10.1.0.128/25"),
            SubnetConfig("10.2.0.0/24"),
        ),
    )
    assert state.size == 3


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("DB_PASSWORD", True),
        ("API_TOKEN", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("db_password", True),
        ("GITHUB_AUTH", True),
        ("SENTRY_DSN", True),
        ("PATH", False),
        ("HOME", False),
        ("PORT", False),
        ("LANG", False),
    ],
)
def test_secret_env_names(name: str, secret: bool) -> None:
    assert desired.is_secret_name(name) is secret


def test_secret_env_lists_the_secret_names_of_a_container() -> None:
    state = build(
        doc(
            "Container",
            "web",
            {"image": "busybox", "env": {"DB_PASSWORD": "x", "HOME": "/root", "API_TOKEN": "y"}},
        )
    )
    assert state.containers["web"].secret_env == frozenset({"DB_PASSWORD", "API_TOKEN"})


def test_config_hash_is_keyed_prefixed_and_does_not_contain_secrets() -> None:
    a = config(env={"DB_PASSWORD": "hunter2"})
    b = config(env={"DB_PASSWORD": "hunter3"})
    key, other_key = b"k" * 32, b"j" * 32
    digest = desired.config_hash(a, key)
    assert digest == desired.config_hash(a, key)
    assert digest == desired.config_hash(config(env={"DB_PASSWORD": "hunter2"}), key)
    assert digest != desired.config_hash(a, other_key)
    assert digest != desired.config_hash(b, key)
    assert digest.startswith("v1:")
    assert len(digest) == len("v1:") + 32
    assert all(c in "0123456789abcdef" for c in digest[3:])
    assert "hunter2" not in digest


def test_config_hash_covers_volumes_and_networks() -> None:
    key = b"k" * 32
    assert desired.config_hash(VolumeConfig(), key) != desired.config_hash(
        VolumeConfig(driver="other"), key
    )
    assert desired.config_hash(NetworkConfig(), key).startswith("v1:")


def test_ownership_labels() -> None:
    assert desired.ownership_labels("shop", "Container", "web", "shop.yaml:3", "v1:ab") == {
        "io.reconcile.managed-by": "reconcile",
        "io.reconcile.project": "shop",
        "io.reconcile.kind": "Container",
        "io.reconcile.name": "web",
        "io.reconcile.source": "shop.yaml:3",
        "io.reconcile.config-hash": "v1:ab",
    }


def test_security_options_are_compared_in_one_spelling() -> None:
    from reconciler.values.configs import security_options

    assert security_options(["no-new-privileges"]) == ("no-new-privileges=true",)
    assert security_options(["no-new-privileges:true", "label:disable"]) == (
        "label=disable",
        "no-new-privileges=true",
    )
    assert security_options(["no-new-privileges=false", "apparmor=unconfined"]) == (
        "apparmor=unconfined",
    )
    # A seccomp profile's own colons are not separators; unknown options stay as written.
    assert security_options(['seccomp={"defaultAction":"SCMP_ACT_ERRNO"}', "odd"]) == (
        "odd",
        'seccomp={"defaultAction":"SCMP_ACT_ERRNO"}',
    )
