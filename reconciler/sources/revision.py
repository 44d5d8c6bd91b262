"""A stored revision as a manifest source (``rollback``, and a pinned set in the loop).

A revision keeps its manifests as JSON documents; they are validated again when read back and
then go through the same pipeline as files: admitted by today's policy, planned, executed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence, Set

from reconciler.errors import Location
from reconciler.loading import LoadedManifest
from reconciler.manifests import ContainerManifest, any_manifest
from reconciler.manifests.images import UpdatePolicy
from reconciler.state.records import Revision

_LOCATION = re.compile(r"^(?P<file>.*?)(?::(?P<line>\d+))?(?::(?P<col>\d+))?$")


def manifests_of(revision: Revision) -> list[LoadedManifest]:
    """A revision's manifests, validated again, with their original locations."""
    loaded = []
    for doc in revision.documents:
        match = _LOCATION.match(str(doc.get("source", "")))
        location = Location(f"revision {revision.number}")
        if match:
            location = Location(
                match.group("file"), int(match.group("line") or 0), int(match.group("col") or 0)
            )
        loaded.append(LoadedManifest(any_manifest().validate_python(doc["manifest"]), location))
    return loaded


def pin_images(
    manifests: Sequence[LoadedManifest],
    recorded: Mapping[str, str],
    current: Mapping[str, str | None],
    available: Set[str],
) -> list[LoadedManifest]:
    """Containers run the image ID a revision ran with when their tag now points elsewhere
    (``current``: ref -> ID now) and the old image is still present (``available``)."""

    def pinned(item: LoadedManifest) -> LoadedManifest:
        manifest = item.manifest
        if not isinstance(manifest, ContainerManifest):
            return item
        old = recorded.get(manifest.spec.image)
        if not old or old not in available or current.get(manifest.spec.image) == old:
            return item
        # Pinned: the image no longer follows its tag (an update would undo the rollback).
        spec = manifest.spec.model_copy(update={"image": old, "update_policy": UpdatePolicy()})
        return LoadedManifest(
            manifest.model_copy(update={"spec": spec}), item.location, item.positions
        )

    return [pinned(m) for m in manifests]


def rollback_manifests(
    revision: Revision, image_id: Callable[[str], str | None]
) -> list[LoadedManifest]:
    """What a rollback to ``revision`` re-applies: its manifests, with each container on the
    image it ran then: by its ID when that image is still here (``image_id``: a reference's
    local image ID, or None when absent), else by the digest it was pulled as (pulled again,
    exactly that one)."""
    current = {ref: image_id(ref) for ref in revision.images}
    available = {i for i in revision.images.values() if image_id(i) is not None}
    recorded = dict(revision.images)
    for ref, pinned in revision.digests.items():
        old = recorded.get(ref)
        if old is not None and old not in available and current.get(ref) != old:
            recorded[ref] = pinned
            available.add(pinned)
    return pin_images(manifests_of(revision), recorded, current, available)
