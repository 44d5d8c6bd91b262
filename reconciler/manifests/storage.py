"""The ``Volume`` and ``Network`` kinds."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from reconciler.manifests.common import Metadata, Strict


class VolumeSpec(Strict):
    """A named volume. ``Retain`` (the default) means reconcile never deletes it or its data."""

    driver: str = Field(default="local", min_length=1)
    driver_opts: dict[str, str] = Field(default_factory=dict)
    deletion_policy: Literal["Retain", "Delete"] = "Retain"


class VolumeManifest(Strict):
    """A ``Volume`` document."""

    api_version: Literal["reconcile/v1"]
    kind: Literal["Volume"]
    metadata: Metadata
    spec: VolumeSpec = Field(default_factory=VolumeSpec)


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

    driver: str = Field(default="bridge", min_length=1)
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = Field(default=False, alias="enableIPv6")
    driver_opts: dict[str, str] = Field(default_factory=dict)
    subnets: list[Subnet] = Field(default_factory=list)


class NetworkManifest(Strict):
    """A ``Network`` document."""

    api_version: Literal["reconcile/v1"]
    kind: Literal["Network"]
    metadata: Metadata
    spec: NetworkSpec = Field(default_factory=NetworkSpec)
