#!/usr/bin/env python3
"""Images (issue 16, "Measure"): a no-op pass with N built images, and the time from a push
to "update available".

Run from the repository root with the project's virtualenv (the registries of
scripts/registry must answer; scripts/setup starts them):

    .venv/bin/python benchmarks/images.py                    # N = 10, 50; 5 rounds
    .venv/bin/python benchmarks/images.py --sizes 10 --rounds 2

1. **No-op with N built images.** N containers, each built from its own small context
   (`spec.build`), are applied once (N builds). Then a no-op is measured: `reconcile apply`
   in a fresh process (`RECONCILE_NO_SERVER=1`, as a new user runs it), and one pass in
   process, whose Engine calls are counted: a no-op must build and pull nothing.
2. **Push to "update available".** `reconcile run` follows one tag (`updatePolicy: notify`,
   `interval` 1 s and 5 s). The tag is moved in the registry (a manifest PUT, as a push does);
   the time until the loop's status document says `available` for that digest is measured.
   Expected: about half the interval plus a pass.

Every Engine object and image is named ``bench-img-<hex>...`` and removed at the end, also on
failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reconciler.converge import pipeline  # noqa: E402
from reconciler.loading import load  # noqa: E402
from reconciler.policy import Policy  # noqa: E402
from reconciler.runtime.docker import DockerRuntime  # noqa: E402
from reconciler.state.database import State  # noqa: E402

RECONCILE = REPO / ".venv" / "bin" / "reconcile"
BASE = "reconcile.local/busybox:latest"
REGISTRY = "127.0.0.1:5055"
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"

CONTAINER = """\
apiVersion: reconcile/v1
kind: Container
metadata: {{name: {name}}}
spec:
  image: {image}
  {source}
  command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 1; done"]
  stopGracePeriod: 1s
---
"""


def run(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, **kw)


def noop_with_built_images(n: int, rounds: int, work: Path, prefix: str) -> dict[str, Any]:
    manifests = work / f"built-{n}"
    manifests.mkdir()
    text = ""
    for i in range(n):
        ctx = work / f"ctx-{n}-{i}"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(f"FROM {BASE}\nCOPY page.txt /page.txt\n")
        (ctx / "page.txt").write_text(f"page {i}\n" * 50)
        (ctx / ".dockerignore").write_text("*.log\n")
        name = f"{prefix}-b{n}-{i}"
        text += CONTAINER.format(name=name, image=f"{prefix}/site-{i}:dev", source=f"build: {ctx}")
    (manifests / "set.yaml").write_text(text)
    project = f"{prefix}-b{n}"
    state = work / f"state-{n}"
    env = {**os.environ, "RECONCILE_NO_SERVER": "1"}
    cli = [str(RECONCILE), "apply", "-f", str(manifests), "-p", project, "--state-dir", str(state)]
    started = time.perf_counter()
    first = run(cli, env=env)
    cold = time.perf_counter() - started
    if first.returncode != 0:
        raise SystemExit(f"first apply failed:\n{first.stdout}\n{first.stderr}")
    fresh = []
    for _ in range(rounds):
        started = time.perf_counter()
        done = run(cli, env=env)
        fresh.append(time.perf_counter() - started)
        if done.returncode != 0 or "no changes" not in done.stdout:
            raise SystemExit(f"the no-op apply changed something:\n{done.stdout}\n{done.stderr}")
    in_process, calls = [], {}
    runtime = DockerRuntime.from_env()
    loaded = load([manifests])
    for _ in range(rounds):
        st = State.open(state)
        try:
            before = dict(runtime.calls)
            started = time.perf_counter()
            result = pipeline.run_pass(
                runtime,
                st,
                pipeline.Request(project, Policy(profile="privileged")),
                lambda: pipeline.Declared(loaded.manifests),
            )
            in_process.append(time.perf_counter() - started)
            calls = {
                k: v - before.get(k, 0) for k, v in runtime.calls.items() if v != before.get(k, 0)
            }
            assert not result.plan.steps, result.plan.steps
        finally:
            st.close()
    run(
        [str(RECONCILE), "delete", "-f", str(manifests), "-p", project, "--state-dir", str(state)],
        env=env,
    )
    return {
        "n": n,
        "cold_apply_with_builds_s": round(cold, 3),
        "noop_fresh_process_median_s": round(statistics.median(fresh), 3),
        "noop_in_process_median_s": round(statistics.median(in_process), 4),
        "noop_engine_calls": calls,
        "noop_builds": calls.get("image.build", 0),
        "noop_pulls": calls.get("image.pull", 0),
    }


def _retag(path: str, source: str, tag: str) -> str:
    get = urllib.request.Request(
        f"http://{REGISTRY}/v2/{path}/manifests/{source}", headers={"Accept": MANIFEST}
    )
    with urllib.request.urlopen(get, timeout=10) as answer:
        body = answer.read()
    put = urllib.request.Request(
        f"http://{REGISTRY}/v2/{path}/manifests/{tag}",
        data=body,
        method="PUT",
        headers={"Content-Type": MANIFEST},
    )
    with urllib.request.urlopen(put, timeout=10) as answer:
        return str(answer.headers["Docker-Content-Digest"])


def push_to_available(interval: int, rounds: int, work: Path, prefix: str) -> dict[str, Any]:
    path = f"{prefix}/follow"
    for v in ("a", "b"):
        ref = f"{REGISTRY}/{path}:{v}"
        ctx = work / f"img-{v}"
        ctx.mkdir(exist_ok=True)
        (ctx / "Dockerfile").write_text(f"FROM {BASE}\nRUN echo {v} > /v\n")
        if run(["docker", "build", "-q", "-t", ref, str(ctx)]).returncode != 0:
            raise SystemExit("cannot build the test image")
        if run(["docker", "push", ref]).returncode != 0:
            raise SystemExit(f"cannot push to {REGISTRY}: is scripts/registry running?")
    _retag(path, "a", "live")
    ref = f"{REGISTRY}/{path}:live"
    run(["docker", "pull", "-q", ref])  # the local tag where the registry's is (a rerun)
    manifests = work / f"follow-{interval}"
    manifests.mkdir()
    (manifests / "app.yaml").write_text(
        CONTAINER.format(
            name=f"{prefix}-f{interval}",
            image=ref,
            source=f"updatePolicy: {{mode: notify, interval: {interval}s}}",
        )
    )
    project, state = f"{prefix}-f{interval}", work / f"fstate-{interval}"
    loop = subprocess.Popen(
        [str(RECONCILE), "run", "-m", str(manifests), "-p", project, "--state-dir", str(state)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    latencies = []
    try:
        current = "a"
        _wait_for(state, project, lambda u: u.get("state") == "current", 60)
        for _ in range(rounds):
            current = "b" if current == "a" else "a"
            time.sleep(interval * 0.37)  # land anywhere in the interval
            started = time.time()
            digest = _retag(path, current, "live")
            _wait_for(state, project, lambda u, d=digest: u.get("latest") == d, 60)
            latencies.append(time.time() - started)
            # Back to "current" for the next round: let the local image follow.
            run(["docker", "pull", "-q", ref])
            _wait_for(state, project, lambda u: u.get("state") == "current", 60)
    finally:
        loop.terminate()
        loop.wait(timeout=30)
        run(["docker", "rm", "-f", f"{prefix}-f{interval}"])
    return {
        "interval_s": interval,
        "push_to_available_median_s": round(statistics.median(latencies), 3),
        "push_to_available_max_s": round(max(latencies), 3),
        "rounds": len(latencies),
    }


def _wait_for(state_dir: Path, project: str, test: Any, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = State.open(state_dir)
        try:
            found = st.load_status(project)
        finally:
            st.close()
        updates = (found[1].get("imageUpdates") or [{}]) if found else [{}]
        if test(updates[0]):
            return
        time.sleep(0.02)
    raise SystemExit("timed out waiting for the loop's status")


def cleanup(prefix: str) -> None:
    ids = run(["docker", "ps", "-aq", "--filter", f"name={prefix}"]).stdout.split()
    if ids:
        run(["docker", "rm", "-f", *ids])
    images = run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.split()
    mine = [i for i in images if prefix in i]
    if mine:
        run(["docker", "rmi", "-f", *mine])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--intervals", type=int, nargs="+", default=[1, 5])
    options = parser.parse_args()
    prefix = f"bench-img-{uuid.uuid4().hex[:6]}"
    results: dict[str, Any] = {"noop": [], "updates": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            for n in options.sizes:
                row = noop_with_built_images(n, options.rounds, work, prefix)
                results["noop"].append(row)
                print(json.dumps(row), flush=True)
            for interval in options.intervals:
                row = push_to_available(interval, options.rounds, work, prefix)
                results["updates"].append(row)
                print(json.dumps(row), flush=True)
    finally:
        cleanup(prefix)
    out = REPO / "benchmarks" / "results" / f"images-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
