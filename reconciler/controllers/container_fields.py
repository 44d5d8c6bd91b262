"""Field-by-field comparison of a container's effective desired config with the live one.

Pure. ``effective`` fills what the manifest leaves to the image (entrypoint, env, user, ...)
from the observed image, the same way the Engine does at create time, so that defaults never
show up as perpetual diffs. ``compare`` returns one ``FieldDiff`` per changed field, key or item.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from reconciler.controllers.plan import FieldDiff
from reconciler.manifests.constants import COMPOSE_LABEL_PREFIX, LABEL_PREFIX, MASK
from reconciler.manifests.fields import container_table
from reconciler.manifests.units import format_duration, format_size
from reconciler.values.configs import (
    ContainerConfig,
    DeviceConfig,
    GpuRequest,
    HealthcheckConfig,
    MountConfig,
    NetworkAttachmentConfig,
    Pairs,
    PortBinding,
    ResourceConfig,
)
from reconciler.values.observed import ImageInfo

_OWN_LABELS = (LABEL_PREFIX, COMPOSE_LABEL_PREFIX)

T = TypeVar("T")

# Diff paths of resources, as the manifest spells them.
RESOURCE_PATHS = {
    "memory": "resources.memory",
    "memory_reservation": "resources.memoryReservation",
    "memory_swap": "resources.memorySwap",
    "nano_cpus": "resources.cpus",
    "cpu_shares": "resources.cpuShares",
    "pids_limit": "resources.pids",
}
# Fields the Engine changes in place: ``docker update`` and network connect/disconnect.
IN_PLACE_FIELDS = frozenset({"restartPolicy", "networks", *RESOURCE_PATHS.values()})


# ``docker update`` reads 0 as "leave unchanged" for these, so lifting one needs a recreate.
_NOT_LIFTABLE = frozenset({"memory", "memory_reservation", "nano_cpus", "cpu_shares"})


def _merge_pairs(base: Pairs, overlay: Pairs) -> Pairs:
    merged = dict(base)
    merged.update(overlay)
    return tuple(sorted(merged.items()))


def _effective_ports(config: ContainerConfig, image: ImageInfo) -> tuple[PortBinding, ...]:
    published = {p for p in config.ports if p.host_port is not None}
    bound = {(p.container_port, p.protocol) for p in published}
    exposed: set[PortBinding] = {
        PortBinding(p.container_port, p.protocol) for p in config.ports if p.host_port is None
    }
    for spec in image.exposed_ports:
        number, _, proto = spec.partition("/")
        if number.isdigit():
            exposed.add(PortBinding(int(number), proto or "tcp"))
    exposed = {p for p in exposed if (p.container_port, p.protocol) not in bound}
    return tuple(sorted(published | exposed))


def effective(config: ContainerConfig, image: ImageInfo) -> ContainerConfig:
    """The config the Engine will run: the manifest's, with the image's defaults filled in."""
    entrypoint = config.entrypoint if config.entrypoint is not None else image.entrypoint
    if config.cmd is not None:
        cmd: tuple[str, ...] | None = config.cmd
    else:
        # Setting an entrypoint drops the image's CMD, as the Engine (and Kubernetes) do.
        cmd = image.cmd if config.entrypoint is None else None
    return dataclasses.replace(
        config,
        entrypoint=entrypoint or None,
        cmd=cmd or None,
        env=_merge_pairs(image.env, config.env),
        user=config.user if config.user is not None else (image.user or None),
        working_dir=config.working_dir or image.working_dir or None,
        healthcheck=config.healthcheck if config.healthcheck is not None else image.healthcheck,
        stop_signal=config.stop_signal or image.stop_signal,
        # A container reads back without reconcile's and compose's own labels, an image's
        # (the build digest on one reconcile built) included.
        labels=_merge_pairs(
            tuple((k, v) for k, v in image.labels if not k.startswith(_OWN_LABELS)),
            config.labels,
        ),
        ports=_effective_ports(config, image),
    )


def _fmt_port(p: PortBinding) -> str:
    if p.host_port is None:
        return f"{p.container_port}/{p.protocol}"
    host = f"{p.host_ip}:" if p.host_ip else ""
    if ":" in p.host_ip:
        host = f"[{p.host_ip}]:"
    end = f"-{p.host_port_end}" if p.host_port_end else ""
    return f"{host}{p.host_port}{end}->{p.container_port}/{p.protocol}"


def _fmt_mount(m: MountConfig) -> str:
    parts = [m.type]
    parts.append(f"{m.source}:{m.target}" if m.source else m.target)
    if m.type == "volume" and not m.source:
        parts.append("anonymous")
    if m.read_only:
        parts.append("ro")
    if m.propagation:
        parts.append(m.propagation)
    if m.selinux:
        parts.append(m.selinux)
    if m.no_copy:
        parts.append("nocopy")
    if m.tmpfs_size:
        parts.append(f"size={format_size(m.tmpfs_size)}")
    if m.tmpfs_mode is not None:
        parts.append(f"mode={m.tmpfs_mode:04o}")
    parts.extend(m.tmpfs_options)
    return " ".join(parts)


def _fmt_device(d: DeviceConfig) -> str:
    return f"{d.host_path}:{d.container_path}:{d.permissions}"


def _fmt_network(n: NetworkAttachmentConfig) -> str:
    text = n.name
    if n.aliases:
        text += f" aliases={','.join(n.aliases)}"
    if n.ipv4_address:
        text += f" ip={n.ipv4_address}"
    if n.ipv6_address:
        text += f" ipv6={n.ipv6_address}"
    if n.mac_address:
        text += f" mac={n.mac_address}"
    return text


def _fmt_health(h: HealthcheckConfig | None) -> str | None:
    if h is None:
        return None
    text = json.dumps(list(h.test))
    for label, value in (
        ("interval", h.interval),
        ("timeout", h.timeout),
        ("startPeriod", h.start_period),
        ("startInterval", h.start_interval),
    ):
        if value:
            text += f" {label}={format_duration(value)}"
    if h.retries:
        text += f" retries={h.retries}"
    return text


def _fmt_gpus(g: GpuRequest | None) -> str | None:
    if g is None:
        return None
    which = "all" if g.count == -1 else (",".join(g.device_ids) or str(g.count))
    return f"{g.driver} {which} [{','.join(g.capabilities)}]"


def _fmt_scalar(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        return json.dumps(list(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fmt_resource(name: str, value: int) -> str | None:
    if not value:
        return None
    if name == "nano_cpus":
        return f"{value / 1e9:g}"
    if name in ("memory", "memory_reservation", "memory_swap"):
        return format_size(value)
    return str(value)


def _pairs_diff(
    path: str, before: Pairs, after: Pairs, masked: Callable[[str], bool]
) -> list[FieldDiff]:
    old, new = dict(before), dict(after)
    diffs = []
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) != new.get(key):
            hide = masked(key)
            show_old = MASK if hide and key in old else old.get(key)
            show_new = MASK if hide and key in new else new.get(key)
            diffs.append(FieldDiff(f"{path}.{key}", show_old, show_new, path in IN_PLACE_FIELDS))
    return diffs


def _set_diff(
    path: str, before: Iterable[T], after: Iterable[T], fmt: Callable[[T], str]
) -> list[FieldDiff]:
    old, new = set(before), set(after)
    in_place = path in IN_PLACE_FIELDS
    removed = [FieldDiff(path, fmt(x), None, in_place) for x in old - new]
    added = [FieldDiff(path, None, fmt(x), in_place) for x in new - old]
    return sorted(removed + added, key=lambda d: d.before or d.after or "")


_SCALARS = (
    ("image", "image"),
    ("command", "entrypoint"),
    ("args", "cmd"),
    ("user", "user"),
    ("workingDir", "working_dir"),
    ("privileged", "privileged"),
    ("readOnlyRootFilesystem", "read_only_rootfs"),
    ("networkMode", "network_mode"),
    ("pidMode", "pid_mode"),
    ("ipcMode", "ipc_mode"),
    ("utsMode", "uts_mode"),
    ("usernsMode", "userns_mode"),
    ("cgroupnsMode", "cgroupns_mode"),
    ("restartPolicy", "restart_policy"),
    ("stopSignal", "stop_signal"),
    ("stopGracePeriod", "stop_timeout"),
    ("init", "init"),
    ("tty", "tty"),
    ("platform", "platform"),
)
_STRING_SETS = (
    ("extraHosts", "extra_hosts"),
    ("deviceCgroupRules", "device_cgroup_rules"),
    ("groupAdd", "group_add"),
    ("capabilities.add", "cap_add"),
    ("capabilities.drop", "cap_drop"),
    ("securityOpt", "security_opt"),
)


def _options_diff(
    want: ContainerConfig, have: ContainerConfig, defaults: Mapping[str, Any]
) -> list[FieldDiff]:
    """The table-driven fields: an unset field takes the Engine's default (``defaults``,
    from its info) when it has one; an ``ignored`` field is compared only when written."""
    wanted, held = dict(want.options), dict(have.options)
    diffs = []
    for entry in container_table().driven:
        shape, path = entry.engine.shape, entry.path
        assert shape is not None
        if entry.engine.unset == "ignored" and path not in wanted:
            continue
        new = wanted.get(path, defaults.get(path))
        old = held.get(path, defaults.get(path))
        if old != new:
            diffs.append(
                FieldDiff(
                    path,
                    shape.show(old) if old is not None else None,
                    shape.show(new) if new is not None else None,
                    # Lifting a setting in place reads as "leave unchanged" to the Engine.
                    entry.engine.in_place and new is not None,
                )
            )
    return diffs


def content_pairs(content: str | None) -> dict[str, str]:
    """``target=digest;...`` (``ContainerConfig.content``) as a mapping."""
    pairs = (item.partition("=") for item in (content or "").split(";") if item)
    return {target: digest for target, _, digest in pairs}


def _content_diff(want: ContainerConfig, have: ContainerConfig) -> list[FieldDiff]:
    """Configuration binds whose content changed, each named by where it is mounted."""
    old, new = content_pairs(have.content), content_pairs(want.content)
    sources = {m.target: m.source for m in want.mounts}
    return [
        FieldDiff(
            f"mounts[{target}].content",
            old.get(target),
            f"{new[target]} ({sources.get(target, '?')} changed)" if target in new else None,
        )
        for target in sorted(old.keys() | new.keys())
        if old.get(target) != new.get(target)
    ]


def compare(
    want: ContainerConfig,
    have: ContainerConfig,
    secret_env: frozenset[str] = frozenset(),
    defaults: Mapping[str, Any] | None = None,
) -> tuple[FieldDiff, ...]:
    """Every difference between the effective desired config and the observed one
    (``defaults``: what the Engine gives a table-driven field left out, by path)."""
    diffs: list[FieldDiff] = _options_diff(want, have, defaults or {})
    for path, attr in _SCALARS:
        old, new = getattr(have, attr), getattr(want, attr)
        if old != new:
            diffs.append(
                FieldDiff(path, _fmt_scalar(old), _fmt_scalar(new), path in IN_PLACE_FIELDS)
            )
    if want.hostname is not None and want.hostname != have.hostname:
        diffs.append(FieldDiff("hostname", have.hostname, want.hostname))
    if want.healthcheck != have.healthcheck:
        diffs.append(
            FieldDiff("healthcheck", _fmt_health(have.healthcheck), _fmt_health(want.healthcheck))
        )
    if want.gpus != have.gpus:
        diffs.append(FieldDiff("gpus", _fmt_gpus(have.gpus), _fmt_gpus(want.gpus)))
    for f in dataclasses.fields(ResourceConfig):
        old_v, new_v = getattr(have.resources, f.name), getattr(want.resources, f.name)
        if old_v != new_v:
            path = RESOURCE_PATHS[f.name]
            diffs.append(
                FieldDiff(
                    path,
                    _fmt_resource(f.name, old_v),
                    _fmt_resource(f.name, new_v),
                    not (new_v == 0 and f.name in _NOT_LIFTABLE),
                )
            )
    diffs += _content_diff(want, have)
    diffs += _pairs_diff("env", have.env, want.env, lambda k: k in secret_env)
    diffs += _pairs_diff("labels", have.labels, want.labels, lambda _k: False)
    diffs += _pairs_diff("sysctls", have.sysctls, want.sysctls, lambda _k: False)
    for path, attr in _STRING_SETS:
        diffs += _set_diff(path, getattr(have, attr), getattr(want, attr), str)
    diffs += _set_diff("ports", have.ports, want.ports, _fmt_port)
    diffs += _set_diff("mounts", have.mounts, want.mounts, _fmt_mount)
    diffs += _set_diff("devices", have.devices, want.devices, _fmt_device)
    network_diffs = _set_diff("networks", have.networks, want.networks, _fmt_network)
    held_macs = {n.name: n.mac_address for n in have.networks}
    if any(n.mac_address != held_macs.get(n.name, n.mac_address) for n in want.networks):
        # A network is joined in place, but before API 1.44 only the create sets a MAC address.
        network_diffs = [dataclasses.replace(d, in_place=False) for d in network_diffs]
    diffs += network_diffs
    return tuple(diffs)
