"""The notification event: what happened, to what, how bad, in words a person reads.

Kinds are API (sinks filter on them, receivers switch on them): docs/notifications.md lists
them. An event carries names and reasons, never values: its text passes through ``scrub``,
which masks the value of every secret-looking ``NAME=value`` and the credentials of a URL.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from types import MappingProxyType

from reconciler.values.desired import is_secret_name


class Severity(IntEnum):
    """How urgent an event is; sinks may ask for a least severity."""

    INFO = 10
    WARNING = 20
    ERROR = 30

    @property
    def label(self) -> str:
        """The lower-case name used in the file and on the wire."""
        return self.name.lower()

    @classmethod
    def named(cls, label: str) -> Severity:
        """The severity called ``label`` (``info``, ``warning``, ``error``)."""
        return cls[label.upper()]


# Every kind with its default severity. ``resolved`` ends a kind marked here as lasting; a
# ``summary`` stands for events the rate limit held back.
KINDS: Mapping[str, Severity] = MappingProxyType(
    {
        "apply-failed": Severity.ERROR,
        "pass-failed": Severity.ERROR,
        "source-unavailable": Severity.ERROR,
        "engine-unavailable": Severity.ERROR,
        "crash-loop": Severity.ERROR,
        "rollback": Severity.ERROR,
        "drift-repaired": Severity.WARNING,
        "update-available": Severity.INFO,
        "update-applied": Severity.INFO,
        "resolved": Severity.INFO,
        "summary": Severity.INFO,
    }
)
# Kinds that describe a condition which lasts until a ``resolved`` event ends it.
LASTING = frozenset(
    {"apply-failed", "pass-failed", "source-unavailable", "engine-unavailable", "crash-loop"}
)

MAX_SUMMARY = 300
MAX_DETAIL = 1000

# NAME=value as messages spell it (bare or quoted, Go-escaped): the value runs to a quote,
# a blank or the end. Same shape as the Engine's error redaction in the Docker backend.
_ASSIGNMENT = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)=(?P<value>(?:\\.|[^\s\"'\\,;])+)")
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def scrub(text: str, limit: int = MAX_DETAIL) -> str:
    """``text`` without secret values (``DB_PASSWORD=x`` -> ``DB_PASSWORD=***``, URL
    credentials -> ``***@``), cut to ``limit`` characters."""
    text = _URL_CREDENTIALS.sub("***@", text)
    text = _ASSIGNMENT.sub(
        lambda m: f"{m['name']}=***" if is_secret_name(m["name"]) else m[0], text
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Event:
    """One notification. ``resource`` is ``Kind/name`` or "" for the whole project;
    ``details`` are short strings (an error, the fields that drifted, a digest)."""

    kind: str
    project: str
    summary: str
    resource: str = ""
    details: Mapping[str, str] = field(default_factory=dict)
    time: float = field(default_factory=time.time)
    severity: Severity | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown notification kind {self.kind!r}; one of {sorted(KINDS)}")
        if self.severity is None:
            object.__setattr__(self, "severity", KINDS[self.kind])
        object.__setattr__(self, "summary", scrub(self.summary, MAX_SUMMARY))
        clean = {str(k): scrub(str(v)) for k, v in sorted(self.details.items())}
        object.__setattr__(self, "details", MappingProxyType(clean))

    @property
    def level(self) -> Severity:
        """The severity (set from the kind when not given)."""
        assert self.severity is not None  # set in __post_init__
        return self.severity

    @property
    def key(self) -> tuple[str, str, str]:
        """What the per-event rate limit counts: the same kind for the same resource.
        A ``resolved`` event counts with the kind it resolves."""
        kind = self.kind
        if kind == "resolved":
            kind = f"resolved:{self.details.get('resolves', '')}"
        return (kind, self.project, self.resource)

    @property
    def topic(self) -> str:
        """The kind a sink's filter matches: a ``resolved`` event matches what it resolves."""
        return self.details.get("resolves", self.kind) if self.kind == "resolved" else self.kind

    def title(self) -> str:
        """A one-line title: ``[error] crash-loop: shop Container/web``."""
        what = f"{self.project} {self.resource}".strip()
        return f"[{self.level.label}] {self.kind}: {what}"

    def to_json(self) -> dict[str, object]:
        """The event as the webhook sends it (keys are API)."""
        return {
            "kind": self.kind,
            "severity": self.level.label,
            "project": self.project,
            "resource": self.resource,
            "summary": self.summary,
            "details": dict(self.details),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.time)),
            "timestamp": round(self.time, 3),
        }
