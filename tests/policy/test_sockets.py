"""Runtime sockets judged by file type: hard links under innocent names, directories holding a
socket, DOCKER_HOST's directory, the bounded walk, the ``sockets`` allowlist (issue 13)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.policy import OsHostFS, Policy, admit, check_created, load_policy, sockets
from tests.policy.support import FakeHost, admit_text, container, fake_host, manifests, messages
from tests.policy.support import policy as policy_from

WHY = (
    "reconcile cannot tell a container runtime's socket (root on the host, under any name or "
    "hard link) from another service's"
)


def host_with(*socket_paths: str, dirs: tuple[str, ...] = ()) -> FakeHost:
    """The standard fake host plus these sockets and directories (each holding a file)."""
    host = fake_host()
    host.paths |= {*socket_paths, *(d + "/file" for d in dirs)}
    host.sockets |= set(socket_paths)
    return host


def judged(source: str, host: FakeHost, pol: Policy | None = None) -> list[str]:
    doc = container(f"  image: x\n  mounts: [{{type: bind, source: {source}, target: /m}}]\n")
    return messages(admit_text(doc, policy=pol, host=host))


def refusal(text: str) -> list[str]:
    return [f'[baseline/bind-mounts] container "web": bind source {text} (m.yaml:6:25)']


def test_a_hard_link_to_the_engine_socket_under_an_innocent_name_is_refused() -> None:
    # A hard link is the same socket as /run/docker.sock; only its file type gives it away.
    host = host_with("/srv/app/conf/engine")
    assert judged("/srv/app/conf/engine", host) == refusal(
        f"/srv/app/conf/engine is a unix socket: {WHY}; name it under sockets in the policy "
        "file if it is not"
    )


def test_a_directory_holding_a_socket_directly_is_refused() -> None:
    host = host_with("/srv/sockets/php.sock")
    assert judged("/srv/sockets", host) == refusal(
        f"/srv/sockets holds the unix socket /srv/sockets/php.sock: {WHY}; name the socket (or "
        "its directory) under sockets in the policy file if it is not"
    )


def test_docker_s_own_containerd_directory_is_refused_by_path() -> None:
    host = host_with("/run/docker/containerd/containerd.sock", "/run/docker/metrics.sock")
    for source in ("/run/docker", "/var/run/docker", "/run/docker/containerd"):
        assert judged(source, host)[0].endswith(
            "contains the container runtime socket /run/docker/containerd/containerd.sock "
            "(access to it is root on the host, even read-only) (m.yaml:6:25)"
        )


def test_the_socket_docker_host_names_and_its_directories_are_refused() -> None:
    host = host_with("/srv/engine/api")
    host.env_sockets = ("/srv/engine/api",)
    assert judged("/srv/engine/api", host) == refusal(
        "/srv/engine/api is a container runtime socket: access to it is root on the host, even "
        "read-only"
    )
    for source in ("/srv/engine", "/srv"):
        assert judged(source, host) == refusal(
            f"{source} contains the container runtime socket /srv/engine/api (access to it is "
            "root on the host, even read-only)"
        )
    # Nor can a sockets entry re-allow it.
    assert len(judged("/srv/engine/api", host, policy_from("sockets: [/srv/engine]\n"))) == 1


def test_a_socket_deeper_below_is_found_within_the_bound() -> None:
    host = host_with("/srv/tree/a/b/c/s.sock")
    assert judged("/srv/tree", host) == refusal(
        f"/srv/tree holds the unix socket /srv/tree/a/b/c/s.sock: {WHY}; name the socket (or "
        "its directory) under sockets in the policy file if it is not"
    )
    # Beyond WALK_DEPTH levels the walk stops (the known places are refused by path instead).
    assert judged("/srv/tree", host_with("/srv/tree/a/b/c/d/s.sock")) == []


def test_the_walk_lists_a_bounded_number_of_directories(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sockets, "WALK_DIRECTORIES", 3)
    host = host_with("/srv/wide/z/s.sock", dirs=tuple(f"/srv/wide/d{i}" for i in range(5)))
    assert judged("/srv/wide", host) == []
    assert host.listed == ["/srv/wide", "/srv/wide/d0", "/srv/wide/d1"]


def test_symlinks_are_not_followed_they_resolve_inside_the_container() -> None:
    host = fake_host({"/srv/app/conf/l": "/run/docker.sock"})
    assert judged("/srv/app/conf", host) == []


def test_the_sockets_allowlist_names_a_socket_or_a_directory_of_them() -> None:
    host = host_with("/srv/sockets/php.sock", "/srv/mysql/mysqld.sock")
    allow = policy_from("sockets: [/srv/sockets, /srv/mysql/mysqld.sock]\n")
    assert judged("/srv/sockets", host, allow) == []
    assert judged("/srv/mysql/mysqld.sock", host, allow) == []
    assert judged("/srv/mysql", host, allow) == []


def test_the_allowlist_never_re_allows_a_runtime_socket_s_name() -> None:
    host = host_with("/srv/sockets/docker.sock")
    assert judged("/srv/sockets", host, policy_from("sockets: [/srv/sockets]\n")) == refusal(
        f"/srv/sockets holds the unix socket /srv/sockets/docker.sock: {WHY}; name the socket "
        "(or its directory) under sockets in the policy file if it is not"
    )


def test_a_socket_inside_a_volume_bind_is_refused_too() -> None:
    host = host_with("/srv/app/conf/engine")
    docs = (
        "apiVersion: reconcile/v1\nkind: Volume\nmetadata: {name: data}\n"
        "spec: {driverOpts: {type: none, o: bind, device: /srv/app/conf}}\n",
        container("  image: x\n  mounts: [{type: volume, source: data, target: /d}]\n"),
    )
    assert [m.split(": bind source ")[1] for m in messages(admit_text(*docs, host=host))] == [
        f"/srv/app/conf holds the unix socket /srv/app/conf/engine: {WHY}; name the socket (or "
        "its directory) under sockets in the policy file if it is not (m.yaml:11:27)"
    ]


def test_sockets_entries_that_could_never_allow_anything_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("apiVersion: reconcile/v1\nkind: Policy\nsockets: [/run/docker.sock, /run]\n")
    with pytest.raises(ManifestError) as caught:
        load_policy(path, environ={})
    assert [p.message for p in caught.value.problems] == [
        "/run/docker.sock is a container runtime socket: access to it is root on the host, even "
        "read-only; an allowlist entry cannot re-allow it",
        "/run contains the container runtime socket /run/docker.sock (access to it is root on "
        "the host, even read-only); an allowlist entry cannot re-allow it",
    ]


@pytest.fixture
def real_socket(tmp_path: Path) -> Iterator[Path]:
    """A listening unix socket in ``tmp_path/run/api.sock`` (a stand-in for the Engine's)."""
    (tmp_path / "run").mkdir()
    path = tmp_path / "run" / "api.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    try:
        yield path
    finally:
        server.close()


def test_a_real_hard_link_to_a_socket_is_found_by_file_type(
    tmp_path: Path, real_socket: Path
) -> None:
    (tmp_path / "srv").mkdir()
    innocent = tmp_path / "srv" / "config"
    os.link(real_socket, innocent)
    (tmp_path / "srv" / "to-socket").symlink_to(real_socket)
    doc = container(f"  image: x\n  mounts: [{{type: bind, source: {innocent}, target: /m}}]\n")
    assert [v.message for v in admit(manifests(doc), Policy()).denied] == [
        f"bind source {innocent} is a unix socket: {WHY}; name it under sockets in the policy "
        "file if it is not"
    ]
    # Its directory holds the hard link (the symlink beside it is not followed).
    assert check_created("web", [(str(tmp_path / "srv"), "/m")], Policy())[0].message == (
        f"bind source {tmp_path / 'srv'} holds the unix socket {innocent}: {WHY}; name the "
        "socket (or its directory) under sockets in the policy file if it is not"
    )
    os.unlink(innocent)
    assert check_created("web", [(str(tmp_path / "srv"), "/m")], Policy()) == []


def test_the_environment_names_runtime_sockets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "link").symlink_to("/run/docker.sock")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/link")
    monkeypatch.setenv("CONTAINER_HOST", "tcp://10.0.0.1:2375")  # not a local socket
    assert OsHostFS().runtime_sockets() == ("/run/docker.sock",)
    monkeypatch.setenv("CONTAINER_HOST", "unix:///srv/podman/podman.sock")
    assert OsHostFS().runtime_sockets() == ("/run/docker.sock", "/srv/podman/podman.sock")
