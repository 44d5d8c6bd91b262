"""Revision history: what was applied, from where, with which images, and how it went.

Every command that applies (``apply``, ``run``, ``sync``, ``rollback``) records a revision when
the declared set differs from the newest one. A revision keeps the manifests themselves (as
JSON documents, validated again when read back), so a rollback needs neither the original
files nor the git commit.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence, Set
from typing import Any

from reconciler.errors import Location
from reconciler.loading import LoadedManifest
from reconciler.manifests import ContainerManifest, any_manifest
from reconciler.state.database import DEFAULT_HISTORY_LIMIT, Revision, State

_LOCATION = re.compile(r"^(?P<file>.*?)(?::(?P<line>\d+))?(?::(?P<col>\d+))?$")


def documents_of(manifests: Iterable[LoadedManifest]) -> list[dict[str, Any]]:
    """The manifests as JSON-ready documents with their source locations, sorted."""
    docs = [
        {
            "source": str(m.location),
            "manifest": m.document,
        }
        for m in manifests
    ]
    return sorted(docs, key=lambda d: (d["manifest"]["kind"], d["manifest"]["metadata"]["name"]))


def digest_of(documents: Sequence[Mapping[str, Any]]) -> str:
    """A digest of what the documents declare (where they were written does not count)."""
    canonical = json.dumps([d["manifest"] for d in documents], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


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
        spec = manifest.spec.model_copy(update={"image": old})
        return LoadedManifest(
            manifest.model_copy(update={"spec": spec}), item.location, item.positions
        )

    return [pinned(m) for m in manifests]


def record(
    state: State,
    project: str,
    source: str,
    manifests: Iterable[LoadedManifest],
    images: Mapping[str, str],
    outcome: str,
    message: str = "",
    keep: int = DEFAULT_HISTORY_LIMIT,
) -> int:
    """Record a revision unless the set equals the newest one, whose outcome is then updated.
    Returns the revision number that now describes what runs."""
    documents = documents_of(manifests)
    digest = digest_of(documents)
    newest = latest(state, project)
    if newest is not None and newest.digest == digest:
        if newest.outcome != outcome or newest.message != message:
            state.set_outcome(project, newest.number, outcome, message)
        return newest.number
    return state.add_revision(
        project, source, digest, documents, dict(images), outcome, message, keep
    )


def latest(state: State, project: str) -> Revision | None:
    """The newest revision of ``project``."""
    return state.latest_revision(project)


def last_good(state: State, project: str, before: int | None = None) -> Revision | None:
    """The newest revision that applied cleanly and differs from the newest one (or, with
    ``before``, the newest good one older than that number)."""
    revisions = state.revisions(project)
    if not revisions:
        return None
    newest = revisions[0]
    for revision in revisions:
        if before is not None and revision.number >= before:
            continue
        if before is None and revision.digest == newest.digest:
            continue
        if revision.outcome == "ok":
            return revision
    return None
