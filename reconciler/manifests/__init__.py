"""Pydantic models of the manifest language, one per kind (the ``manifests`` stage)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, TypeAdapter

from reconciler.manifests.container import ContainerManifest
from reconciler.manifests.storage import NetworkManifest, VolumeManifest

Manifest = ContainerManifest | VolumeManifest | NetworkManifest
KINDS: dict[str, type[Manifest]] = {
    "Container": ContainerManifest,
    "Volume": VolumeManifest,
    "Network": NetworkManifest,
}

ANY_MANIFEST: TypeAdapter[Manifest] = TypeAdapter(Annotated[Manifest, Field(discriminator="kind")])

__all__ = [
    "ANY_MANIFEST",
    "KINDS",
    "ContainerManifest",
    "Manifest",
    "NetworkManifest",
    "VolumeManifest",
]
