"""Admission: judge a manifest set against the policy before anything reaches the Engine, and
judge a created container's bind mounts again afterwards.

``admit`` is pure over a ``HostFS``: it reads the host filesystem only through it, so unit
tests fake the filesystem. It returns the manifests with every bind source replaced by its
resolved real path: the Engine then mounts exactly the path that was judged, and drift is
compared on resolved paths.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Iterable, Iterator, Sequence

from reconciler.errors import Location, Problem
from reconciler.loading.results import LoadedManifest, format_path
from reconciler.manifests import ContainerManifest, NetworkManifest, VolumeManifest
from reconciler.manifests.container import BindMount, Mount, VolumeMount
from reconciler.policy import binds, volumes
from reconciler.policy.containers import container_findings
from reconciler.policy.devices import device_findings, gpu_findings
from reconciler.policy.model import Policy
from reconciler.policy.networks import network_findings
from reconciler.policy.paths import HostFS, OsHostFS
from reconciler.policy.rules import Finding, Violation, active_rules


@dataclasses.dataclass(frozen=True)
class Admission:
    """The outcome of admission: the manifests to act on (bind sources resolved) and every
    violation, split by what the policy does about it."""

    manifests: tuple[LoadedManifest, ...]
    denied: tuple[Violation, ...] = ()
    warned: tuple[Violation, ...] = ()
    audited: tuple[Violation, ...] = ()
    policy: Policy | None = None  # the policy that judged the set

    @property
    def ok(self) -> bool:
        """True when nothing is refused (warnings and audit records may remain)."""
        return not self.denied

    @property
    def violations(self) -> tuple[Violation, ...]:
        """Every violation, refused ones first."""
        return self.denied + self.warned + self.audited

    def problems(self) -> list[Problem]:
        """The refused (enforce-mode) violations as Problems, sorted, so they flow through the
        same error paths as manifest problems (``ManifestError(admission.problems())``)."""
        return sorted(
            Problem(v.location, v.field, f"[{v.rule_id}] {v.resource}: {v.message}")
            for v in self.denied
        )


def admit(
    manifests: Sequence[LoadedManifest], policy: Policy, *, host: HostFS | None = None
) -> Admission:
    """Judge every manifest of a set against ``policy`` (see the module docstring)."""
    fs = host or OsHostFS()
    active = {r.id for r in active_rules(policy.profile)}
    containers = {m.name for m in manifests if isinstance(m.manifest, ContainerManifest)}
    named = {m.name: m for m in manifests if isinstance(m.manifest, VolumeManifest)}
    mounted: set[str] = set()
    out: list[LoadedManifest] = []
    found: list[Violation] = []
    for loaded in manifests:
        manifest = loaded.manifest
        if isinstance(manifest, ContainerManifest):
            findings = list(container_findings(manifest.spec, containers, policy, fs))
            findings += device_findings(manifest.spec, policy, fs)
            findings += gpu_findings(loaded.name, manifest.spec, policy)
            for i, mount in enumerate(manifest.spec.mounts):
                findings += _mount_findings(i, mount, named, policy, fs)
                if isinstance(mount, VolumeMount):
                    mounted.add(mount.source)
            found += _violations(loaded, f'container "{loaded.name}"', findings, policy, active)
            out.append(_resolved(loaded, manifest, fs))
        elif isinstance(manifest, NetworkManifest):
            findings = list(network_findings(manifest.spec, policy))
            found += _violations(loaded, f'network "{loaded.name}"', findings, policy, active)
            out.append(loaded)
        else:
            out.append(loaded)
    for name, volume in sorted(named.items()):
        findings = list(volumes.volume_findings(volume, name not in mounted, policy, fs))
        found += _violations(volume, f'volume "{name}"', findings, policy, active)
    return Admission(
        tuple(out),
        tuple(v for v in found if v.mode == "enforce"),
        tuple(v for v in found if v.mode == "warn"),
        tuple(v for v in found if v.mode == "audit"),
        policy,
    )


def _mount_findings(
    i: int,
    mount: Mount,
    named: dict[str, LoadedManifest],
    policy: Policy,
    fs: HostFS,
) -> Iterator[Finding]:
    path = ("spec", "mounts", i, "source")
    if isinstance(mount, BindMount):
        yield Finding(
            binds.RESTRICTED,
            path,
            f"bind mount of {mount.source} is not allowed (restricted allows no bind mounts)",
        )
        real = fs.realpath(mount.source)
        for message in binds.judge(mount.source, real, mount.read_only, policy, fs):
            yield Finding(binds.BASELINE, path, message)
        for message in binds.propagation(mount.propagation):
            yield Finding(binds.BASELINE, ("spec", "mounts", i, "propagation"), message)
    elif isinstance(mount, VolumeMount) and mount.source in named:
        volume = named[mount.source].manifest
        assert isinstance(volume, VolumeManifest)
        yield from volumes.mount_findings(
            path, volume.spec, mount.read_only, policy, fs, prefix=f'volume "{mount.source}"'
        )


def _violations(
    loaded: LoadedManifest,
    resource: str,
    findings: Iterable[Finding],
    policy: Policy,
    active: set[str],
) -> list[Violation]:
    return [
        Violation(
            f.rule_id,
            policy.mode_for(f.rule_id),
            resource,
            f.message,
            loaded.locate(*f.path),
            format_path(f.path),
        )
        for f in findings
        if f.rule_id in active and not policy.exempt(f.rule_id, loaded.name)
    ]


def _resolved(loaded: LoadedManifest, manifest: ContainerManifest, fs: HostFS) -> LoadedManifest:
    def resolve(mount: Mount) -> Mount:
        if isinstance(mount, BindMount):
            return mount.model_copy(update={"source": fs.realpath(mount.source)})
        return mount

    mounts = [resolve(m) for m in manifest.spec.mounts]
    if mounts == manifest.spec.mounts:
        return loaded
    spec = manifest.spec.model_copy(update={"mounts": mounts})
    return dataclasses.replace(loaded, manifest=manifest.model_copy(update={"spec": spec}))


def check_created(
    name: str,
    mounts: Sequence[tuple[str, str]],
    policy: Policy,
    *,
    host: HostFS | None = None,
    location: Location | None = None,
) -> list[Violation]:
    """Judge a created container's bind mounts again, as the Engine reports them.

    ``mounts`` are the (source, target) pairs of its bind mounts. Admission handed the Engine
    resolved sources, so a source that no longer resolves to itself had a path component
    swapped for a symlink in between: that, and a source that now resolves to a denied or
    non-allowlisted path, is a violation. Enforce-mode violations mean: remove the container.
    """
    fs = host or OsHostFS()
    where = location or Location("")
    active = {r.id for r in active_rules(policy.profile)}
    resource = f'container "{name}"'
    found: list[tuple[str, str, str]] = []
    for source, target in mounts:
        found.append(
            (
                binds.RESTRICTED,
                target,
                f"bind mount of {source} is not allowed (restricted allows no bind mounts)",
            )
        )
        real = fs.realpath(source)
        if real != posixpath.normpath(source):
            found.append(
                (
                    binds.BASELINE,
                    target,
                    f"bind source {source} now resolves to {real}: a path component was "
                    "replaced by a symlink after admission",
                )
            )
        if fs.exists(real):
            found += [
                (binds.BASELINE, target, m) for m in binds.judge(source, real, True, policy, fs)
            ]
    return [
        Violation(rule, policy.mode_for(rule), resource, message, where, f"mount {target}")
        for rule, target, message in found
        if rule in active and not policy.exempt(rule, name)
    ]
