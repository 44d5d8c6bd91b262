"""A compose service's storage -> our ``mounts``: its volumes (named, anonymous, binds,
tmpfs), its ``tmpfs`` list, and its file-based secrets and configs as read-only binds."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reconciler.loading.compose.types import ComposePath, Context, Mapped

_SIZE_RE = re.compile(r"^([0-9]+)([kKmMgG]?)[bB]?$")


def _bytes(value: Any) -> Any:
    """Compose prints sizes as byte counts in strings; our sizes take the integer."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def _tmpfs_entry(text: str) -> dict[str, Any]:
    target, _, options = text.partition(":")
    mount: dict[str, Any] = {"type": "tmpfs", "target": target}
    flags = []
    for option in filter(None, options.split(",")):
        key, _, value = option.partition("=")
        match = _SIZE_RE.match(value)
        if key == "size" and match:
            mount["sizeBytes"] = int(match.group(1)) * 1024 ** " kmg".index(
                match.group(2).lower() or " "
            )
        elif key == "mode":
            mount["mode"] = value
        elif key not in ("rw",):
            flags.append(option)
    if flags:
        mount["options"] = flags
    return mount


def mounts(service: Mapping[str, Any], ctx: Context, out: Mapped, at: ComposePath) -> None:
    mounts: list[dict[str, Any]] = []
    for index, volume in enumerate(service.get("volumes") or ()):
        kind = volume.get("type")
        item: dict[str, Any] = {"type": kind, "target": volume.get("target")}
        if volume.get("read_only"):
            item["readOnly"] = True
        if kind == "volume":
            source = volume.get("source")
            if source:
                item["source"] = ctx.volumes.get(source, source)
            if (volume.get("volume") or {}).get("nocopy"):
                item["noCopy"] = True
            if (volume.get("volume") or {}).get("subpath"):
                out.problems.append(
                    ((*at, "volumes", index), "volume subpath is not supported yet")
                )
        elif kind == "bind":
            item["source"] = volume.get("source")
            bind = volume.get("bind") or {}
            if bind.get("propagation"):
                item["propagation"] = bind["propagation"]
            if bind.get("selinux"):
                item["selinux"] = bind["selinux"]
            if bind.get("create_host_path"):
                item["createHostPath"] = True
        elif kind == "tmpfs":
            tmpfs = volume.get("tmpfs") or {}
            if tmpfs.get("size"):
                item["sizeBytes"] = _bytes(tmpfs["size"])
            if tmpfs.get("mode") is not None:
                item["mode"] = format(int(tmpfs["mode"]), "o")
        else:
            out.problems.append(
                ((*at, "volumes", index), f"volumes of type {kind!r} are not supported")
            )
            continue
        mounts.append(item)
    mounts += [_tmpfs_entry(str(t)) for t in service.get("tmpfs") or ()]
    for kind, root in (("secrets", "/run/secrets/"), ("configs", "/")):
        top = ctx.secrets if kind == "secrets" else ctx.configs
        for index, ref in enumerate(service.get(kind) or ()):
            name = ref.get("source")
            found = top.get(name) or {}
            target = ref.get("target") or f"{root}{name}"
            if not target.startswith("/"):
                target = root + target
            if kind == "configs" and found.get("content") is not None:
                # A file of reconcile's store with that content (a config is no secret).
                secrets = out.spec.setdefault("secrets", [])
                secrets.append({"name": name, "content": str(found["content"]), "target": target})
                out.origins.setdefault("secrets", (*at, "configs"))
                continue
            if not found.get("file"):
                why = (
                    "an environment secret would put its value in the manifests and their "
                    "history: write it to a file (SOPS- or age-encrypted) and use file"
                    if kind == "secrets"
                    else "only file and content configs are supported"
                )
                out.problems.append(((*at, kind, index), f"{kind[:-1]} {name!r}: {why}"))
                continue
            if kind == "secrets":
                # Ours: decrypted when SOPS or age encrypted, from the root-only store.
                secrets = out.spec.setdefault("secrets", [])
                secrets.append({"name": name, "file": found["file"], "target": target})
                out.origins.setdefault("secrets", (*at, "secrets"))
            else:
                mounts.append(
                    {"type": "bind", "source": found["file"], "target": target, "readOnly": True}
                )
    if mounts:
        out.spec["mounts"] = mounts
        out.origins["mounts"] = (*at, "volumes" if "volumes" in service else "tmpfs")
