"""The project's error hierarchy. Each class says what happens next.

- ``ManifestError``: the input is wrong; nothing was changed; fix the file (exit 1).
- ``PlanningError``: the desired state cannot be reached as written (a clash, a cycle).
- ``TransientBackendError``: the Engine hiccuped; retrying later may succeed.
- ``PermanentBackendError``: the Engine refused; retrying the same call will not help.
- ``EngineUnavailable``: the Engine cannot be reached at all (a transient error).
- ``StateError``: the embedded state database cannot be used.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Location:
    """A place in a source file; line and column are 1-based, 0 when unknown."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        if self.column <= 0:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the input: where, which field, and a plain sentence."""

    location: Location
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location.file else ""
        what = f"{self.field}: " if self.field else ""
        return f"{where}{what}{self.message}"


class ReconcileError(Exception):
    """Base of every error this project raises on purpose."""


@dataclass
class ManifestError(ReconcileError):
    """One or more problems in the manifests (or a policy file); nothing was changed."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return "\n".join(str(p) for p in sorted(self.problems))


class PlanningError(ReconcileError):
    """The desired state cannot be planned as written (for example a name clash)."""


class BackendError(ReconcileError):
    """An error from a runtime backend."""


class TransientBackendError(BackendError):
    """A backend error worth retrying: a timeout, a conflict in progress, a 5xx."""


class PermanentBackendError(BackendError):
    """A backend error that the same call will hit again: bad request, not found."""


class NameTaken(PermanentBackendError):
    """A create was refused because a container of that name already exists."""


class EngineUnavailable(TransientBackendError):
    """The Engine cannot be reached (socket missing, daemon stopped)."""


class ImageNotFound(PermanentBackendError):
    """An image is not present locally and cannot (or may not) be pulled."""


class BuildFailed(PermanentBackendError):
    """An image build failed; the message ends with the tail of the build's log."""


class StateError(ReconcileError):
    """The embedded state database cannot be opened or written."""


class LockHeld(ReconcileError):
    """Another reconciler holds the lock for this set."""


class SourceUnavailable(ReconcileError):
    """A manifest source cannot be read (missing directory, failed fetch): never read as empty."""


class PolicyRefusal(ReconcileError):
    """The host-access policy refuses something outside the manifests (their directory)."""
