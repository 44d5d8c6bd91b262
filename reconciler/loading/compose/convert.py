"""A compose project's canonical model -> our manifest documents, with their origins.

Names follow compose's, so a project converges to what ``docker compose up`` would make:
containers ``PROJECT-SERVICE-N`` (or ``container_name``), volumes and networks ``PROJECT_KEY``
(or their ``name``), the ``default`` network when a service uses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.loading.compose import keys
from reconciler.loading.compose.service import map_service
from reconciler.loading.compose.types import ComposePath, Context

API_VERSION = "reconcile/v1"


@dataclass(frozen=True)
class Converted:
    """One manifest document and, per top-level key path of ours, the compose key it came
    from (``origin`` is where the document itself is said to be)."""

    document: dict[str, Any]
    origin: ComposePath
    origins: Mapping[tuple[str, ...], ComposePath] = field(default_factory=dict)


@dataclass
class Conversion:
    """Every document of a project, and what could not be converted."""

    project: str
    documents: list[Converted] = field(default_factory=list)
    problems: list[tuple[ComposePath, str]] = field(default_factory=list)


def _replicas(service: Mapping[str, Any]) -> int:
    deploy = service.get("deploy") or {}
    if deploy.get("replicas") is not None:
        return int(deploy["replicas"])
    if service.get("scale") is not None:
        return int(service["scale"])
    return 1


def container_names(project: str, services: Mapping[str, Any]) -> dict[str, list[str]]:
    """Each service's container names, as compose names them."""
    names = {}
    for key, service in services.items():
        if service.get("container_name"):
            names[key] = [str(service["container_name"])]
        else:
            names[key] = [f"{project}-{key}-{n}" for n in range(1, _replicas(service) + 1)]
    return names


def _unknown(table: Mapping[str, Any], body: Mapping[str, Any], at: ComposePath) -> list[Any]:
    found = []
    for key in body:
        status = table.get(key, ("refused", "not a compose key reconcile knows"))
        if status[0] == "refused" and not key.startswith("x-"):
            found.append(((*at, key), f"{key}: {status[1]}"))
    return found


def convert(
    model: Mapping[str, Any], env_files: Mapping[str, list[dict[str, Any]]] | None = None
) -> Conversion:
    """The documents of a canonical compose model. ``env_files``: the env files each service
    names (compose has merged their values into ``environment``): they become ``envFiles``
    too, so that the host-access policy judges the host files read into a container."""
    project = str(model.get("name") or "default")
    out = Conversion(project)
    env_files = env_files or {}
    services: Mapping[str, Any] = model.get("services") or {}
    names = container_names(project, services)
    out.problems += _unknown(keys.TOP, model, ())
    volumes = {
        k: str((v or {}).get("name") or f"{project}_{k}")
        for k, v in (model.get("volumes") or {}).items()
    }
    networks = {
        k: str((v or {}).get("name") or f"{project}_{k}")
        for k, v in (model.get("networks") or {}).items()
    }
    used_networks: set[str] = set()
    placement = _top_placement(model, out)
    for key, service in sorted(services.items()):
        ctx = Context(
            name=key,
            volumes=volumes,
            networks=networks,
            secrets=model.get("secrets") or {},
            configs=model.get("configs") or {},
            containers=lambda s: names.get(s, []),
            project=project,
        )
        mapped = map_service(service, ctx)
        out.problems += mapped.problems
        if service.get("container_name") and _replicas(service) > 1:
            out.problems.append(
                (
                    ("services", key, "container_name"),
                    "container_name cannot be used with more than one replica",
                )
            )
        if not service.get("network_mode"):
            used_networks.update((service.get("networks") or {"default": None}).keys())
        origins: dict[tuple[str, ...], ComposePath] = {
            ("spec", k): v for k, v in mapped.origins.items()
        }
        if "image" not in mapped.spec:
            continue  # said once, above: no document whose every other problem is this one
        own = (service.get("x-reconcile") or {}).get("placement")
        where = placement if own is None else (own, ("services", key, "x-reconcile", "placement"))
        for name in names[key]:
            metadata: dict[str, Any] = {"name": name}
            if where is not None:
                metadata["placement"] = where[0]
                origins[("metadata", "placement")] = where[1]
            if mapped.labels:
                metadata["labels"] = mapped.labels
                origins[("metadata", "labels")] = ("services", key, "labels")
            out.documents.append(
                Converted(
                    {
                        "apiVersion": API_VERSION,
                        "kind": "Container",
                        "metadata": metadata,
                        "spec": {
                            **mapped.spec,
                            **({"envFiles": env_files[key]} if env_files.get(key) else {}),
                        },
                    },
                    ("services", key),
                    origins,
                )
            )
    for key, volume in sorted((model.get("volumes") or {}).items()):
        out.problems += _unknown(keys.VOLUME, volume or {}, ("volumes", key))
        out.documents.append(_placed(_volume(key, volumes[key], volume or {}, out), placement))
    for key, network in sorted((model.get("networks") or {}).items()):
        if key not in used_networks:
            continue
        out.problems += _unknown(keys.NETWORK, network or {}, ("networks", key))
        out.documents.append(_placed(_network(key, networks[key], network or {}, out), placement))
    return out


Placed = tuple[Any, ComposePath] | None


def _top_placement(model: Mapping[str, Any], out: Conversion) -> Placed:
    """The project's ``x-reconcile: {placement: ...}``, and where it was written: the
    placement of every resource of the project, unless a service has its own."""
    extension = model.get("x-reconcile") or {}
    for option in extension:
        if option != "placement":
            out.problems.append(
                (("x-reconcile", option), f"x-reconcile: unknown key {option!r}; known: placement")
            )
    if extension.get("placement") is None:
        return None
    return extension["placement"], ("x-reconcile", "placement")


def _placed(converted: Converted, placement: Placed) -> Converted:
    """A volume or network of the project, with the project's placement."""
    if placement is None:
        return converted
    document = dict(converted.document)
    document["metadata"] = {**document["metadata"], "placement": placement[0]}
    origins = {**converted.origins, ("metadata", "placement"): placement[1]}
    return Converted(document, converted.origin, origins)


def _labels(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"labels": dict(body["labels"])} if body.get("labels") else {}


def _volume(key: str, name: str, body: Mapping[str, Any], out: Conversion) -> Converted:
    at: ComposePath = ("volumes", key)
    if body.get("external"):
        spec: dict[str, Any] = {"external": True}
        metadata: dict[str, Any] = {"name": name}
    else:
        spec = {}
        if body.get("driver"):
            spec["driver"] = body["driver"]
        if body.get("driver_opts"):
            spec["driverOpts"] = {k: str(v) for k, v in body["driver_opts"].items()}
        extension = body.get("x-reconcile") or {}
        for option, value in extension.items():
            if option == "deletionPolicy":
                spec["deletionPolicy"] = value
            else:
                out.problems.append(
                    (
                        (*at, "x-reconcile", option),
                        f"x-reconcile: unknown key {option!r}; known: deletionPolicy",
                    )
                )
        metadata = {"name": name, **_labels(body)}
    document = {"apiVersion": API_VERSION, "kind": "Volume", "metadata": metadata, "spec": spec}
    return Converted(document, at, {("spec",): at, ("metadata", "labels"): (*at, "labels")})


def _network(key: str, name: str, body: Mapping[str, Any], out: Conversion) -> Converted:
    at: ComposePath = ("networks", key)
    if body.get("external"):
        spec: dict[str, Any] = {"external": True}
        metadata: dict[str, Any] = {"name": name}
    else:
        spec = {}
        for ours, theirs in (
            ("driver", "driver"),
            ("internal", "internal"),
            ("attachable", "attachable"),
            ("enableIPv6", "enable_ipv6"),
        ):
            if body.get(theirs):
                spec[ours] = body[theirs]
        if body.get("driver_opts"):
            spec["driverOpts"] = {k: str(v) for k, v in body["driver_opts"].items()}
        ipam = body.get("ipam") or {}
        if ipam.get("driver") not in (None, "", "default"):
            out.problems.append(
                ((*at, "ipam", "driver"), "only the default IPAM driver is supported")
            )
        subnets = []
        for pool in ipam.get("config") or ():
            subnet = {"subnet": pool.get("subnet")}
            if pool.get("gateway"):
                subnet["gateway"] = pool["gateway"]
            if pool.get("ip_range"):
                subnet["ipRange"] = pool["ip_range"]
            subnets.append(subnet)
        if subnets:
            spec["subnets"] = subnets
        metadata = {"name": name, **_labels(body)}
    document = {"apiVersion": API_VERSION, "kind": "Network", "metadata": metadata, "spec": spec}
    return Converted(document, at, {("spec",): at, ("metadata", "labels"): (*at, "labels")})
