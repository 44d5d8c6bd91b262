"""Device permissions against real containers: what admission allows is what the Engine
gives, and r/w limits really hold inside the container.

The Engine's default device cgroup already allows rwm on /dev/null, /dev/zero, /dev/full,
/dev/random, /dev/urandom, /dev/fuse and /dev/net/tun, so r versus w is only observable on
another device: /dev/cpu_dma_latency (opening it only registers a latency request while open).
"""

from __future__ import annotations

import os

import pytest
from docker import DockerClient

from reconciler.manifests import ContainerManifest
from reconciler.policy import Policy, admit
from tests.policy.support import container, manifests, policy

PROBE = "/dev/cpu_dma_latency"
# Prints whether the device opens for reading and for writing.
OPEN_SCRIPT = (
    '(exec 3<"$1") 2>/dev/null && echo read-ok || echo read-denied; '
    '(exec 4>>"$1") 2>/dev/null && echo write-ok || echo write-denied'
)


def admitted_device(path: str, permissions: str, pol: Policy) -> tuple[str, list[str]]:
    """Admit one device; the Engine's device string and the refusals, if any."""
    doc = container(f"  image: x\n  devices: [{{hostPath: {path}, permissions: {permissions}}}]\n")
    admission = admit(manifests(doc), pol)
    manifest = admission.manifests[0].manifest
    assert isinstance(manifest, ContainerManifest)
    device = manifest.spec.devices[0]
    return f"{device.host_path}:{device.host_path}:{device.permissions}", [
        str(v) for v in admission.denied
    ]


def run_probe(client: DockerClient, image: str, name: str, device: str, path: str) -> list[str]:
    out = client.containers.run(
        image,
        ["sh", "-c", OPEN_SCRIPT, "sh", path],
        name=name,
        devices=[device],
        network_mode="none",
    )
    assert isinstance(out, bytes)
    return out.decode().split()


@pytest.mark.parametrize(
    ("path", "permissions"), [("/dev/null", "rw"), ("/dev/zero", "r"), ("/dev/fuse", "rwm")]
)
def test_allowed_devices_reach_the_container_with_their_permissions(
    docker_client: DockerClient, test_image: str, unique_prefix: str, path: str, permissions: str
) -> None:
    if not os.path.exists(path):
        pytest.skip(f"{path} does not exist on this host")
    pol = policy("devices: [{path: /dev/fuse, permissions: rwm}]\n")
    device, refused = admitted_device(path, permissions, pol)
    assert refused == []
    made = docker_client.containers.create(
        test_image, ["true"], name=f"{unique_prefix}-dev", devices=[device], network_mode="none"
    )
    made.reload()
    assert made.attrs["HostConfig"]["Devices"] == [
        {"PathOnHost": path, "PathInContainer": path, "CgroupPermissions": permissions}
    ]


@pytest.mark.parametrize(
    ("path", "permissions", "why"),
    [
        (
            "/dev/null",
            "rwm",
            "permissions rwm exceed the allowed rw (m lets the container create device nodes); "
            "write permissions: rw",
        ),
        (
            "/dev/fuse",
            "rw",
            "is not allowlisted (allowed: /dev/full, /dev/null, /dev/random, /dev/urandom, "
            "/dev/zero)",
        ),
    ],
)
def test_refused_devices(path: str, permissions: str, why: str) -> None:
    _, refused = admitted_device(path, permissions, Policy())
    assert refused == [f'[baseline/devices] container "web": device {path} {why} (m.yaml:6:14)']


@pytest.mark.parametrize(
    ("permissions", "expected"),
    [
        ("r", ["read-ok", "write-denied"]),
        ("w", ["read-denied", "write-ok"]),
        ("rw", ["read-ok", "write-ok"]),
    ],
)
def test_read_and_write_limits_hold_inside_the_container(
    docker_client: DockerClient,
    test_image: str,
    unique_prefix: str,
    permissions: str,
    expected: list[str],
) -> None:
    if not os.path.exists(PROBE):
        pytest.skip(f"{PROBE} does not exist on this host")
    pol = policy(f"devices: [{{path: {PROBE}, permissions: rw}}]\n")
    device, refused = admitted_device(PROBE, permissions, pol)
    assert refused == []
    assert run_probe(docker_client, test_image, f"{unique_prefix}-probe", device, PROBE) == expected


def test_more_than_the_entry_allows_is_refused_before_the_engine() -> None:
    pol = policy(f"devices: [{{path: {PROBE}, permissions: r}}]\n")
    _, refused = admitted_device(PROBE, "rw", pol)
    assert refused == [
        f'[baseline/devices] container "web": device {PROBE} permissions rw exceed the allowed r; '
        "write permissions: r (m.yaml:6:14)"
    ]
