"""``reconcile --backend swarm apply`` of N services against ``docker stack deploy`` of the
equivalent compose file, on the same single-node swarm: cold (nothing exists) and no-op (the
same again), each a new process as users run them (no warm server).

The swarm is a private dockerd (scripts/private-dockerd: a network namespace of its own) made
a swarm manager; the machine's main Engine is never touched. Run as root, after scripts/setup:

    .venv/bin/python benchmarks/swarm_stack.py [--services 5 20] [--repeat 3]

Both sides create N replicated services (1 replica each, the test image, ``sleep``) on one
overlay network and return once the Engine accepted them (``stack deploy`` detached, with
``--resolve-image never``: reconcile does not pin digests either, and the image is local).
Rounds interleave the two tools; each round's services are removed, and their tasks gone,
before the next. The daemon is stopped at the end, whatever happened.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGE = "reconcile.local/busybox:latest"
RECONCILE = Path(sys.executable).with_name("reconcile")
PRIVATE_DOCKERD = REPO / "scripts" / "private-dockerd"

NETWORK = """\
apiVersion: reconcile/v1
kind: Network
metadata: {{name: {p}-net}}
"""
SERVICE = """\
---
apiVersion: reconcile/v1
kind: Container
metadata: {{name: {p}-s{i}}}
spec:
  image: {image}
  args: [sleep, "100000"]
  stopGracePeriod: 1s
  networks: [{{name: {p}-net}}]
  swarm: {{replicas: 1}}
"""
COMPOSE_HEAD = "services:\n"
COMPOSE_SERVICE = """\
  s{i}:
    image: {image}
    command: [sleep, "100000"]
    stop_grace_period: 1s
    deploy: {{replicas: 1}}
"""


def timed(args: list[str], env: dict[str, str]) -> float:
    """Seconds ``args`` took; it must succeed."""
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return took


def docker(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        ["docker", *args], env=env, capture_output=True, text=True, check=True
    ).stdout


def check_services(env: dict[str, str], n: int) -> None:
    """Both tools must really have made N services (a timing of nothing is no timing)."""
    found = len(docker(env, "service", "ls", "-q").split())
    if found != n:
        raise SystemExit(f"expected {n} services, found {found}")


def wait_empty(env: dict[str, str]) -> None:
    """Until no service, no task container and no stack network is left (removal is async)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        services = docker(env, "service", "ls", "-q").split()
        containers = docker(env, "ps", "-aq").split()
        networks = docker(
            env, "network", "ls", "-q", "--filter", "label=com.docker.stack.namespace"
        )
        if not services and not containers and not networks.split():
            return
        time.sleep(0.5)
    raise SystemExit("the swarm did not empty within 120 s")


def reconcile_round(work: Path, env: dict[str, str], p: str, n: int) -> tuple[float, float]:
    directory = work / p
    directory.mkdir()
    text = NETWORK.format(p=p) + "".join(SERVICE.format(p=p, i=i, image=IMAGE) for i in range(n))
    (directory / "set.yaml").write_text(text)
    apply = [str(RECONCILE), "--backend", "swarm", "apply", "-f", str(directory)]
    cold = timed(apply, env)
    check_services(env, n)
    noop = timed(apply, env)
    timed([str(RECONCILE), "--backend", "swarm", "delete", "-f", str(directory)], env)
    wait_empty(env)
    return cold, noop


def stack_round(work: Path, env: dict[str, str], p: str, n: int) -> tuple[float, float]:
    compose = work / f"{p}.yaml"
    compose.write_text(
        COMPOSE_HEAD + "".join(COMPOSE_SERVICE.format(i=i, image=IMAGE) for i in range(n))
    )
    deploy = ["docker", "stack", "deploy", "--detach=true", "--resolve-image", "never"]
    deploy += ["-c", str(compose), p]
    cold = timed(deploy, env)
    check_services(env, n)
    noop = timed(deploy, env)
    timed(["docker", "stack", "rm", p], env)
    wait_empty(env)
    return cold, noop


def summary(samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return f"{statistics.median(ms):.0f} ms ({min(ms):.0f}, {max(ms):.0f})"


def stop_engine(root: Path) -> None:
    """Stop the private dockerd, kill its leftover shims, remove its mounts and files."""
    subprocess.run([str(PRIVATE_DOCKERD), "stop", str(root)], check=False, capture_output=True)
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                args = (proc / "cmdline").read_bytes().split(b"\0")
                if f"{root}/".encode() in b" ".join(args) and b"shim" in args[0]:
                    os.kill(int(proc.name), signal.SIGKILL)
    mounts = [
        line.split()[1]
        for line in Path("/proc/mounts").read_text().splitlines()
        if line.split()[1].startswith(f"{root}/")
    ]
    for mount in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
    subprocess.run(["rm", "-rf", str(root)], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="rt-bench-", dir="/tmp"))
    work = Path(tempfile.mkdtemp(prefix="swarm-stack-"))
    try:
        host = subprocess.run(
            [str(PRIVATE_DOCKERD), "start", str(root)], capture_output=True, text=True, check=True
        ).stdout.strip()
        env = {**os.environ, "DOCKER_HOST": host, "RECONCILE_NO_SERVER": "1"}
        env["RECONCILE_STATE_DIR"] = str(work / "state")
        env.pop("DOCKER_CONTEXT", None)
        docker(env, "swarm", "init", "--advertise-addr", "127.0.0.1")
        saved = subprocess.run(["docker", "save", IMAGE], capture_output=True, check=True)
        subprocess.run(
            ["docker", "-H", host, "load"], input=saved.stdout, capture_output=True, check=True
        )
        tools: dict[str, Callable[[Path, dict[str, str], str, int], tuple[float, float]]] = {
            "reconcile apply": reconcile_round,
            "docker stack deploy": stack_round,
        }
        print(f"load average at start: {os.getloadavg()[0]:.1f}")
        rows = []
        for n in options.services:
            results: dict[str, tuple[list[float], list[float]]] = {t: ([], []) for t in tools}
            for r in range(options.repeat):
                for tool, run in tools.items():
                    prefix = f"b{n}r{r}{'rc' if tool.startswith('reconcile') else 'st'}"
                    cold, noop = run(work, env, prefix, n)
                    results[tool][0].append(cold)
                    results[tool][1].append(noop)
                    print(
                        f"N={n} round {r} {tool}: cold {cold:.2f}s, no-op {noop:.2f}s", flush=True
                    )
            for tool, (cold_s, noop_s) in results.items():
                rows.append(f"| {n} | {tool} | {summary(cold_s)} | {summary(noop_s)} |")
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
        print("| N | tool | cold | no-op |\n| --- | --- | --- | --- |")
        print("\n".join(rows))
    finally:
        stop_engine(root)
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
