"""The volume and network controllers (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.controllers.common import ControllerResult, Inventory, clash, prunable
from reconciler.controllers.plan import Action, Conflict, FieldDiff, Kind, Reason, Step
from reconciler.values.configs import NetworkConfig, SubnetConfig, VolumeConfig
from reconciler.values.desired import DesiredState
from reconciler.values.observed import ObservedState
from reconciler.values.swarm import network_view


def _pairs(value: tuple[tuple[str, str], ...]) -> str:
    return ",".join(f"{k}={v}" for k, v in value) or "(none)"


def _subnets(subnets: tuple[SubnetConfig, ...]) -> str:
    return ",".join(x.subnet for x in subnets) or "(none)"


def volume_diffs(want: VolumeConfig, have: VolumeConfig) -> tuple[FieldDiff, ...]:
    """Differences between a wanted and a live volume."""
    diffs = []
    if want.driver != have.driver:
        diffs.append(FieldDiff("driver", have.driver, want.driver))
    if want.driver_opts != have.driver_opts:
        diffs.append(FieldDiff("driverOpts", _pairs(have.driver_opts), _pairs(want.driver_opts)))
    if want.labels != have.labels:
        diffs.append(FieldDiff("labels", _pairs(have.labels), _pairs(want.labels)))
    return tuple(diffs)


def network_diffs(want: NetworkConfig, have: NetworkConfig) -> tuple[FieldDiff, ...]:
    """Differences between a wanted and a live network (subnets only when the manifest sets
    them: otherwise the Engine picks one and that is fine)."""
    diffs = []
    for path, attr in (
        ("driver", "driver"),
        ("internal", "internal"),
        ("attachable", "attachable"),
        ("enableIPv6", "enable_ipv6"),
    ):
        old, new = getattr(have, attr), getattr(want, attr)
        if old != new:
            diffs.append(FieldDiff(path, str(old).lower(), str(new).lower()))
    if want.driver_opts != have.driver_opts:
        diffs.append(FieldDiff("driverOpts", _pairs(have.driver_opts), _pairs(want.driver_opts)))
    if want.subnets and want.subnets != have.subnets:
        diffs.append(FieldDiff("subnets", _subnets(have.subnets), _subnets(want.subnets)))
    if want.labels != have.labels:
        diffs.append(FieldDiff("labels", _pairs(have.labels), _pairs(want.labels)))
    return tuple(diffs)


def external_reference(
    kind: Kind, name: str, present: bool, refusal: str | None = None
) -> Conflict | None:
    """The conflict of an external resource, if any: it does not exist (reconcile never
    creates it), or the host-access policy refuses what it really is (``refusal``)."""
    if not present:
        noun = kind.value.lower()
        return Conflict(
            kind.value,
            name,
            f'external {noun} "{name}" does not exist: it is declared external, so reconcile '
            f"never creates it; whoever owns it must create it (docker {noun} create {name})",
        )
    if refusal is not None:
        return Conflict(kind.value, name, refusal)
    return None


def plan_volumes(
    desired: DesiredState,
    observed: ObservedState,
    *,
    prune: bool,
    inventory: Inventory | None,
    refused: Mapping[str, str] | None = None,
) -> tuple[ControllerResult, list[str]]:
    """Steps for volumes, and warnings for volumes that differ (never recreated: data).

    An external volume gets no step at all: it is in sync when it exists (nothing of it is
    compared), a conflict when it is missing or ``refused`` (name -> the policy's refusal)."""
    project, kind = desired.project, Kind.VOLUME.value
    result, warnings = ControllerResult(), []
    refused = refused or {}
    for name in sorted(desired.volumes):
        want = desired.volumes[name]
        have = observed.volumes.get(name)
        if want.external:
            found = external_reference(Kind.VOLUME, name, have is not None, refused.get(name))
            if found is not None:
                result.conflicts.append(found)
            else:
                result.in_sync.append(f"{kind}/{name}")
            continue
        if have is None:
            result.steps.append(
                Step(Kind.VOLUME, name, Action.CREATE, Reason.MISSING, desired=want)
            )
            continue
        if conflict := clash(kind, name, have.ownership, project):
            result.conflicts.append(conflict)
            continue
        diffs = volume_diffs(want.config, have.config)
        if diffs:
            changed = ", ".join(d.path for d in diffs)
            warnings.append(
                f"Volume/{name}: {changed} differ from the manifest; volumes are never recreated "
                "automatically because their data would be lost (remove it by hand to apply)"
            )
        result.in_sync.append(f"{kind}/{name}")
    if prune:
        for name in sorted(set(observed.volumes) - set(desired.volumes)):
            have = observed.volumes[name]
            if not prunable(kind, name, have.ownership, project, inventory):
                continue
            if have.ownership.deletion_policy != "Delete":
                warnings.append(f"Volume/{name}: no longer declared; kept (deletionPolicy Retain)")
                continue
            result.steps.append(Step(Kind.VOLUME, name, Action.REMOVE, Reason.NOT_DECLARED))
    return result, warnings


def plan_networks(
    desired: DesiredState,
    observed: ObservedState,
    *,
    prune: bool,
    inventory: Inventory | None,
    refused: Mapping[str, str] | None = None,
) -> ControllerResult:
    """Steps for networks: create missing, recreate changed, prune undeclared. An external
    network is never created, compared or recreated (see ``plan_volumes``)."""
    project, kind = desired.project, Kind.NETWORK.value
    result = ControllerResult()
    refused = refused or {}
    for name in sorted(desired.networks):
        want = desired.networks[name]
        have = observed.networks.get(name)
        if want.external:
            found = external_reference(Kind.NETWORK, name, have is not None, refused.get(name))
            if found is not None:
                result.conflicts.append(found)
            else:
                result.in_sync.append(f"{kind}/{name}")
            continue
        if have is None:
            result.steps.append(
                Step(Kind.NETWORK, name, Action.CREATE, Reason.MISSING, desired=want)
            )
            continue
        if conflict := clash(kind, name, have.ownership, project):
            result.conflicts.append(conflict)
            continue
        wanted = want.config
        if observed.engine.orchestrator == "swarm":
            wanted = network_view(wanted)
        diffs = network_diffs(wanted, have.config)
        if diffs:
            result.steps.append(
                Step(
                    Kind.NETWORK,
                    name,
                    Action.RECREATE,
                    Reason.CONFIG_CHANGED,
                    diffs,
                    desired=want,
                )
            )
        else:
            result.in_sync.append(f"{kind}/{name}")
    if prune:
        for name in sorted(set(observed.networks) - set(desired.networks)):
            have = observed.networks[name]
            if prunable(kind, name, have.ownership, project, inventory):
                result.steps.append(Step(Kind.NETWORK, name, Action.REMOVE, Reason.NOT_DECLARED))
    return result


def plan_storage_deletion(
    desired: DesiredState,
    observed: ObservedState,
) -> tuple[ControllerResult, list[str]]:
    """Remove declared networks, and declared volumes whose deletionPolicy is Delete. External
    ones are left alone: they are not reconcile's."""
    result, warnings = ControllerResult(), []
    for name in sorted(desired.networks):
        have = observed.networks.get(name)
        if have is None or desired.networks[name].external:
            continue
        if conflict := clash(Kind.NETWORK.value, name, have.ownership, desired.project):
            result.conflicts.append(conflict)
            continue
        result.steps.append(Step(Kind.NETWORK, name, Action.REMOVE, Reason.DELETE_REQUESTED))
    for name in sorted(desired.volumes):
        volume = observed.volumes.get(name)
        if volume is None or desired.volumes[name].external:
            continue
        if conflict := clash(Kind.VOLUME.value, name, volume.ownership, desired.project):
            result.conflicts.append(conflict)
            continue
        if desired.volumes[name].deletion_policy != "Delete":
            warnings.append(f"Volume/{name}: kept (deletionPolicy Retain)")
            continue
        result.steps.append(Step(Kind.VOLUME, name, Action.REMOVE, Reason.DELETE_REQUESTED))
    return result, warnings
