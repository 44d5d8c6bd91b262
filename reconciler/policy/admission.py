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
from collections.abc import Iterable, Iterator, Mapping, Sequence

from reconciler.errors import Location, Problem
from reconciler.loading.results import LoadedManifest, format_path
from reconciler.manifests import ContainerManifest, NetworkManifest, VolumeManifest
from reconciler.manifests.container import BindMount, Mount, TmpfsMount, VolumeMount
from reconciler.policy import binds, volumes
from reconciler.policy.containers import container_findings
from reconciler.policy.devices import device_findings, gpu_findings
from reconciler.policy.model import Policy
from reconciler.policy.networks import driver_findings, engine_default_bridge, network_findings
from reconciler.policy.paths import HostFS, OsHostFS
from reconciler.policy.rules import Finding, Violation, active_rules

Live = tuple[str, Mapping[str, str]]
"""What the Engine has of a volume or network: its driver and its driver options."""


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
    # External volumes and networks are judged once the Engine shows what they are
    # (``judge_external``); here they are only references.
    named = {
        m.name: m
        for m in manifests
        if isinstance(m.manifest, VolumeManifest) and not m.manifest.spec.external
    }
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
                if isinstance(mount, VolumeMount) and mount.source is not None:
                    mounted.add(mount.source)
            findings += _input_findings(manifest, policy, fs)
            found += _violations(loaded, f'container "{loaded.name}"', findings, policy, active)
            out.append(_resolved(loaded, manifest, fs))
        elif isinstance(manifest, NetworkManifest) and not manifest.spec.external:
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


def judge_external(
    manifests: Sequence[LoadedManifest],
    live_volumes: Mapping[str, Live],
    live_networks: Mapping[str, Live],
    policy: Policy,
    *,
    host: HostFS | None = None,
) -> list[tuple[str, str, Violation]]:
    """Judge a set's external volumes and networks by what the Engine has under their names
    (``live_volumes``, ``live_networks``: the driver and options of each one that exists), with the
    rules ``admit`` applies to declared ones: a volume by its live driver and driver options
    (a local volume with ``o=bind`` and a ``device`` is a bind of that host path, for every
    container that mounts it), a network by its live driver and options.

    Admission cannot do this (it runs before the Engine is read), so a pass calls it once it
    has observed. Each violation comes with the (kind, name) it refuses: the volume or network
    for what it is, a container for how it mounts an external volume.
    """
    fs = host or OsHostFS()
    active = {r.id for r in active_rules(policy.profile)}
    external = {
        m.name: m
        for m in manifests
        if isinstance(m.manifest, VolumeManifest)
        and m.manifest.spec.external
        and m.name in live_volumes
    }
    mounted: set[str] = set()
    found: list[tuple[str, str, Violation]] = []
    for loaded in manifests:
        manifest = loaded.manifest
        if isinstance(manifest, ContainerManifest):
            findings: list[Finding] = []
            for i, mount in enumerate(manifest.spec.mounts):
                if not isinstance(mount, VolumeMount) or mount.source not in external:
                    continue
                source = str(mount.source)
                mounted.add(source)
                driver, opts = live_volumes[source]
                findings += volumes.mount_findings(
                    ("spec", "mounts", i, "source"),
                    driver,
                    opts,
                    mount.read_only,
                    policy,
                    fs,
                    prefix=f'external volume "{source}"',
                )
            resource = f'container "{loaded.name}"'
            found += [
                ("Container", loaded.name, v)
                for v in _violations(loaded, resource, findings, policy, active)
            ]
        elif (
            isinstance(manifest, NetworkManifest)
            and manifest.spec.external
            and loaded.name in live_networks
        ):
            driver, opts = live_networks[loaded.name]
            findings = list(
                driver_findings(
                    driver,
                    opts,
                    policy,
                    at=("spec", "external"),
                    engine_default=engine_default_bridge(loaded.name, opts),
                )
            )
            resource = f'external network "{loaded.name}"'
            found += [
                ("Network", loaded.name, v)
                for v in _violations(loaded, resource, findings, policy, active)
            ]
    for name, loaded in sorted(external.items()):
        driver, opts = live_volumes[name]
        findings = list(
            volumes.driver_findings(
                driver,
                opts,
                name not in mounted,
                policy,
                fs,
                at=("spec", "external"),
            )
        )
        resource = f'external volume "{name}"'
        found += [
            ("Volume", name, v) for v in _violations(loaded, resource, findings, policy, active)
        ]
    return found


def _input_findings(manifest: ContainerManifest, policy: Policy, fs: HostFS) -> list[Finding]:
    """Env files, secret files and build contexts are host files reconcile reads into the
    container or its image (as root): judged as read-only binds of them, so a manifest cannot
    read /etc/shadow into an env var or an image. Restricted's "no binds" does not apply:
    reading a file is not mounting the host."""
    found = []
    spec = manifest.spec
    sources: list[tuple[tuple[str | int, ...], str]] = [
        (("spec", "envFiles", i), f.path) for i, f in enumerate(spec.env_files)
    ]
    sources += [
        (("spec", "secrets", i, "file"), s.file)
        for i, s in enumerate(spec.secrets)
        if s.file is not None
    ]
    if spec.build is not None:
        # The builder copies what the Dockerfile names from the context into the image:
        # a context is read like a read-only bind of that directory.
        sources.append((("spec", "build", "context"), spec.build.context))
    for where, path in sources:
        if not fs.exists(fs.realpath(path)):
            continue  # reported when the pass reads it (a missing optional env file is fine)
        what = "build context" if where[1] == "build" else "file"
        for message in binds.judge(path, fs.realpath(path), True, policy, fs):
            found.append(Finding(binds.BASELINE, where, message.replace("bind source", what, 1)))
    return found


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
        for message in binds.judge(
            mount.source, real, mount.read_only, policy, fs, create=mount.create_host_path
        ):
            yield Finding(binds.BASELINE, path, message)
        for message in binds.propagation(mount.propagation):
            yield Finding(binds.BASELINE, ("spec", "mounts", i, "propagation"), message)
        if mount.selinux is not None:
            for message in binds.relabel(
                mount.selinux, mount.source, real, mount.read_only, policy, fs
            ):
                yield Finding(binds.RELABEL, ("spec", "mounts", i, "selinux"), message)
    elif isinstance(mount, TmpfsMount):
        # The Engine mounts a tmpfs nosuid and nodev unless told otherwise. Baseline allows
        # both: the container's root filesystem is mounted without them anyway, and the
        # device cgroup, not nodev, decides which device nodes can be opened.
        for j, option in enumerate(mount.options):
            if option in ("suid", "dev"):
                yield Finding(
                    "restricted/tmpfs-options",
                    ("spec", "mounts", i, "options", j),
                    f"tmpfs option {option} is not allowed (restricted keeps every tmpfs "
                    "nosuid and nodev)",
                )
    elif isinstance(mount, VolumeMount) and mount.source in named:
        volume = named[mount.source].manifest
        assert isinstance(volume, VolumeManifest)
        yield from volumes.mount_findings(
            path,
            volume.spec.driver,
            volume.spec.driver_opts,
            mount.read_only,
            policy,
            fs,
            prefix=f'volume "{mount.source}"',
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
