"""``notifications.yaml`` as two types for two stages: the strict pydantic models of what the
file says (``NotificationsFile``), and the resolved ``NotifyConfig`` the notifier uses, with
each sink's secret read into a ``Secret`` (whose ``repr`` names where it came from, never the
value). Reading and resolving: ``reading``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from reconciler.manifests.common import AbsPath, Duration, Name, Strict
from reconciler.notify.events import KINDS, Event, Severity

NS = 1e9


def _kind(value: str) -> str:
    if value not in KINDS or value in ("resolved", "summary"):
        choices = ", ".join(k for k in KINDS if k not in ("resolved", "summary"))
        raise PydanticCustomError(
            "unknown_kind",
            "{kind} is not an event kind; one of: {choices}",
            {"kind": repr(value), "choices": choices},
        )
    return value


EventKind = Annotated[str, AfterValidator(_kind)]


class RateLimitSpec(Strict):
    """``rateLimit``: the same event at most once per ``perEvent``; at most ``burst``
    messages per ``per``; what is held back goes out as a summary."""

    per_event: Duration = 600 * 10**9
    burst: int = Field(default=10, ge=1, le=1000)
    per: Duration = 60 * 10**9


class WebhookSpec(Strict):
    """``webhook``: a JSON POST signed with HMAC-SHA256; the key from an env var or a file."""

    url: str
    secret_env: str | None = None
    secret_file: AbsPath | None = None

    @model_validator(mode="after")
    def _check(self) -> WebhookSpec:
        if not self.url.startswith(("http://", "https://")):
            raise PydanticCustomError("bad_url", "url must start with http:// or https://")
        if (self.secret_env is None) == (self.secret_file is None):
            raise PydanticCustomError(
                "secret_needed",
                "give exactly one of secretEnv or secretFile: the HMAC key deliveries are "
                "signed with",
            )
        return self


class AppriseSpec(Strict):
    """``apprise``: an Apprise URL (ntfy://, gotify://, slack://, mailto://...), which holds
    its tokens: from an env var, a file, or inline in a file only its owner may read."""

    url: str | None = None
    url_env: str | None = None
    url_file: AbsPath | None = None

    @model_validator(mode="after")
    def _check(self) -> AppriseSpec:
        if sum(x is not None for x in (self.url, self.url_env, self.url_file)) != 1:
            raise PydanticCustomError("url_needed", "give exactly one of url, urlEnv or urlFile")
        return self


class SinkSpec(Strict):
    """One sink: a name, exactly one of ``webhook`` or ``apprise``, and what it gets."""

    name: Name
    webhook: WebhookSpec | None = None
    apprise: AppriseSpec | None = None
    events: list[EventKind] | None = None
    min_severity: Literal["info", "warning", "error"] = "info"
    resolved: bool = True
    rate_limit: RateLimitSpec | None = None
    timeout: Duration | None = None
    retries: int | None = Field(default=None, ge=0, le=10)

    @model_validator(mode="after")
    def _check(self) -> SinkSpec:
        if (self.webhook is None) == (self.apprise is None):
            raise PydanticCustomError("one_type", "give exactly one of webhook or apprise")
        return self


class DefaultsSpec(Strict):
    """``defaults``: what every sink uses unless it says otherwise."""

    rate_limit: RateLimitSpec = RateLimitSpec()
    timeout: Duration = 5 * 10**9
    retries: int = Field(default=4, ge=0, le=10)
    queue_size: int = Field(default=100, ge=1, le=100_000)


class NotificationsFile(Strict):
    """The whole file."""

    defaults: DefaultsSpec = DefaultsSpec()
    sinks: list[SinkSpec] = Field(min_length=1)


class Secret:
    """A secret value that does not show itself: ``repr`` and ``str`` name its origin."""

    __slots__ = ("_value", "origin")

    def __init__(self, value: str, origin: str) -> None:
        self._value = value
        self.origin = origin

    def reveal(self) -> str:
        """The value, for the one place that sends it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.origin})"

    __str__ = __repr__

    def __reduce__(self) -> str:
        raise TypeError("a Secret is not to be pickled")


@dataclass(frozen=True)
class SinkConfig:
    """One sink, resolved: its secret read, its limits merged with the defaults."""

    name: str
    type: Literal["webhook", "apprise"]
    target: Secret  # the webhook URL (may hold credentials) or the Apprise URL
    key: Secret | None  # the webhook's HMAC key
    events: frozenset[str] | None
    min_severity: Severity
    resolved: bool
    per_event: float
    burst: int
    period: float
    timeout: float
    retries: int
    queue_size: int

    def wants(self, event: Event) -> bool:
        """Whether ``event`` goes to this sink (a ``resolved`` event if what it resolves
        does, unless ``resolved: false``; a ``summary`` by its severity: it holds only
        wanted ones)."""
        if event.kind == "resolved" and not self.resolved:
            return False
        if self.events is not None and event.kind != "summary" and event.topic not in self.events:
            return False
        # The end of a condition counts as severe as the condition: whoever got it hears it end.
        level = KINDS.get(event.topic, event.level) if event.kind == "resolved" else event.level
        return level >= self.min_severity


@dataclass(frozen=True)
class NotifyConfig:
    """The resolved file: where it was read from and its sinks."""

    source: str
    sinks: tuple[SinkConfig, ...]


def duration(ns: int) -> float:
    """Seconds from a ``Duration`` field's nanoseconds."""
    return ns / NS
