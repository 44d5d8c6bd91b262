"""Which declared fields a spec sets, with the oldest Engine API each needs: what a plan
checks against the connected Engine's API version (``controllers/containers.engine_problems``).

Walked on every desired container a command builds, so the walk is planned once per model
class and skips every field that cannot matter (docs/decisions/pass-fixed-costs.md)."""

from __future__ import annotations

import typing
from functools import cache
from typing import Any

from pydantic import BaseModel

from reconciler.manifests.fields import Engine, api_tuple


@cache
def _walk_plan(
    model: type[BaseModel], above: str | None = None
) -> tuple[tuple[str, str, str | None, Any, bool], ...]:
    """Per field of ``model`` that ``used`` must look at: its name, its manifest name, the
    oldest API of its Engine field when newer than ``above`` (else None), its default, and
    whether its value may hold models with such fields. Fields with neither are left out:
    with ``above`` at the floor API most of a spec is never looked at.

    Kept per class: pydantic's ``get_default`` inspects the default factory's signature on
    every call (~60 us, 650 calls a pass of 50)."""
    _PLANNING.add((model, above))
    try:
        return _plan_fields(model, above)
    finally:
        _PLANNING.discard((model, above))


# The walk plans being made: a model met again while its own plan is made holds itself
# (directly or through another model), and is walked.
_PLANNING: set[tuple[type[BaseModel], str | None]] = set()


def _plan_fields(
    model: type[BaseModel], above: str | None
) -> tuple[tuple[str, str, str | None, Any, bool], ...]:
    rows = []
    for name, info in model.model_fields.items():
        min_api = None
        for meta in info.metadata:
            if isinstance(meta, Engine) and meta.path:
                min_api = meta.min_api
        if min_api is not None and above is not None and api_tuple(min_api) <= api_tuple(above):
            min_api = None
        nested = _may_hold(info.annotation, above)
        if min_api is None and not nested:
            continue
        factory = info.default_factory
        if min_api is None:
            default = None
        elif isinstance(factory, type) and issubclass(factory, BaseModel):
            # Its defaults, without building the model's validator (~25 ms, pydantic's
            # plugin loader included) in a command whose manifests came from the load cache.
            default = factory.model_construct()
        else:
            default = info.get_default(call_default_factory=True)
        rows.append((name, info.alias or name, min_api, default, nested))
    return tuple(rows)


def _may_hold(annotation: Any, above: str | None) -> bool:
    """Whether a value of ``annotation`` may hold a model that has fields ``used`` reports."""
    if annotation is Any:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return (annotation, above) in _PLANNING or bool(_walk_plan(annotation, above))
    return any(_may_hold(arg, above) for arg in typing.get_args(annotation))


def _is_set(value: Any, default: Any) -> bool:
    if value is None or value in ((), [], {}, ""):
        return False
    return bool(value != default)


def used(spec: BaseModel, above: str | None = None) -> dict[str, str]:
    """The declared fields a spec sets to other than their default, with the API version
    each needs: ``{"healthcheck.startInterval": "1.44", ...}`` (items of lists as ``[]``);
    with ``above``, only those needing a newer API than that."""
    found: dict[str, str] = {}

    def walk(node: BaseModel, path: str) -> None:
        for name, alias, min_api, default, nested in _walk_plan(type(node), above):
            value = getattr(node, name)
            if min_api is not None and _is_set(value, default):
                found[f"{path}.{alias}" if path else alias] = min_api
            if not nested:
                continue
            here = f"{path}.{alias}" if path else alias
            if isinstance(value, BaseModel):
                walk(value, here)
            elif isinstance(value, list | tuple):
                for item in value:
                    if isinstance(item, BaseModel):
                        walk(item, f"{here}[]")
            elif isinstance(value, dict):
                for item in value.values():
                    if isinstance(item, BaseModel):
                        walk(item, f"{here}.*")

    walk(spec, "")
    return found
