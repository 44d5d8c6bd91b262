"""Pure helpers of ``observe`` and ``events``: choosing what to inspect from list output,
and turning list/event JSON into the project's values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from typing import Any

from reconciler.manifests import constants
from reconciler.runtime.base import EngineEvent, ObserveRequest
from reconciler.runtime.docker import normalize
from reconciler.runtime.docker.normalize import Json
from reconciler.values.configs import NetworkConfig, SubnetConfig, VolumeConfig
from reconciler.values.observed import ImageInfo, ObservedNetwork, ObservedVolume

REGISTRY_FAILURES = (
    "not found",
    "manifest unknown",
    "pull access denied",
    "repository does not exist",
    "no such host",
    "connection refused",
    "dial tcp",
    "i/o timeout",
    "tls handshake timeout",
    "no route to host",
    "network is unreachable",
)


def list_name(listed: Mapping[str, Any]) -> str:
    # Names also holds legacy link aliases ("/other/alias"); the container's own has one slash.
    names = [str(n).lstrip("/") for n in listed.get("Names") or ()]
    own = [n for n in names if "/" not in n]
    return (own or names or [str(listed.get("Id", ""))])[0]


def wanted(listed: Mapping[str, Any], request: ObserveRequest) -> bool:
    labels = listed.get("Labels") or {}
    if labels.get(constants.LABEL_PROJECT) == request.project:
        return True
    name = list_name(listed)
    base = name.removesuffix(constants.REPLACEMENT_SUFFIX)
    return name in request.container_names or base in request.container_names


def fingerprint(listed: Mapping[str, Any]) -> tuple[str, ...]:
    """What the container list says that inspect would also change with: name, state, health
    (the "(healthy)" part of Status), image and creation time. Uptime text is left out."""
    status = str(listed.get("Status") or "")
    health = status[status.rfind("(") :] if status.endswith(")") else ""
    return (
        list_name(listed),
        str(listed.get("State") or ""),
        health,
        str(listed.get("ImageID") or ""),
        str(listed.get("Created") or ""),
    )


def _owned_or_named(raw: Mapping[str, Any], names: frozenset[str], project: str) -> bool:
    labels = raw.get("Labels") or {}
    return raw.get("Name") in names or labels.get(constants.LABEL_PROJECT) == project


def select_volumes(
    listed: list[dict[str, Any]], request: ObserveRequest
) -> dict[str, ObservedVolume]:
    return {
        v["Name"]: observed_volume(v)
        for v in listed
        if _owned_or_named(v, request.volume_names, request.project)
    }


def select_networks(
    listed: list[dict[str, Any]], containers: list[dict[str, Any]], request: ObserveRequest
) -> dict[str, ObservedNetwork]:
    # The container list carries each container's configured networks (running or not), so
    # no network inspect is needed; 20.10's network list has no containers.
    members: dict[str, list[str]] = {}
    for container in containers:
        attached = (container.get("NetworkSettings") or {}).get("Networks") or {}
        for network in attached:
            members.setdefault(network, []).append(list_name(container))
    return {
        n["Name"]: observed_network(n, members.get(n["Name"], ()))
        for n in listed
        if _owned_or_named(n, request.network_names, request.project)
    }


def images_by_ref(futures: Mapping[str, Future[ImageInfo | None]]) -> dict[str, ImageInfo | None]:
    images: dict[str, ImageInfo | None] = {}
    by_id: dict[str, ImageInfo] = {}
    for ref, future in sorted(futures.items()):
        info = future.result()
        # Refs naming one image share one ImageInfo value.
        images[ref] = None if info is None else by_id.setdefault(info.id, info)
    return images


def engine_event(raw: Mapping[str, Any]) -> EngineEvent:
    actor = raw.get("Actor") or {}
    attributes = {str(k): str(v) for k, v in (actor.get("Attributes") or {}).items()}
    return EngineEvent(
        type=str(raw.get("Type") or ""),
        action=str(raw.get("Action") or raw.get("status") or ""),
        name=attributes.get("name") or str(actor.get("ID") or ""),
        project=attributes.get(constants.LABEL_PROJECT),
        attributes=attributes,
        time_nano=int(raw.get("timeNano") or 0),
    )


def pull_failure(item: Any) -> str:
    """The error a pull progress object reports ("" for progress)."""
    if not isinstance(item, Mapping):
        return ""
    detail = item.get("errorDetail")
    nested = detail.get("message") if isinstance(detail, Mapping) else None
    return str(item.get("error") or nested or "")


def registry_failure(message: str) -> bool:
    lowered = message.lower()
    return any(marker in lowered for marker in REGISTRY_FAILURES)


def observed_volume(raw: Json) -> ObservedVolume:
    """A volume from the volume list (which holds everything inspect would)."""
    labels = raw.get("Labels") or {}
    return ObservedVolume(
        name=raw["Name"],
        ownership=normalize.ownership(labels),
        config=VolumeConfig(
            driver=raw.get("Driver") or "local",
            driver_opts=tuple(sorted((raw.get("Options") or {}).items())),
            labels=normalize.user_labels(labels),
        ),
        mountpoint=raw.get("Mountpoint") or "",
    )


def observed_network(raw: Json, containers: Iterable[str]) -> ObservedNetwork:
    """A network from the network list; ``containers`` come from the container list.

    Subnets are what the Engine reports, including pools it picked itself."""
    labels = raw.get("Labels") or {}
    ipam: Json = raw.get("IPAM") or {}
    return ObservedNetwork(
        id=raw.get("Id") or "",
        name=raw["Name"],
        ownership=normalize.ownership(labels),
        config=NetworkConfig(
            driver=raw.get("Driver") or "bridge",
            internal=bool(raw.get("Internal")),
            attachable=bool(raw.get("Attachable")),
            enable_ipv6=bool(raw.get("EnableIPv6")),
            driver_opts=tuple(sorted((raw.get("Options") or {}).items())),
            subnets=tuple(
                sorted(
                    SubnetConfig(
                        subnet=pool.get("Subnet") or "",
                        gateway=pool.get("Gateway") or None,
                        ip_range=pool.get("IPRange") or None,
                    )
                    for pool in ipam.get("Config") or ()
                )
            ),
            labels=normalize.user_labels(labels),
        ),
        containers=tuple(sorted(set(containers))),
    )
