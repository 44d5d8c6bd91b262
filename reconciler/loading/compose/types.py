"""The values the compose mapping passes around."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

ComposePath = tuple[str | int, ...]


@dataclass
class Mapped:
    """A service mapped: the spec, origins of its keys, and the keys that could not be."""

    spec: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, ComposePath] = field(default_factory=dict)
    problems: list[tuple[ComposePath, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Context:
    """What a service's mapping needs from the rest of the project."""

    name: str  # the service's key
    volumes: Mapping[str, str]  # compose volume key -> Engine name
    networks: Mapping[str, str]  # compose network key -> Engine name
    secrets: Mapping[str, Mapping[str, Any]]  # top-level secrets
    configs: Mapping[str, Mapping[str, Any]]  # top-level configs
    containers: Callable[[str], list[str]]  # service -> its container names
    project: str = ""  # the compose project's name (a built image's default name)
