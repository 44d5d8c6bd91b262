"""The ``Volume`` and ``Network`` kinds."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from reconciler.manifests.common import Strict
from reconciler.manifests.metadata import Metadata

_EXTERNAL = (
    "a reference to an existing {kind} made elsewhere (by its exact Engine name): reconcile "
    "never creates, changes, labels or removes it, and every other spec field is refused"
)


# The same rules for editors (JSON Schema): an external spec holds nothing else, and an
# external resource has no labels.
_SPEC_ALONE = ConfigDict(
    json_schema_extra={
        "if": {"properties": {"external": {"const": True}}, "required": ["external"]},
        "then": {"maxProperties": 1},
    }
)
_UNLABELLED = ConfigDict(
    json_schema_extra={
        "if": {
            "properties": {
                "spec": {"properties": {"external": {"const": True}}, "required": ["external"]}
            },
            "required": ["spec"],
        },
        "then": {"properties": {"metadata": {"properties": {"labels": {"maxProperties": 0}}}}},
    }
)


def _alone(spec: Strict, kind: str) -> None:
    """Refuse the fields an external resource may not set (an ``external_field`` error at the
    first of them, naming them all)."""
    given = [
        info.alias or name
        for name, info in type(spec).model_fields.items()
        if name != "external" and name in spec.model_fields_set
    ]
    if given:
        raise PydanticCustomError(
            "external_field",
            "{fields} cannot be set on an external {kind}: it is made elsewhere and reconcile "
            "never creates or changes it; remove {them}, or remove external: true to have "
            "reconcile create and manage the {kind}",
            {
                "fields": ", ".join(given),
                "kind": kind,
                "them": "it" if len(given) == 1 else "them",
                "field": given[0],
            },
        )


def _unlabelled(metadata: Metadata, kind: str) -> None:
    """Refuse labels on an external resource: they would never be written."""
    if metadata.labels:
        raise PydanticCustomError(
            "external_field",
            "labels cannot be set on an external {kind}: reconcile never writes to it, so its "
            "labels are whatever its owner gave it; remove metadata.labels",
            {"kind": kind, "field": "metadata.labels"},
        )


class VolumeSpec(Strict):
    """A named volume. ``Retain`` (the default) means reconcile never deletes it or its data."""

    model_config = _SPEC_ALONE
    external: bool = Field(default=False, description=_EXTERNAL.format(kind="volume"))
    driver: str = Field(default="local", min_length=1)
    driver_opts: dict[str, str] = Field(default_factory=dict)
    deletion_policy: Literal["Retain", "Delete"] = "Retain"

    @model_validator(mode="after")
    def _external_alone(self) -> VolumeSpec:
        if self.external:
            _alone(self, "volume")
        return self


class VolumeManifest(Strict):
    """A ``Volume`` document."""

    model_config = _UNLABELLED
    api_version: Literal["reconcile/v1"]
    kind: Literal["Volume"]
    metadata: Metadata
    spec: VolumeSpec = Field(default_factory=VolumeSpec)

    @model_validator(mode="after")
    def _external_unlabelled(self) -> VolumeManifest:
        if self.spec.external:
            _unlabelled(self.metadata, "volume")
        return self


def _check_subnet(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError:
        raise PydanticCustomError(
            "invalid_subnet", "{v} is not a subnet in CIDR form (10.1.0.0/24)", {"v": repr(value)}
        ) from None


def _check_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise PydanticCustomError(
            "invalid_ip", "{ip} is not an IP address", {"ip": repr(value)}
        ) from None


class Subnet(Strict):
    """One IPAM pool of a network."""

    subnet: Annotated[str, AfterValidator(_check_subnet)]
    gateway: Annotated[str, AfterValidator(_check_ip)] | None = None
    ip_range: Annotated[str, AfterValidator(_check_subnet)] | None = None


class NetworkSpec(Strict):
    """A user-defined network; containers on it find each other by name and alias."""

    model_config = _SPEC_ALONE
    external: bool = Field(default=False, description=_EXTERNAL.format(kind="network"))
    driver: str = Field(default="bridge", min_length=1)
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = Field(default=False, alias="enableIPv6")
    driver_opts: dict[str, str] = Field(default_factory=dict)
    subnets: list[Subnet] = Field(default_factory=list)

    @model_validator(mode="after")
    def _external_alone(self) -> NetworkSpec:
        if self.external:
            _alone(self, "network")
        return self


class NetworkManifest(Strict):
    """A ``Network`` document."""

    model_config = _UNLABELLED
    api_version: Literal["reconcile/v1"]
    kind: Literal["Network"]
    metadata: Metadata
    spec: NetworkSpec = Field(default_factory=NetworkSpec)

    @model_validator(mode="after")
    def _external_unlabelled(self) -> NetworkManifest:
        if self.spec.external:
            _unlabelled(self.metadata, "network")
        return self
