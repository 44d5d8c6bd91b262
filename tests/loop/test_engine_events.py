"""What an Engine event means to a project's loop (``loop.engine_events.meaning``, pure):
Swarm's service events, which carry the service's name but never its labels."""

from __future__ import annotations

from reconciler.loop.engine_events import Meaning, meaning
from reconciler.runtime.base import EngineEvent

NAMES = frozenset({"shop-web", "shop-net"})


def test_a_service_of_ours_changed_or_removed_by_hand_triggers_a_pass() -> None:
    scaled = EngineEvent(
        "service", "update", "shop-web", attributes={"name": "shop-web", "replicas.new": "0"}
    )
    assert meaning(scaled, "shop", NAMES) == Meaning(trigger="service update")
    removed = EngineEvent("service", "remove", "shop-web", attributes={"name": "shop-web"})
    assert meaning(removed, "shop", NAMES) == Meaning(trigger="service remove")


def test_another_project_s_service_triggers_nothing() -> None:
    other = EngineEvent("service", "update", "other-web", attributes={"name": "other-web"})
    assert meaning(other, "shop", NAMES) == Meaning()
