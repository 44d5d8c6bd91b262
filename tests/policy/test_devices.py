"""Devices and device cgroup rules: the default allowlist, permissions, always-denied nodes."""

from __future__ import annotations

import pytest

from reconciler.policy import Policy
from tests.policy.support import admit_text, container, fake_host, messages, policy

SERIAL = policy(
    "devices:\n  - {path: /dev/ttyUSB0, permissions: rw}\n  - {path: /dev/fuse, permissions: rwm}\n"
)


def devices(
    entries: str, pol: Policy | None = None, links: dict[str, str] | None = None
) -> list[str]:
    doc = container(f"  image: x\n  devices: [{entries}]\n")
    return messages(admit_text(doc, policy=pol, host=fake_host(links)))


def refusal(text: str, column: int = 14) -> list[str]:
    return [f'[baseline/devices] container "web": device {text} (m.yaml:6:{column})']


@pytest.mark.parametrize("node", ["null", "zero", "full", "random", "urandom"])
def test_the_harmless_devices_are_allowed_read_write(node: str) -> None:
    assert devices(f"{{hostPath: /dev/{node}, permissions: rw}}") == []
    assert devices(f"{{hostPath: /dev/{node}, permissions: r}}") == []


def test_mknod_needs_the_entry_to_allow_it() -> None:
    # The manifest default is rwm, like docker run --device.
    assert devices("{hostPath: /dev/null}") == refusal(
        "/dev/null permissions rwm exceed the allowed rw (m lets the container create device "
        "nodes); write permissions: rw"
    )
    assert devices("{hostPath: /dev/fuse, permissions: rwm}", SERIAL) == []


def test_a_device_not_allowlisted_is_refused() -> None:
    assert devices("{hostPath: /dev/fuse, permissions: rw}") == refusal(
        "/dev/fuse is not allowlisted (allowed: /dev/full, /dev/null, /dev/random, /dev/urandom, "
        "/dev/zero)"
    )


def test_an_allowlisted_device_within_its_permissions() -> None:
    assert devices("{hostPath: /dev/ttyUSB0, permissions: rw}", SERIAL) == []
    assert devices("{hostPath: /dev/ttyUSB0, permissions: rwm}", SERIAL) == refusal(
        "/dev/ttyUSB0 permissions rwm exceed the allowed rw (m lets the container create device "
        "nodes); write permissions: rw"
    )


def test_a_symlink_to_an_allowlisted_device_is_that_device() -> None:
    links = {"/dev/serial/by-id/usb-FTDI": "../../ttyUSB0"}
    assert devices("{hostPath: /dev/serial/by-id/usb-FTDI, permissions: r}", SERIAL, links) == []


@pytest.mark.parametrize(
    "node",
    [
        "/dev/mem",
        "/dev/kmem",
        "/dev/port",
        "/dev/sda",
        "/dev/sdb1",
        "/dev/nvme0n1",
        "/dev/vda",
        "/dev/xvda",
        "/dev/mmcblk0",
        "/dev/dm-0",
        "/dev/loop0",
        "/dev/md0",
        "/dev/disk/by-id/x",
    ],
)
def test_memory_ports_and_raw_disks_are_always_denied(node: str) -> None:
    everything = Policy(devices={node: "rwm"})  # a policy file refuses these entries
    assert devices(f"{{hostPath: {node}, permissions: r}}", everything) == refusal(
        f"{node} "
        + (
            "holds raw disk devices"
            if "/disk/" in node
            else "is physical memory, an I/O port or a raw disk"
        )
        + ": always denied"
    )


def test_a_symlink_to_a_raw_disk_is_denied() -> None:
    pol = Policy(devices={"/dev/mydisk": "rw"})
    assert devices("{hostPath: /dev/mydisk, permissions: r}", pol, {"/dev/mydisk": "sda"}) == (
        refusal(
            "/dev/mydisk (resolves to /dev/sda) is physical memory, an I/O port or a raw disk: "
            "always denied"
        )
    )


def rules(rule_list: str, pol: Policy | None = None) -> list[str]:
    doc = container(f"  image: x\n  deviceCgroupRules: [{rule_list}]\n")
    return messages(admit_text(doc, policy=pol))


def test_device_cgroup_rules_must_be_allowlisted_exactly() -> None:
    pol = policy('deviceCgroupRules: ["c 188:0 rw"]\n')
    assert rules('"c 188:0 rw"', pol) == []
    assert rules('"c 188:0 r"', pol) == []  # fewer permissions than allowed
    assert rules('"c 188:0 rwm"', pol) == [
        "[baseline/device-cgroup-rules] container \"web\": device cgroup rule 'c 188:0 rwm' is "
        "not allowlisted (m.yaml:6:23)"
    ]
    assert rules('"c 188:1 rw"', pol) == [
        "[baseline/device-cgroup-rules] container \"web\": device cgroup rule 'c 188:1 rw' is "
        "not allowlisted (m.yaml:6:23)"
    ]


@pytest.mark.parametrize("rule", ["c 188:* rw", "c *:* m", "a 1:3 r", "b *:0 r"])
def test_wildcard_cgroup_rules_are_never_allowed(rule: str) -> None:
    pol = Policy(device_cgroup_rules=frozenset({rule}))  # a policy file refuses these entries
    assert rules(f'"{rule}"', pol) == [
        f'[baseline/device-cgroup-rules] container "web": device cgroup rule {rule!r} is a '
        "wildcard: never allowed (m.yaml:6:23)"
    ]
