"""Helpers for end-to-end tests of ``reconcile run``: the loop as a subprocess, its JSON log,
its status document, and polling with a deadline.

Manifests are ``string.Template`` text as in ``tests.docker.scenario``: ``$p`` is the project
(the test's unique prefix), ``$image`` the test image, plus any keyword given.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
import pytest
from docker import DockerClient
from docker.models.containers import Container

from reconciler.state import engines
from reconciler.state.database import State
from tests.docker.scenario import LOOP, render

# A container that stops at once on SIGTERM; the loop, not the Engine, restarts it.
CONTAINER = """\
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-$name}
    spec:
      image: $image
      command: [sh, -c, '$command']
      env: {GENERATION: "$gen"}
      restartPolicy: "no"
      stopGracePeriod: 1s
    """

# How long a condition the loop should reach soon may take on a loaded CI machine.
SOON = 20.0


def eventually(
    predicate: Callable[[], object],
    what: str,
    timeout: float = SOON,
    interval: float = 0.1,
    context: Callable[[], str] | None = None,
) -> None:
    """Poll ``predicate`` until it is truthy; fail with ``what`` (and ``context()``) if it
    never is within ``timeout`` seconds. Transient Engine errors count as "not yet"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except docker.errors.NotFound:
            pass
        if time.monotonic() >= deadline:
            detail = f"\n{context()}" if context is not None else ""
            pytest.fail(f"timed out after {timeout:.0f}s waiting until {what}{detail}")
        time.sleep(interval)


@dataclass
class LoopProcess:
    """A running ``reconcile run`` with its stderr (the JSON log) in a file."""

    process: subprocess.Popen[bytes]
    log_path: Path
    out_path: Path

    def log(self) -> list[dict[str, Any]]:
        """Every complete log line so far, parsed (each must be a JSON object)."""
        text = self.log_path.read_text(errors="replace")
        lines = text.split("\n")[:-1]  # the last piece may be a line being written
        return [json.loads(line) for line in lines if line.strip()]

    def passes(self) -> list[dict[str, Any]]:
        """The ``pass`` lines (``-v``): seconds, reasons (comma-separated) and steps."""
        return [line for line in self.log() if line.get("msg") == "pass"]

    def passes_for(self, reason: str) -> list[dict[str, Any]]:
        """The passes that ``reason`` triggered (alone or with other triggers)."""
        return [p for p in self.passes() if reason in str(p.get("reasons", "")).split(",")]

    def actions(self) -> list[dict[str, Any]]:
        """The action lines: resource, action, reason, fields, seconds."""
        return [line for line in self.log() if "action" in line and "resource" in line]

    def tail(self, lines: int = 40) -> str:
        """The end of the raw log, for failure messages."""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "reconcile run log (tail):\n" + "\n".join(text[-lines:])

    @property
    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``; the exit code
        (negative for a signal)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


@dataclass
class LoopRig:
    """One project: a manifest directory, a state directory and ``reconcile run`` processes."""

    project: str
    image: str
    directory: Path
    state_dir: Path
    client: DockerClient
    reconcile_bin: Path
    work: Path
    env: Mapping[str, str] = field(default_factory=dict)
    processes: list[LoopProcess] = field(default_factory=list)

    # -- manifests ------------------------------------------------------------------------

    def write(self, text: str, filename: str, **values: object) -> Path:
        """Write a manifest file (replacing any of that name) and return its path."""
        path = self.directory / filename
        path.write_text(self.render(text, **values))
        return path

    def render(self, text: str, **values: object) -> str:
        """Manifest text with ``$p``, ``$image`` and ``values`` substituted."""
        return render(text, p=self.project, image=self.image, **values)

    def container_yaml(self, name: str, gen: int = 1, command: str = LOOP) -> str:
        """The manifest of container ``<project>-<name>`` (restartPolicy no, 1 s grace)."""
        return self.render(CONTAINER, name=name, gen=gen, command=command)

    def declare(self, name: str, gen: int = 1, filename: str | None = None) -> Path:
        """Declare container ``<project>-<name>`` in ``<name>.yaml`` (or ``filename``)."""
        path = self.directory / (filename or f"{name}.yaml")
        path.write_text(self.container_yaml(name, gen))
        return path

    # -- the loop -------------------------------------------------------------------------

    def start(self, *extra: str, prune: bool = True, tag: str = "") -> LoopProcess:
        """Start ``reconcile run`` (JSON log, -v) in the background."""
        args = [
            str(self.reconcile_bin),
            "run",
            "-m",
            str(self.directory),
            "-p",
            self.project,
            "-v",
            "--log-format",
            "json",
            "--state-dir",
            str(self.state_dir),
            *(["--prune"] if prune else []),
            *extra,
        ]
        return self.spawn(args, f"run{len(self.processes)}{tag}", self.env)

    def spawn(self, args: list[str], stem: str, env: Mapping[str, str]) -> LoopProcess:
        """Start a long-running ``reconcile`` process, its stderr (the log) in ``stem.log`` and
        its stdout in ``stem.out``; stopped by ``stop_all``."""
        log_path, out_path = self.work / f"{stem}.log", self.work / f"{stem}.out"
        with log_path.open("wb") as err, out_path.open("wb") as out:
            process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env={**os.environ, **env},
                cwd=self.work,
            )
        loop = LoopProcess(process, log_path, out_path)
        self.processes.append(loop)
        return loop

    def stop_all(self) -> None:
        """Stop every loop this rig started (SIGTERM, then SIGKILL)."""
        for loop in self.processes:
            loop.terminate(timeout=20)

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run another ``reconcile`` command on this project's state (``-p`` and
        ``--state-dir`` appended)."""
        return subprocess.run(
            [
                str(self.reconcile_bin),
                *args,
                "-p",
                self.project,
                "--state-dir",
                str(self.state_dir),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            cwd=self.work,
        )

    def engine_state_dir(self) -> Path:
        """Where the loop keeps the state of its Engine: the state directory itself for the
        machine's own Engine, ``engines/<key>`` under it for another (a private dockerd)."""
        host = self.env.get("DOCKER_HOST") or os.environ.get("DOCKER_HOST") or ""
        if host:
            known = engines.known_state_dir(self.state_dir, host, False)
            if known is not None:
                return known
        return self.state_dir

    def status(self) -> dict[str, Any]:
        """The loop's last status document (``{}`` before the first pass)."""
        state = State.open(self.engine_state_dir())
        try:
            found = state.load_status(self.project)
        finally:
            state.close()
        return {} if found is None else found[1]

    def resource(self, name: str, kind: str = "Container") -> dict[str, Any]:
        """The status row of ``<project>-<name>`` (``{}`` when there is none)."""
        full = f"{self.project}-{name}"
        for row in self.status().get("resources", []):
            if row["kind"] == kind and row["name"] == full:
                return dict(row)
        return {}

    def events(self) -> list[dict[str, Any]]:
        """The events journal of the project, oldest first."""
        state = State.open(self.engine_state_dir())
        try:
            return [e.__dict__ for e in state.events(self.project, 500)]
        finally:
            state.close()

    # -- the Engine -----------------------------------------------------------------------

    def container(self, name: str) -> Container | None:
        """The live container ``<project>-<name>``, or None."""
        try:
            return self.client.containers.get(f"{self.project}-{name}")
        except docker.errors.NotFound:
            return None

    def running(self, name: str, gen: int | None = None) -> bool:
        """True when ``<project>-<name>`` runs (with env GENERATION=gen, if given)."""
        c = self.container(name)
        if c is None or c.attrs["State"]["Status"] != "running":
            return False
        return gen is None or f"GENERATION={gen}" in c.attrs["Config"]["Env"]

    def started_at(self, name: str) -> tuple[str, str]:
        """(id, StartedAt) of ``<project>-<name>``: changes whenever it is (re)started."""
        c = self.container(name)
        assert c is not None, f"{self.project}-{name} does not exist"
        return str(c.id), str(c.attrs["State"]["StartedAt"])

    def names(self) -> list[str]:
        """Suffixes of the project's containers that exist (after ``<project>-``)."""
        found = self.client.containers.list(all=True, filters={"name": self.project})
        return sorted(
            (c.name or "").removeprefix(f"{self.project}-")
            for c in found
            if (c.name or "").startswith(f"{self.project}-")
        )

    def eventually(self, predicate: Callable[[], object], what: str, timeout: float = SOON) -> None:
        """``eventually`` with the tail of the newest loop's log in the failure message."""
        if not self.processes:
            eventually(predicate, what, timeout=timeout)
            return
        loop = self.processes[-1]

        def alive_and(this: Callable[[], object] = predicate) -> object:
            # A loop that died will never get there: fail at once, with its log.
            if not loop.alive:
                pytest.fail(f"reconcile run exited ({loop.process.returncode})\n{loop.tail()}")
            return this()

        eventually(alive_and, what, timeout=timeout, context=loop.tail)


def make_rig(
    client: DockerClient,
    image: str,
    project: str,
    reconcile_bin: Path,
    tmp_path: Path,
    env: Mapping[str, str] | None = None,
) -> Iterator[LoopRig]:
    """A rig whose loops are stopped afterwards (the body of the ``rig`` fixtures)."""
    directory = tmp_path / "manifests"
    directory.mkdir()
    rig = LoopRig(
        project, image, directory, tmp_path / "state", client, reconcile_bin, tmp_path, env or {}
    )
    try:
        yield rig
    finally:
        rig.stop_all()
