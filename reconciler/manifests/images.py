"""What a container says about its image beyond the reference: how to build it (``build``)
and whether to follow its tag in the registry (``updatePolicy``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from reconciler.manifests.common import Duration, Strict, check_abs_path

SECOND = 1_000_000_000
DEFAULT_INTERVAL = 6 * 3600 * SECOND


def _context_path(value: str) -> str:
    if value.startswith(("./", "../")) or value in (".", ".."):
        return check_abs_path("/" + value)[1:]
    return check_abs_path(value)


def _dockerfile(value: str) -> str:
    if value.startswith("/") or ".." in value.split("/"):
        raise PydanticCustomError(
            "dockerfile_outside", "dockerfile is a path inside the context (such as Dockerfile)"
        )
    return value


class Build(Strict):
    """Build the image from a directory (the Engine's builder, as ``docker build``) and tag
    it as the container's ``image``. The context is hashed with ``.dockerignore`` honoured:
    an unchanged context never rebuilds; a changed one rebuilds, and the containers using
    the image are recreated. ``context`` starting with ``./`` or ``../`` is relative to the
    manifest file's directory."""

    context: Annotated[str, AfterValidator(_context_path)]
    dockerfile: Annotated[str, AfterValidator(_dockerfile)] = "Dockerfile"
    args: dict[str, str] = Field(default_factory=dict)
    target: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
    labels: dict[str, str] = Field(default_factory=dict)


def build_ref(value: Any) -> Any:
    """``build: ./app`` is ``build: {context: ./app}``."""
    return {"context": value} if isinstance(value, str) else value


def _minimum_interval(value: int) -> int:
    if value < SECOND:
        raise PydanticCustomError("interval_too_short", "interval must be at least 1s")
    return value


class UpdatePolicy(Strict):
    """Follow the image's tag in its registry: every ``interval`` the registry is asked for
    the tag's digest (a manifest HEAD, not a pull). ``notify`` reports a new digest (status,
    events, metrics, notifications) and changes nothing; ``apply`` pulls it by digest and
    recreates the containers through the plan, once the digest has been seen for ``minAge``
    (a tag re-pushed moments ago waits); one failing its healthcheck or crash-looping is
    rolled back to the previous digest, which stays pinned."""

    mode: Literal["off", "notify", "apply"] = "off"
    interval: Annotated[Duration, AfterValidator(_minimum_interval)] = DEFAULT_INTERVAL
    min_age: Duration = 0


def update_ref(value: Any) -> Any:
    """``updatePolicy: notify`` is ``updatePolicy: {mode: notify}``."""
    return {"mode": value} if isinstance(value, str) else value
