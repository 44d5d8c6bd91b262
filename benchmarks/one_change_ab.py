#!/usr/bin/env python3
"""One changed container, two versions of reconcile's code, interleaved (issue 19's recreate).

    .venv/bin/python benchmarks/one_change_ab.py --before /tmp/old-tree [--rounds 9] [--n 10]

``--before`` is a directory holding another ``reconciler/`` package (e.g. ``git archive REV
reconciler | tar -x -C DIR``); the other version is this checkout's. Both apply the same N
containers (busybox sleep loop, one user-defined network) under their own names and state
directories; each round flips ``REV`` of container 0 once per version, alternately first, with
``--timings`` and ``RECONCILE_NO_SERVER=1``. Printed: medians of the whole command, of its
``execute`` phase (the recreate's Engine work) and the Engine calls. Names: ``bench-ab-<hex>``,
removed at the end.
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGE = "reconcile.local/busybox:latest"
SCRIPT = 'trap "exit 0" TERM; while :; do sleep 1 & wait $!; done'


def manifests(directory: Path, prefix: str, n: int, rev: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "net.yaml").write_text(
        f"apiVersion: reconcile/v1\nkind: Network\nmetadata: {{name: {prefix}-net}}\n"
    )
    for i in range(n):
        (directory / f"c{i:03d}.yaml").write_text(
            "apiVersion: reconcile/v1\nkind: Container\n"
            f"metadata: {{name: {prefix}-c{i:03d}}}\nspec:\n  image: {IMAGE}\n"
            f"  command: [sh, -c, '{SCRIPT}']\n"
            f'  env: {{REV: "{rev if i == 0 else "1"}"}}\n'
            f"  networks: [{{name: {prefix}-net}}]\n"
        )


def run(code: Path, args: list[str]) -> tuple[float, str]:
    env = dict(os.environ, RECONCILE_NO_SERVER="1", PYTHONPATH=str(code))
    cmd = [sys.executable, "-c", "from reconciler.cli.launch import main; main()", *args]
    started = time.perf_counter()
    # Not run from the checkout: ``python -c`` puts the working directory first on sys.path.
    done = subprocess.run(
        cmd, env=env, capture_output=True, text=True, check=False, cwd=tempfile.gettempdir()
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{args} failed: {done.stderr}")
    return elapsed, done.stderr


def phase(stderr: str, name: str) -> float:
    found = re.search(rf"^  {name} +([\d.]+) ms$", stderr, re.MULTILINE)
    return float(found.group(1)) / 1000 if found else 0.0


def calls(stderr: str) -> str:
    found = re.search(r"^engine calls: (.*)$", stderr, re.MULTILINE)
    return found.group(1) if found else "?"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--n", type=int, default=10)
    args = parser.parse_args()
    versions = {"before": args.before.resolve(), "after": REPO}
    for code in versions.values():
        compileall.compile_dir(str(code / "reconciler"), quiet=1)
    tag = uuid.uuid4().hex[:6]
    tmp = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    seen: dict[str, dict[str, list[float]]] = {v: {"total": [], "execute": []} for v in versions}
    last_calls: dict[str, str] = {}
    revs = {v: "1" for v in versions}
    try:
        for version, code in versions.items():
            prefix = f"bench-ab-{tag}-{version[0]}"
            manifests(tmp / version, prefix, args.n, "1")
            run(code, ["apply", "-f", str(tmp / version), "--state-dir", str(tmp / f"s-{version}")])
        for rnd in range(args.rounds):
            order = list(versions) if rnd % 2 == 0 else list(reversed(versions))
            for version in order:
                revs[version] = "2" if revs[version] == "1" else "1"
                prefix = f"bench-ab-{tag}-{version[0]}"
                manifests(tmp / version, prefix, args.n, revs[version])
                state = str(tmp / f"s-{version}")
                total, stderr = run(
                    versions[version],
                    ["apply", "-f", str(tmp / version), "--state-dir", state, "--timings"],
                )
                seen[version]["total"].append(total)
                seen[version]["execute"].append(phase(stderr, "execute"))
                last_calls[version] = calls(stderr)
        for version in versions:
            total = statistics.median(seen[version]["total"])
            execute = statistics.median(seen[version]["execute"])
            print(
                f"{version:<7} N={args.n} rounds={args.rounds}: whole command {total:.3f} s, "
                f"execute {execute:.3f} s; engine calls {last_calls[version]}"
            )
        return 0
    finally:
        for version, code in versions.items():
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "from reconciler.cli.launch import main; main()",
                    "delete",
                    "-f",
                    str(tmp / version),
                    "--state-dir",
                    str(tmp / f"s-{version}"),
                ],
                env=dict(os.environ, RECONCILE_NO_SERVER="1", PYTHONPATH=str(code)),
                capture_output=True,
                check=False,
                cwd=tempfile.gettempdir(),
            )


if __name__ == "__main__":
    raise SystemExit(main())
