"""What reaching the Engine over ssh costs, against the local unix socket: the first Engine
answer of a fresh client (connect, ssh handshake, ``docker system dial-stdio`` starting on
the host), a kept-alive request, and a no-op ``reconcile diff`` of N containers run as a
user runs it (a new process each time, no warm server).

The ssh side is the test sshd of scripts/sshd on 127.0.0.1 (the same machine's Engine, so
the difference is ssh's and dial-stdio's own cost, with no network latency). Run as root:

    bash scripts/sshd start
    .venv/bin/python benchmarks/remote_engines.py [--containers 20] [--repeat 9]

Every container is named ``bench-ssh-<hex>-N`` and removed at the end.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reconciler.runtime.docker import addresses, client  # noqa: E402

IMAGE = "reconcile.local/busybox:latest"
RECONCILE = Path(sys.executable).with_name("reconcile")
MANIFEST = """\
apiVersion: reconcile/v1
kind: Container
metadata: {{name: {name}}}
spec:
  image: {image}
  command: [sh, -c, 'trap "exit 0" TERM; while true; do sleep 1; done']
  networkMode: none
  stopGracePeriod: 1s
"""


def ssh_path(work: Path, multiplex: bool) -> str:
    sshd = subprocess.run(
        ["bash", str(REPO / "scripts" / "sshd"), "start"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    bin_dir = work / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "ssh"
    # ControlMaster: later ssh processes share the first one's connection (no handshake).
    shared = f"-o ControlMaster=auto -o ControlPath={work}/cm-%C -o ControlPersist=60 "
    extra = shared if multiplex else ""
    wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {sshd}/ssh_config {extra}"$@"\n')
    wrapper.chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


def first_answer(url: str, env: dict[str, str], repeat: int) -> tuple[list[float], list[float]]:
    """Seconds to the first answer of a fresh client, and of a request on its kept-alive
    connection."""
    first, again = [], []
    for _ in range(repeat):
        api = client.Client(addresses.parse(url), environment=env)
        started = time.perf_counter()
        api.negotiate()
        first.append(time.perf_counter() - started)
        started = time.perf_counter()
        api.get("/_ping")
        again.append(time.perf_counter() - started)
        api.close()
    return first, again


def noop_diff(args: list[str], env: dict[str, str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(
            [str(RECONCILE), "diff", *args], env=env, capture_output=True, text=True, check=False
        )
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"reconcile diff failed ({done.returncode}): {done.stderr}")
    return times


def ms(values: list[float]) -> str:
    low, high = min(values) * 1000, max(values) * 1000
    return f"{statistics.median(values) * 1000:.0f} ms (min {low:.0f}, max {high:.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument(
        "--multiplex", action="store_true", help="ssh with ControlMaster/ControlPersist"
    )
    parser.add_argument("--port", default=os.environ.get("RECONCILE_SSHD_PORT", "2222"))
    options = parser.parse_args()
    ssh_url = f"ssh://root@127.0.0.1:{options.port}"
    unix_url = "unix:///var/run/docker.sock"
    with tempfile.TemporaryDirectory(prefix="bench-ssh-") as work_name:
        work = Path(work_name)
        path = ssh_path(work, options.multiplex)
        base = {**os.environ, "PATH": path, "RECONCILE_NO_SERVER": "1"}
        project = f"bench-ssh-{uuid.uuid4().hex[:8]}"
        manifests = work / "m"
        manifests.mkdir()
        for n in range(options.containers):
            name = f"{project}-{n}"
            (manifests / f"{name}.yaml").write_text(MANIFEST.format(name=name, image=IMAGE))
        args = ["-f", str(manifests), "-p", project, "--state-dir", str(work / "state")]
        unix_env = {**base, "DOCKER_HOST": unix_url}
        ssh_env = {**base, "DOCKER_HOST": ssh_url}
        rows = []
        try:
            for label, url in (("unix socket", unix_url), ("ssh", ssh_url)):
                first, again = first_answer(url, base, options.repeat)
                rows.append((f"first answer of a new client, {label}", ms(first)))
                rows.append((f"a kept-alive request, {label}", ms(again)))
            apply = subprocess.run(
                [str(RECONCILE), "apply", *args],
                env=unix_env,
                capture_output=True,
                text=True,
                check=False,
            )
            if apply.returncode != 0:
                raise SystemExit(f"reconcile apply failed: {apply.stderr}")
            unix_times: list[float] = []
            ssh_times: list[float] = []
            for _ in range(options.repeat):  # interleaved, one of each per round
                unix_times += noop_diff(args, unix_env, 1)
                ssh_times += noop_diff(args, ssh_env, 1)
            rows.append(
                (
                    f"no-op `reconcile diff`, {options.containers} containers, unix socket",
                    ms(unix_times),
                )
            )
            rows.append(
                (f"no-op `reconcile diff`, {options.containers} containers, ssh", ms(ssh_times))
            )
        finally:
            subprocess.run(
                [str(RECONCILE), "delete", *args],
                env=unix_env,
                capture_output=True,
                text=True,
                check=False,
            )
    width = max(len(r[0]) for r in rows)
    shared = ", ssh ControlMaster on" if options.multiplex else ""
    print(f"median of {options.repeat}{shared}")
    for label, value in rows:
        print(f"{label.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
