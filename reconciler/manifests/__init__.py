"""Pydantic models of the manifest language, one per kind (the ``manifests`` stage)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated

from reconciler.manifests.container import ContainerManifest
from reconciler.manifests.storage import NetworkManifest, VolumeManifest

Manifest = ContainerManifest | VolumeManifest | NetworkManifest
KINDS: dict[str, type[Manifest]] = {
    "Container": ContainerManifest,
    "Volume": VolumeManifest,
    "Network": NetworkManifest,
}

if TYPE_CHECKING:
    from pydantic import TypeAdapter


@cache
def any_manifest() -> TypeAdapter[Manifest]:
    """A validator for a manifest of any kind (chosen by ``kind``), built on first use."""
    from pydantic import Field, TypeAdapter

    return TypeAdapter(Annotated[Manifest, Field(discriminator="kind")])


__all__ = [
    "KINDS",
    "ContainerManifest",
    "Manifest",
    "NetworkManifest",
    "VolumeManifest",
    "any_manifest",
]
