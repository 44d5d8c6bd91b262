"""The inspect cache a one-shot command keeps in the state directory for the next one.

A ``reconcile apply`` or ``diff`` reads every container of its project in full (``docker
inspect``): the container list does not show ``docker update``, a disconnected network or a
changed device, and live drift detection is the point. Most of those containers are the
same as in the previous command, so each command stores what it inspected, and the next one
keeps an entry only while nothing can have changed it:

- the Engine is the same one (its ID and address) and so is this code;
- the container's list entry (name, state, health, image, creation) is unchanged;
- no Engine event about it happened since the previous command read the Engine's clock
  (``GET /events?since=&until=``, a replay of the Engine's in-memory event log, which holds
  the newest 256 events: unless the log still reaches back past that moment, some may have
  been dropped, and then nothing is kept; an Engine restarted since has lost its log, which
  is then caught the same way);
- it was inspected less than ``MAX_AGE`` ago (a bound on how long any of this is trusted).

Everything else is inspected again. The loop (``reconcile run``) keeps its cache in memory
instead, current with the live event stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from reconciler.runtime.base import InspectCache
from reconciler.state import codeversion, privatefiles
from reconciler.values.observed import ImageInfo, ObservedContainer

STORE_NAME = "inspect-cache.pickle"
FORMAT = 1
MAX_AGE_NS = 300 * 10**9
# The Engine keeps its newest 256 events in memory (moby's events.eventsLimit); the replay
# asks for all of them (from the epoch; 0 would read as "no bound"), to see whether the log
# reaches back past the cutoff, however long ago its last event was.
REPLAY_FROM_NS = 10**9
# Container actions that change nothing an inspect shows that the list would not.
QUIET_PREFIXES = ("exec_",)


@dataclass
class Kept:
    """What one command leaves for the next: entries valid as of ``cutoff_ns`` (Engine time)."""

    identity: str
    cutoff_ns: int
    # container ID -> (list fingerprint, observed container, Engine time it was inspected)
    containers: dict[str, tuple[object, ObservedContainer, int]] = field(default_factory=dict)
    images: dict[str, ImageInfo | None] = field(default_factory=dict)


def identity(host: str, engine_id: str) -> str:
    """Whose entries these are: this code, this Engine."""
    return f"{FORMAT}:{codeversion.running_code_fingerprint()}:{host}:{engine_id}"


def engine_time_ns(info: dict[str, Any]) -> int | None:
    """The Engine's clock from its ``/info`` (``SystemTime``), in nanoseconds (microsecond
    precision: rounding down only widens the next replay)."""
    raw = info.get("SystemTime")
    if not isinstance(raw, str) or not raw:
        return None
    text = raw.replace("Z", "+00:00")
    # fromisoformat takes at most six fraction digits; the Engine writes up to nine.
    head, dot, rest = text.partition(".")
    if dot:
        zone_at = next((i for i, c in enumerate(rest) if not c.isdigit()), len(rest))
        digits, zone = rest[:zone_at], rest[zone_at:]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000


def load(directory: Path, who: str) -> Kept | None:
    """The store in ``directory`` if it is this code's and this Engine's."""
    _, body = privatefiles.read(directory / STORE_NAME)
    if isinstance(body, Kept) and body.identity == who:
        return body
    return None


def stale_after(kept: Kept, events: list[dict[str, Any]]) -> tuple[set[str], bool] | None:
    """(container IDs the events since ``kept.cutoff_ns`` may have changed, whether images
    may have changed); None when some of those events may be missing.

    ``events`` is the Engine's whole log up to now (``REPLAY_FROM_NS``). The log
    keeps the newest 256 events, dropping the oldest: only when it still holds one from
    before the cutoff can no event after it have been dropped. (An Engine restarted since
    the cutoff has an empty log, or one that starts after it.)"""
    times = [int(event.get("timeNano") or 0) for event in events]
    if not times or min(times) >= kept.cutoff_ns:
        return None
    stale: set[str] = set()
    images = False
    for event, at in zip(events, times, strict=True):
        if at < kept.cutoff_ns:
            continue
        kind = event.get("Type")
        action = str(event.get("Action") or event.get("status") or "")
        actor = event.get("Actor") or {}
        attributes = actor.get("Attributes") or {}
        if kind == "container" and not action.startswith(QUIET_PREFIXES):
            stale.add(str(actor.get("ID") or ""))
        elif kind == "network" and attributes.get("container"):
            stale.add(str(attributes["container"]))
        elif kind == "image":
            images = True
    stale.discard("")
    return stale, images


def revive(kept: Kept, now_ns: int, events: list[dict[str, Any]] | None) -> InspectCache:
    """An inspect cache of the kept entries still valid at ``now_ns`` (empty when the event
    replay failed or may be incomplete)."""
    cache = InspectCache()
    verdict = stale_after(kept, events) if events is not None else None
    if verdict is None or now_ns < kept.cutoff_ns:
        return cache
    stale, images_changed = verdict
    for ident, (fingerprint, found, inspected_ns) in kept.containers.items():
        if ident in stale or now_ns - inspected_ns > MAX_AGE_NS:
            continue
        cache.keep_container(ident, fingerprint, found)
    if not images_changed:
        for ref, info in kept.images.items():
            cache.keep_image(ref, info)
    return cache


def save(
    directory: Path,
    who: str,
    cutoff_ns: int,
    cache: InspectCache,
    before: Kept | None,
    listed: set[str],
) -> bool:
    """Store ``cache``'s entries of containers that still exist, valid as of ``cutoff_ns``;
    entries new in this command are stamped with it (they were inspected after it)."""
    known = before.containers if before is not None else {}
    containers, images = cache.entries()
    kept = Kept(who, cutoff_ns)
    for ident, (fingerprint, found) in containers.items():
        if ident not in listed:
            continue
        old = known.get(ident)
        stamp = old[2] if old is not None and old[1] is found else cutoff_ns
        kept.containers[ident] = (fingerprint, found, stamp)
    kept.images = dict(images)
    return privatefiles.write(directory / STORE_NAME, kept)
