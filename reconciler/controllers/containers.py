"""The container controller: pure decisions per container (create, recreate, update, start,
remove), from the desired state and the observed snapshot."""

from __future__ import annotations

from reconciler.controllers import services
from reconciler.controllers.common import ControllerResult, Inventory, clash, prunable
from reconciler.controllers.container_diffs import kept_diffs
from reconciler.controllers.plan import Action, Conflict, FieldDiff, Kind, Reason, Step
from reconciler.manifests.constants import BUILD_LABEL, REPLACEMENT_SUFFIX
from reconciler.manifests.fields import ENDPOINT_MAC_API, api_tuple, release_of
from reconciler.values.desired import DesiredContainer, DesiredState
from reconciler.values.observed import EngineFacts, ImageInfo, ObservedContainer, ObservedState

KIND = Kind.CONTAINER.value


def platform_matches(have: str, want: str) -> bool:
    """Whether an image's platform (``linux/arm64/v8``) is the one asked for (``linux/arm64``:
    a variant left out matches any)."""
    have_parts, want_parts = have.split("/"), want.split("/")
    return have_parts[: len(want_parts)] == want_parts or not have


def engine_problems(want: DesiredContainer, engine: EngineFacts) -> list[str]:
    """What the connected Engine cannot do of what a container asks: a field newer than its
    API version, a MAC address per network before API 1.44, a runtime it does not have."""
    problems = []
    api = engine.api_version
    if api is not None:
        for path, needed in want.requires:
            if api_tuple(api) < api_tuple(needed):
                problems.append(
                    f"{path} needs {release_of(needed)} or newer; this Engine speaks API {api}"
                )
        macs = [n.name for n in want.config.networks if n.mac_address]
        if macs and len(want.config.networks) > 1 and api_tuple(api) < api_tuple(ENDPOINT_MAC_API):
            problems.append(
                f"networks[].macAddress on a container with several networks needs "
                f"{release_of(ENDPOINT_MAC_API)} or newer; this Engine speaks API {api} "
                "(it gives a container one MAC address, on its first network)"
            )
    if engine.elsewhere:
        problems += _host_paths(want, engine.elsewhere)
    service = want.config.service
    if engine.orchestrator != services.ORCHESTRATOR and service and service.replicas != 1:
        problems.append(
            f"swarm.replicas is {service.replicas}: the docker backend runs one container "
            "(use --backend swarm for a service with replicas)"
        )
    runtime = want.config.option("runtime")
    if runtime is not None and engine.runtimes and runtime not in engine.runtimes:
        problems.append(
            f'runtime "{runtime}" is not installed on this Engine (it has: '
            f"{', '.join(engine.runtimes)})"
        )
    return problems


def _host_paths(want: DesiredContainer, elsewhere: str) -> list[str]:
    """What of ``want`` names files on the Engine's host, when that host may be another
    machine: refused, as reconcile can neither judge them by its policy nor provide them."""
    found = []
    binds = [m.source for m in want.config.mounts if m.type == "bind"]
    secrets = [m.target for m in want.config.mounts if m.target in want.secret_targets]
    if secrets:
        found.append(
            f"secret files ({', '.join(sorted(secrets))}) are kept on the machine reconcile "
            f"runs on, and this Engine's host may be another: {elsewhere}"
        )
    paths = sorted(set(binds) - {m.source for m in want.config.mounts if m.target in secrets})
    if paths:
        found.append(
            f"bind mounts ({', '.join(paths)}) would name files of the Engine's host, which "
            f"the host-access policy cannot judge from here ({elsewhere}); not supported yet"
        )
    if want.config.devices:
        found.append(
            f"devices name the Engine host's device files, which the policy cannot judge from "
            f"here ({elsewhere}); not supported yet"
        )
    return found


def _plan_built(
    want: DesiredContainer,
    have: ObservedContainer | None,
    image: ImageInfo | None,
    observed: ObservedState,
    replaced_networks: frozenset[str],
    result: ControllerResult,
) -> None:
    """A container whose image is built from a context: built (and the container created or
    recreated) when the local image does not carry the context's digest, else compared as
    any other."""
    assert want.build is not None
    name = want.name
    built = image is not None and dict(image.labels).get(BUILD_LABEL) == want.build.digest
    if have is not None and have.status.state == "removing":
        return
    if have is None:
        result.steps.append(Step(Kind.CONTAINER, name, Action.CREATE, Reason.MISSING, desired=want))
        return
    if not built or image is None:
        before = dict(image.labels).get(BUILD_LABEL) if image is not None else None
        diff = FieldDiff("image.build", before, want.build.digest)
        result.steps.append(
            Step(Kind.CONTAINER, name, Action.RECREATE, Reason.IMAGE_BUILD, (diff,), desired=want)
        )
        return
    _compare(want, have, image, observed, replaced_networks, result)


def _plan_one(
    want: DesiredContainer,
    observed: ObservedState,
    project: str,
    replaced_networks: frozenset[str],
    result: ControllerResult,
) -> None:
    name = want.name
    have = observed.containers.get(name)
    image = observed.images.get(want.config.image)
    if have is not None and (conflict := clash(KIND, name, have.ownership, project)):
        result.conflicts.append(conflict)
        return
    problems = engine_problems(want, observed.engine)
    if problems:
        result.conflicts.extend(Conflict(KIND, name, problem) for problem in problems)
        return
    if observed.engine.orchestrator == services.ORCHESTRATOR:
        services.plan_service(want, have, result)
        return
    if want.build is not None:
        _plan_built(want, have, image, observed, replaced_networks, result)
        return
    platform = want.config.platform
    if image is not None and platform and not platform_matches(image.platform, platform):
        if want.pull_policy == "Never":
            result.conflicts.append(
                Conflict(
                    KIND,
                    name,
                    f'image "{want.config.image}" is {image.platform} here, not {platform}, '
                    "and pullPolicy is Never",
                )
            )
            return
        image = None  # the image of that platform is not here: it is pulled
    if image is None and want.pull_policy == "Never":
        result.conflicts.append(
            Conflict(
                KIND,
                name,
                f'image "{want.config.image}" is not present locally and pullPolicy is Never',
            )
        )
        return
    if have is not None and have.status.state == "removing":
        return  # the Engine is deleting it; its destroy event brings the next pass
    if have is None:
        reason = Reason.MISSING
        result.steps.append(Step(Kind.CONTAINER, name, Action.CREATE, reason, desired=want))
        return
    if image is None:
        result.steps.append(
            Step(
                Kind.CONTAINER,
                name,
                Action.RECREATE,
                Reason.IMAGE_MISSING,
                (
                    FieldDiff(
                        "image", have.config.image if have.config else None, want.config.image
                    ),
                ),
                desired=want,
            )
        )
        return
    _compare(want, have, image, observed, replaced_networks, result)


def _compare(
    want: DesiredContainer,
    have: ObservedContainer,
    image: ImageInfo,
    observed: ObservedState,
    replaced_networks: frozenset[str],
    result: ControllerResult,
) -> None:
    """The step (or none) that brings an existing container with its image present in line."""
    name = want.name
    key = f"{KIND}/{name}"
    diffs = kept_diffs(want, have, image, observed.engine)
    reconnect = tuple(
        FieldDiff("networks", n, n, in_place=True) for n in want.networks if n in replaced_networks
    )
    if (diffs or reconnect) and not have.status.running:
        # Recreate and update end with the container running; say so in the plan.
        diffs += (FieldDiff("state", have.status.state, "running", in_place=True),)
    if any(not d.in_place for d in diffs):
        only_image = all(d.path == "image.id" for d in diffs if not d.in_place)
        reason = Reason.IMAGE_CHANGED if only_image else Reason.CONFIG_CHANGED
        result.steps.append(
            Step(Kind.CONTAINER, name, Action.RECREATE, reason, diffs, desired=want)
        )
    elif diffs or reconnect:
        reason = Reason.CONFIG_CHANGED if diffs else Reason.NETWORK_REPLACED
        result.steps.append(
            Step(Kind.CONTAINER, name, Action.UPDATE, reason, diffs + reconnect, desired=want)
        )
    elif not have.status.running and not (want.one_shot and have.status.succeeded):
        # A one-shot (restart policy no) that exited with code 0 is completed: in sync, not
        # run again. One that failed, or was never started, is started (the loop backs off).
        diff = FieldDiff("state", have.status.state, "running")
        result.steps.append(
            Step(Kind.CONTAINER, name, Action.START, Reason.NOT_RUNNING, (diff,), desired=want)
        )
    else:
        result.in_sync.append(key)


def plan_containers(
    desired: DesiredState,
    observed: ObservedState,
    *,
    prune: bool,
    inventory: Inventory | None,
    replaced_networks: frozenset[str] = frozenset(),
    proven: frozenset[str] = frozenset(),
) -> ControllerResult:
    """Steps for every container of the project, wanted or left over.

    A container that is not wanted under its name (a leftover replacement, a renamed
    duplicate, one no longer declared) is removed only when ``proven`` holds its id: the
    state recorded that reconcile created that very container. Labels alone can be copied.
    """
    project = desired.project
    result = ControllerResult()
    for name in sorted(desired.containers):
        _plan_one(desired.containers[name], observed, project, replaced_networks, result)
    for engine_name in sorted(observed.containers):
        have = observed.containers[engine_name]
        if have.ownership.project != project or engine_name in desired.containers:
            continue
        declared_name = have.ownership.name or engine_name
        if engine_name.endswith(REPLACEMENT_SUFFIX):
            # A replacement left by a recreate killed half-way: remove it; the resource's own
            # step recreates it if still needed (docs/decisions/crash-safe-recreate.md).
            reason = Reason.INTERRUPTED_RECREATE
        elif declared_name in desired.containers:
            reason = Reason.DUPLICATE  # renamed out of band: a second copy of a wanted container
        elif (
            prune
            and engine_name == declared_name  # labels copied onto another container: not ours
            and prunable(KIND, declared_name, have.ownership, project, inventory)
        ):
            reason = Reason.NOT_DECLARED
        else:
            continue
        if have.id not in proven:
            what = f'container "{engine_name}" carries the labels of project "{project}"'
            if reason is Reason.NOT_DECLARED:
                result.warnings.append(
                    f"{what} but reconcile cannot prove it created it (a lost state, copied "
                    "labels): not pruned; remove it by hand if it should go"
                )
            else:
                result.conflicts.append(
                    Conflict(
                        KIND,
                        engine_name,
                        f"{what} but reconcile cannot prove it created it (copied labels, a "
                        "docker commit of a managed container?): left alone; remove or rename "
                        "it by hand",
                    )
                )
            continue
        result.steps.append(
            Step(
                Kind.CONTAINER,
                declared_name,
                Action.REMOVE,
                reason,
                target=engine_name,
            )
        )
    return result


def plan_container_deletion(
    desired: DesiredState, observed: ObservedState, proven: frozenset[str] = frozenset()
) -> ControllerResult:
    """Remove the declared containers (and their leftover replacements, when reconcile
    provably created them) this project owns."""
    result = ControllerResult()
    for name in sorted(desired.containers):
        for engine_name in (name, name + REPLACEMENT_SUFFIX):
            have = observed.containers.get(engine_name)
            if have is None:
                continue
            if conflict := clash(KIND, engine_name, have.ownership, desired.project):
                result.conflicts.append(conflict)
                continue
            if engine_name != name and have.id not in proven:
                result.conflicts.append(
                    Conflict(
                        KIND,
                        engine_name,
                        "reconcile cannot prove it created this container (copied labels?): "
                        "left alone; remove it by hand",
                    )
                )
                continue
            result.steps.append(
                Step(
                    Kind.CONTAINER,
                    name,
                    Action.REMOVE,
                    Reason.DELETE_REQUESTED,
                    target=engine_name,
                )
            )
    return result
