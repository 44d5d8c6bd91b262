"""Helpers for apply scenarios against the real Engine: manifests written as YAML text, one
reconcile pass run in-process (``pipeline.run_pass`` with a real ``DockerRuntime`` and
``State``, under the privileged profile unless a test gives a policy), and Engine look-ups
through the docker SDK.

Manifests are ``string.Template`` text: ``$p`` is the test's unique prefix (the project and the
first part of every name), ``$image`` the local test image, plus any keyword given.
"""

from __future__ import annotations

import hashlib
import io
import string
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
from docker import DockerClient
from docker.models.containers import Container

from reconciler.controllers.plan import Plan
from reconciler.converge import pipeline
from reconciler.converge.pipeline import PassResult
from reconciler.loading import LoadedManifest, load
from reconciler.manifests import constants
from reconciler.policy import Policy
from reconciler.runtime.docker import DockerRuntime
from reconciler.state.database import State
from reconciler.values import desired as desired_mod
from reconciler.values.desired import DesiredState

# Scenarios are not about the host-access policy: nothing is refused unless a test says so.
PRIVILEGED = Policy(profile="privileged")
# A shell that exits at once on SIGTERM (busybox sh as PID 1 would otherwise ignore it).
LOOP = 'trap "exit 0" TERM; while true; do sleep 1; done'
# A shell that ignores SIGTERM: stopping it takes the whole stop grace period.
STUBBORN = 'trap "" TERM; while true; do sleep 1; done'

# One container of the project, in a file of its own (Scenario.write with name, loop, gen).
CONTAINER = """\
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-$name}
    spec:
      image: $image
      command: [sh, -c, '$loop']
      env: {GENERATION: "$gen"}
      stopGracePeriod: 1s
    """

# A container manifest with a misspelt field: line 6, column 3 (Scenario.write).
MISSPELT = """\
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-bad}
    spec:
      image: $image
      restartPolcy: always
    """


def serve(text: str, path: str = "index.html") -> str:
    """A shell command serving ``text`` at ``/path`` over HTTP on port 8080 (busybox httpd;
    stop it with SIGKILL: as PID 1 it ignores SIGTERM)."""
    return f"mkdir -p /www && echo {text} > /www/{path} && exec httpd -f -p 8080 -h /www"


# Engine call kinds (``DockerRuntime.calls`` keys) that only read.
READ_ONLY_CALL_SUFFIXES = (".list", ".inspect")
READ_ONLY_CALLS = frozenset({"info", "version", "ping"})


def changing_calls(calls: dict[str, int]) -> dict[str, int]:
    """The Engine calls in ``calls`` that may change something."""
    return {
        k: n
        for k, n in calls.items()
        if n and k not in READ_ONLY_CALLS and not k.endswith(READ_ONLY_CALL_SUFFIXES)
    }


def host_port(prefix: str, offset: int = 0) -> int:
    """A host port in 20000-29999 derived from the test prefix, so parallel tests differ."""
    assert 0 <= offset < 10
    slot = int(hashlib.sha256(prefix.encode()).hexdigest()[:8], 16) % 1000
    return 20000 + slot * 10 + offset


def render(text: str, **values: object) -> str:
    """Dedent ``text`` and substitute ``$name`` placeholders."""
    return string.Template(textwrap.dedent(text)).substitute({k: str(v) for k, v in values.items()})


@dataclass
class Scenario:
    """One project in one manifest directory, applied in-process."""

    project: str
    image: str
    directory: Path
    state_dir: Path
    client: DockerClient
    runtime: DockerRuntime = field(default_factory=DockerRuntime.from_env)

    def write(self, text: str, filename: str = "set.yaml", **values: object) -> Path:
        """Write a manifest file (replacing any of that name) and return its path."""
        path = self.directory / filename
        path.write_text(render(text, p=self.project, image=self.image, **values))
        return path

    def manifests(self) -> tuple[LoadedManifest, ...]:
        """The directory's manifests (which must be valid)."""
        result = load([self.directory])
        result.raise_for_problems()
        return result.manifests

    def desired(self) -> DesiredState:
        """The desired state of the directory's manifests (not admitted by any policy)."""
        return desired_mod.build(
            self.project, ((m.manifest, str(m.location)) for m in self.manifests())
        )

    def run(self, state: State, *, policy: Policy | None = None, **options: Any) -> PassResult:
        """One pass over the directory (``options``: fields of ``pipeline.Request``)."""
        request = pipeline.Request(self.project, policy or PRIVILEGED, **options)
        manifests = self.manifests()
        return pipeline.run_pass(self.runtime, state, request, lambda: pipeline.Declared(manifests))

    @contextmanager
    def state(self) -> Iterator[State]:
        """The state database, opened for one pass as the CLI does."""
        state = State.open(self.state_dir)
        try:
            yield state
        finally:
            state.close()

    def apply(self, *, expect_ok: bool = True, **options: Any) -> PassResult:
        """One pass that applies (options as for ``run``); by default every step must
        succeed and the plan must have no conflict."""
        with self.state() as state:
            result = self.run(state, **options)
        if expect_ok:
            assert result.outcome is not None
            assert result.outcome.ok, (result.outcome.failed, result.outcome.skipped)
            assert not result.plan.conflicts, result.plan.conflicts
        return result

    def plan(self, **options: Any) -> Plan:
        """The plan of a dry-run pass."""
        with self.state() as state:
            return self.run(state, dry_run=True, **options).plan

    def assert_in_sync(self, **options: Any) -> Plan:
        """Plan again: nothing may be left to do."""
        plan = self.plan(**options)
        assert not plan.has_changes, [(s.key, s.action, s.reason, s.diffs) for s in plan.steps]
        assert not plan.conflicts, plan.conflicts
        return plan

    # -- Engine look-ups ------------------------------------------------------------------

    def container(self, name: str) -> Container:
        """The live container ``<project>-<name>``."""
        return self.client.containers.get(f"{self.project}-{name}")

    def container_names(self) -> list[str]:
        """Names of every container of the project (by label) or named with its prefix."""
        return project_containers(self.client, self.project)

    def exec(self, name: str, *command: str) -> tuple[int, str]:
        """Run a command in a container; return its exit code and output."""
        code, out = self.container(name).exec_run(list(command))
        assert code is not None and isinstance(out, bytes)
        return code, out.decode(errors="replace")


def read_volume_file(sc: Scenario, volume: str, path: str = "file") -> str:
    """The content of ``path`` in a volume, read by a throwaway container (named with the
    project, so cleanup finds it even if the run fails half-way)."""
    out = sc.client.containers.run(
        sc.image,
        ["cat", f"/v/{path}"],
        name=f"{sc.project}-reader",
        volumes={volume: {"bind": "/v", "mode": "ro"}},
        remove=True,
    )
    assert isinstance(out, bytes)
    return out.decode()


def project_containers(client: DockerClient, project: str) -> list[str]:
    """Sorted names of all containers labelled with ``project`` or named with it as prefix."""
    by: list[dict[str, str | list[str] | bool]] = [
        {"name": project},
        {"label": f"{constants.LABEL_PROJECT}={project}"},
    ]
    # The low-level list: the high-level one inspects each container it lists, and one that
    # is removed in between (by the command under test) would fail the look-up.
    found = {
        str(name).lstrip("/")
        for filters in by
        for c in client.api.containers(all=True, filters=filters)
        for name in c.get("Names") or ()
    }
    return sorted(n for n in found if n.startswith(project))


def build_image(client: DockerClient, base: str, tag: str, instruction: str) -> str:
    """Build a trivial image: FROM ``base`` plus one Dockerfile ``instruction``, tagged
    ``tag``; return its ID."""
    dockerfile = f"FROM {base}\n{instruction}\n"
    image, _ = client.images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, pull=False
    )
    return str(image.id)


def remove_images(client: DockerClient, ids: list[str]) -> None:
    """Remove images by ID (forcefully, so any tags go too); missing ones are fine."""
    for ident in ids:
        with suppress(docker.errors.NotFound):
            client.images.remove(ident, force=True)


def wait_until(
    predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.05
) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; return whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
