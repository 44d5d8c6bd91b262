"""Pure unit tests of inspect normalization on recorded 20.10 JSON (trimmed): no Engine used."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reconciler.runtime.docker import normalize, observing, translate
from reconciler.values.configs import (
    DeviceConfig,
    GpuRequest,
    MountConfig,
    NetworkAttachmentConfig,
    PortBinding,
    ResourceConfig,
)

CID = "6d94957ebf6fd8691d7b1386656d5dc88b969fd524bd06d9adf28fdff4a80855"
OTHER = "72edf5069380431628611c2dfed26daf91d5bbe6896a49e222d2cfedd315628c"

# `docker create` by the CLI on 20.10: CAP_ prefixes, swap at twice the memory, -1 pids,
# the default ipc/cgroupns modes spelled out, the short id as hostname, legacy -v binds,
# an anonymous volume from the image, a container: pid mode by id.
CLI_CREATED: dict[str, Any] = {
    "Id": CID,
    "Name": "/web",
    "Image": "sha256:b049",
    "RestartCount": 2,
    "State": {
        "Status": "running",
        "ExitCode": 0,
        "OOMKilled": False,
        "StartedAt": "2026-11-27T21:36:02.5Z",
        "FinishedAt": "0001-01-01T00:00:00Z",
        "Health": {"Status": "healthy"},
    },
    "HostConfig": {
        "Binds": ["/srv/conf:/conf:ro", "named:/named"],
        "NetworkMode": "default",
        "PortBindings": {
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
            "90/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
        },
        "RestartPolicy": {"Name": "", "MaximumRetryCount": 0},
        "CapAdd": ["CAP_NET_ADMIN", "CAP_CHOWN"],
        "CapDrop": None,
        "CgroupnsMode": "host",
        "IpcMode": "private",
        "PidMode": f"container:{OTHER}",
        "UTSMode": "",
        "UsernsMode": "",
        "Memory": 67108864,
        "MemorySwap": 134217728,
        "MemoryReservation": 0,
        "NanoCpus": 0,
        "CpuShares": 0,
        "PidsLimit": -1,
        "Devices": [
            {"PathOnHost": "/dev/zero", "PathInContainer": "/dev/z", "CgroupPermissions": "r"}
        ],
        "DeviceRequests": [
            {"Driver": "", "Count": -1, "DeviceIDs": None, "Capabilities": [["gpu"]]}
        ],
        "Tmpfs": {"/run": "size=64k"},
        "Mounts": None,
        "Init": None,
    },
    "Mounts": [
        {
            "Type": "bind",
            "Source": "/srv/conf",
            "Destination": "/conf",
            "RW": False,
            "Propagation": "rprivate",
        },
        {"Type": "volume", "Name": "named", "Destination": "/named", "RW": True},
        {"Type": "volume", "Name": "3f1c" * 16, "Destination": "/var/lib/data", "RW": True},
    ],
    "Config": {
        "Hostname": CID[:12],
        "User": "",
        "WorkingDir": "",
        "ExposedPorts": {"80/tcp": {}, "90/udp": {}, "7000/tcp": {}},
        "Env": ["PATH=/bin", "A=1=2", "BARE"],
        "Cmd": ["sleep", "100"],
        "Entrypoint": None,
        "Image": "reconcile.local/busybox:latest",
        "Labels": {
            "io.reconcile.managed-by": "reconcile",
            "io.reconcile.project": "shop",
            "io.reconcile.name": "web",
            "app": "x",
        },
    },
    "NetworkSettings": {"Networks": {"bridge": {"Aliases": None, "IPAMConfig": None}}},
}


def test_cli_created_container_normalizes() -> None:
    config = normalize.container_config(CLI_CREATED, {OTHER: "db", CID: "web"}, "host")
    assert config.cap_add == ("CHOWN", "NET_ADMIN")
    assert config.cap_drop == ()
    assert config.restart_policy == "no"
    assert config.resources == ResourceConfig(memory=67108864)
    assert config.ipc_mode is None
    assert config.cgroupns_mode is None
    assert config.pid_mode == "container:db"
    assert config.hostname is None
    assert config.network_mode is None
    assert config.networks == ()
    assert config.ports == (
        PortBinding(80, "tcp", "", 8080),
        PortBinding(90, "udp", "127.0.0.1", 0),
        PortBinding(7000, "tcp"),
    )
    assert config.mounts == (
        MountConfig("/conf", "bind", "/srv/conf", read_only=True),
        MountConfig("/named", "volume", "named"),
        MountConfig("/run", "tmpfs", tmpfs_size=64 * 1024),
    )
    assert config.devices == (DeviceConfig("/dev/zero", "/dev/z", "r"),)
    assert config.gpus == GpuRequest(driver="", count=-1)
    assert config.env == (("A", "1=2"), ("BARE", ""), ("PATH", "/bin"))
    assert config.labels == (("app", "x"),)
    assert config.cmd == ("sleep", "100")
    assert config.entrypoint is None
    assert config.init is None
    assert config.user is None
    assert config.working_dir is None


def test_status_and_ownership() -> None:
    found = normalize.observed_container(CLI_CREATED, {}, "host")
    assert found.name == "web"
    assert found.ownership.project == "shop"
    assert found.ownership.name == "web"
    assert found.status.health == "healthy"
    assert found.status.restart_count == 2
    assert found.status.finished_at == ""
    assert found.status.running


def test_cgroupns_default_depends_on_the_host() -> None:
    raw = copy.deepcopy(CLI_CREATED)
    assert normalize.container_config(raw, {}, "private").cgroupns_mode == "host"
    raw["HostConfig"]["CgroupnsMode"] = "private"
    assert normalize.container_config(raw, {}, "private").cgroupns_mode is None


def test_engine_added_aliases_are_dropped() -> None:
    raw = copy.deepcopy(CLI_CREATED)
    raw["HostConfig"]["NetworkMode"] = "front"
    raw["Config"]["Hostname"] = "h"
    raw["NetworkSettings"]["Networks"] = {
        "front": {"Aliases": ["web", "b", CID[:12], "a"], "IPAMConfig": {}},
        "back": {"Aliases": ["h", "z"], "IPAMConfig": {"IPv4Address": "10.1.0.5"}},
    }
    config = normalize.container_config(raw, {}, "host")
    assert config.hostname == "h"
    assert config.network_mode is None
    assert config.networks == (
        NetworkAttachmentConfig("back", ("z",), "10.1.0.5"),
        NetworkAttachmentConfig("front", ("a", "b")),
    )


def test_swap_other_than_the_default_is_kept() -> None:
    raw = copy.deepcopy(CLI_CREATED)
    raw["HostConfig"]["MemorySwap"] = -1
    raw["HostConfig"]["PidsLimit"] = None
    assert normalize.resources(raw["HostConfig"]) == ResourceConfig(memory=67108864, memory_swap=-1)


@pytest.mark.parametrize(
    ("raw", "policy"),
    [
        ({"Name": "", "MaximumRetryCount": 0}, "no"),
        ({"Name": "no"}, "no"),
        ({"Name": "on-failure", "MaximumRetryCount": 0}, "on-failure"),
        ({"Name": "on-failure", "MaximumRetryCount": 3}, "on-failure:3"),
        ({"Name": "unless-stopped", "MaximumRetryCount": 0}, "unless-stopped"),
    ],
)
def test_restart_policy_round_trips(raw: dict[str, Any], policy: str) -> None:
    assert normalize.restart_policy(raw) == policy
    assert normalize.restart_policy(translate.restart_policy(policy)) == policy


def test_update_body_sends_default_swap_and_pids() -> None:
    body = translate.update_body(ResourceConfig(memory=100), "always")
    assert body == {
        "Memory": 100,
        "MemorySwap": 200,
        "PidsLimit": 0,
        "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
    }


def test_list_names_and_events() -> None:
    assert observing.list_name({"Names": ["/other/alias", "/web"]}) == "web"
    event = observing.engine_event(
        {
            "Type": "network",
            "Action": "disconnect",
            "Actor": {"ID": "n1", "Attributes": {"name": "front", "container": CID}},
            "timeNano": 5,
        }
    )
    assert (event.type, event.action, event.name, event.project) == (
        "network",
        "disconnect",
        "front",
        None,
    )
    assert event.attributes["container"] == CID
