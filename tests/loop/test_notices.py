"""What the loop logs once per change, and what status shows: a refused mass prune (the
planner's guard makes it a conflict of the project), other conflicts, files waited on. Literal
plans and snapshots in, log records and status documents out."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from reconciler.controllers.plan import Conflict, Plan
from reconciler.errors import Location, Problem
from reconciler.loop.notices import Notices
from reconciler.loop.report import PassReport, status_document
from reconciler.sources.directory import Snapshot

LOG = logging.getLogger("reconcile.test-notices")
REFUSED = Conflict(
    "Project",
    "shop",
    "prune refused: it would remove every resource of the set (3 of 3); check the manifest "
    "source, or pass --force-prune",
)
CLASH = Conflict("Container", "web", 'a container named "web" already exists')


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    found = [(r.levelname.lower(), r.getMessage()) for r in caplog.records]
    caplog.clear()
    return found


@pytest.fixture
def notices(caplog: pytest.LogCaptureFixture) -> Notices:
    caplog.set_level(logging.DEBUG, logger=LOG.name)
    return Notices(LOG, settle=3.0)


def test_a_refused_prune_is_an_error_once_not_on_every_pass(
    notices: Notices, caplog: pytest.LogCaptureFixture
) -> None:
    notices.conflicts(Plan("shop", conflicts=(REFUSED,)))
    assert lines(caplog) == [
        (
            "error",
            "conflict: Project/shop: prune refused: it would remove every resource of the set "
            "(3 of 3); check the manifest source, or pass --force-prune",
        )
    ]
    for _ in range(3):
        notices.conflicts(Plan("shop", conflicts=(REFUSED,)))
    assert lines(caplog) == [], "the same refusal on later passes is not logged again"


def test_a_changed_conflict_is_logged_again_and_a_resolved_one_once(
    notices: Notices, caplog: pytest.LogCaptureFixture
) -> None:
    notices.conflicts(Plan("shop", conflicts=(REFUSED,)))
    lines(caplog)
    fewer = Conflict("Project", "shop", REFUSED.message.replace("every", "more than half of the"))
    notices.conflicts(Plan("shop", conflicts=(CLASH, fewer)))
    assert lines(caplog) == [
        ("error", f"conflict: Container/web: {CLASH.message}"),
        ("error", f"conflict: Project/shop: {fewer.message}"),
        ("info", f"conflict resolved: Project/shop: {REFUSED.message}"),
    ]
    notices.conflicts(Plan("shop"))
    assert [level for level, _ in lines(caplog)] == ["info", "info"]
    notices.conflicts(Plan("shop"))
    assert lines(caplog) == []


def test_files_waited_on_are_logged_when_they_start_to_be(
    notices: Notices, caplog: pytest.LogCaptureFixture
) -> None:
    waiting = Snapshot((), (), settling_files=("m/shop.yaml",), settle_until=10.0)
    notices.source(waiting)
    assert lines(caplog) == [
        (
            "info",
            "m/shop.yaml: written less than 3s ago and possibly half written; nothing is "
            "pruned, nor resources missing from it, until it has been quiet that long",
        )
    ]
    notices.source(waiting)
    assert lines(caplog) == []
    notices.source(Snapshot((), ()))
    notices.source(waiting)
    assert len(lines(caplog)) == 1, "a new quiet period is news again"


def test_source_problems_are_logged_when_they_change(
    notices: Notices, caplog: pytest.LogCaptureFixture
) -> None:
    problem = Problem(Location("m/a.yaml", 3, 1), "spec", "unknown field")
    notices.source(Snapshot((), (problem,)))
    notices.source(Snapshot((), (problem,)))
    assert lines(caplog) == [("error", "manifest source: m/a.yaml:3:1: spec: unknown field")]


def test_status_names_the_refused_prune_and_the_files_waited_on() -> None:
    report = PassReport(started_wall=1.8e9, seconds=0.1)
    snapshot = Snapshot((), (), settling_files=("m/shop.yaml",), settle_until=1.8e9 + 3)
    document = status_document(
        "shop", Path("m"), report, snapshot, [], Plan("shop", conflicts=(CLASH, REFUSED))
    )
    assert document["pruneRefused"] == REFUSED.message
    assert f"Project/shop: {REFUSED.message}" in document["conflicts"]
    assert document["source"]["settlingFiles"] == ["m/shop.yaml"]
    assert document["source"]["pruneSafe"] is False

    calm = status_document("shop", Path("m"), report, Snapshot((), ()), [], Plan("shop"))
    assert calm["pruneRefused"] is None
    assert calm["source"]["settlingFiles"] == []
