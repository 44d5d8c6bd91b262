"""The host-access policy's looks at the live Engine during a pass: external volumes and
networks by what the Engine has under their names, created and started containers by the
bind mounts the Engine really made, and running containers by what they mount now. Admission
(``policy.admit``) judged the manifests; these judge what the Engine did with them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from reconciler.controllers.plan import Action, FieldDiff, Kind, Plan, Reason, Step
from reconciler.loading.results import LoadedManifest
from reconciler.policy import Policy, Violation, check_created, judge_external, mounted
from reconciler.runtime.base import ObserveRequest, Runtime
from reconciler.values.desired import DesiredContainer, DesiredState
from reconciler.values.observed import ObservedContainer, ObservedState


def external_judgement(
    policy: Policy,
    manifests: Sequence[LoadedManifest],
    desired: DesiredState,
    observed: ObservedState,
) -> tuple[dict[tuple[str, str], str], list[str]]:
    """The policy's judgement of the set's external volumes and networks, by their live
    driver and options (admission could not see them): what it refuses, as (kind, name) ->
    the refusal (the planner makes each a conflict and holds what needs it), and the warn
    and audit findings as warnings. Costs no Engine call: the lists were read by observe."""
    volumes = {
        n: (v.config.driver, dict(v.config.driver_opts))
        for n, v in observed.volumes.items()
        if n in desired.volumes and desired.volumes[n].external
    }
    networks = {
        n: (w.config.driver, dict(w.config.driver_opts))
        for n, w in observed.networks.items()
        if n in desired.networks and desired.networks[n].external
    }
    if not volumes and not networks:
        return {}, []
    refusals: dict[tuple[str, str], list[str]] = {}
    warnings: list[str] = []
    for kind, name, violation in judge_external(manifests, volumes, networks, policy):
        if violation.mode == "enforce":
            refusals.setdefault((kind, name), []).append(str(violation))
        else:
            warnings.append(f"policy ({violation.mode}): {violation}")
    refused = {
        key: "refused by the host-access policy (an external resource, judged by what the "
        "Engine has under its name): " + "; ".join(found)
        for key, found in refusals.items()
    }
    return refused, warnings


def post_create_check(
    runtime: Runtime, project: str, policy: Policy
) -> Callable[[str, DesiredContainer], list[str]]:
    """A check of a created container's bind mounts as the Engine reports them (the policy's
    second look, after admission): the enforce-mode violations, as sentences. A container
    without bind mounts costs nothing."""

    def check(name: str, want: DesiredContainer) -> list[str]:
        live = _live(runtime, project, name) if _binds(want) else None
        if live is None or live.config is None:
            return []
        pairs = [
            (m.source, m.target)
            for m in live.config.mounts
            if m.type == "bind" and m.target not in want.secret_targets
        ]
        return _enforced(check_created(name, pairs, policy))

    return check


def post_start_check(
    runtime: Runtime, project: str, policy: Policy
) -> Callable[[str, DesiredContainer], list[str]]:
    """A check of what a started container really mounted (``policy.mounted``): the
    enforce-mode violations, as sentences. A container without bind mounts costs nothing."""

    def check(name: str, want: DesiredContainer) -> list[str]:
        live = _live(runtime, project, name) if _binds(want) else None
        if live is None:
            return []
        return _enforced(
            mounted.check_mounted(name, live.id, live.status.pid, _binds(want), policy)
        )

    return check


def live_mount_removals(
    policy: Policy, plan: Plan, desired: DesiredState, observed: ObservedState
) -> Plan:
    """Every pass judges what the project's running containers really mount: one whose bind
    mount is not what the policy admitted (a source swapped while the Engine started it) is
    recreated from its admitted manifest, instead of whatever else was planned for it (the
    replacement's own mounts are judged again once it runs)."""
    removals: list[Step] = []
    proc = mounted.HostProc()  # one read of the host's mount table for the whole pass
    for name, have in sorted(observed.containers.items()):
        want = desired.containers.get(name)
        if want is None or have.config is None or not have.status.running:
            continue
        # Only binds the container was created with as they are admitted now: one whose
        # configured source differs is a plain config change, which the plan recreates.
        configured = {(m.source, m.target) for m in have.config.mounts if m.type == "bind"}
        binds = [bind for bind in _binds(want) if bind in configured]
        refused = _enforced(
            mounted.check_mounted(name, have.id, have.status.pid, binds, policy, proc=proc)
        )
        if refused:
            removals.append(
                Step(
                    Kind.CONTAINER,
                    name,
                    Action.RECREATE,
                    Reason.POLICY_VIOLATION,
                    (FieldDiff("mounts", "; ".join(refused), "as admitted"),),
                    desired=want,
                )
            )
    if not removals:
        return plan
    names = {r.name for r in removals}
    kept = [s for s in plan.steps if not (s.kind is Kind.CONTAINER and s.name in names)]
    in_sync = tuple(k for k in plan.in_sync if k not in {r.key for r in removals})
    return dataclasses.replace(plan, steps=(*removals, *kept), in_sync=in_sync)


def _binds(want: DesiredContainer) -> list[tuple[str, str]]:
    return [
        (m.source, m.target)
        for m in want.config.mounts
        if m.type == "bind" and m.target not in want.secret_targets
    ]


def _live(runtime: Runtime, project: str, name: str) -> ObservedContainer | None:
    found = runtime.observe(ObserveRequest(project, container_names=frozenset({name})))
    return found.containers.get(name)


def _enforced(violations: Sequence[Violation]) -> list[str]:
    return [str(v) for v in violations if v.mode == "enforce"]
