"""The parity tests' normaliser (``test_parity.comparable``) on hand-written inspect output, no
Engine: each equivalence it folds is folded, and a real difference next to it is still seen.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.compose.test_parity import comparable, differences

VPN_ID = "a" * 64
OTHER_VPN_ID = "b" * 64


def _inspect(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Id": "1" * 64,
        "Name": "/p-web-1",
        "Image": "sha256:abc",
        "State": {"Status": "running", "ExitCode": 0},
        "Config": {
            "Hostname": "111111111111",
            "Env": ["B=2", "A=1"],
            "Labels": {"com.docker.compose.project": "p", "org.example": "x"},
            "AttachStdout": True,
            "AttachStderr": True,
            "ExposedPorts": {"80/tcp": {}},
        },
        "HostConfig": {
            "Binds": ["p_data:/data:rw"],
            "Mounts": None,
            "Tmpfs": {"/tmp": "size=64m,mode=1777"},
            "RestartPolicy": {"Name": "", "MaximumRetryCount": 0},
            "CapAdd": None,
            "NetworkMode": "p_default",
            "Memory": 268435456,
        },
        "Mounts": [
            {
                "Type": "volume",
                "Name": "p_data",
                "Source": "/var/lib/docker/volumes/p_data/_data",
                "Destination": "/data",
                "Driver": "local",
                "Mode": "rw",
                "RW": True,
                "Propagation": "",
            }
        ],
        "NetworkSettings": {
            "Networks": {
                "p_default": {
                    "Aliases": ["p-web-1", "web", "111111111111"],
                    "IPAddress": "172.30.0.3",
                    "IPAMConfig": None,
                    "Links": None,
                    "DriverOpts": None,
                }
            }
        },
    }
    for path, value in changes.items():
        where = base
        *parents, last = path.split("__")
        for parent in parents:
            where = where[parent]
        where[last] = value
    return base


def _reconciles(inspect: dict[str, Any]) -> dict[str, Any]:
    """The same container as reconcile makes it: another id, mounts, no attach, labels."""
    ours = copy.deepcopy(inspect)
    ours["Id"] = "2" * 64
    ours["Config"]["Hostname"] = "222222222222"
    ours["Config"]["Env"] = ["A=1", "B=2"]
    ours["Config"]["Labels"] = {"io.reconcile.project": "p", "org.example": "x"}
    ours["Config"]["AttachStdout"] = ours["Config"]["AttachStderr"] = False
    ours["HostConfig"].update(
        Binds=None,
        Tmpfs=None,
        Mounts=[
            {"Type": "volume", "Source": "p_data", "Target": "/data"},
            {
                "Type": "tmpfs",
                "Target": "/tmp",
                "TmpfsOptions": {"SizeBytes": 67108864, "Mode": 0o1777},
            },
        ],
        RestartPolicy={"Name": "no", "MaximumRetryCount": 0},
        CapAdd=[],
    )
    ours["Mounts"][0]["Mode"] = "z"
    ours["Mounts"].append({"Type": "tmpfs", "Source": "", "Destination": "/tmp", "RW": True})
    ours["NetworkSettings"]["Networks"]["p_default"].update(
        Aliases=["web", "222222222222"], IPAddress="192.168.0.3"
    )
    return ours


def _compare(theirs: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    names = {theirs["Id"]: "p-web-1", ours["Id"]: "p-web-1"}
    return differences({"p-web-1": comparable(theirs, names)}, {"p-web-1": comparable(ours, names)})


def test_equivalences_are_folded() -> None:
    theirs = _inspect()
    assert _compare(theirs, _reconciles(theirs)) == []


def test_a_real_difference_is_listed_with_both_values() -> None:
    theirs = _inspect()
    ours = _reconciles(theirs)
    ours["HostConfig"]["Memory"] = 0
    ours["Mounts"][0]["RW"] = False
    ours["Config"]["ExposedPorts"] = {"81": {}}
    assert _compare(theirs, ours) == [
        "p-web-1 Config.ExposedPorts:\n    compose:   ['80/tcp']\n    reconcile: ['81/tcp']",
        "p-web-1 HostConfig.Memory:\n    compose:   268435456\n    reconcile: 0",
        "p-web-1 Mounts:\n    compose:   [{'Type': 'volume', 'Source': 'p_data', 'Destination':"
        " '/data', 'RW': True, 'Propagation': ''}]\n    reconcile: [{'Type': 'volume', "
        "'Source': 'p_data', 'Destination': '/data', 'RW': False, 'Propagation': ''}]",
    ]


def test_a_port_without_protocol_and_a_cap_prefix_are_equivalences() -> None:
    theirs = _inspect()
    ours = _reconciles(theirs)
    ours["Config"]["ExposedPorts"] = {"80": {}}
    theirs["HostConfig"]["CapAdd"] = ["CAP_NET_ADMIN"]
    ours["HostConfig"]["CapAdd"] = ["NET_ADMIN"]
    assert _compare(theirs, ours) == []


def test_a_label_of_the_user_is_compared() -> None:
    theirs = _inspect()
    ours = _reconciles(theirs)
    ours["Config"]["Labels"]["org.example"] = "y"
    assert _compare(theirs, ours) == [
        "p-web-1 Config.Labels['org.example']:\n    compose:   'x'\n    reconcile: 'y'"
    ]


def test_container_ids_are_read_as_names() -> None:
    theirs = _inspect(HostConfig__NetworkMode=f"container:{VPN_ID}")
    ours = _reconciles(theirs)
    ours["HostConfig"]["NetworkMode"] = f"container:{OTHER_VPN_ID[:12]}"
    ours["Config"]["Hostname"] = OTHER_VPN_ID[:12]
    theirs["Config"]["Hostname"] = VPN_ID[:12]
    names = {theirs["Id"]: "p-web-1", ours["Id"]: "p-web-1", VPN_ID: "p-vpn-1"}
    assert comparable(theirs, names) == comparable(ours, {**names, OTHER_VPN_ID: "p-vpn-1"})
    assert comparable(theirs, names)["HostConfig.NetworkMode"] == "container:p-vpn-1"
