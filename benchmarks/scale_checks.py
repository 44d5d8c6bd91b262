#!/usr/bin/env python3
"""Issue 19's scale targets, measured (not timed tests):

    .venv/bin/python benchmarks/scale_checks.py [--n 50] [--repeat 7] [--idle-seconds 30]

On N running containers (one_change_ab.py's workload): `reconcile get -f DIR` and, while
the loop runs, `reconcile status -p P` as whole commands (RECONCILE_NO_SERVER=1; target
< 0.3 s); an in-loop no-change pass in process (its Engine calls and wall time; target
O(1) calls, < 50 ms); `reconcile run` left idle (CPU over the window from /proc, the largest
RSS; target < 1% of a core and < 100 MB). Medians; names ``bench-ab-<hex>``, removed after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from one_change_ab import manifests  # beside this file

RECONCILE = str(Path(sys.executable).parent / "reconcile")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def timed(args: list[str]) -> float:
    env = dict(os.environ, RECONCILE_NO_SERVER="1")
    started = time.perf_counter()
    done = subprocess.run([RECONCILE, *args], env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 3):
        raise SystemExit(f"{args}: {done.stderr.decode()}")
    return elapsed


def cpu_rss(pid: int) -> tuple[float, float]:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = float(line.split()[1]) / 1024
    return cpu, rss


def loop_pass(directory: Path, project: str, state_dir: Path, repeat: int) -> None:
    from reconciler.loop.runner import Loop, LoopSettings
    from reconciler.policy import Policy
    from reconciler.runtime.docker import DockerRuntime
    from reconciler.state.database import State

    runtime = DockerRuntime.from_env()
    state = State.open(state_dir / "loop.db")
    loop = Loop(LoopSettings(directory, project, Policy()), runtime, state)
    try:
        loop.run_pass(["bench"])
        times, calls = [], {}
        for _ in range(repeat):
            before = dict(runtime.calls)
            started = time.perf_counter()
            loop.run_pass(["bench"])
            times.append(time.perf_counter() - started)
            calls = {k: v - before.get(k, 0) for k, v in runtime.calls.items()}
        used = {k: v for k, v in calls.items() if v}
        print(
            f"in-loop no-change pass: {statistics.median(times) * 1000:.1f} ms median of "
            f"{repeat}; Engine calls {sum(used.values())} {used}"
        )
    finally:
        loop.watcher.stop()
        state.close()
        runtime.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    args = parser.parse_args()
    tag = uuid.uuid4().hex[:6]
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    directory, state_dir, project = tmp / "m", tmp / "s", f"scale{tag}"
    manifests(directory, f"bench-ab-{tag}", args.n, "1")
    base = ["--state-dir", str(state_dir)]
    try:
        timed(["apply", "-f", str(directory), "-p", project, *base])
        gets = [
            timed(["get", "-f", str(directory), "-p", project, *base]) for _ in range(args.repeat)
        ]
        print(
            f"N={args.n}: reconcile get -f {statistics.median(gets):.3f} s "
            f"(median of {args.repeat})"
        )
        loop_pass(directory, project, tmp, args.repeat)
        log = (tmp / "loop.log").open("w")
        proc = subprocess.Popen(
            [RECONCILE, "run", "-m", str(directory), "-p", project, *base],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            time.sleep(10)  # the first pass and the watcher settle
            # status reads what the loop reports, so it is measured while the loop runs.
            statuses = [timed(["status", "-p", project, *base]) for _ in range(args.repeat)]
            print(f"reconcile status -p {statistics.median(statuses):.3f} s (median)")
            cpu0, _ = cpu_rss(proc.pid)
            started, rss_max = time.monotonic(), 0.0
            while time.monotonic() - started < args.idle_seconds:
                time.sleep(2)
                rss_max = max(rss_max, cpu_rss(proc.pid)[1])
            cpu = cpu_rss(proc.pid)[0] - cpu0
            elapsed = time.monotonic() - started
            print(
                f"idle loop over {elapsed:.0f} s: {100 * cpu / elapsed:.2f}% of a core "
                f"({cpu * 60 / elapsed:.3f} CPU s/min), RSS max {rss_max:.1f} MB"
            )
        finally:
            proc.terminate()
            proc.wait(30)
        return 0
    finally:
        timed(["delete", "-f", str(directory), "-p", project, *base])


if __name__ == "__main__":
    raise SystemExit(main())
