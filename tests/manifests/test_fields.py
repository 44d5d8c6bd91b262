"""The container field table, end to end in pure code: literal manifests and recorded Engine
JSON in, golden comparable values, request bodies, diffs and conflicts out."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ValidationError

from reconciler.controllers.container_fields import compare
from reconciler.controllers.containers import engine_problems, platform_matches
from reconciler.manifests import any_manifest
from reconciler.manifests.apiuse import used
from reconciler.manifests.container import ContainerManifest, ContainerSpec
from reconciler.manifests.fields import Engine, container_table, cpu_list, render_markdown
from reconciler.runtime.docker import normalize, translate
from reconciler.values import desired
from reconciler.values.configs import ContainerConfig, MountConfig, NetworkAttachmentConfig
from reconciler.values.desired import DesiredContainer
from reconciler.values.observed import EngineFacts

Mi = 1024**2
DOCS = Path(__file__).parents[2] / "docs" / "manifest.md"


def container(**spec: Any) -> DesiredContainer:
    manifest = any_manifest().validate_python(
        {
            "apiVersion": "reconcile/v1",
            "kind": "Container",
            "metadata": {"name": "web"},
            "spec": {"image": "busybox", **spec},
        }
    )
    return desired.build("p", [(manifest, "f.yaml:1")]).containers["web"]


def error(**spec: Any) -> str:
    with pytest.raises(ValidationError) as info:
        container(**spec)
    [first, *_] = info.value.errors()
    return str(first["msg"])


# -- the table ------------------------------------------------------------------------


def test_every_table_driven_field_names_one_engine_path() -> None:
    for entry in container_table().driven:
        assert re.match(r"^(Config|HostConfig)\.[A-Za-z]+$", entry.engine.path), entry.path


def test_the_table_holds_every_spec_field() -> None:
    paths = {e.path for e in container_table()}
    spec_fields = {f.alias or n for n, f in ContainerSpec.model_fields.items()}
    assert spec_fields - {"resources"} <= paths
    assert {"resources.memory", "resources.cpusetCpus", "healthcheck.startInterval"} <= paths


def test_docs_show_the_table_as_generated() -> None:
    text = DOCS.read_text(encoding="utf-8")
    begin, end = "<!-- fields:begin -->\n", "<!-- fields:end -->"
    assert begin in text and end in text, "docs/manifest.md lacks the field table markers"
    shown = text.split(begin, 1)[1].split(end, 1)[0]
    assert shown == render_markdown(), (
        "docs/manifest.md's field table is stale; regenerate it with `reconcile schema --fields`"
    )


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("0", "0"), ("0-0", "0"), ("0,1,2,5", "0-2,5"), ("3,1-2", "1-3"), ("0-3, 8", "0-3,8")],
)
def test_cpu_lists_read_in_one_spelling(text: str, canonical: str) -> None:
    assert cpu_list(text) == canonical


def test_used_fields_name_the_api_version_they_need() -> None:
    manifest = any_manifest().validate_python(
        {
            "apiVersion": "reconcile/v1",
            "kind": "Container",
            "metadata": {"name": "web"},
            "spec": {
                "image": "busybox",
                "healthcheck": {"test": "true", "startInterval": "1s"},
                "dns": ["192.0.2.1"],
            },
        }
    )
    assert isinstance(manifest, ContainerManifest)
    found = used(manifest.spec)
    assert found["healthcheck.startInterval"] == "1.44"
    assert found["dns"] == "1.24"
    assert "tty" not in found  # left at its default
    # Above the floor API, only what an older Engine would not know is reported.
    assert used(manifest.spec, above="1.41") == {"healthcheck.startInterval": "1.44"}
    assert used(manifest.spec, above="1.44") == {}


# -- manifests -> comparable values ----------------------------------------------------


def test_table_driven_fields_become_options() -> None:
    want = container(
        dns=["192.0.2.1", "192.0.2.2"],
        ulimits={"nofile": {"soft": 1024, "hard": 2048}, "nproc": 512},
        logging={"driver": "json-file", "options": {"max-size": "10m", "max-file": 3}},
        shmSize="128Mi",
        oomScoreAdj=0,  # the Engine's default: unset
        resources={"cpusetCpus": "1,0"},
        stdinOpen=False,  # the default: unset
        runtime="runc",
    )
    assert want.config.options == (
        ("dns", ("192.0.2.1", "192.0.2.2")),
        ("logging", ("json-file", (("max-file", "3"), ("max-size", "10m")))),
        ("resources.cpusetCpus", "0-1"),
        ("runtime", "runc"),
        ("shmSize", 128 * Mi),
        ("ulimits", (("nofile", 1024, 2048), ("nproc", 512, 512))),
    )


def test_port_ranges_expand_and_a_host_range_for_one_port_stays_a_range() -> None:
    want = container(
        ports=[
            {"containerPort": "8000-8001", "hostPort": "9000-9001"},
            {"containerPort": 80, "hostPort": "7000-7010", "hostIP": "127.0.0.1"},
            {"containerPort": "53-54", "protocol": "udp"},
        ]
    )
    assert [translate_port(p) for p in want.config.ports] == [
        "53/udp",
        "54/udp",
        "127.0.0.1:7000-7010->80",
        "9000->8000",
        "9001->8001",
    ]


def translate_port(p: Any) -> str:
    if p.host_port is None:
        return f"{p.container_port}/{p.protocol}"
    end = f"-{p.host_port_end}" if p.host_port_end else ""
    ip = f"{p.host_ip}:" if p.host_ip else ""
    return f"{ip}{p.host_port}{end}->{p.container_port}"


def test_mount_options_read_in_one_spelling() -> None:
    want = container(
        mounts=[
            {"type": "volume", "target": "/cache"},
            {"type": "tmpfs", "target": "/t", "options": ["nodev", "exec", "noexec"]},
            {"type": "bind", "source": "/srv", "target": "/s", "selinux": "Z"},
            {"type": "volume", "source": "data", "target": "/d", "noCopy": True},
        ]
    )
    assert want.config.mounts == (
        MountConfig("/cache", "volume"),
        MountConfig("/d", "volume", "data", no_copy=True),
        MountConfig("/s", "bind", "/srv", selinux="Z"),
        # noexec and nodev are the Engine's defaults; exec wins over noexec as in mount(8).
        MountConfig("/t", "tmpfs", tmpfs_options=("exec",)),
    )


def test_extra_hosts_take_compose_and_docker_spellings() -> None:
    want = container(extraHosts=["a=192.0.2.1", "b:host-gateway", "c:[2001:db8::1]"])
    assert want.config.extra_hosts == ("a:192.0.2.1", "b:host-gateway", "c:2001:db8::1")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"ulimits": {"files": 10}},
            "'files' is not a ulimit; use core, cpu, data, fsize, locks, memlock, msgqueue, "
            "nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack",
        ),
        ({"ulimits": {"nofile": {"soft": 10, "hard": 5}}}, "soft must not be above hard"),
        (
            {"mounts": [{"type": "tmpfs", "target": "/t", "options": ["size=1m"]}]},
            "'size=1m' is not a tmpfs option; use async, atime, dev, diratime, exec, noatime, "
            "nodev, nodiratime, noexec, norelatime, nostrictatime, nosuid, relatime, "
            "strictatime, suid, sync (size and mode are fields of their own)",
        ),
        (
            {"resources": {"cpusetCpus": "0-a"}},
            "'0-a' is not a list of CPUs or nodes such as 0-3 or 0,2",
        ),
        (
            {"platform": "amd64"},
            "amd64 is not a platform such as linux/amd64 or linux/arm/v7",
        ),
        (
            {"ports": [{"containerPort": "80-81", "hostPort": "90-92"}]},
            "hostPort '90-92' and containerPort '80-81' are ranges of different lengths",
        ),
        (
            {"extraHosts": ["db:not-an-ip"]},
            "'not-an-ip' is not an IP address",
        ),
        (
            {"networks": [{"name": "n", "macAddress": "02:42"}]},
            "'02:42' is not a MAC address (02:42:ac:11:00:02)",
        ),
        (
            {"networks": [{"name": "n", "ipv6Address": "10.0.0.1"}]},
            "'10.0.0.1' is not an IPv6 address",
        ),
        ({"oomScoreAdj": 1001}, "Input should be less than or equal to 1000"),
    ],
)
def test_bad_values_name_what_to_write(spec: dict[str, Any], message: str) -> None:
    assert error(**spec) == message


# -- Engine JSON -> comparable values --------------------------------------------------

INSPECT: dict[str, Any] = {
    "Id": "a" * 64,
    "Name": "/web",
    "Config": {"Image": "busybox", "OpenStdin": True, "Labels": {}},
    "HostConfig": {
        "Dns": ["192.0.2.1"],
        "DnsSearch": [],
        "DnsOptions": None,
        "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
        "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m"}},
        "ShmSize": 67108864,
        "OomScoreAdj": 0,
        "CpusetCpus": "0,1",
        "CpusetMems": "",
        "Runtime": "runc",
        "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "7000-7010"}]},
        "Binds": ["/srv:/s:ro,Z"],
        "Tmpfs": {"/t": "exec,size=1m,mode=1770"},
        "Mounts": [
            {"Type": "volume", "Source": "b" * 64, "Target": "/cache"},
            {"Type": "volume", "Source": "data", "Target": "/d", "VolumeOptions": {"NoCopy": True}},
        ],
    },
    "Mounts": [
        {"Type": "bind", "Source": "/srv", "Destination": "/s", "Mode": "ro,Z", "RW": False},
        {"Type": "volume", "Name": "b" * 64, "Destination": "/cache", "RW": True},
        {"Type": "volume", "Name": "c" * 64, "Destination": "/from-image", "RW": True},
    ],
    "NetworkSettings": {"Networks": {}},
}


def test_engine_json_reads_back_as_the_manifest_wrote_it() -> None:
    have = normalize.container_config(INSPECT, {}, "private")
    assert have.options == (
        ("dns", ("192.0.2.1",)),
        ("logging", ("json-file", (("max-size", "10m"),))),
        ("resources.cpusetCpus", "0-1"),
        ("runtime", "runc"),
        ("shmSize", 64 * Mi),
        ("stdinOpen", True),
        ("ulimits", (("nofile", 1024, 2048),)),
    )
    assert have.mounts == (
        MountConfig("/cache", "volume"),
        MountConfig("/d", "volume", "data", no_copy=True),
        MountConfig("/s", "bind", "/srv", read_only=True, selinux="Z"),
        MountConfig("/t", "tmpfs", tmpfs_size=Mi, tmpfs_mode=0o1770, tmpfs_options=("exec",)),
    )
    [port] = have.ports
    assert (port.host_port, port.host_port_end) == (7000, 7010)
    assert normalize.anonymous_volumes(INSPECT) == (
        ("/cache", "b" * 64),
        ("/from-image", "c" * 64),
    )


# -- comparable values -> Engine JSON --------------------------------------------------


def test_create_body_puts_each_field_at_its_engine_path() -> None:
    want = container(
        stdinOpen=True,
        ulimits={"nofile": 1024},
        mounts=[
            {"type": "volume", "target": "/cache"},
            {"type": "bind", "source": "/srv", "target": "/s", "selinux": "z"},
            {"type": "tmpfs", "target": "/t", "sizeBytes": "1Mi", "options": ["exec"]},
        ],
        networks=[{"name": "n", "macAddress": "02:42:AC:11:00:02", "ipv6Address": "fd00::2"}],
    )
    body = translate.container_body(want.config, {}, "1.41", {"/cache": "v1", "/img": "v2"})
    host = body["HostConfig"]
    assert body["OpenStdin"] is True
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 1024}]
    assert host["Binds"] == ["/srv:/s:rw,z"]
    assert host["Tmpfs"] == {"/t": "exec,size=1048576"}
    assert host["Mounts"] == [
        {"Type": "volume", "Target": "/cache", "ReadOnly": False, "Source": "v1"},
        {"Type": "volume", "Source": "v2", "Target": "/img"},
    ]
    # Before API 1.44 the MAC address is the container's; from 1.44, the endpoint's.
    assert body["MacAddress"] == "02:42:ac:11:00:02"
    assert body["NetworkingConfig"]["EndpointsConfig"]["n"] == {
        "IPAMConfig": {"IPv6Address": "fd00::2"}
    }
    newer = translate.container_body(want.config, {}, "1.44")
    assert "MacAddress" not in newer
    assert newer["NetworkingConfig"]["EndpointsConfig"]["n"]["MacAddress"] == "02:42:ac:11:00:02"


def test_update_body_carries_in_place_fields() -> None:
    want = container(resources={"cpusetCpus": "0-1"})
    body = translate.update_body(
        want.config.resources, "no", dict(want.config.options) | {"shmSize": 1}
    )
    assert body["CpusetCpus"] == "0-1"
    assert "ShmSize" not in body  # not changeable in place


# -- comparison ------------------------------------------------------------------------


def _diffs(want: ContainerConfig, have: ContainerConfig, **defaults: Any) -> list[tuple[Any, ...]]:
    return [(d.path, d.before, d.after, d.in_place) for d in compare(want, have, defaults=defaults)]


def live(want: ContainerConfig, **changes: Any) -> ContainerConfig:
    """The live container: as wanted, but for ``changes``."""
    return dataclasses.replace(want, **changes)


def test_a_field_left_out_takes_the_engines_default() -> None:
    want = container().config
    have = live(want, options=(("runtime", "runc"),))
    assert _diffs(want, have, runtime="runc") == []
    other = live(want, options=(("runtime", "runsc"),))
    assert _diffs(want, other, runtime="runc") == [("runtime", "runsc", "runc", False)]


def test_a_field_the_daemon_fills_is_compared_only_when_written() -> None:
    have = live(container().config, options=(("shmSize", 64 * Mi),))
    assert _diffs(container().config, have) == []
    assert _diffs(container(shmSize="128Mi").config, have) == [("shmSize", "64Mi", "128Mi", False)]


def test_cpuset_changes_in_place_and_is_lifted_by_a_recreate() -> None:
    have = live(container().config, options=(("resources.cpusetCpus", "1"),))
    assert _diffs(container(resources={"cpusetCpus": "0"}).config, have) == [
        ("resources.cpusetCpus", "1", "0", True)
    ]
    assert _diffs(container().config, have) == [("resources.cpusetCpus", "1", None, False)]


def test_a_mac_address_change_is_a_recreate_and_an_unasked_one_is_not_drift() -> None:
    want = container(networks=[{"name": "n", "macAddress": "02:00:00:00:00:01"}]).config
    have = live(want, networks=(NetworkAttachmentConfig("n", mac_address="02:00:00:00:00:02"),))
    assert {d[3] for d in _diffs(want, have)} == {False}


# -- the Engine's abilities ------------------------------------------------------------

OLD = EngineFacts(api_version="1.41", runtimes=("io.containerd.runc.v2", "runc"))


def test_newer_fields_runtimes_and_macs_are_judged_by_the_engine() -> None:
    assert engine_problems(container(healthcheck={"test": "true"}), OLD) == []
    assert engine_problems(container(healthcheck={"test": "true", "startInterval": "2s"}), OLD) == [
        "healthcheck.startInterval needs Docker 25.0 (API 1.44) or newer; this Engine speaks "
        "API 1.41"
    ]
    assert engine_problems(container(runtime="nvidia"), OLD) == [
        'runtime "nvidia" is not installed on this Engine (it has: io.containerd.runc.v2, runc)'
    ]
    two = container(
        networks=[{"name": "a", "macAddress": "02:00:00:00:00:01"}, {"name": "b"}],
    )
    assert engine_problems(two, OLD) == [
        "networks[].macAddress on a container with several networks needs Docker 25.0 "
        "(API 1.44) or newer; this Engine speaks API 1.41 (it gives a container one MAC "
        "address, on its first network)"
    ]
    assert engine_problems(two, EngineFacts(api_version="1.44")) == []
    # An Engine whose version is unknown is not judged.
    assert engine_problems(container(runtime="x"), EngineFacts()) == []


@pytest.mark.parametrize(
    ("have", "want", "matches"),
    [
        ("linux/amd64", "linux/amd64", True),
        ("linux/arm64/v8", "linux/arm64", True),
        ("linux/arm/v6", "linux/arm/v7", False),
        ("linux/amd64", "linux/arm64", False),
        ("", "linux/arm64", True),  # an Engine that does not say: not judged
    ],
)
def test_platforms(have: str, want: str, matches: bool) -> None:
    assert platform_matches(have, want) is matches


class _Leaf(BaseModel):
    new: Annotated[int | None, Engine("HostConfig.New", min_api="1.44")] = None
    old: Annotated[int | None, Engine("HostConfig.Old", min_api="1.25")] = None


class _Tree(BaseModel):
    leaf: _Leaf = _Leaf()
    children: list[_Tree] = []
    plain: dict[str, str] = {}


def test_used_walks_models_that_hold_themselves_and_skips_what_no_older_engine_lacks() -> None:
    tree = _Tree(children=[_Tree(leaf=_Leaf(new=1, old=2))], leaf=_Leaf(old=3))
    assert used(tree) == {
        "leaf.old": "1.25",
        "children[].leaf.new": "1.44",
        "children[].leaf.old": "1.25",
    }
    assert used(tree, above="1.41") == {"children[].leaf.new": "1.44"}
