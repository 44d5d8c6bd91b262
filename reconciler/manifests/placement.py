"""Where a resource runs in a fleet: a placement (host names, a label selector), a host's
identity (its host file), and whether one selects the other. Pure.

Why it is shaped like this: docs/decisions/fleet.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from reconciler.manifests.common import Name, Strict, StrOrInt

_KEY_RE = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9_./-]{0,251}[a-zA-Z0-9])?$")


def _check_key(value: str) -> str:
    if not _KEY_RE.match(value):
        raise PydanticCustomError(
            "invalid_label",
            "{key} is not a valid label key: letters, digits, '_', '.', '/' and '-', "
            "starting and ending with a letter or digit",
            {"key": repr(value)},
        )
    return value


LabelKey = Annotated[str, AfterValidator(_check_key)]


def _check_keys(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        _check_key(key)
    return value


HostLabels = Annotated[dict[str, StrOrInt], AfterValidator(_check_keys)]


class Requirement(Strict):
    """One set-based condition on a label, as Kubernetes writes it."""

    key: LabelKey
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[StrOrInt] = Field(default_factory=list)

    @model_validator(mode="after")
    def _values_fit_operator(self) -> Requirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise PydanticCustomError(
                "missing_values",
                "operator {op} needs a non-empty values list",
                {"op": self.operator},
            )
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise PydanticCustomError(
                "extra_values", "operator {op} takes no values", {"op": self.operator}
            )
        return self

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether a host with ``labels`` meets this condition."""
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        if self.operator == "In":
            return labels.get(self.key) in self.values
        return labels.get(self.key) not in self.values  # NotIn: also true without the label

    def __str__(self) -> str:
        if self.operator == "Exists":
            return self.key
        if self.operator == "DoesNotExist":
            return f"!{self.key}"
        word = "in" if self.operator == "In" else "notin"
        return f"{self.key} {word} ({','.join(self.values)})"


class Selector(Strict):
    """Labels a host must have: every ``matchLabels`` pair and every expression."""

    match_labels: HostLabels = Field(default_factory=dict)
    match_expressions: list[Requirement] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_empty(self) -> Selector:
        # An empty selector would select every host: a typo must not place a set everywhere.
        if not self.match_labels and not self.match_expressions:
            raise PydanticCustomError(
                "empty_selector",
                "a selector needs matchLabels or matchExpressions (to run everywhere, "
                "leave placement out)",
            )
        return self

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether a host with ``labels`` is selected."""
        return all(labels.get(k) == v for k, v in self.match_labels.items()) and all(
            r.matches(labels) for r in self.match_expressions
        )

    def __str__(self) -> str:
        parts = [f"{k}={v}" for k, v in sorted(self.match_labels.items())]
        return ",".join(parts + [str(r) for r in self.match_expressions])


class Placement(Strict):
    """The hosts a resource runs on: those named in ``hosts``, and those ``selector``
    selects. A resource without a placement runs on every host."""

    hosts: list[Name] = Field(default_factory=list)
    selector: Selector | None = None

    @model_validator(mode="after")
    def _says_something(self) -> Placement:
        if not self.hosts and self.selector is None:
            raise PydanticCustomError(
                "empty_placement",
                "a placement needs hosts or a selector (to run everywhere, leave it out)",
            )
        return self

    def selects(self, host: Host) -> bool:
        """Whether this placement puts the resource on ``host``."""
        if host.name in self.hosts:
            return True
        return self.selector is not None and self.selector.matches(host.labels)

    def __str__(self) -> str:
        parts = []
        if self.hosts:
            parts.append(f"hosts {','.join(self.hosts)}")
        if self.selector is not None:
            parts.append(f"labels {self.selector}")
        return " or ".join(parts)


class HostFile(Strict):
    """The host file (``/etc/reconcile/host.yaml``): this host's name and labels."""

    name: Name | None = None
    labels: HostLabels = Field(default_factory=dict)


@dataclass(frozen=True)
class Host:
    """Who this host is in a fleet, and where that was said (``source``)."""

    name: str
    labels: dict[str, str]
    source: str = ""

    def __str__(self) -> str:
        labels = ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        return f"{self.name} ({labels or 'no labels'})"
