"""Host-access bypasses of red-team issue 13, through ``reconcile apply`` against the Engine:
each is refused (exit 1, the rule and file:line named) and nothing is created; the overlay
volume is shown to be real host access under the privileged profile."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from docker import DockerClient

RECONCILE = Path(sys.executable).with_name("reconcile")


@dataclass
class Project:
    """A manifests directory, a state directory and policy files for one unique prefix."""

    client: DockerClient
    image: str
    prefix: str
    root: Path

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    def write(self, text: str) -> Path:
        """The manifests (``$p``: the prefix, ``$image``: the test image) as ``app.yaml``."""
        path = self.manifests / "app.yaml"
        body = textwrap.dedent(text).replace("$p", self.prefix).replace("$image", self.image)
        path.write_text(body)
        return path

    def policy(self, profile: str) -> Path:
        path = self.root / f"{profile}.yaml"
        path.write_text(f"apiVersion: reconcile/v1\nkind: Policy\nprofile: {profile}\n")
        path.chmod(0o644)
        return path

    def apply(self, profile: str = "baseline") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(RECONCILE),
                "apply",
                "-f",
                str(self.manifests),
                "--project",
                self.prefix,
                "--state-dir",
                str(self.root / "state"),
                "--policy",
                str(self.policy(profile)),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def created(self) -> list[str]:
        """Every container, volume and network named with the prefix."""
        by_name: dict[str, str | list[str] | bool] = {"name": self.prefix}
        return sorted(
            [f"container {c.name}" for c in self.client.containers.list(all=True, filters=by_name)]
            + [f"volume {v.name}" for v in self.client.volumes.list(filters=by_name)]
            + [f"network {n.name}" for n in self.client.networks.list(filters=by_name)]
        )


@pytest.fixture
def project(
    docker_client: DockerClient, test_image: str, unique_prefix: str, tmp_path: Path
) -> Project:
    (tmp_path / "manifests").mkdir()
    return Project(docker_client, test_image, unique_prefix, tmp_path)


def refused(project: Project, *where: tuple[str, int, int]) -> list[str]:
    """Apply under baseline: exit 1, nothing created; the error lines, which must name each
    (rule, line, column) of ``where`` in app.yaml."""
    result = project.apply()
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert project.created() == []
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    file = project.manifests / "app.yaml"
    for rule, line, column in where:
        assert any(f"[{rule}]" in x and x.endswith(f"({file}:{line}:{column})") for x in lines), (
            rule,
            line,
            column,
            lines,
        )
    return lines


OVERLAY = """\
    apiVersion: reconcile/v1
    kind: Volume
    metadata: {name: $p-etc}
    spec:
      driverOpts: {type: overlay, device: overlay, o: "lowerdir=/etc:LAYER"}
    ---
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-web}
    spec:
      image: $image
      command: [sleep, "300"]
      networkMode: none
      mounts: [{type: volume, source: $p-etc, target: /host-etc}]
    """


def test_an_overlay_volume_of_etc_is_refused_and_nothing_is_created(project: Project) -> None:
    (project.root / "layer").mkdir()
    project.write(OVERLAY.replace("LAYER", str(project.root / "layer")))
    refused(project, ("baseline/bind-mounts", 14, 27))


def test_the_overlay_volume_really_gives_the_host_etc(project: Project) -> None:
    # The control: under the privileged profile the Engine mounts the host's /etc.
    (project.root / "layer").mkdir()
    project.write(OVERLAY.replace("LAYER", str(project.root / "layer")))
    result = project.apply("privileged")
    assert result.returncode == 0, result.stderr
    web = project.client.containers.get(f"{project.prefix}-web")
    out = web.exec_run(["cat", "/host-etc/hostname"]).output
    assert out == Path("/etc/hostname").read_bytes()


def test_proc_and_sysfs_volumes_are_refused(project: Project) -> None:
    project.write(
        """\
        apiVersion: reconcile/v1
        kind: Volume
        metadata: {name: $p-proc}
        spec:
          driverOpts: {type: proc, device: proc}
        ---
        apiVersion: reconcile/v1
        kind: Volume
        metadata: {name: $p-sys}
        spec:
          driverOpts: {type: sysfs, device: sysfs}
        """
    )
    refused(project, ("baseline/volume-options", 5, 16), ("baseline/volume-options", 11, 16))


@pytest.fixture
def hard_linked_socket(tmp_path: Path) -> Iterator[Path]:
    """A listening unix socket (a stand-in for the Engine's) and a hard link to it under an
    innocent name, ``tmp_path/srv/config``."""
    (tmp_path / "srv").mkdir()
    path = tmp_path / "api.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    os.link(path, tmp_path / "srv" / "config")
    try:
        yield tmp_path / "srv" / "config"
    finally:
        server.close()


def test_sockets_are_refused_by_file_type(project: Project, hard_linked_socket: Path) -> None:
    binds = [(hard_linked_socket, "/cfg"), (hard_linked_socket.parent, "/srv")]
    if Path("/run/docker").is_dir():  # the Engine's own state: metrics.sock, its containerd
        binds.append((Path("/run/docker"), "/docker"))
    mounts = "".join(f"\n    - {{type: bind, source: {s}, target: {t}}}" for s, t in binds)
    project.write(
        "apiVersion: reconcile/v1\nkind: Container\nmetadata: {name: $p-web}\n"
        f"spec:\n  image: $image\n  networkMode: none\n  mounts:{mounts}\n"
    )
    lines = refused(project, *(("baseline/bind-mounts", 8 + i, 20) for i in range(len(binds))))
    assert any(f"{hard_linked_socket} is a unix socket" in line for line in lines)
    assert any(f"holds the unix socket {hard_linked_socket}" in line for line in lines)


def test_unconfining_security_options_are_refused(project: Project) -> None:
    project.write(
        """\
        apiVersion: reconcile/v1
        kind: Container
        metadata: {name: $p-web}
        spec:
          image: $image
          networkMode: none
          securityOpt:
            - 'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}'
            - disable
            - 'apparmor:unconfined'
        """
    )
    refused(
        project,
        ("baseline/security-opt", 8, 7),
        ("baseline/security-opt", 9, 7),
        ("baseline/security-opt", 10, 7),
    )


def test_a_macvlan_network_on_a_host_interface_is_refused(project: Project) -> None:
    project.write(
        """\
        apiVersion: reconcile/v1
        kind: Network
        metadata: {name: $p-lan}
        spec:
          driver: macvlan
          driverOpts: {parent: eth0}
        ---
        apiVersion: reconcile/v1
        kind: Network
        metadata: {name: $p-br}
        spec:
          # Not docker0: if a regression let it through, the shared Engine would lose its
          # default bridge (creating a network on an existing bridge name deletes the old).
          driverOpts: {com.docker.network.bridge.name: rt-br-probe}
        """
    )
    refused(
        project,
        ("baseline/network-drivers", 5, 3),
        ("baseline/host-interfaces", 6, 16),
        ("baseline/host-interfaces", 14, 16),
    )
