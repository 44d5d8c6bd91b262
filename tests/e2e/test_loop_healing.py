"""``reconcile run`` repairing the Engine: out-of-band removal, stop and ``docker update`` are
undone; a crash-looping container is restarted with a growing backoff that the status shows; an
unhealthy container is restarted (plain Docker never does)."""

from __future__ import annotations

import itertools
import json
from typing import Any

from tests.e2e.loop_helpers import LoopRig

LIMITED = """\
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-$name}
    spec:
      image: $image
      command: [sh, -c, 'trap "exit 0" TERM; while true; do sleep 1; done']
      restartPolicy: "no"
      stopGracePeriod: 1s
      resources: {memory: 64Mi}
    """

CRASHING = """\
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-crash}
    spec:
      image: $image
      command: [sh, -c, 'sleep 0.5; exit 1']
      restartPolicy: "no"
    """

UNHEALTHY = """\
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-sick}
    spec:
      image: $image
      command: [sh, -c, 'trap "exit 0" TERM; while true; do sleep 1; done']
      restartPolicy: "no"
      stopGracePeriod: 1s
      healthcheck: {test: "false", interval: 1s, retries: 1}
    """

MEMORY = 64 * 1024 * 1024


def _events_of(rig: LoopRig, name: str) -> list[dict[str, Any]]:
    full = f"{rig.project}-{name}"
    return [e for e in rig.events() if e["name"] == full]


def test_out_of_band_rm_stop_and_update_are_repaired(rig: LoopRig) -> None:
    for name in ("removed", "stopped", "updated"):
        rig.write(LIMITED, f"{name}.yaml", name=name)
    loop = rig.start()
    rig.eventually(
        lambda: [r["status"] for r in rig.status().get("resources", [])] == ["synced"] * 3,
        "all three are synced",
    )
    ids = {n: rig.started_at(n)[0] for n in ("removed", "stopped", "updated")}

    removed, stopped, updated = (rig.container(n) for n in ("removed", "stopped", "updated"))
    assert removed is not None and stopped is not None and updated is not None
    removed.remove(force=True)
    stopped.stop(timeout=1)
    updated.update(mem_limit="128m", memswap_limit="256m")

    rig.eventually(
        lambda: rig.running("removed") and rig.started_at("removed")[0] != ids["removed"],
        "the removed container is created again",
    )
    rig.eventually(lambda: rig.running("stopped"), "the stopped container runs again")
    assert rig.started_at("stopped")[0] == ids["stopped"], "started, not recreated"

    def memory_restored() -> bool:
        c = rig.container("updated")
        return c is not None and c.attrs["HostConfig"]["Memory"] == MEMORY

    rig.eventually(memory_restored, "the docker update is undone")
    assert rig.started_at("updated")[0] == ids["updated"], "updated in place, not recreated"
    rig.eventually(
        lambda: [r["status"] for r in rig.status().get("resources", [])] == ["synced"] * 3,
        "all three are synced again",
    )

    p = rig.project
    # The pass that sees `docker rm -f` half-way may try a start that fails (the container is
    # "marked for removal"); what matters is which repairs succeeded.
    repairs = {
        (line["resource"], line["action"], line["reason"])
        for line in loop.actions()[3:]
        if line["level"] == "info"
    }
    assert repairs == {
        (f"Container/{p}-removed", "create", "missing"),
        (f"Container/{p}-stopped", "start", "not-running"),
        (f"Container/{p}-updated", "update", "config-changed"),
    }, loop.tail()
    update = next(line for line in loop.actions() if line["action"] == "update")
    assert "resources.memory" in update["fields"]
    done = [e["action"] for e in _events_of(rig, "removed") if e["outcome"] == "done"]
    assert done == ["create", "create"]


def test_a_crash_loop_backs_off_visibly_with_growing_intervals(rig: LoopRig) -> None:
    rig.write(CRASHING, "crash.yaml")
    loop = rig.start()

    rig.eventually(
        lambda: rig.resource("crash").get("status") == "crash-loop",
        "the status reports crash-loop",
    )
    row = rig.resource("crash")
    assert row["detail"].startswith("next retry in "), row
    assert "failures in a row" in row["detail"]
    shown = json.loads(rig.cli("status", "-o", "json").stdout)
    assert shown["running"] is True
    assert [r["status"] for r in shown["resources"]] == ["crash-loop"]

    def starts() -> list[float]:
        return [e["at"] for e in _events_of(rig, "crash") if e["action"] in ("create", "start")]

    # create, an immediate restart, then restarts 10 s and 20 s after the one before.
    rig.eventually(lambda: len(starts()) >= 4, "the container is started four times", 60)
    at = starts()
    gaps = [later - earlier for earlier, later in itertools.pairwise(at)]
    assert gaps[0] < 5, gaps
    assert 9.0 <= gaps[1] < 15, gaps
    assert 18.0 <= gaps[2] < 30, gaps
    reasons = {(e["action"], e["reason"]) for e in _events_of(rig, "crash")}
    assert reasons == {("create", "missing"), ("start", "not-running")}, reasons
    # Held back, not forgotten: there are never two restarts inside one backoff.
    assert len(loop.passes()) < 60, "the loop does not spin while it waits"


def test_an_unhealthy_container_is_restarted_by_the_loop(rig: LoopRig) -> None:
    rig.write(UNHEALTHY, "sick.yaml")
    loop = rig.start()
    rig.eventually(lambda: rig.running("sick"), "the container runs")
    first_id, first_start = rig.started_at("sick")

    rig.eventually(
        lambda: rig.started_at("sick")[1] != first_start, "the unhealthy container is restarted"
    )
    assert rig.started_at("sick")[0] == first_id, "restarted, not recreated"
    rig.eventually(
        lambda: ("restart", "unhealthy") in {(e["action"], e["reason"]) for e in rig.events()},
        "the journal says restart (unhealthy)",
    )
    restart = next(line for line in loop.actions() if line["action"] == "restart")
    assert restart["reason"] == "unhealthy"
    assert restart["fields"] == "health"
    # Unhealthy again at once: the next restart waits in CrashLoopBackOff.
    rig.eventually(
        lambda: rig.resource("sick").get("status") == "crash-loop",
        "the second unhealthy episode is held back",
    )
    assert "next retry in" in rig.resource("sick")["detail"]
