"""Revision history: what was applied, from where, with which images, and how it went.

Every command that applies (``apply``, ``run``, ``sync``, ``rollback``) records a revision when
the declared set differs from the newest one. A revision keeps the manifests themselves (as
JSON documents, validated again when read back), so a rollback needs neither the original
files nor the git commit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from reconciler.state.database import DEFAULT_HISTORY_LIMIT, State
from reconciler.state.records import Revision


class Declared(Protocol):
    """A manifest as a revision keeps it: its document and where it was written
    (``loading.LoadedManifest`` is one; ``sources.revision`` turns documents back into those)."""

    @property
    def location(self) -> object: ...

    @property
    def document(self) -> Mapping[str, Any]: ...


def documents_of(manifests: Iterable[Declared]) -> list[dict[str, Any]]:
    """The manifests as JSON-ready documents with their source locations, sorted."""
    docs = [
        {
            "source": str(m.location),
            "manifest": m.document,
        }
        for m in manifests
    ]
    return sorted(docs, key=lambda d: (d["manifest"]["kind"], d["manifest"]["metadata"]["name"]))


def digest_of(
    documents: Sequence[Mapping[str, Any]],
    files: Mapping[str, bytes] | None = None,
    key: bytes = b"",
) -> str:
    """A digest of what the documents declare (where they were written does not count) and,
    when given, of the content of the files their containers read (keyed: a digest of a
    short secret must not be guessable from the database)."""
    canonical = json.dumps([d["manifest"] for d in documents], sort_keys=True)
    h = hashlib.sha256(canonical.encode())
    if files:
        content = hmac.new(key, digestmod=hashlib.sha256)
        for path in sorted(files):
            content.update(path.encode() + b"\0" + files[path] + b"\0")
        h.update(content.digest())
    return h.hexdigest()[:16]


def record(
    state: State,
    project: str,
    source: str,
    manifests: Iterable[Declared],
    images: Mapping[str, str],
    outcome: str,
    message: str = "",
    keep: int = DEFAULT_HISTORY_LIMIT,
    files: Mapping[str, bytes] | None = None,
    digests: Mapping[str, str] | None = None,
) -> int:
    """Record a revision unless the set (and the content of ``files``, the env and secret
    files its containers read) and the images it runs equal the newest one's, whose
    outcome is then updated. Returns the revision number that now describes what runs.
    ``digests``: image ref -> ``repository@sha256:...`` of what runs, where known.

    A new image under the same tag (an update, a rebuild) is a new revision with the same
    digest: what runs changed, not what is declared (so a rollback pin, which follows the
    declared set, holds)."""
    documents = documents_of(manifests)
    digest = digest_of(documents, files, state.hash_key)
    newest = state.latest_revision(project, documents=False)
    same_images = newest is not None and _same_images(newest.images, images)
    if newest is not None and newest.digest == digest and same_images:
        if newest.outcome != outcome or newest.message != message:
            state.set_outcome(project, newest.number, outcome, message)
        return newest.number
    return state.add_revision(
        project, source, digest, documents, dict(images), outcome, message, keep, files, digests
    )


def _same_images(recorded: Mapping[str, str], now: Mapping[str, str]) -> bool:
    """Whether every reference recorded before still resolves to the same image (one that
    is not present now, in a pass that failed to get it, does not count as a change)."""
    return all(recorded.get(ref, image) == image for ref, image in now.items())


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
