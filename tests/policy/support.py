"""Shared helpers for the policy tests: literal manifests, a fake host filesystem."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from reconciler.loading import LoadedManifest, load_text, parse_yaml, validate_yaml
from reconciler.policy import Admission, FileInfo, Policy, admit
from reconciler.policy.model import PolicyFile, from_file


def container(spec: str, name: str = "web") -> str:
    """A Container document; ``spec`` is its spec, indented by two spaces per line."""
    return f"apiVersion: reconcile/v1\nkind: Container\nmetadata: {{name: {name}}}\nspec:\n{spec}"


def volume(spec: str, name: str = "data") -> str:
    """A Volume document with the given (flow-style) spec."""
    return f"apiVersion: reconcile/v1\nkind: Volume\nmetadata: {{name: {name}}}\nspec: {spec}\n"


def manifests(*docs: str) -> tuple[LoadedManifest, ...]:
    """The documents loaded as one valid set from a file named m.yaml."""
    result = load_text("---\n".join(docs), "m.yaml")
    assert result.problems == (), result.problems
    return result.manifests


@dataclass
class FakeHost:
    """A host filesystem in memory: existing paths (their parents exist too) and symlinks.

    ``realpath`` follows POSIX: a symlink is replaced by its target (relative targets are
    relative to the link's directory), and ``..`` applies to the path resolved so far.
    """

    paths: set[str] = field(default_factory=set)
    links: dict[str, str] = field(default_factory=dict)
    infos: dict[str, FileInfo] = field(default_factory=dict)

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
        return self.infos.get(self.realpath(path), FileInfo(0o40755, 0))


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


def fake_host(links: dict[str, str] | None = None) -> FakeHost:
    """The standard fake host, with /var/run -> /run and the given extra symlinks."""
    return FakeHost(set(HOST_PATHS), {"/var/run": "/run", **(links or {})})


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
