"""What an Engine event means to one project's loop (pure): which cached inspects it makes
stale, and whether it should trigger a pass."""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

from reconciler.runtime.base import EngineEvent

# Actions that cannot change anything we compare (healthchecks run as execs every interval).
QUIET_ACTIONS = (
    "exec_",
    "top",
    "attach",
    "resize",
    "commit",
    "copy",
    "archive-path",
    "extract-to-dir",
    "export",
    "detach",
)
IMAGE_ACTIONS = ("tag", "untag", "delete", "pull", "load", "import", "build")


@dataclass(frozen=True)
class Meaning:
    """Containers (names or ids) whose cached inspect is stale, whether image lookups are,
    and the pass trigger reason (None: not ours, no pass)."""

    stale: tuple[str, ...] = ()
    stale_images: bool = False
    trigger: str | None = None


def meaning(event: EngineEvent, project: str, names: Set[str]) -> Meaning:
    """How ``event`` affects ``project``, whose resources currently have ``names``."""
    if event.action.startswith(QUIET_ACTIONS):
        return Meaning()
    if event.type == "image":
        if event.action in IMAGE_ACTIONS:
            return Meaning(stale_images=True, trigger=f"image {event.action}")
        return Meaning()
    ours = event.project == project or event.name in names
    if event.type == "container":
        old = event.attributes.get("oldName", "").lstrip("/")
        if ours or old in names:
            stale = tuple(n for n in (event.name, old) if n)
            return Meaning(stale=stale, trigger=f"container {event.action}")
        return Meaning()
    if event.type == "network":
        # A connect or disconnect names the network; the container is an attribute.
        container = event.attributes.get("container", "")
        return Meaning(
            stale=(container,) if container else (),
            trigger=f"network {event.action}" if ours else None,
        )
    if event.type == "volume" and ours:
        return Meaning(trigger=f"volume {event.action}")
    if event.type == "service" and ours:
        # Swarm backend: services are listed in full each pass, so nothing is cached.
        return Meaning(trigger=f"service {event.action}")
    return Meaning()
