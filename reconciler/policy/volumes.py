"""Named volumes of the local driver, judged by what their options make the Engine mount.

The local driver knows four options (moby volume/local/local_unix.go): ``type``, ``o`` and
``device`` become mount(2)'s filesystem type, options and source, and ``size`` is a quota. The
Engine splits ``o`` at commas (moby/sys/mount): ``bind``/``rbind`` make the mount a bind of
``device`` (type and the other options are then ignored); the rest goes to the filesystem,
where some options name host paths (overlayfs' ``lowerdir``, ``upperdir``, ``workdir``; a
journal or log device of ext4 or xfs). A volume is judged by what it mounts:

- the mount type must be one of a short list; ``proc``, ``sysfs`` and the like would give the
  container the host's own kernel state, since the Engine mounts them in its own namespaces;
- every host path it names is judged as a bind source (``binds.judge``), or as a device when
  it is under /dev (``devices.judge_device``), for every container that mounts it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from reconciler.loading.results import LoadedManifest
from reconciler.manifests import VolumeManifest
from reconciler.policy import binds
from reconciler.policy.devices import DEVICES, judge_device
from reconciler.policy.model import Policy
from reconciler.policy.paths import HostFS
from reconciler.policy.rules import Finding

OPTIONS = "baseline/volume-options"

_KNOWN_KEYS = ("device", "o", "size", "type")
_BIND_FLAGS = frozenset({"bind", "rbind"})
# The allowed mount types, by what their device is: nothing of the host (tmpfs: memory), a
# share on another machine, a block device, or (overlay) none, its layers being options.
_MEMORY = frozenset({"tmpfs"})
_REMOTE = frozenset({"nfs", "nfs4", "cifs", "smb3"})
_BLOCK = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs"})
_OVERLAY = "overlay"
_ALLOWED_TYPES = tuple(sorted(_MEMORY | _REMOTE | _BLOCK | {_OVERLAY}))
# overlayfs options that name host directories, by layer: lower layers (data-only ones too)
# are never written; the upper layer takes the container's writes; workdir is written when
# the overlay is mounted, whatever the container does.
_OVERLAY_DIRS: dict[str, Literal["lower", "upper", "work"]] = {
    "lowerdir": "lower",
    "lowerdir+": "lower",
    "datadir+": "lower",
    "upperdir": "upper",
    "workdir": "work",
}
# What some refused types would hand the container, for the message.
_EXPOSES = {
    "proc": "every process of the host",
    "sysfs": "the host's /sys, writable",
    "devtmpfs": "the host's device nodes",
    "devpts": "the host's terminals",
    "cgroup": "the host's cgroup tree, writable",
    "cgroup2": "the host's cgroup tree, writable",
    "ramfs": "host memory without a size limit",
}


@dataclass(frozen=True)
class HostPath:
    """A host path a volume mounts, as a bind source or (under /dev) a block device."""

    kind: Literal["bind", "device"]
    path: str
    key: str  # the driver option that names it: device or o
    read_only: bool  # never written through this volume
    follows_mount: bool  # read-only too when the container mounts the volume read-only
    what: str  # "is a bind" or "is an overlay", for messages

    def is_read_only(self, mount_read_only: bool) -> bool:
        """Whether the path stays unwritten when a container mounts the volume so."""
        return self.read_only or (self.follows_mount and mount_read_only)


@dataclass(frozen=True)
class LocalVolume:
    """What a local-driver volume's options mean: refused options (driver option, message)
    and the host paths it mounts."""

    refusals: tuple[tuple[str, str], ...] = ()
    paths: tuple[HostPath, ...] = ()


def analyse(opts: Mapping[str, str]) -> LocalVolume:
    """Read a local-driver volume's options (see the module docstring)."""
    refusals = [
        (k, f"driver option {k} is not one the local driver knows ({', '.join(_KNOWN_KEYS)})")
        for k in sorted(opts)
        if k not in _KNOWN_KEYS
    ]
    raw = opts.get("o", "").split(",")
    # Blanks around an option could only hide a flag from the checks below, so they are
    # ignored, except for read-only: the Engine takes " ro" for filesystem data, not the flag.
    items = [i.strip() for i in raw if i.strip()]
    # As the Engine reads the flags (moby/sys/mount), the last of ro and rw wins.
    read_only = next((i == "ro" for i in reversed(raw) if i in ("ro", "rw")), False)
    device = opts.get("device", "")
    fstype = opts.get("type", "")
    paths: list[HostPath] = []
    bind = bool(_BIND_FLAGS & set(items))
    if bind:
        if device.startswith("/"):
            paths.append(HostPath("bind", device, "device", read_only, True, "is a bind"))
        else:
            refusals.append(("device", f"a bind needs an absolute device path, not {device!r}"))
    elif fstype and fstype not in _ALLOWED_TYPES:
        exposes = f": it would mount {_EXPOSES[fstype]}" if fstype in _EXPOSES else ""
        refusals.append(
            (
                "type",
                f"mount type {fstype} is not allowed (allowed: {', '.join(_ALLOWED_TYPES)}, or "
                f"o=bind){exposes}",
            )
        )
    elif device and not fstype:
        refusals.append(("device", "a device needs a type (the local driver refuses it)"))
    elif fstype in _BLOCK:
        if device.startswith("/"):
            paths.append(HostPath(_kind(device), device, "device", read_only, True, "is a bind"))
        else:
            refusals.append(("device", f"type {fstype} needs an absolute device path"))
    if not bind and (fstype == _OVERLAY or fstype in _BLOCK):
        for found in _named_paths(fstype, items, read_only):
            if isinstance(found, str):
                refusals.append(("o", found))
            else:
                paths.append(found)
    return LocalVolume(tuple(refusals), tuple(paths))


def _kind(path: str) -> Literal["bind", "device"]:
    """A path under /dev is judged as a block device; any other, to be safe, as a bind."""
    return "device" if path.startswith("/dev/") else "bind"


def _named_paths(fstype: str, items: list[str], read_only: bool) -> Iterator[HostPath | str]:
    """The host paths the filesystem options name (a str: why one is refused)."""
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            continue
        layer = _OVERLAY_DIRS.get(key) if fstype == _OVERLAY else None
        if layer is None:
            # Any other option whose value is an absolute path (a journal or log device).
            if value.startswith("/"):
                yield HostPath(_kind(value), value, "o", read_only, True, "is a bind")
            continue
        # overlayfs separates lower layers with ':' ('\:' escapes one; '::' marks data-only).
        for escaped in value.replace("\\:", "\0").split(":"):
            path = escaped.replace("\0", ":")
            if not path:
                continue
            if not path.startswith("/"):
                yield f"overlay directory {path!r} ({key}) must be an absolute path"
                continue
            yield HostPath(
                "bind", path, "o", read_only or layer == "lower", layer == "upper", "is an overlay"
            )


def _how(opts: Mapping[str, str]) -> str:
    """The options, for messages, with passwords (cifs) masked."""
    shown = dict(opts)
    if "o" in shown:
        shown["o"] = ",".join(
            f"{i.partition('=')[0]}=********" if "pass" in i.partition("=")[0] else i
            for i in shown["o"].split(",")
        )
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items()))


def mount_findings(
    path: tuple[str | int, ...] | None,
    driver: str,
    driver_opts: Mapping[str, str],
    read_only: bool,
    policy: Policy,
    fs: HostFS,
    *,
    prefix: str,
) -> Iterator[Finding]:
    """The host paths a volume (its ``driver`` and ``driver_opts``) mounts, judged as binds or
    devices; located at ``path``, or at the option naming each when None."""
    if driver != "local":
        return
    how = _how(driver_opts)
    for host in analyse(driver_opts).paths:
        where = path or ("spec", "driverOpts", host.key)
        ro = host.is_read_only(read_only)
        if host.kind == "device":
            reason = judge_device(host.path, "r" if ro else "rw", policy, fs)
            if reason is not None:
                yield Finding(DEVICES, where, f"{prefix} mounts a block device ({how}): {reason}")
            continue
        yield Finding(
            binds.RESTRICTED,
            where,
            f"{prefix} {host.what} of {host.path} ({how}); restricted allows no bind mounts",
        )
        real = fs.realpath(host.path)
        for message in binds.judge(host.path, real, ro, policy, fs):
            yield Finding(binds.BASELINE, where, f"{prefix} {host.what} ({how}): {message}")


def driver_findings(
    driver: str,
    driver_opts: Mapping[str, str],
    unmounted: bool,
    policy: Policy,
    fs: HostFS,
    *,
    at: tuple[str | int, ...] | None = None,
) -> Iterator[Finding]:
    """A volume's own findings: its driver, its options and, when no container of the set
    mounts it, the host paths it mounts (any other container on the host could mount it).
    Located at the field each comes from, or all at ``at`` (an external volume, judged by what
    the Engine has: its manifest has no driver fields)."""
    if driver not in policy.volume_drivers:
        yield Finding(
            "baseline/volume-drivers",
            at or ("spec", "driver"),
            f"volume driver {driver} is not allowed (allowed: "
            f"{', '.join(sorted(policy.volume_drivers))}); a driver can mount any host path",
        )
    if driver == "local":
        for key, message in analyse(driver_opts).refusals:
            yield Finding(OPTIONS, at or ("spec", "driverOpts", key), message)
    if unmounted:
        yield from mount_findings(at, driver, driver_opts, False, policy, fs, prefix="it")


def volume_findings(
    loaded: LoadedManifest, unmounted: bool, policy: Policy, fs: HostFS
) -> Iterator[Finding]:
    """A declared volume's own findings (``driver_findings`` of its spec)."""
    volume = loaded.manifest
    assert isinstance(volume, VolumeManifest)
    spec = volume.spec
    yield from driver_findings(spec.driver, spec.driver_opts, unmounted, policy, fs)
