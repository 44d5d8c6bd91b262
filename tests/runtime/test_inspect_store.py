"""The inspect cache kept between commands, without an Engine: the Engine's clock, which
replayed events make an entry stale, when nothing is kept at all, and the stamps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.runtime.base import InspectCache
from reconciler.runtime.docker import inspectstore
from reconciler.runtime.docker.inspectstore import MAX_AGE_NS, Kept
from reconciler.values.configs import ContainerConfig
from reconciler.values.observed import ContainerStatus, ImageInfo, ObservedContainer, Ownership

NOW = 1_800_000_000 * 10**9
CUTOFF = NOW - 10**9  # when the previous command read the Engine's clock


def found(ident: str) -> ObservedContainer:
    return ObservedContainer(
        id=ident,
        name=f"c-{ident}",
        image_id="sha256:1",
        ownership=Ownership(),
        status=ContainerStatus(state="running", health=None),
        config=ContainerConfig(image="busybox"),
    )


def event(
    kind: str, action: str, ident: str = "", at: int = CUTOFF + 5, **attributes: str
) -> dict[str, Any]:
    return {
        "Type": kind,
        "Action": action,
        "Actor": {"ID": ident, "Attributes": attributes},
        "timeNano": at,
    }


# The log still holds an event from before the cutoff: nothing after it was dropped.
ANCHOR = event("container", "start", "z", at=CUTOFF - 10**9)


def kept(*idents: str, inspected: int = NOW - 10**9) -> Kept:
    return Kept(
        "who",
        CUTOFF,
        {i: (("fp", i), found(i), inspected) for i in idents},
        {"busybox": ImageInfo(id="sha256:1")},
    )


def test_the_engine_clock_is_read_to_the_microsecond() -> None:
    at = inspectstore.engine_time_ns
    assert at({"SystemTime": "2027-01-15T08:00:00.123456789Z"}) == 1_800_000_000_123_456_000
    assert at({"SystemTime": "2027-01-15T09:00:00.5+01:00"}) == 1_800_000_000_500_000_000
    assert at({"SystemTime": "2027-01-15T08:00:00Z"}) == 1_800_000_000 * 10**9
    for bad in ({"SystemTime": "yesterday"}, {"SystemTime": "2027-01-15T08:00:00"}, {}):
        assert at(bad) is None


def test_replayed_events_make_exactly_their_containers_stale() -> None:
    events = [
        ANCHOR,
        event("container", "update", "e", at=CUTOFF - 1),  # seen by the previous command
        event("container", "update", "a"),
        event("container", "exec_start: sh", "b"),  # an exec changes nothing inspected
        event("network", "disconnect", "net1", container="c"),
        event("volume", "mount", "vol1", container="d"),
    ]
    cache = inspectstore.revive(kept("a", "b", "c", "d", "e"), NOW, events)
    containers, images = cache.entries()
    assert sorted(containers) == ["b", "d", "e"]
    assert images, "no image event: the images are kept"
    cache = inspectstore.revive(kept("a"), NOW, [ANCHOR, event("image", "tag", "sha256:2")])
    assert cache.entries()[1] == {}


def test_nothing_is_kept_when_events_since_the_cutoff_may_be_missing() -> None:
    assert inspectstore.revive(kept("a"), NOW, None).entries() == ({}, {}), "replay failed"
    assert inspectstore.revive(kept("a"), NOW, []).entries() == ({}, {}), "an empty log"
    # The log starts after the cutoff: what came before its first event was dropped (or the
    # Engine restarted).
    late = [event("container", "exec_start: sh", "x", at=CUTOFF + i) for i in range(256)]
    assert inspectstore.revive(kept("a"), NOW, late).entries() == ({}, {})
    assert inspectstore.revive(kept("a"), CUTOFF - 5, [ANCHOR]).entries() == ({}, {})
    assert inspectstore.revive(kept("a"), NOW, [ANCHOR]).entries()[0], "a complete, quiet log"


def test_an_entry_too_old_is_read_again() -> None:
    cache = inspectstore.revive(kept("a", inspected=NOW - MAX_AGE_NS - 1), NOW, [ANCHOR])
    assert cache.entries()[0] == {}


def test_saved_entries_keep_their_stamp_and_new_ones_get_the_cutoff(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    before = kept("a", "gone", inspected=NOW - 7)
    cache = inspectstore.revive(before, NOW, [ANCHOR])
    cache.keep_container("b", ("fp", "b"), found("b"))
    assert inspectstore.save(tmp_path, "who", NOW, cache, before, listed={"a", "b"})
    after = inspectstore.load(tmp_path, "who")
    assert after is not None and after.cutoff_ns == NOW
    assert {i: stamp for i, (_, _, stamp) in after.containers.items()} == {"a": NOW - 7, "b": NOW}
    assert inspectstore.load(tmp_path, "another engine") is None
    assert (tmp_path / inspectstore.STORE_NAME).stat().st_mode & 0o777 == 0o600


def test_an_empty_cache_round_trips(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    assert inspectstore.save(tmp_path, "who", NOW, InspectCache(), None, listed=set())
    assert inspectstore.load(tmp_path, "who") == Kept("who", NOW, {}, {})
