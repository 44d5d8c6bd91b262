"""The one reconcile pass: every entry point (``apply``, ``diff``, ``delete``, ``get``, the
``run`` and ``sync`` loops, ``rollback``) calls ``run_pass`` and nothing else assembles one.

    source -> admit (the policy, always) -> desired -> observe -> plan -> guards -> execute
           -> record (inventory, journal, revision)

What differs between entry points is data (a ``Request``) and hooks (``Hooks``): the loop adds
its crash-loop guard and live policy removals as guards, keeps revisions and status through
hooks, and owns every timing decision itself. See docs/architecture.md for a walk through it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from reconciler import timings
from reconciler.controllers import planner
from reconciler.controllers.plan import Kind, Plan
from reconciler.converge import adopting, buildcontext, inputs, judging, records, waiting
from reconciler.converge.applying import DEFAULT_PARALLELISM, Applier, ApplyOutcome, Reporter
from reconciler.converge.carry import Carry
from reconciler.converge.ledger import Ledger
from reconciler.errors import ManifestError, PolicyRefusal
from reconciler.loading import swarmcheck
from reconciler.loading.results import LoadedManifest
from reconciler.policy import (
    Admission,
    Policy,
    admit,
)
from reconciler.runtime.base import InspectCache, Listing, ObserveRequest, Runtime
from reconciler.state.database import State
from reconciler.values import desired as desired_mod
from reconciler.values.desired import DesiredState
from reconciler.values.observed import ImageInfo, ObservedState, repository_of

# A guard sees the plan before it runs and may hold steps back or add some (the loop's
# crash-loop backoff, its removal of containers whose live mounts the policy refuses).
Guard = Callable[[Plan, DesiredState, ObservedState], Plan]

# Build contexts' file lists and hashes, kept between commands (converge.buildcontext).
BUILD_CONTEXTS_CACHE = "build-contexts.cache"


@dataclass(frozen=True)
class Declared:
    """What a source hands the pass, once the Engine's lists are under way: its manifests
    (loaded, or admitted with the pass's own policy), and whether they are the whole set. A
    prune acts only on a complete set: a file that never validated may declare anything."""

    manifests: Sequence[LoadedManifest] | Admission
    complete: bool = True
    # A stored revision's env and secret files, as it kept them: read instead of the disk.
    kept_files: Mapping[str, bytes] | None = None


Source = Callable[[], Declared]


@dataclass(frozen=True)
class Request:
    """What one pass is asked to do. ``policy`` has no default: nothing reaches the Engine
    without being judged by the host-access policy in force."""

    project: str
    policy: Policy
    dry_run: bool = False
    delete: bool = False
    prune: bool = False
    force_prune: bool = False
    # Pull pullPolicy: Always images before observing (one-shot commands do on every run,
    # the loop on its start and resync passes: a registry is not asked on every event).
    pull_always: bool = True
    parallelism: int = DEFAULT_PARALLELISM
    health_timeout: float = 120.0
    # One-shot commands: inspect the project's containers while the manifests load and keep
    # what was read in this directory for the next command (docs/decisions/inspect-store.md).
    keep_dir: Path | None = None
    # ``reconcile adopt``: take over what this compose project made (converge/adopting.py).
    adopt_from: str | None = None


@dataclass
class Hooks:
    """How a caller takes part in a pass without assembling one."""

    report: Reporter | None = None  # progress of every step
    on_plan: Callable[[Plan, list[str]], None] | None = None  # the plan, before it runs
    on_desired: Callable[[DesiredState], None] | None = None  # e.g. which names events concern
    guards: Sequence[Guard] = ()
    record: Callable[[PassResult], None] | None = None  # a revision, after an applying pass
    stop: threading.Event | None = None  # finish the steps in flight, start no more


@dataclass
class PassResult:
    """What a pass saw, planned and did (``outcome`` None for a dry run)."""

    desired: DesiredState
    observed: ObservedState
    plan: Plan
    manifests: tuple[LoadedManifest, ...]  # as admitted: bind sources resolved
    outcome: ApplyOutcome | None = None
    warnings: list[str] = field(default_factory=list)
    images: dict[str, str] = field(default_factory=dict)  # image ref -> ID seen in the pass
    # image ref -> "repository@sha256:..." of that image, for those pulled from a registry
    digests: dict[str, str] = field(default_factory=dict)
    watched: frozenset[str] = frozenset()  # host files the containers take inputs from
    # The env and secret files read, as read (encrypted ones still encrypted): the revision
    # keeps them sealed, so that a rollback restores them.
    input_files: dict[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def clean(self) -> bool:
        """An applying pass whose every step succeeded, with no conflict."""
        return self.outcome is not None and self.outcome.ok and not self.plan.conflicts

    def failures(self) -> str:
        """Failed steps and conflicts in one line, for history and status (bounded)."""
        failed = self.outcome.failed if self.outcome is not None else []
        lines = [f"{s.key}: {m}" for s, m in failed]
        lines += [f"{c.kind}/{c.name}: {c.message}" for c in self.plan.conflicts]
        return "; ".join(lines)[:2000]


def run_pass(
    runtime: Runtime,
    state: State,
    request: Request,
    source: Source,
    hooks: Hooks | None = None,
    cache: InspectCache | None = None,
    carry: Carry | None = None,
) -> PassResult:
    """One pass. The caller holds the project's lock (the loop for its whole life); a loop
    hands the same ``carry`` to each of its passes.

    Raises before anything changes when the source cannot be read (``ManifestError``,
    ``SourceUnavailable``) or the policy refuses a manifest (``PolicyRefusal``, each refusal
    with its rule and manifest line). A dry run makes no Engine call that changes anything.
    """
    hooks = hooks or Hooks()
    project = request.project
    # The Engine lists (and, for one-shot commands, inspects) while the manifests are read.
    listing = runtime.start_listing(
        prefetch=project if request.keep_dir is not None else None, keep_dir=request.keep_dir
    )
    with timings.phase("load"):
        declared = source()
    with timings.phase("admit"):
        admission = admitted(declared.manifests, request.policy)
        if runtime.orchestrator == "swarm":
            unsupported = swarmcheck.problems(admission.manifests)
            if unsupported:
                raise ManifestError(unsupported)
    with timings.phase("inputs"):
        read = inputs.resolve(
            admission.manifests,
            inputs.decryptor(state.home),
            declared.kept_files,
            buildcontext.Remembered(state.path.parent / BUILD_CONTEXTS_CACHE),
        )
        store = inputs.store_for(state.path.parent)
        host = inputs.host_inputs(read, store, project, write=not request.dry_run)

        def build() -> DesiredState:
            return desired_mod.build(
                project, ((m.manifest, str(m.location)) for m in admission.manifests), host
            )

        desired = (carry or Carry()).desired_for(project, admission, host, build)
    if hooks.on_desired is not None:
        hooks.on_desired(desired)
    warnings = list(state.warnings)
    warnings += [f"policy ({v.mode}): {v}" for v in (*admission.warned, *admission.audited)]
    applier = Applier(
        runtime,
        project,
        state.hash_key,
        parallelism=request.parallelism,
        health_timeout=request.health_timeout,
        report=hooks.report or _quiet,
        post_create=judging.post_create_check(runtime, project, request.policy),
        post_start=judging.post_start_check(runtime, project, request.policy),
    )
    if not request.dry_run and not request.delete and request.pull_always:
        with timings.phase("pull"):
            for container in desired.containers.values():
                if container.pull_policy == "Always":
                    applier.ensure_image(
                        container.config.image, "Always", container.config.platform
                    )
    with timings.phase("observe"):
        observed = _adopted(
            state, request, desired, observe(runtime, desired, cache, listing), warnings
        )
    with timings.phase("plan"):
        ledger = Ledger(state, project)
        applier.ledger = ledger
        proven = ledger.proven(observed)
        inventory = state.inventory(project)
        prune = request.prune and declared.complete
        if inventory is None and prune:
            warnings.append(
                f'no inventory for project "{project}" in {state.path}; it is rebuilt from '
                "labels and nothing is pruned in this pass"
            )
        if request.delete:
            plan = planner.plan_delete(desired, observed, proven)
        else:
            refused, allowed = judging.external_judgement(
                request.policy, admission.manifests, desired, observed
            )
            warnings += allowed
            plan = planner.plan(
                desired,
                observed,
                prune=prune,
                force_prune=request.force_prune,
                inventory=inventory,
                proven=proven,
                refused=refused,
            )
        guards: list[Guard] = [
            partial(judging.live_mount_removals, request.policy),
            *hooks.guards,
        ]
        for guard in guards:
            plan = guard(plan, desired, observed)
    if hooks.on_plan is not None:
        hooks.on_plan(plan, warnings)
    result = PassResult(
        desired,
        observed,
        plan,
        admission.manifests,
        None,
        warnings,
        image_ids(observed),
        image_digests(observed.images),
        frozenset(inputs.watched_paths(read)),
        inputs.files_read(read),
    )
    # What was inspected is stored while the Engine carries out the plan (observing filled
    # the cache; nothing after it changes the cache).
    keeper = None
    if request.keep_dir is not None:
        keeper = threading.Thread(target=runtime.keep_inspects, args=(listing,))
        keeper.start()
    try:
        if request.dry_run:
            return result
        with timings.phase("execute"):
            result.outcome = records.execute(
                applier,
                state,
                plan,
                observed,
                inventory,
                hooks.stop,
                external=external_keys(desired),
            )
        with timings.phase("record"):
            # What the steps pulled or built is what runs now.
            got = applier.images.got()
            result.images.update({ref: info.id for ref, info in got.items()})
            result.digests.update(image_digests(got))
            state.record_fetched(project, applier.images.fetched())
            if result.outcome.ok:
                inputs.prune_store(store, project, None if request.delete else desired)
    finally:
        if keeper is not None:
            with timings.phase("record"):
                keeper.join()
    if hooks.record is not None and not request.delete:
        with timings.phase("record"):
            hooks.record(result)
    return result


def admitted(declared: Sequence[LoadedManifest] | Admission, policy: Policy) -> Admission:
    """The set as admitted by ``policy``; an admission made under another policy (or none)
    is made again. Raises ``PolicyRefusal`` naming every refused rule and manifest line."""
    if isinstance(declared, Admission) and declared.policy is policy:
        admission = declared
    else:
        manifests = declared.manifests if isinstance(declared, Admission) else declared
        admission = admit(manifests, policy)
    if admission.denied:
        raise PolicyRefusal("\n".join(str(v) for v in admission.denied))
    return admission


def observe(
    runtime: Runtime,
    desired: DesiredState,
    cache: InspectCache | None = None,
    listing: Listing | None = None,
) -> ObservedState:
    """One snapshot of everything the project owns or wants (``listing``: lists begun ahead
    with ``runtime.start_listing``)."""
    return runtime.observe(
        ObserveRequest(
            project=desired.project,
            container_names=frozenset(desired.containers),
            volume_names=frozenset(desired.volumes),
            network_names=frozenset(desired.networks),
            image_refs=frozenset(c.config.image for c in desired.containers.values()),
        ),
        cache,
        listing,
    )


def external_keys(desired: DesiredState) -> frozenset[tuple[str, str]]:
    """(kind, name) of the set's external volumes and networks: never reconcile's, whatever
    their labels say (records.execute keeps them out of the inventory)."""
    return frozenset(
        [(Kind.VOLUME.value, n) for n, v in desired.volumes.items() if v.external]
        + [(Kind.NETWORK.value, n) for n, w in desired.networks.items() if w.external]
    )


def _adopted(
    state: State,
    request: Request,
    desired: DesiredState,
    observed: ObservedState,
    warnings: list[str],
) -> ObservedState:
    """``observed`` with what the project adopted from compose read as its own; with
    ``adopt_from``, what that compose project made is adopted first (recorded unless a dry
    run)."""
    adoptions = state.adoptions(request.project)
    if request.adopt_from is not None:
        found = adopting.candidates(desired, observed, request.adopt_from)
        warnings += [
            f"adopt {a.key} from compose project {a.compose_project!r}"
            + (" (its data is kept)" if a.kind == "Volume" else "")
            for a in found
        ]
        entries = {(a.kind, a.name, a.engine_id) for a in found}
        if entries and not request.dry_run:
            state.adopt(request.project, sorted(entries))
        adoptions |= entries
    return adopting.owned(observed, request.project, adoptions)


def image_ids(observed: ObservedState) -> dict[str, str]:
    """The image ID each wanted reference resolved to (references not present are left out)."""
    return {ref: info.id for ref, info in sorted(observed.images.items()) if info is not None}


def image_digests(images: Mapping[str, ImageInfo | None]) -> dict[str, str]:
    """``repository@sha256:...`` of each reference's image, where it came from a registry."""
    found = {}
    for ref, info in sorted(images.items()):
        digest = info.digest_in(ref) if info is not None else ""
        if digest:
            found[ref] = f"{repository_of(ref)}@{digest}"
    return found


def _quiet(_: object) -> None:
    return None


@contextmanager
def session(
    state_dir: Path | None, project: str | None, purpose: str, context: str | None = None
) -> Iterator[tuple[Runtime, State]]:
    """What a one-shot command runs its pass in: the runtime from the one seat (the docker
    context ``context``, else the one the environment names), the state of that Engine
    (``enginestate``) and ``project``'s lock held for the whole pass (``project`` None: no
    lock, for commands that only read)."""
    from reconciler import runtime as runtimes
    from reconciler.converge import enginestate
    from reconciler.state.locking import project_lock

    timings.mark("imports")
    with timings.phase("state"):
        runtime = runtimes.connect(context=context)
        timings.count_calls(getattr(runtime, "calls", None))
        state = enginestate.open_state(state_dir, runtime)
    try:
        with ExitStack() as held:
            if project is not None:
                with timings.phase("state"):
                    held.enter_context(project_lock(state.path.parent, project, purpose))
            yield runtime, state
    finally:
        state.close()


def wait_ready(
    runtime: Runtime, names: list[str], timeout: float, one_shots: frozenset[str] = frozenset()
) -> list[str]:
    """Wait until each container runs (and is healthy, with a healthcheck), or for a one-shot
    has completed; a sentence per container that did not get there within ``timeout``."""
    return waiting.wait_ready(runtime, names, timeout, time.sleep, time.monotonic, one_shots)
