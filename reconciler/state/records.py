"""The records the state keeps, as the rest of reconcile reads them: revisions, pins and
journal events (``database`` stores them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Revision:
    """One applied version of a set: its manifests (as JSON documents with their source
    locations), where they came from, the image IDs they ran with, and how applying went."""

    project: str
    number: int
    created_at: float
    source: str
    digest: str
    documents: list[dict[str, Any]]
    images: dict[str, str]
    outcome: str  # ok | failed
    message: str = ""
    # image ref -> "repository@sha256:..." of what ran (images pulled from a registry)
    digests: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Pin:
    """A rollback holding a set at ``revision`` until its source moves past ``upstream``."""

    project: str
    revision: int
    upstream: str
    at: float


@dataclass(frozen=True)
class Event:
    """One journal entry: what happened to which resource, why, and how it went."""

    project: str
    at: float
    kind: str
    name: str
    action: str
    reason: str
    outcome: str
    message: str = ""
