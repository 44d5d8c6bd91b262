#!/usr/bin/env python3
"""Do dead notification receivers slow the loop? (issue 16)

Run from the repository root with the project's virtualenv (needs the Docker Engine and the
local image ``reconcile.local/busybox:latest``):

    .venv/bin/python benchmarks/notify_bench.py [--containers 10] [--rounds 5]

For each round and each setting it makes a fresh in-process ``Loop`` (a fresh crash-loop
memory, so a stop is drift, not a crash loop), runs its first pass (nothing to do), stops
every container with ``docker stop``, and times the pass that starts them again, which emits
one ``drift-repaired`` event per container. Settings: no notifier; a live webhook receiver;
two dead sinks (a closed port, and a listener that accepts and never answers; timeout 2 s,
2 retries each) beside the live one. It also times ``Notifier.emit`` against the hung sink.
Everything it creates is named ``bench-notify-<hex>-...`` and removed at the end.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler import runtime
from reconciler.loop.runner import Loop, LoopSettings
from reconciler.notify.config import Secret, SinkConfig
from reconciler.notify.events import Event, Severity
from reconciler.notify.notifier import Notifier
from reconciler.notify.webhook import WebhookSink
from reconciler.policy import Policy
from reconciler.state.database import State
from tests.notify.receiver import Receiver, Silent, closed_port

IMAGE = "reconcile.local/busybox:latest"
MANIFEST = """\
apiVersion: reconcile/v1
kind: Container
metadata: {{name: {name}}}
spec:
  image: {image}
  command: [sh, -c, 'trap "exit 0" TERM; while true; do sleep 1; done']
  restartPolicy: "no"
  stopGracePeriod: 1s
"""


def _sink(name: str, url: str) -> tuple[WebhookSink, SinkConfig]:
    config = SinkConfig(
        name, "webhook", Secret(url, "bench"), Secret("k", "bench"), None, Severity.INFO,
        True, 600.0, 1000, 60.0, 2.0, 2, 1000,
    )
    return WebhookSink(config), config


def _notifier(setting: str, live: Receiver, hung: Silent) -> Notifier | None:
    if setting == "none":
        return None
    sinks = [_sink("live", live.url)]
    if setting == "dead":
        sinks += [
            _sink("refused", f"http://127.0.0.1:{closed_port()}/"),
            _sink("hung", f"http://127.0.0.1:{hung.port}/"),
        ]
    return Notifier(sinks, logging.getLogger("bench"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--containers", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    prefix = f"bench-notify-{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix="notify-bench-"))
    directory = work / "manifests"
    directory.mkdir()
    names = [f"{prefix}-c{i}" for i in range(args.containers)]
    for name in names:
        (directory / f"{name}.yaml").write_text(MANIFEST.format(name=name, image=IMAGE))
    state = State.open(work / "state")
    settings = LoopSettings(directory=directory, project=prefix, policy=Policy())
    live, hung = Receiver(), Silent()
    timings: dict[str, list[float]] = {"none": [], "live": [], "dead": []}
    try:
        for _ in range(args.rounds):
            for setting, values in timings.items():
                notifier = _notifier(setting, live, hung)
                if notifier is not None:
                    notifier.start()
                loop = Loop(settings, runtime.connect(), state, notifier=notifier)
                loop.run_pass(["start"])
                subprocess.run(["docker", "stop", "-t", "1", *names], check=True,
                               capture_output=True)
                began = time.perf_counter()
                report = loop.run_pass(["bench"])
                values.append(time.perf_counter() - began)
                assert report.outcome == "ok", report
                if notifier is not None:
                    notifier.close(deadline=0.2)
        emit = Notifier([_sink("hung", f"http://127.0.0.1:{hung.port}/")])
        emit.start()
        began = time.perf_counter()
        for i in range(10_000):
            emit.emit(Event("drift-repaired", prefix, "x", f"Container/c{i}"))
        per_emit = (time.perf_counter() - began) / 10_000
        emit.close(deadline=0.2)
    finally:
        subprocess.run(["docker", "rm", "-f", *names], capture_output=True, check=False)
        state.close()
        live.close()
        hung.close()
    print(f"repair pass of {args.containers} stopped containers, {args.rounds} rounds (s):")
    for setting, values in timings.items():
        print(
            f"  {setting:5}  median {statistics.median(values):.3f}  "
            f"min {min(values):.3f}  max {max(values):.3f}"
        )
    print(f"Notifier.emit against a hung sink: {per_emit * 1e6:.1f} us per event")
    drifts = sum(1 for d in live.deliveries() if d.json()["kind"] == "drift-repaired")
    print(f"drift-repaired events the live receiver got: {drifts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
