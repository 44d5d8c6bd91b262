"""The plan: ordered steps, each one change with an action, a reason and field-level diffs.

Plain data, rendered deterministically as text (for people, and golden tests) and as JSON (for
machines). Enum values are API: scripts parse them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.values.desired import DesiredContainer, DesiredNetwork, DesiredVolume


class Kind(StrEnum):
    """Resource kinds, in the order their creation must happen."""

    NETWORK = "Network"
    VOLUME = "Volume"
    CONTAINER = "Container"


class Action(StrEnum):
    """What a step does."""

    CREATE = "create"
    RECREATE = "recreate"
    UPDATE = "update"
    START = "start"
    RESTART = "restart"
    STOP = "stop"
    REMOVE = "remove"
    NOOP = "noop"


class Reason(StrEnum):
    """Why a step is needed."""

    MISSING = "missing"
    CONFIG_CHANGED = "config-changed"
    IMAGE_CHANGED = "image-changed"
    IMAGE_MISSING = "image-missing"
    IMAGE_BUILD = "image-build"  # its image is built from a context that changed
    NOT_RUNNING = "not-running"
    NOT_DECLARED = "not-declared"
    DELETE_REQUESTED = "delete-requested"
    INTERRUPTED_RECREATE = "interrupted-recreate"
    DUPLICATE = "duplicate"
    NETWORK_REPLACED = "network-replaced"
    UNHEALTHY = "unhealthy"
    POLICY_VIOLATION = "policy-violation"
    DEPENDENCY_RESTARTED = "dependency-restarted"


@dataclass(frozen=True)
class FieldDiff:
    """One field that differs. ``before``/``after`` are display strings (secrets masked);
    None means absent. ``in_place`` says whether the Engine can change it without a recreate."""

    path: str
    before: str | None
    after: str | None
    in_place: bool = False


Desired = DesiredContainer | DesiredVolume | DesiredNetwork


@dataclass(frozen=True)
class Step:
    """One change to one resource. ``target`` is the Engine name acted on (usually ``name``;
    a leftover replacement container has its own); ``after`` lists keys of steps to wait for."""

    kind: Kind
    name: str
    action: Action
    reason: Reason
    diffs: tuple[FieldDiff, ...] = ()
    after: tuple[str, ...] = ()
    target: str = ""
    desired: Desired | None = field(default=None, compare=False, repr=False)

    @property
    def engine_name(self) -> str:
        """The Engine name this step acts on."""
        return self.target or self.name

    @property
    def key(self) -> str:
        """A unique id of the step within its plan."""
        return f"{self.kind}/{self.engine_name}"


@dataclass(frozen=True, order=True)
class Conflict:
    """A resource reconcile must leave alone, and why (a name clash, a refused prune...)."""

    kind: str
    name: str
    message: str


@dataclass(frozen=True)
class Plan:
    """Ordered steps for one project; ``in_sync`` names resources that need nothing."""

    project: str
    steps: tuple[Step, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    in_sync: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def has_changes(self) -> bool:
        """True when applying would change something on the Engine."""
        return bool(self.steps)

    def count(self, action: Action) -> int:
        """How many steps have this action."""
        return sum(1 for s in self.steps if s.action is action)


_SYMBOLS = {
    Action.CREATE: "+",
    Action.RECREATE: "-/+",
    Action.UPDATE: "~",
    Action.START: ">",
    Action.RESTART: ">>",
    Action.STOP: "#",
    Action.REMOVE: "-",
    Action.NOOP: "=",
}


def summary(plan: Plan) -> str:
    """One line: counts by action."""
    parts = [
        f"{plan.count(a)} to {a.value}"
        for a in (
            Action.CREATE,
            Action.RECREATE,
            Action.UPDATE,
            Action.START,
            Action.RESTART,
            Action.REMOVE,
        )
        if plan.count(a)
    ]
    text = ", ".join(parts) if parts else "no changes"
    tail = [f"{len(plan.in_sync)} in sync"]
    if plan.conflicts:
        tail.append(f"{len(plan.conflicts)} conflict{'s' if len(plan.conflicts) != 1 else ''}")
    return f"{text}; {', '.join(tail)}"


def _value(text: str | None) -> str:
    return "(none)" if text is None else text


def render_text(plan: Plan) -> str:
    """The plan for people, deterministic (golden tests compare it)."""
    lines = [f'Plan for project "{plan.project}": {summary(plan)}']
    if plan.steps or plan.conflicts or plan.warnings:
        lines.append("")
    for step in plan.steps:
        symbol = _SYMBOLS[step.action]
        lines.append(f"{symbol:>3} {step.action.value:<8} {step.key}  ({step.reason.value})")
        for diff in step.diffs:
            mode = "" if not diff.in_place else "  [in place]"
            lines.append(f"      {diff.path}: {_value(diff.before)} -> {_value(diff.after)}{mode}")
    for conflict in sorted(plan.conflicts):
        lines.append(f"  ! conflict {conflict.kind}/{conflict.name}: {conflict.message}")
    for warning in plan.warnings:
        lines.append(f"  ! warning  {warning}")
    return "\n".join(lines) + "\n"


def to_json_data(plan: Plan) -> dict[str, Any]:
    """The plan as JSON-ready data (stable keys; enum values are API)."""
    return {
        "project": plan.project,
        "hasChanges": plan.has_changes,
        "summary": {a.value: plan.count(a) for a in Action if a is not Action.NOOP},
        "steps": [
            {
                "key": s.key,
                "kind": s.kind.value,
                "name": s.name,
                "target": s.engine_name,
                "action": s.action.value,
                "reason": s.reason.value,
                "after": list(s.after),
                "diffs": [
                    {"path": d.path, "before": d.before, "after": d.after, "inPlace": d.in_place}
                    for d in s.diffs
                ],
            }
            for s in plan.steps
        ],
        "conflicts": [
            {"kind": c.kind, "name": c.name, "message": c.message} for c in sorted(plan.conflicts)
        ],
        "inSync": list(plan.in_sync),
        "warnings": list(plan.warnings),
    }


def render_json(plan: Plan) -> str:
    """The plan as a JSON document."""
    return json.dumps(to_json_data(plan), indent=2, sort_keys=False) + "\n"
