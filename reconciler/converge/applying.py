"""Applying: runs a plan's steps through a runtime backend.

Apply decides *how* to do a step, never *whether*: that was the planner's call. Steps run in
parallel (bounded) as soon as the steps they wait for have succeeded; a failed step skips the
steps that depend on it and nothing else. Recreates are crash-safe: the replacement is created
under a temporary name first (see docs/decisions/crash-safe-recreate.md).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from reconciler.controllers.plan import Action, Kind, Plan, Step
from reconciler.converge import waiting
from reconciler.converge.imaging import Images
from reconciler.converge.ledger import Ledger
from reconciler.errors import NameTaken, ReconcileError
from reconciler.manifests import constants
from reconciler.runtime.base import ObserveRequest, Runtime
from reconciler.values.desired import (
    DesiredContainer,
    DesiredNetwork,
    DesiredVolume,
    config_hash,
    ownership_labels,
)
from reconciler.values.observed import ContainerStatus, ImageInfo

# Steps in flight at once. The Engine serializes much of its own work; removals gain most from
# more (50 containers: 5.4 s at 8, 4.4 s at 16, 3.5 s at 32), creates little.
DEFAULT_PARALLELISM = 16


class StepFailed(ReconcileError):
    """A step could not be completed (the reason is the message)."""


@dataclass(frozen=True)
class Progress:
    """A step starting, finishing, failing or being skipped, for whoever reports progress."""

    step: Step
    phase: str  # start | done | failed | skipped | warning (the step goes on)
    message: str = ""
    seconds: float = 0.0


@dataclass
class ApplyOutcome:
    """What happened to each step of a plan."""

    done: list[Step] = field(default_factory=list)
    failed: list[tuple[Step, str]] = field(default_factory=list)
    skipped: list[tuple[Step, str]] = field(default_factory=list)
    # Steps that went on past something (an optional dependency that did not come up).
    warnings: list[tuple[Step, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every step succeeded."""
        return not self.failed and not self.skipped


Reporter = Callable[[Progress], None]


def _ignore(_: Progress) -> None:
    return None


class Applier:
    """Executes plans for one project against one runtime."""

    def __init__(
        self,
        runtime: Runtime,
        project: str,
        hash_key: bytes,
        *,
        parallelism: int = DEFAULT_PARALLELISM,
        health_timeout: float = 120.0,
        report: Reporter = _ignore,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        post_create: Callable[[str, DesiredContainer], list[str]] | None = None,
        post_start: Callable[[str, DesiredContainer], list[str]] | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.runtime = runtime
        self.project = project
        self.hash_key = hash_key
        self.parallelism = max(1, parallelism)
        self.health_timeout = health_timeout
        self.report = report
        self.sleep = sleep
        self.clock = clock
        self.post_create = post_create
        self.post_start = post_start
        self.ledger = ledger
        self.images = Images(runtime)
        self._lock = threading.Lock()
        self._failed: set[str] = set()  # keys of the steps of this run that failed
        self._warnings: list[tuple[Step, str]] = []

    # -- scheduling -----------------------------------------------------------------------

    def run(self, plan: Plan, stop: threading.Event | None = None) -> ApplyOutcome:
        """Run every step of ``plan``, in parallel where the plan allows.

        When ``stop`` is set, steps already running finish and no new one starts (the rest
        are reported as skipped); the next pass picks up from whatever state that leaves.
        """
        outcome = ApplyOutcome()
        pending = {s.key: s for s in plan.steps}
        planned = set(pending)
        succeeded: set[str] = set()
        finished: set[str] = set()
        running: dict[Future[None], Step] = {}
        with ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="apply") as pool:
            while pending or running:
                for key, step in list(pending.items()):
                    if stop is not None and stop.is_set():
                        del pending[key]
                        outcome.skipped.append((step, "shutting down"))
                        continue
                    known_after = [k for k in step.after if k in planned]
                    # An optional dependency's failed step does not hold this one back.
                    blocking = [k for k in known_after if k not in _tolerated(step)]
                    if any(k in finished and k not in succeeded for k in blocking):
                        del pending[key]
                        finished.add(key)
                        reason = "a step it depends on did not succeed"
                        outcome.skipped.append((step, reason))
                        self.report(Progress(step, "skipped", reason))
                    elif all(k in finished for k in known_after):
                        del pending[key]
                        running[pool.submit(self._timed, step)] = step
                if not running:
                    # Nothing runs and nothing can start: the rest wait on each other (a cycle
                    # a hand-made plan could contain). Skip them rather than spin.
                    for key, step in list(pending.items()):
                        del pending[key]
                        outcome.skipped.append((step, "waits on a step that can never run"))
                    continue
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in done:
                    step = running.pop(future)
                    finished.add(step.key)
                    error = future.exception()
                    if error is None:
                        succeeded.add(step.key)
                        outcome.done.append(step)
                    else:
                        with self._lock:
                            self._failed.add(step.key)
                        outcome.failed.append((step, str(error)))
        with self._lock:
            outcome.warnings.extend(self._warnings)
            self._warnings.clear()
        return outcome

    def _timed(self, step: Step) -> None:
        self.report(Progress(step, "start"))
        started = self.clock()
        try:
            self.execute(step)
        except Exception as exc:
            self.report(Progress(step, "failed", str(exc), self.clock() - started))
            raise
        self.report(Progress(step, "done", "", self.clock() - started))

    # -- steps ----------------------------------------------------------------------------

    def execute(self, step: Step) -> None:
        """Carry out one step."""
        if step.kind is Kind.CONTAINER:
            self._container(step)
        elif step.kind is Kind.VOLUME:
            self._volume(step)
        else:
            self._network(step)

    def _container(self, step: Step) -> None:
        if step.action is Action.REMOVE:
            self._stop_and_remove(step.engine_name)
            return
        want = step.desired
        assert isinstance(want, DesiredContainer)
        if step.action in (Action.CREATE, Action.RECREATE):
            if want.build is not None:
                self.images.ensure_built(want.config.image, want.build, want.source)
            else:
                self.ensure_image(want.config.image, want.pull_policy, want.config.platform)
        self._wait_for_dependencies(step, want)
        if step.action is Action.RECREATE:
            self._recreate(want)  # starts the replacement itself, or puts the old one back
            return
        if step.action is Action.CREATE:
            self._create(want.name, want, self._labels(want))
            self._verify(want.name, want)
        elif step.action is Action.UPDATE and self.runtime.orchestrator:
            # A service is updated as a whole; Swarm rolls its tasks.
            self.runtime.update_service(want.name, want.config, self._labels(want))
        elif step.action is Action.UPDATE:
            self._update(want, step)
        elif step.action is Action.RESTART:
            self.runtime.stop_container(want.name)
        self.runtime.start_container(want.name)
        self._verify_started(want.name, want)

    def _labels(self, want: DesiredContainer) -> dict[str, str]:
        digest = config_hash(want.config, self.hash_key)
        return ownership_labels(self.project, Kind.CONTAINER.value, want.name, want.source, digest)

    def _recreate(self, want: DesiredContainer) -> None:
        # The replacement is created and started under a temporary name while the old
        # container waits, stopped, under its own: a replacement that cannot start (a host
        # port taken, a device gone) is removed and the old container is started again. Only
        # a started replacement takes the name. A kill at any point leaves the old container
        # plus at most one replacement, which the next plan resolves (it removes the
        # replacement and recreates if needed); see docs/decisions/crash-safe-recreate.md.
        # The replacement is created first: a leftover of an interrupted recreate (planned
        # away before, so rare) shows as a name conflict, and only then is it cleared. The
        # old container's status is read while the replacement is created, unless its
        # anonymous volumes are to be kept (the create names them).
        temp = want.name + constants.REPLACEMENT_SUFFIX
        labels = self._labels(want) | {constants.LABEL_REPLACES: want.name}
        if self._anonymous_targets(want):
            old = self.runtime.container_status(want.name)
            self._create_replacement(temp, want, labels, self._kept_volumes(want, old))
        else:
            with ThreadPoolExecutor(1, thread_name_prefix="inspect") as one:
                status = one.submit(self.runtime.container_status, want.name)
                try:
                    self._create_replacement(temp, want, labels, {})
                finally:
                    old = status.result()
        self._verify(temp, want)
        if old is not None and old.running:
            self.runtime.stop_container(want.name)
        try:
            self.runtime.start_container(temp)
        except ReconcileError as exc:
            self._put_back(want.name, temp, old is not None and old.running)
            raise StepFailed(
                f"the replacement did not start: {exc}; the previous container was kept"
                + (" and started again" if old is not None and old.running else "")
            ) from exc
        # A refused replacement is removed; the old container stays stopped (started, it
        # would resolve the same swapped path), and the next pass judges it again.
        self._verify_started(temp, want)
        if old is not None:
            self.runtime.remove_container(want.name)
        self.runtime.rename_container(temp, want.name)

    def _create_replacement(
        self, temp: str, want: DesiredContainer, labels: dict[str, str], keep: dict[str, str]
    ) -> None:
        try:
            self._create(temp, want, labels, keep)
        except NameTaken:
            self._clear_leftover(temp)
            self._create(temp, want, labels, keep)

    def _anonymous_targets(self, want: DesiredContainer) -> set[str]:
        """Where the replacement has an anonymous volume (its own, or its image's VOLUME)."""
        image = self.images.known(want.config.image)
        anonymous = {m.target for m in want.config.mounts if m.type == "volume" and not m.source}
        anonymous |= set(image.volumes if image is not None else ())
        return anonymous - {m.target for m in want.config.mounts if m.source or m.type != "volume"}

    def _kept_volumes(self, want: DesiredContainer, old: ContainerStatus | None) -> dict[str, str]:
        """The old container's anonymous volumes the replacement mounts again: where it has an
        anonymous volume too, as compose does."""
        if old is None:
            return {}
        anonymous = self._anonymous_targets(want)
        return {target: name for target, name in old.anonymous_volumes if target in anonymous}

    def _create(
        self,
        name: str,
        want: DesiredContainer,
        labels: dict[str, str],
        keep_volumes: dict[str, str] | None = None,
    ) -> None:
        """Create ``name``, with a creation nonce recorded first and its id after."""
        for path in want.create_paths:
            # Admitted by the policy as the directory created here; the post-create check
            # judges the bind again as the Engine made it.
            if not os.path.lexists(path):  # a file or a directory already there is kept
                os.makedirs(path, mode=0o755, exist_ok=True)
        if self.ledger is not None:
            labels = labels | self.ledger.labels_for(name)
        engine_id = self.runtime.create_container(name, want.config, labels, keep_volumes)
        if self.ledger is not None:
            self.ledger.created(labels, engine_id)

    def _clear_leftover(self, temp: str) -> None:
        """Remove a leftover replacement, only when reconcile provably created it."""
        if self.ledger is not None:
            live = self.runtime.observe(
                ObserveRequest(self.project, container_names=frozenset({temp}))
            ).containers.get(temp)
            if live is not None and not self.ledger.proves(live.id, live.labels):
                raise StepFailed(
                    f"a container named {temp} exists that reconcile cannot prove it created "
                    "(copied labels?); it is left alone: remove or rename it by hand"
                )
        self.runtime.remove_container(temp)

    def _put_back(self, name: str, temp: str, was_running: bool) -> None:
        """After a replacement failed to start: drop it and start the old container again."""
        with contextlib.suppress(ReconcileError):
            self.runtime.remove_container(temp)
        if was_running:
            self.runtime.start_container(name)

    def _verify(self, name: str, want: DesiredContainer) -> None:
        """Judge a created (not yet started) container again; remove it if it is refused:
        a bind source may have been swapped for a symlink since admission."""
        if self.post_create is None:
            return
        refused = self.post_create(name, want)
        if refused:
            self.runtime.remove_container(name)
            raise StepFailed("; ".join(refused) + f" (container {name} removed)")

    def _verify_started(self, name: str, want: DesiredContainer) -> None:
        """Judge what a started container really mounted; stop and remove it if refused: the
        Engine resolved its bind sources again when it started it."""
        if self.post_start is None:
            return
        refused = self.post_start(name, want)
        if refused:
            self.runtime.remove_container(name)
            raise StepFailed("; ".join(refused) + f" (container {name} removed)")

    def _update(self, want: DesiredContainer, step: Step) -> None:
        live = self.runtime.observe(
            ObserveRequest(self.project, container_names=frozenset({want.name}))
        ).containers.get(want.name)
        if live is None or live.config is None:
            raise StepFailed(f"container {want.name} disappeared during the update")
        have, config = live.config, want.config
        in_place = {d.path for d in step.diffs if d.in_place}
        options = {path: value for path, value in config.options if path in in_place}
        if (
            have.resources != config.resources
            or have.restart_policy != config.restart_policy
            or options
        ):
            self.runtime.update_container(
                want.name, config.resources, config.restart_policy, options
            )
        wanted = {n.name: n for n in config.networks}
        current = {n.name: n for n in have.networks}
        # A network that was recreated keeps its name: the planner marks it before == after.
        replaced = {d.after for d in step.diffs if d.path == "networks" and d.before == d.after}
        for name, attachment in sorted(current.items()):
            if name not in wanted or wanted[name] != attachment or name in replaced:
                self.runtime.disconnect_network(want.name, name)
        for name, attachment in sorted(wanted.items()):
            if name not in current or current[name] != attachment or name in replaced:
                self.runtime.connect_network(want.name, attachment)

    def _stop_and_remove(self, name: str) -> None:
        status = self.runtime.container_status(name)
        if status is None:
            return
        if status.running:
            self.runtime.stop_container(name)
        self.runtime.remove_container(name)

    def ensure_image(self, ref: str, policy: str, platform: str | None = None) -> ImageInfo:
        """The local image for ``ref`` (for ``platform``, when given), pulled when the policy
        says so or the local one is of another platform (once per run)."""
        return self.images.ensure(ref, policy, platform)

    def _wait_for_dependencies(self, step: Step, want: DesiredContainer) -> None:
        """Wait until each dependency meets its condition. One with ``required: false`` that
        does not (its step failed, it failed, or the wait ran out) is a warning, not a failure."""
        for dep, condition in want.depends_on:
            optional = dep in want.optional
            with self._lock:
                dep_failed = f"{Kind.CONTAINER}/{dep}" in self._failed
            if optional and dep_failed:
                self._warn(
                    step,
                    f'{want.name} goes on without "{dep}" (required: false): the step of {dep} '
                    "failed",
                )
                continue
            try:
                waiting.wait_for(
                    self.runtime,
                    want.name,
                    dep,
                    condition,
                    self.health_timeout,
                    self.sleep,
                    self.clock,
                )
            except waiting.DependencyNotMet as exc:
                if not optional:
                    raise StepFailed(str(exc)) from exc
                self._warn(step, f"{exc}; {want.name} goes on without it (required: false)")

    def _warn(self, step: Step, message: str) -> None:
        with self._lock:
            self._warnings.append((step, message))
        self.report(Progress(step, "warning", message))

    def _volume(self, step: Step) -> None:
        if step.action is Action.REMOVE:
            self.runtime.remove_volume(step.name)
            return
        want = step.desired
        assert isinstance(want, DesiredVolume)
        digest = config_hash(want.config, self.hash_key)
        labels = ownership_labels(self.project, Kind.VOLUME.value, want.name, want.source, digest)
        labels[constants.LABEL_DELETION_POLICY] = want.deletion_policy
        self.runtime.create_volume(want.name, want.config, labels)

    def _network(self, step: Step) -> None:
        if step.action in (Action.REMOVE, Action.RECREATE):
            observed = self.runtime.observe(
                ObserveRequest(self.project, network_names=frozenset({step.name}))
            )
            live = observed.networks.get(step.name)
            for container in live.containers if live else ():
                self.runtime.disconnect_network(container, step.name)
            self.runtime.remove_network(step.name)
        if step.action is Action.REMOVE:
            return
        want = step.desired
        assert isinstance(want, DesiredNetwork)
        digest = config_hash(want.config, self.hash_key)
        labels = ownership_labels(self.project, Kind.NETWORK.value, want.name, want.source, digest)
        self.runtime.create_network(want.name, want.config, labels)

    # -- waiting --------------------------------------------------------------------------

    def wait_ready(
        self, names: list[str], timeout: float, one_shots: frozenset[str] = frozenset()
    ) -> list[str]:
        """Wait until each container runs (and is healthy when it has a healthcheck), or for
        ``one_shots`` has completed; a sentence per container that did not get there."""
        return waiting.wait_ready(self.runtime, names, timeout, self.sleep, self.clock, one_shots)


def _tolerated(step: Step) -> frozenset[str]:
    """Keys of the steps whose failure does not skip ``step``: those of its optional
    dependencies (``dependsOn`` with ``required: false``)."""
    want = step.desired
    if not isinstance(want, DesiredContainer) or not want.optional:
        return frozenset()
    return frozenset(f"{Kind.CONTAINER}/{d}" for d in want.optional)
