"""Shared helpers for the policy tests: literal manifests, a fake host filesystem."""

from __future__ import annotations

import posixpath
import stat
from dataclasses import dataclass, field

from reconciler.loading import LoadedManifest, load_text, parse_yaml, validate_yaml
from reconciler.policy import Admission, FileInfo, Listing, Policy, admit
from reconciler.policy.model import PolicyFile, from_file


def container(spec: str, name: str = "web") -> str:
    """A Container document; ``spec`` is its spec, indented by two spaces per line."""
    return f"apiVersion: reconcile/v1\nkind: Container\nmetadata: {{name: {name}}}\nspec:\n{spec}"


def volume(spec: str, name: str = "data") -> str:
    """A Volume document with the given (flow-style) spec."""
    return f"apiVersion: reconcile/v1\nkind: Volume\nmetadata: {{name: {name}}}\nspec: {spec}\n"


def network(spec: str, name: str = "lan") -> str:
    """A Network document with the given (flow-style) spec."""
    return f"apiVersion: reconcile/v1\nkind: Network\nmetadata: {{name: {name}}}\nspec: {spec}\n"


def manifests(*docs: str) -> tuple[LoadedManifest, ...]:
    """The documents loaded as one valid set from a file named m.yaml."""
    result = load_text("---\n".join(docs), "m.yaml")
    assert result.problems == (), result.problems
    return result.manifests


@dataclass
class FakeHost:
    """A host filesystem in memory: existing paths (their parents exist too), symlinks, unix
    sockets (existing paths too), file contents and the runtime sockets of the environment.

    ``realpath`` follows POSIX: a symlink is replaced by its target (relative targets are
    relative to the link's directory), and ``..`` applies to the path resolved so far. A path
    with nothing below it is a regular file, unless it is a socket; others are directories.
    """

    paths: set[str] = field(default_factory=set)
    links: dict[str, str] = field(default_factory=dict)
    infos: dict[str, FileInfo] = field(default_factory=dict)
    sockets: set[str] = field(default_factory=set)
    files: dict[str, str] = field(default_factory=dict)
    env_sockets: tuple[str, ...] = ()
    listed: list[str] = field(default_factory=list)  # directories listed, in order

    def realpath(self, path: str) -> str:
        pending = [p for p in path.split("/") if p]
        resolved: list[str] = []
        hops = 0
        while pending:
            part = pending.pop(0)
            if part == ".":
                continue
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = "/" + "/".join([*resolved, part])
            target = self.links.get(candidate)
            if target is None:
                resolved.append(part)
                continue
            hops += 1
            assert hops < 40, "symlink loop"
            if target.startswith("/"):
                resolved = []
            pending = [p for p in target.split("/") if p] + pending
        return "/" + "/".join(resolved)

    def exists(self, path: str) -> bool:
        real = posixpath.normpath(self.realpath(path))
        return any(p == real or p.startswith(real.rstrip("/") + "/") for p in self.paths)

    def stat(self, path: str) -> FileInfo | None:
        if not self.exists(path):
            return None
        real = self.realpath(path)
        if real in self.sockets:
            return FileInfo(stat.S_IFSOCK | 0o660, 0)
        below = any(p.startswith(real.rstrip("/") + "/") for p in self.paths)
        return self.infos.get(real, FileInfo((stat.S_IFDIR | 0o755) if below else 0o100644, 0))

    def is_dir(self, path: str) -> bool:
        info = self.stat(path)
        return info is not None and stat.S_ISDIR(info.mode)

    def listing(self, path: str) -> Listing | None:
        if not self.is_dir(path):
            return None
        self.listed.append(path)
        base = path.rstrip("/") + "/"
        children = {base + p[len(base) :].split("/")[0] for p in self.paths if p.startswith(base)}
        return Listing(
            tuple(sorted(posixpath.basename(c) for c in children if c in self.sockets)),
            tuple(sorted(posixpath.basename(c) for c in children if self.is_dir(c))),
        )

    def read_text(self, path: str, limit: int) -> str | None:
        text = self.files.get(self.realpath(path))
        return None if text is None else text[:limit]

    def runtime_sockets(self) -> tuple[str, ...]:
        return tuple(self.realpath(p) for p in self.env_sockets)


# Everything a test may bind or give as a device exists here unless it says otherwise.
HOST_PATHS = {
    "/srv/app/conf",
    "/srv/app/data",
    "/srv/app-evil/x",
    "/srv/ok-evil",
    "/srv/ok",
    "/srv/data",
    "/etc/myapp/conf",
    "/etc/shadow",
    "/usr/share/zoneinfo/UTC",
    "/lib64/ld.so",
    "/var/lib/docker/volumes",
    "/var/lib/other",
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/run/user/1000/podman/podman.sock",
    "/home/me/docker.sock",
    "/proc/1/root",
    "/dev/null",
    "/dev/zero",
    "/dev/fuse",
    "/dev/ttyUSB0",
    "/dev/sda",
    "/dev/nvme0n1",
    "/dev/mem",
    "/tmp/x",
}


# The sockets among them.
HOST_SOCKETS = {
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/run/user/1000/podman/podman.sock",
    "/home/me/docker.sock",
}


def fake_host(links: dict[str, str] | None = None) -> FakeHost:
    """The standard fake host, with /var/run -> /run and the given extra symlinks."""
    return FakeHost(
        set(HOST_PATHS), {"/var/run": "/run", **(links or {})}, sockets=set(HOST_SOCKETS)
    )


def policy(text: str) -> Policy:
    """A policy from the body of a policy file (the apiVersion and kind lines are added)."""
    doc = parse_yaml(f"apiVersion: reconcile/v1\nkind: Policy\n{text}", "policy.yaml")
    model, problems = validate_yaml(PolicyFile, doc)
    assert model is not None, problems
    return from_file(model, "policy.yaml")


def admit_text(*docs: str, policy: Policy | None = None, host: FakeHost | None = None) -> Admission:
    """Admit literal documents under ``policy`` (default: the built-in baseline)."""
    return admit(manifests(*docs), policy or Policy(), host=host or fake_host())


def messages(admission: Admission) -> list[str]:
    """Every violation as printed (with its location)."""
    return [str(v) for v in admission.violations]
