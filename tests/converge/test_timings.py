"""``--timings``: a pass records each of its phases and the report names them with a number
and the Engine calls (the values are the benchmarks' business, not the tests')."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from reconciler import timings
from reconciler.converge import pipeline
from reconciler.loading import load_text
from reconciler.policy import Policy
from reconciler.state.database import State
from tests.converge.recording_runtime import RecordingRuntime

MANIFEST = """\
apiVersion: reconcile/v1
kind: Container
metadata: {name: web}
spec: {image: reconcile.local/busybox:latest}
"""
LINE = re.compile(r"^  (?P<name>[a-z]+) +(?P<ms>\d+\.\d) ms$")


def reported(text: str) -> dict[str, float]:
    return {m["name"]: float(m["ms"]) for m in map(LINE.match, text.splitlines()) if m}


def one_pass(tmp_path: Path, argv: list[str]) -> str:
    timings.begin(argv)
    manifests = load_text(MANIFEST, "web.yaml").manifests
    runtime = RecordingRuntime()
    calls: Counter[str] = Counter({"container.create": 1, "container.start": 1})
    timings.count_calls(calls)
    state = State.open(tmp_path / "state")
    try:
        request = pipeline.Request("p", Policy())
        pipeline.run_pass(runtime, state, request, lambda: pipeline.Declared(manifests))
    finally:
        state.close()
    return timings.render() if timings.enabled() else ""


@pytest.mark.parametrize("argv", [["--timings", "apply"], ["apply", "-f", "x", "--timings"]])
def test_every_phase_of_a_pass_is_reported_with_the_engine_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.delenv(timings.ENV, raising=False)
    text = one_pass(tmp_path, argv)
    phases = reported(text)
    expected = {"startup", "load", "admit", "inputs", "observe", "plan", "execute", "record"}
    assert expected <= set(phases), text
    assert {"other", "total"} <= set(phases)
    assert all(ms >= 0 for ms in phases.values())
    assert "engine calls: 2 (container.create=1, container.start=1)" in text


def test_the_environment_turns_timings_on_and_nothing_is_recorded_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(timings.ENV, raising=False)
    assert one_pass(tmp_path, ["apply"]) == ""
    assert timings.phase("load") is timings.phase("plan")  # one shared no-op when off
    monkeypatch.setenv(timings.ENV, "1")
    assert "execute" in reported(one_pass(tmp_path, ["apply"]))
    monkeypatch.setenv(timings.ENV, "0")
    assert one_pass(tmp_path, ["apply"]) == ""


def test_the_console_script_start_is_carried_to_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the warm server the command runs in another process: the console script's
    start and hand-off are counted from the times it passes along."""
    monkeypatch.setenv(timings.START_ENV, "100.0 100.25 1")  # pid 1: not this process
    monkeypatch.setattr(time, "time", lambda: 100.5)
    timings.begin(["--timings", "get"])
    phases = reported(timings.render())
    assert phases["startup"] == 250.0 and phases["handoff"] == 250.0
    assert timings.START_ENV not in os.environ


def test_the_flag_may_follow_the_command() -> None:
    assert timings.hoisted(["apply", "-f", "x", "--timings"]) == ["--timings", "apply", "-f", "x"]
    assert timings.hoisted(["apply", "--", "--timings"]) == ["apply", "--", "--timings"]
    assert not timings.wanted(["apply", "--", "--timings"], {})
    assert timings.wanted(["diff", "--timings"], {})
