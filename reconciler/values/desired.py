"""The desired state: manifests normalized into comparable configs, with ownership labels.

Pure: no I/O. Image defaults are not resolved here (the planner does that with the observed
image), so a config's ``None`` means "whatever the image or the Engine says".
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from reconciler.manifests import (
    ContainerManifest,
    Manifest,
    NetworkManifest,
    VolumeManifest,
    constants,
)
from reconciler.manifests.apiuse import used
from reconciler.manifests.container import (
    BindMount,
    ContainerSpec,
    Port,
    RolloutSettings,
    TmpfsMount,
    VolumeMount,
    port_range,
)
from reconciler.manifests.fields import FLOOR_API, container_table
from reconciler.values import configs
from reconciler.values.configs import (
    ContainerConfig,
    DeviceConfig,
    GpuRequest,
    HealthcheckConfig,
    ImageBuild,
    MountConfig,
    NetworkAttachmentConfig,
    NetworkConfig,
    Pairs,
    PortBinding,
    ResourceConfig,
    SubnetConfig,
    UpdateSettings,
    VolumeConfig,
)

HASH_SCHEME = "v1"


@dataclass(frozen=True)
class DesiredContainer:
    """A container as it should be."""

    name: str
    source: str
    config: ContainerConfig
    pull_policy: str = "IfNotPresent"
    depends_on: tuple[tuple[str, str], ...] = ()  # (name, started|healthy|completed)
    # Dependencies whose recreate or restart restarts this one too (dependsOn restart: true).
    restarts_with: tuple[str, ...] = ()
    # Dependencies that may be missing or fail without blocking it (dependsOn required: false).
    optional: tuple[str, ...] = ()
    secret_env: frozenset[str] = frozenset()
    restart_on_unhealthy: bool = True
    # Fields it sets that not every Engine API version knows: (manifest path, oldest version).
    requires: tuple[tuple[str, str], ...] = ()
    # Bind sources to create as directories when missing (createHostPath, as compose does).
    create_paths: tuple[str, ...] = ()
    # A job that runs to completion (oneShot, or the target of a `completed` dependency):
    # once it exited with code 0 it is done, never started again. Not every restart-policy-no
    # container: a service stopped by hand or by a host restart often exits 0 too.
    one_shot: bool = False
    # Targets of its secret files: binds from reconcile's own root-only store, not the user's
    # host paths, so the policy's bind checks leave them out.
    secret_targets: frozenset[str] = frozenset()
    # Built from a context (spec.build), its digest filled in from the files by the caller.
    build: ImageBuild | None = None
    update: UpdateSettings = field(default_factory=UpdateSettings)
    # What was computed from this very object and may be asked again, when a loop's next
    # pass reuses it (the planner's field diffs against a live container:
    # controllers/container_diffs.py). Never copied by ``dataclasses.replace``, never
    # compared or hashed.
    memo: dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    @property
    def volumes(self) -> tuple[str, ...]:
        """Names of the named volumes it mounts."""
        return tuple(m.source for m in self.config.mounts if m.type == "volume")

    @property
    def networks(self) -> tuple[str, ...]:
        """Names of the networks it joins."""
        return tuple(n.name for n in self.config.networks)


@dataclass(frozen=True)
class DesiredVolume:
    """A named volume as it should be; ``Retain`` volumes are never removed by reconcile.
    An ``external`` one is only a reference to a volume made elsewhere, by its Engine name:
    never created, compared, changed or removed (its ``config`` is the defaults, unused)."""

    name: str
    source: str
    config: VolumeConfig
    deletion_policy: str = "Retain"
    external: bool = False


@dataclass(frozen=True)
class DesiredNetwork:
    """A network as it should be. An ``external`` one is only a reference to a network made
    elsewhere, by its Engine name: never created, compared, changed or removed."""

    name: str
    source: str
    config: NetworkConfig
    external: bool = False


@dataclass(frozen=True)
class DesiredState:
    """Everything one project (set) declares, keyed by resource name per kind."""

    project: str
    containers: Mapping[str, DesiredContainer] = field(default_factory=dict)
    volumes: Mapping[str, DesiredVolume] = field(default_factory=dict)
    networks: Mapping[str, DesiredNetwork] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """How many resources the set declares."""
        return len(self.containers) + len(self.volumes) + len(self.networks)


def _memory_swap(memory: int, swap: int) -> int:
    """The swap value as the Engine's reading of it (``normalize``) gives it back: memory
    alone means "no swap beyond it" (the Engine would otherwise allow twice the memory), and
    an explicit swap of twice the memory is the Engine's default, read back as 0."""
    if not swap:
        return memory
    return 0 if memory and swap == 2 * memory else swap


def is_secret_name(name: str) -> bool:
    """True for env names that look like they hold a secret (masked in all output)."""
    upper = name.upper()
    return any(marker in upper for marker in constants.SECRET_NAME_MARKERS)


def _pairs(mapping: Mapping[str, str]) -> Pairs:
    return tuple(sorted(mapping.items()))


def _mount(mount: VolumeMount | BindMount | TmpfsMount) -> MountConfig:
    if isinstance(mount, VolumeMount):
        return MountConfig(
            mount.target, "volume", mount.source or "", mount.read_only, no_copy=mount.no_copy
        )
    if isinstance(mount, BindMount):
        return MountConfig(
            mount.target,
            "bind",
            mount.source,
            mount.read_only,
            mount.propagation,
            selinux=mount.selinux,
        )
    return MountConfig(
        mount.target,
        "tmpfs",
        tmpfs_size=mount.size_bytes,
        tmpfs_mode=int(mount.mode, 8) if mount.mode is not None else None,
        tmpfs_options=configs.tmpfs_flags(mount.options),
    )


def _ports(port: Port) -> Iterable[PortBinding]:
    """One binding per container port of a range; a host range for one container port stays
    a range (the Engine picks a free port in it)."""
    first, last = port_range(port.container_port)
    host_ip = port.host_ip or ""
    if port.host_port is None:
        for number in range(first, last + 1):
            yield PortBinding(number, port.protocol, host_ip)
        return
    host_first, host_last = port_range(port.host_port)
    if first == last and host_last > host_first:
        yield PortBinding(first, port.protocol, host_ip, host_first, host_last)
        return
    for offset in range(last - first + 1):
        yield PortBinding(first + offset, port.protocol, host_ip, host_first + offset)


def options(spec: ContainerSpec) -> configs.Options:
    """The table-driven fields a spec sets, as comparable values."""
    result = []
    for entry in container_table().driven:
        value = entry.value(spec)
        shape = entry.engine.shape
        if value is None or shape is None:
            continue
        comparable = shape.comparable(value)
        if comparable is not None:
            result.append((entry.path, comparable))
    return tuple(sorted(result))


def container_config(name: str, spec: ContainerSpec, labels: Mapping[str, str]) -> ContainerConfig:
    """The comparable config of a container spec."""
    network_mode = None if spec.network_mode in (None, "bridge") else spec.network_mode
    # The Engine reports neither the container's own name nor its hostname as aliases (it adds
    # them itself), and a container on the default bridge as having no networks.
    implicit = {name, spec.hostname}
    networks = tuple(
        sorted(
            NetworkAttachmentConfig(
                n.name,
                tuple(sorted(set(n.aliases) - implicit)),
                n.ipv4_address,
                n.ipv6_address,
                n.mac_address,
            )
            for n in spec.networks
        )
    )
    health = None
    if spec.healthcheck is not None:
        hc = spec.healthcheck
        health = HealthcheckConfig(
            tuple(hc.test),
            hc.interval or 0,
            hc.timeout or 0,
            hc.start_period or 0,
            hc.retries or 0,
            hc.start_interval or 0,
        )
    gpus = None
    if spec.gpus is not None:
        count = -1 if spec.gpus.count == "all" else (spec.gpus.count or 0)
        gpus = GpuRequest(
            spec.gpus.driver,
            count,
            tuple(spec.gpus.device_ids or ()),
            tuple(sorted(spec.gpus.capabilities)),
        )
    res = spec.resources
    resources = ResourceConfig(
        memory=res.memory or 0,
        memory_reservation=res.memory_reservation or 0,
        memory_swap=_memory_swap(res.memory or 0, res.memory_swap or 0),
        nano_cpus=res.cpus or 0,
        cpu_shares=res.cpu_shares or 0,
        pids_limit=res.pids or 0,
    )
    stop_signal = spec.stop_signal
    if stop_signal is not None and not stop_signal.isdigit() and not stop_signal.startswith("SIG"):
        stop_signal = "SIG" + stop_signal
    return ContainerConfig(
        image=spec.image,
        platform=spec.platform,
        entrypoint=tuple(spec.command) if spec.command is not None else None,
        cmd=tuple(spec.args) if spec.args is not None else None,
        env=_pairs(spec.env),
        user=spec.user,
        working_dir=spec.working_dir,
        hostname=spec.hostname,
        extra_hosts=tuple(sorted(set(spec.extra_hosts))),
        ports=tuple(sorted({binding for p in spec.ports for binding in _ports(p)})),
        mounts=tuple(sorted(_mount(m) for m in spec.mounts)),
        devices=tuple(
            sorted(
                {
                    DeviceConfig(d.host_path, d.container_path or d.host_path, d.permissions)
                    for d in spec.devices
                }
            )
        ),
        device_cgroup_rules=tuple(sorted(set(spec.device_cgroup_rules))),
        gpus=gpus,
        group_add=tuple(sorted(set(spec.group_add))),
        cap_add=tuple(sorted(set(spec.capabilities.add))),
        cap_drop=tuple(sorted(set(spec.capabilities.drop))),
        privileged=spec.privileged,
        read_only_rootfs=spec.read_only_root_filesystem,
        security_opt=configs.security_options(spec.security_opt),
        sysctls=_pairs(spec.sysctls),
        networks=networks,
        network_mode=network_mode,
        pid_mode=spec.pid_mode,
        ipc_mode=spec.ipc_mode,
        uts_mode=spec.uts_mode,
        userns_mode=spec.userns_mode,
        cgroupns_mode=spec.cgroupns_mode,
        restart_policy=spec.restart_policy,
        healthcheck=health,
        resources=resources,
        stop_signal=stop_signal,
        stop_timeout=(
            spec.stop_grace_period // 1_000_000_000 if spec.stop_grace_period is not None else None
        ),
        init=spec.init,
        tty=spec.tty,
        labels=_pairs(labels),
        options=options(spec),
        service=_service(spec),
    )


def _service(spec: ContainerSpec) -> configs.ServiceConfig | None:
    """The Swarm settings of ``spec`` as compared (None when it has none)."""
    if spec.swarm is None:
        return None

    def rollout(r: RolloutSettings) -> configs.RolloutConfig:
        return configs.RolloutConfig(r.parallelism, r.delay or 0, r.failure_action, r.order)

    return configs.ServiceConfig(
        replicas=spec.swarm.replicas,
        constraints=tuple(sorted(set(spec.swarm.constraints))),
        update=rollout(spec.swarm.update),
        rollback=rollout(spec.swarm.rollback),
    )


def _joined(spec: ContainerSpec) -> set[str]:
    """The containers whose namespaces this one joins."""
    return {
        mode.removeprefix("container:")
        for mode in (spec.network_mode, spec.pid_mode, spec.ipc_mode)
        if mode is not None and mode.startswith("container:")
    }


def _dependencies(spec: ContainerSpec) -> tuple[tuple[str, str], ...]:
    """dependsOn, plus the containers whose namespaces this one joins (they must run first)."""
    deps = {d.name: d.condition for d in spec.depends_on}
    for name in _joined(spec):
        deps.setdefault(name, "started")
    return tuple(sorted(deps.items()))


def _optional(spec: ContainerSpec) -> tuple[str, ...]:
    """dependsOn entries with ``required: false``; a joined namespace is never optional."""
    joined = _joined(spec)
    return tuple(sorted(d.name for d in spec.depends_on if not d.required and d.name not in joined))


def _declared_only(want: DesiredContainer, names: Mapping[str, object]) -> DesiredContainer:
    """Drop the optional dependencies the set does not declare: nothing to wait for."""
    missing = {d for d in want.optional if d not in names}
    if not missing:
        return want
    return dataclasses.replace(
        want,
        depends_on=tuple(d for d in want.depends_on if d[0] not in missing),
        restarts_with=tuple(d for d in want.restarts_with if d not in missing),
        optional=tuple(d for d in want.optional if d not in missing),
    )


@dataclass(frozen=True)
class HostInputs:
    """What a container takes from host files, read by the caller (``converge.inputs``):
    env values from its env files (in order; its own ``env`` overrides them), its secret
    files as (target, path in the secret store), and its configuration content digests."""

    env: Pairs = field(default=(), repr=False)
    secret_mounts: tuple[tuple[str, str], ...] = ()
    content: str | None = None
    build_digest: str = ""  # of the build context and settings (spec.build)


def _with_inputs(config: ContainerConfig, host: HostInputs) -> ContainerConfig:
    env = dict(host.env)
    env.update(dict(config.env))
    secrets = {
        MountConfig(target, "bind", path, read_only=True) for target, path in host.secret_mounts
    }
    return dataclasses.replace(
        config,
        env=tuple(sorted(env.items())),
        mounts=tuple(sorted({*config.mounts, *secrets})),
        content=host.content,
    )


def _container(
    manifest: ContainerManifest, source: str, host: HostInputs | None = None
) -> DesiredContainer:
    spec = manifest.spec
    config = container_config(manifest.metadata.name, spec, manifest.metadata.labels)
    if host is not None:
        config = _with_inputs(config, host)
    # Values from env files are all masked: a file is where people keep what must not show.
    from_files = {k for k, _ in host.env} if host is not None else set()
    return DesiredContainer(
        name=manifest.metadata.name,
        source=source,
        config=config,
        pull_policy=spec.pull_policy,
        depends_on=_dependencies(spec),
        restarts_with=tuple(sorted(d.name for d in spec.depends_on if d.restart)),
        optional=_optional(spec),
        secret_env=frozenset({k for k in spec.env if is_secret_name(k)} | from_files),
        restart_on_unhealthy=spec.restart_on_unhealthy,
        one_shot=spec.one_shot,
        build=image_build(spec, host.build_digest if host is not None else ""),
        update=UpdateSettings(
            spec.update_policy.mode,
            spec.update_policy.interval / 1e9,
            spec.update_policy.min_age / 1e9,
        ),
        secret_targets=frozenset(t for t, _ in host.secret_mounts) if host else frozenset(),
        create_paths=tuple(
            m.source for m in spec.mounts if isinstance(m, BindMount) and m.create_host_path
        ),
        requires=tuple(sorted((path, api) for path, api in used(spec, above=FLOOR_API).items())),
    )


def image_build(spec: ContainerSpec, digest: str = "") -> ImageBuild | None:
    """How ``spec``'s image is built (None when it is pulled); ``digest`` from the files."""
    build = spec.build
    if build is None:
        return None
    return ImageBuild(
        context=build.context,
        dockerfile=build.dockerfile,
        args=tuple(sorted(build.args.items())),
        target=build.target,
        labels=tuple(sorted(build.labels.items())),
        platform=spec.platform,
        digest=digest,
    )


def _volume(manifest: VolumeManifest, source: str) -> DesiredVolume:
    spec = manifest.spec
    return DesiredVolume(
        name=manifest.metadata.name,
        source=source,
        config=VolumeConfig(
            spec.driver, _pairs(spec.driver_opts), _pairs(manifest.metadata.labels)
        ),
        deletion_policy=spec.deletion_policy,
        external=spec.external,
    )


def _network(manifest: NetworkManifest, source: str) -> DesiredNetwork:
    spec = manifest.spec
    return DesiredNetwork(
        name=manifest.metadata.name,
        source=source,
        config=NetworkConfig(
            driver=spec.driver,
            internal=spec.internal,
            attachable=spec.attachable,
            enable_ipv6=spec.enable_ipv6,
            driver_opts=_pairs(spec.driver_opts),
            subnets=tuple(
                sorted(SubnetConfig(s.subnet, s.gateway, s.ip_range) for s in spec.subnets)
            ),
            labels=_pairs(manifest.metadata.labels),
        ),
        external=spec.external,
    )


def build(
    project: str,
    items: Iterable[tuple[Manifest, str]],
    inputs: Mapping[str, HostInputs] | None = None,
) -> DesiredState:
    """The desired state of ``project`` from validated manifests and their sources (file:line).

    Names are assumed unique per kind (the loader's cross-document checks ensure it).
    """
    containers: dict[str, DesiredContainer] = {}
    volumes: dict[str, DesiredVolume] = {}
    networks: dict[str, DesiredNetwork] = {}
    for manifest, source in items:
        if isinstance(manifest, ContainerManifest):
            name = manifest.metadata.name
            containers[name] = _container(manifest, source, (inputs or {}).get(name))
        elif isinstance(manifest, VolumeManifest):
            volumes[manifest.metadata.name] = _volume(manifest, source)
        else:
            networks[manifest.metadata.name] = _network(manifest, source)
    containers = {name: _declared_only(c, containers) for name, c in containers.items()}
    awaited = {d for c in containers.values() for d, how in c.depends_on if how == "completed"}
    containers = {
        name: dataclasses.replace(c, one_shot=True) if name in awaited else c
        for name, c in containers.items()
    }
    return DesiredState(project, containers, volumes, networks)


def config_hash(config: ContainerConfig | VolumeConfig | NetworkConfig, key: bytes) -> str:
    """A keyed hash of a config, stored in a label.

    Keyed (HMAC) so that a secret env value cannot be recovered from a label by guessing.
    The planner compares live fields, not this hash; see docs/decisions/drift-detection.md.
    """
    fields = asdict(config)
    if fields.get("service", ...) is None:
        del fields["service"]  # hashes from before Swarm settings existed stay the same
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    digest = hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{HASH_SCHEME}:{digest}"


def ownership_labels(
    project: str, kind: str, name: str, source: str, digest: str
) -> dict[str, str]:
    """The labels reconcile puts on everything it creates."""
    return {
        constants.LABEL_MANAGED_BY: constants.MANAGED_BY_VALUE,
        constants.LABEL_PROJECT: project,
        constants.LABEL_KIND: kind,
        constants.LABEL_NAME: name,
        constants.LABEL_SOURCE: source,
        constants.LABEL_CONFIG_HASH: digest,
    }
