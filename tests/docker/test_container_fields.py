"""Every container field added by the field table, round-tripped against the real Engine, the
way community.docker tests its module: apply; the next plan is empty; every equivalent
spelling plans nothing; a change plans the right action (in place or recreate), converges,
and the plan is empty again; the Engine holds what the manifest says at each step."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import docker.errors
import pytest

from reconciler.controllers.plan import Action, Reason
from tests.docker.scenario import LOOP, Scenario, build_image, host_port, remove_images

pytestmark = pytest.mark.docker

HEAD = """\
apiVersion: reconcile/v1
kind: Container
metadata: {name: $p-c}
spec:
  image: $image
  command: [sh, -c, '$loop']
  stopGracePeriod: 1s
"""


def host(path: str) -> Callable[[dict[str, Any]], Any]:
    """A reader of ``HostConfig.<path>`` from container inspect."""
    return lambda raw: raw["HostConfig"].get(path)


def config(path: str) -> Callable[[dict[str, Any]], Any]:
    """A reader of ``Config.<path>`` from container inspect."""
    return lambda raw: raw["Config"].get(path)


@dataclass(frozen=True)
class Case:
    """One field: its first value, spellings that mean the same, a changed value, what the
    change plans, and what the Engine must hold before and after (``read`` of inspect)."""

    first: str  # spec lines (YAML, indented two spaces); $port: a free host port
    same: tuple[str, ...]
    changed: str
    action: Action
    read: Callable[[dict[str, Any]], Any]
    holds: Any
    holds_after: Any


CASES = {
    "dns": Case(
        "  dns: [192.0.2.1, 192.0.2.2]\n",
        ("  dns: ['192.0.2.1', '192.0.2.2']\n",),
        "  dns: [192.0.2.2, 192.0.2.1]\n",  # the order is the resolver's order
        Action.RECREATE,
        host("Dns"),
        ["192.0.2.1", "192.0.2.2"],
        ["192.0.2.2", "192.0.2.1"],
    ),
    "dnsSearch": Case(
        "  dnsSearch: [example.com]\n",
        ("  dnsSearch: ['example.com']\n",),
        "  dnsSearch: [example.org]\n",
        Action.RECREATE,
        host("DnsSearch"),
        ["example.com"],
        ["example.org"],
    ),
    "dnsOptions": Case(
        "  dnsOptions: ['ndots:2']\n",
        (),
        "  dnsOptions: ['ndots:3', 'timeout:1']\n",
        Action.RECREATE,
        host("DnsOptions"),
        ["ndots:2"],
        ["ndots:3", "timeout:1"],
    ),
    "ulimits": Case(
        "  ulimits: {nofile: 4096}\n",
        ("  ulimits: {nofile: {soft: 4096, hard: 4096}}\n",),
        "  ulimits: {nofile: {soft: 1024, hard: 4096}, nproc: 512}\n",
        Action.RECREATE,
        host("Ulimits"),
        [{"Name": "nofile", "Soft": 4096, "Hard": 4096}],
        [
            {"Name": "nofile", "Soft": 1024, "Hard": 4096},
            {"Name": "nproc", "Soft": 512, "Hard": 512},
        ],
    ),
    "logging": Case(
        "  logging: {driver: json-file, options: {max-size: 10m, max-file: 3}}\n",
        ("  logging: {driver: json-file, options: {max-file: '3', max-size: 10m}}\n",),
        "  logging: {driver: json-file, options: {max-size: 20m}}\n",
        Action.RECREATE,
        host("LogConfig"),
        {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}},
        {"Type": "json-file", "Config": {"max-size": "20m"}},
    ),
    "shmSize": Case(
        "  shmSize: 128Mi\n",
        ("  shmSize: 134217728\n", "  shmSize: 131072Ki\n"),
        "  shmSize: 256Mi\n",
        Action.RECREATE,
        host("ShmSize"),
        128 * 1024**2,
        256 * 1024**2,
    ),
    "oomScoreAdj": Case(
        "  oomScoreAdj: 100\n",
        (),
        "  oomScoreAdj: 200\n",
        Action.RECREATE,
        host("OomScoreAdj"),
        100,
        200,
    ),
    "cpusetCpus": Case(
        "  resources: {cpusetCpus: '0'}\n",
        ("  resources: {cpusetCpus: '0-0'}\n",),
        "  resources: {cpusetCpus: '0,1'}\n",
        Action.UPDATE,
        host("CpusetCpus"),
        "0",
        "0-1",
    ),
    "cpusetMems": Case(
        "  resources: {cpusetMems: '0'}\n",
        ("  resources: {cpusetMems: '0-0'}\n",),
        "",  # lifting the limit: the Engine's update cannot, so it is a recreate
        Action.RECREATE,
        host("CpusetMems"),
        "0",
        "",
    ),
    "runtime": Case(
        "  runtime: runc\n",
        ("",),  # left out: the Engine's default runtime, which is runc here
        "  runtime: io.containerd.runc.v2\n",
        Action.RECREATE,
        host("Runtime"),
        "runc",
        "io.containerd.runc.v2",
    ),
    "stdinOpen": Case(
        "  stdinOpen: true\n",
        (),
        "",
        Action.RECREATE,
        config("OpenStdin"),
        True,
        False,
    ),
    "extraHosts": Case(
        "  extraHosts: ['gw:host-gateway', 'db:192.0.2.9']\n",
        ("  extraHosts: ['db=192.0.2.9', 'gw=host-gateway']\n",),
        "  extraHosts: ['gw:192.0.2.1']\n",
        Action.RECREATE,
        host("ExtraHosts"),
        ["db:192.0.2.9", "gw:host-gateway"],
        ["gw:192.0.2.1"],
    ),
    "portRange": Case(
        "  ports: [{containerPort: '8000-8001', hostPort: '$port-$port1'}]\n",
        (
            "  ports:\n"
            "    - {containerPort: 8000, hostPort: $port}\n"
            "    - {containerPort: 8001, hostPort: $port1}\n",
        ),
        "  ports: [{containerPort: 8000, hostPort: '$port-$port2'}]\n",
        Action.RECREATE,
        lambda raw: {
            k: [b["HostPort"] for b in v] for k, v in raw["HostConfig"]["PortBindings"].items()
        },
        {"8000/tcp": ["$port"], "8001/tcp": ["$port1"]},
        {"8000/tcp": ["$port-$port2"]},
    ),
    "tmpfsOptions": Case(
        "  mounts: [{type: tmpfs, target: /t, sizeBytes: 1Mi, options: [exec]}]\n",
        ("  mounts: [{type: tmpfs, target: /t, sizeBytes: 1Mi, options: [nosuid, exec]}]\n",),
        "  mounts: [{type: tmpfs, target: /t, sizeBytes: 1Mi}]\n",
        Action.RECREATE,
        lambda raw: (raw["HostConfig"].get("Tmpfs"), len(raw["HostConfig"].get("Mounts") or [])),
        ({"/t": "exec,size=1048576"}, 0),
        (None, 1),
    ),
    "bindSelinux": Case(
        "  mounts: [{type: bind, source: ./data, target: /d, selinux: z}]\n",
        (),
        "  mounts: [{type: bind, source: ./data, target: /d, selinux: Z, readOnly: true}]\n",
        Action.RECREATE,
        lambda raw: [b.split(":", 1)[1] for b in raw["HostConfig"].get("Binds") or ()],
        ["/d:rw,z"],
        ["/d:ro,Z"],
    ),
    "volumeNoCopy": Case(
        "  mounts: [{type: volume, source: $p-v, target: /v, noCopy: true}]\n",
        (),
        "  mounts: [{type: volume, source: $p-v, target: /v}]\n",
        Action.RECREATE,
        lambda raw: [m.get("VolumeOptions") for m in raw["HostConfig"]["Mounts"]],
        [{"NoCopy": True}],
        [None],
    ),
}

VOLUME = """\
---
apiVersion: reconcile/v1
kind: Volume
metadata: {name: $p-v}
spec: {deletionPolicy: Delete}
"""


def _text(sc: Scenario, spec: str) -> str:
    base = host_port(sc.project)
    text = HEAD + spec + (VOLUME if "$p-v" in spec else "")
    return (
        text.replace("$port2", str(base + 2))
        .replace("$port1", str(base + 1))
        .replace("$port", str(base))
    )


def _expected(sc: Scenario, value: Any) -> Any:
    base = host_port(sc.project)

    def fill(text: str) -> str:
        return (
            text.replace("$port2", str(base + 2))
            .replace("$port1", str(base + 1))
            .replace("$port", str(base))
        )

    if isinstance(value, str):
        return fill(value)
    if isinstance(value, dict):
        return {fill(k): _expected(sc, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expected(sc, v) for v in value]
    return value


def _write(sc: Scenario, spec: str) -> None:
    sc.write(_text(sc, spec), loop=LOOP)


@pytest.mark.parametrize("field", list(CASES))
def test_field_round_trips(sc: Scenario, field: str) -> None:
    case = CASES[field]
    (sc.directory / "data").mkdir()
    _write(sc, case.first)
    sc.apply()
    assert case.read(sc.container("c").attrs) == _expected(sc, case.holds)
    first_id = sc.container("c").id
    sc.assert_in_sync()

    for spelling in case.same:
        _write(sc, spelling)
        sc.assert_in_sync()

    _write(sc, case.changed)
    [step] = sc.plan().steps
    assert step.action is case.action, step.diffs
    sc.apply()
    assert case.read(sc.container("c").attrs) in (
        _expected(sc, case.holds_after),
        # Left out, a list or map field reads null or empty, as the Engine keeps it.
        *([None, [], {}] if case.holds_after in ("", None, [], {}) else []),
    )
    assert (sc.container("c").id == first_id) is (case.action is Action.UPDATE)
    sc.assert_in_sync()


def _conflicts(sc: Scenario) -> list[str]:
    plan = sc.plan()
    assert not plan.steps, plan.steps
    return [c.message for c in plan.conflicts]


def test_a_field_newer_than_the_engine_is_a_conflict_that_names_it(sc: Scenario) -> None:
    api = sc.client.version()["ApiVersion"]
    if api >= "1.44":
        pytest.fail(f"this test needs an Engine older than API 1.44; this one speaks {api}")
    _write(sc, "  healthcheck: {test: 'true', startInterval: 1s}\n")
    assert _conflicts(sc) == [
        "healthcheck.startInterval needs Docker 25.0 (API 1.44) or newer; this Engine speaks "
        f"API {api}"
    ]
    result = sc.apply(expect_ok=False)
    assert result.plan.conflicts
    assert sc.container_names() == []


def test_a_runtime_the_engine_lacks_is_a_conflict(sc: Scenario) -> None:
    _write(sc, "  runtime: nvidia\n")
    [message] = _conflicts(sc)
    assert message.startswith('runtime "nvidia" is not installed on this Engine (it has: ')
    assert "runc" in message


def test_a_platform_of_another_image_is_a_conflict_when_nothing_may_be_pulled(
    sc: Scenario,
) -> None:
    _write(sc, "  platform: linux/amd64\n  pullPolicy: Never\n")
    sc.apply()
    sc.assert_in_sync()
    _write(sc, "  platform: linux/arm64\n  pullPolicy: Never\n")
    assert _conflicts(sc) == [
        f'image "{sc.image}" is linux/amd64 here, not linux/arm64, and pullPolicy is Never'
    ]


def test_cpuset_drift_is_repaired_in_place(sc: Scenario) -> None:
    _write(sc, "  resources: {cpusetCpus: '0'}\n")
    sc.apply()
    before = sc.container("c").id
    sc.container("c").update(cpuset_cpus="1")
    [step] = sc.plan().steps
    assert step.action is Action.UPDATE
    assert [(d.path, d.before, d.after, d.in_place) for d in step.diffs] == [
        ("resources.cpusetCpus", "1", "0", True)
    ]
    sc.apply()
    assert sc.container("c").attrs["HostConfig"]["CpusetCpus"] == "0"
    assert sc.container("c").id == before
    sc.assert_in_sync()


NETWORK = """\
---
apiVersion: reconcile/v1
kind: Network
metadata: {name: $p-net}
spec:
  enableIPv6: true
  subnets: [{subnet: 10.$a.$b.0/24}, {subnet: 'fd00:$a:$b::/64'}]
"""


def test_static_addresses_and_mac_address_per_network(sc: Scenario) -> None:
    slot = host_port(sc.project) - 20000
    a, b = 100 + slot // 250 % 100, slot % 249 + 1

    def write(attachment: str) -> None:
        text = HEAD + f"  networks: [{attachment}]\n" + NETWORK
        sc.write(text.replace("$a", str(a)).replace("$b", str(b)), loop=LOOP)

    write(
        f"{{name: $p-net, ipv4Address: 10.{a}.{b}.10, ipv6Address: 'fd00:{a}:{b}::10', "
        "macAddress: '02:42:0a:00:00:10'}"
    )
    sc.apply()
    endpoint = sc.container("c").attrs["NetworkSettings"]["Networks"][f"{sc.project}-net"]
    assert endpoint["IPAddress"] == f"10.{a}.{b}.10"
    assert endpoint["GlobalIPv6Address"] == f"fd00:{a}:{b}::10"
    assert endpoint["MacAddress"] == "02:42:0a:00:00:10"
    sc.assert_in_sync()
    # The same MAC address in capitals; the IPv6 address written out in full.
    write(
        f"{{name: $p-net, ipv4Address: 10.{a}.{b}.10, "
        f"ipv6Address: 'fd00:{a}:{b}:0:0:0:0:10', macAddress: '02:42:0A:00:00:10'}}"
    )
    sc.assert_in_sync()
    # Another MAC address: a recreate (before API 1.44 only the create can set it).
    write(f"{{name: $p-net, ipv4Address: 10.{a}.{b}.11, macAddress: '02:42:0a:00:00:11'}}")
    [step] = sc.plan().steps
    assert step.action is Action.RECREATE, step.diffs
    sc.apply()
    endpoint = sc.container("c").attrs["NetworkSettings"]["Networks"][f"{sc.project}-net"]
    assert (endpoint["IPAddress"], endpoint["MacAddress"]) == (
        f"10.{a}.{b}.11",
        "02:42:0a:00:00:11",
    )
    sc.assert_in_sync()
    # Without a MAC address, the random one the Engine gives is not drift.
    write(f"{{name: $p-net, ipv4Address: 10.{a}.{b}.11}}")
    sc.assert_in_sync()


def test_anonymous_volumes_keep_their_data_across_a_recreate(sc: Scenario) -> None:
    """An anonymous volume of the manifest and one of the image's VOLUMEs both survive a
    recreate (compose keeps them too); the next plan is empty."""
    image = f"{sc.project}-img:1"
    ident = build_image(sc.client, sc.image, image, "VOLUME /from-image")
    volumes: set[str] = set()
    try:
        text = HEAD.replace("$image", image) + "  mounts: [{type: volume, target: /cache}]\n"
        sc.write(text + "  env: {GEN: '1'}\n", loop=LOOP)
        sc.apply()
        sc.assert_in_sync()
        assert sc.exec("c", "sh", "-c", "echo a > /cache/f && echo b > /from-image/f")[0] == 0
        volumes = {m["Name"] for m in sc.container("c").attrs["Mounts"]}
        sc.write(text + "  env: {GEN: '2'}\n", loop=LOOP)
        [step] = sc.plan().steps
        assert step.action is Action.RECREATE
        sc.apply()
        assert sc.exec("c", "cat", "/cache/f", "/from-image/f") == (0, "a\nb\n")
        assert {m["Name"] for m in sc.container("c").attrs["Mounts"]} == volumes
        sc.assert_in_sync()
    finally:
        for name in sc.container_names():
            sc.client.containers.get(name).remove(force=True)
        for name in volumes:
            with contextlib.suppress(docker.errors.NotFound):
                sc.client.volumes.get(name).remove(force=True)
        remove_images(sc.client, [ident])


def test_a_bind_source_moved_elsewhere_is_a_config_change_not_a_swap(sc: Scenario) -> None:
    """The same manifests from another checkout: the live check judges the binds the container
    was made with, so a new source plans a plain recreate (config-changed)."""
    (sc.directory / "data").mkdir()
    _write(sc, "  mounts: [{type: bind, source: ./data, target: /d}]\n")
    sc.apply()
    other = sc.directory.parent / "checkout"
    other.mkdir()
    (other / "data").mkdir()
    (other / "set.yaml").write_text((sc.directory / "set.yaml").read_text())
    sc.directory = other
    [step] = sc.plan().steps
    assert (step.action, step.reason) == (Action.RECREATE, Reason.CONFIG_CHANGED)
    sc.apply()
    sc.assert_in_sync()
