"""``reconcile run`` as a process: SIGTERM in the middle of a pass exits cleanly and a rerun
converges; the project lock keeps a second reconciler out and names the holder; the JSON log
and the Prometheus endpoint say what the loop did."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from reconciler.manifests.constants import REPLACEMENT_SUFFIX
from tests.docker.scenario import STUBBORN
from tests.e2e.loop_helpers import LoopRig


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Prometheus text format: (name, labels) -> value."""
    found = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, number = line.rpartition(" ")
        name, _, rest = series.partition("{")
        pairs = [item.split("=", 1) for item in rest.rstrip("}").split(",") if item]
        labels = frozenset((k, v.strip('"')) for k, v in pairs)
        found[(name, labels)] = float(number)
    return found


def test_sigterm_in_the_middle_of_a_pass_exits_cleanly_and_a_rerun_converges(
    rig: LoopRig,
) -> None:
    # A container that ignores SIGTERM takes its whole 3 s grace period to stop: the recreate
    # is still running when the loop is told to stop.
    stubborn = rig.container_yaml("app", command=STUBBORN).replace("1s", "3s")
    path = rig.directory / "app.yaml"
    path.write_text(stubborn)
    rig.declare("other")
    loop = rig.start()
    rig.eventually(lambda: rig.resource("app").get("status") == "synced", "app is synced")
    old_id = rig.started_at("app")[0]

    path.write_text(stubborn.replace('GENERATION: "1"', 'GENERATION: "2"'))
    replacement = f"app{REPLACEMENT_SUFFIX}"
    rig.eventually(lambda: replacement in rig.names(), "the recreate is under way")
    assert loop.alive
    code = loop.terminate(timeout=30)
    assert code == 0, loop.tail()
    messages = [line["msg"] for line in loop.log()]
    assert "received SIGTERM; finishing the current step" in messages
    assert messages[-1] == "stopped"
    assert not any(line["level"] == "error" for line in loop.log()), loop.tail()

    rerun = rig.start()
    rig.eventually(lambda: rig.running("app", gen=2), "the rerun finishes the recreate")
    rig.eventually(
        lambda: [r["status"] for r in rig.status().get("resources", [])] == ["synced"] * 2,
        "everything is synced after the rerun",
    )
    assert rig.names() == ["app", "other"]
    assert rig.started_at("app")[0] != old_id
    assert rig.status()["pid"] == rerun.process.pid
    assert rerun.terminate() == 0


def test_a_second_reconciler_on_the_project_fails_naming_the_holder(rig: LoopRig) -> None:
    rig.declare("a")
    loop = rig.start()
    rig.eventually(lambda: rig.resource("a").get("status") == "synced", "a is synced")

    second = rig.start()
    code = second.process.wait(timeout=60)
    assert code != 0
    err = second.log_path.read_text()
    holder = f'project "{rig.project}" is locked by pid {loop.process.pid} (run, since '
    assert holder in err, err
    assert "Traceback" not in err

    apply = rig.cli("apply", "-f", str(rig.directory))
    assert apply.returncode != 0
    assert holder in apply.stderr, apply.stderr
    assert loop.alive, "the holder is not disturbed"
    assert rig.status()["pid"] == loop.process.pid


def test_json_log_events_and_metrics_describe_what_the_loop_did(rig: LoopRig) -> None:
    rig.declare("a")
    rig.declare("b")
    port = _free_port()
    loop = rig.start("--metrics-addr", f"127.0.0.1:{port}")
    rig.eventually(
        lambda: [r["status"] for r in rig.status().get("resources", [])] == ["synced"] * 2,
        "a and b are synced",
    )
    (rig.directory / "b.yaml").unlink()
    rig.eventually(lambda: rig.container("b") is None, "b is pruned")

    rig.eventually(lambda: len(loop.actions()) == 3, "the prune is logged")

    # Every line is one JSON object with time, level and msg; actions carry a reason.
    lines = loop.log()
    assert all({"time", "level", "msg"} <= set(line) for line in lines), lines
    p = rig.project
    actions = [(a["resource"], a["action"], a["reason"], a["level"]) for a in loop.actions()]
    assert sorted(actions[:2]) == [
        (f"Container/{p}-a", "create", "missing", "info"),
        (f"Container/{p}-b", "create", "missing", "info"),
    ]
    assert actions[2] == (f"Container/{p}-b", "remove", "not-declared", "info")
    assert all(isinstance(a["seconds"], float) for a in loop.actions())
    assert all(isinstance(x["seconds"], float) and x["reasons"] for x in loop.passes())

    shown = rig.cli("events")
    assert shown.returncode == 0, shown.stderr
    entries = [line.split("  ", 1)[1] for line in shown.stdout.splitlines()]
    assert sorted(entries[:2]) == [
        f"Container/{p}-a  create (missing) done",
        f"Container/{p}-b  create (missing) done",
    ]
    assert entries[2:] == [f"Container/{p}-b  remove (not-declared) done"]

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert response.status == 200
            return str(response.read().decode())

    text = scrape()
    samples = _samples(text)

    def value(name: str, **labels: str) -> float:
        return samples[(name, frozenset({"project": p, **labels}.items()))]

    assert value("reconcile_pass_duration_seconds_count") >= 3
    assert value("reconcile_pass_duration_seconds_bucket", le="+Inf") >= 3
    assert value("reconcile_passes_total", outcome="ok") >= 3
    done = {"kind": "Container", "outcome": "done"}
    assert value("reconcile_actions_total", action="create", reason="missing", **done) == 2
    assert value("reconcile_actions_total", action="remove", reason="not-declared", **done) == 1
    assert value("reconcile_resources", status="synced") == 1
    assert value("reconcile_resources", status="crash-loop") == 0
    assert value("reconcile_last_successful_pass_timestamp_seconds") > 1.7e9
    assert "# TYPE reconcile_drift_detected_total counter" in text

    assert loop.terminate() == 0
    with pytest.raises(OSError):
        scrape()  # the endpoint goes away with the loop
    json.loads(rig.cli("status", "-o", "json").stdout)  # readable after the loop is gone
