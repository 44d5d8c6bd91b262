"""The container field table: each field's Engine mapping, declared once, on the model field.

A ``ContainerSpec`` field (or a field of a model nested in it) carries an ``Engine`` object in
its ``Annotated`` metadata: where the value goes in the Engine's create body, whether the
Engine's ``/update`` changes it in place, the oldest API version that knows it, and, for the
*table-driven* fields, a ``Shape`` that turns the manifest value into a comparable value and
that into Engine JSON and back. ``table()`` collects them by walking the model, so the model,
the desired values (``values.desired``), the comparison (``controllers.container_fields``),
the Engine request and its reading back (``runtime.docker``), the JSON Schema and the field
table of docs/manifest.md all follow one declaration. A field declared without a shape is
mapped by hand (ports, mounts, networks...: their shapes do not fit one Engine path); the
table still names its Engine fields, its apply mode and its API version.

Pure data and pure functions: Engine paths are strings, values are plain JSON.
See docs/decisions/field-table.md.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel

from reconciler.manifests import units

Comparable = Any  # str, int, bool or nested tuples of them: hashable and JSON-friendly

# The oldest Engine API reconcile speaks to (Docker 20.10); fields at or below it need no check.
FLOOR_API = "1.41"
# The API version from which each network of a container can have a MAC address of its own.
ENDPOINT_MAC_API = "1.44"
# API version -> the Docker Engine release that introduced it (for messages).
DOCKER_RELEASES = {
    "1.40": "19.03",
    "1.41": "20.10",
    "1.42": "23.0",
    "1.43": "24.0",
    "1.44": "25.0",
    "1.45": "26.0",
    "1.46": "27.0",
    "1.47": "27.3",
    "1.48": "28.0",
}


def api_tuple(version: str) -> tuple[int, ...]:
    """``"1.41"`` -> ``(1, 41)`` for ordering API versions."""
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def release_of(api: str) -> str:
    """The Docker release of an API version, as words: ``Docker 25.0 (API 1.44)``."""
    release = DOCKER_RELEASES.get(api)
    return f"Docker {release} (API {api})" if release else f"Engine API {api}"


@dataclass(frozen=True)
class Shape:
    """How a table-driven field's value travels: manifest value -> comparable -> Engine JSON,
    and Engine JSON -> comparable when read back. ``show`` renders a comparable for plans."""

    name: str
    comparable: Callable[[Any], Comparable] = lambda value: value
    to_engine: Callable[[Comparable], Any] = lambda value: value
    from_engine: Callable[[Any], Comparable] = lambda raw: raw
    show: Callable[[Comparable], str] = str


def _show_list(value: Comparable) -> str:
    return json.dumps(list(value))


def _show_bool(value: Comparable) -> str:
    return "true" if value else "false"


def _ordered(raw: Any) -> Comparable:
    return tuple(raw) if raw else None


def _sorted(raw: Any) -> Comparable:
    return tuple(sorted(set(raw))) if raw else None


def _set_or_none(value: Any) -> Comparable:
    """The Engine's zero (0, false, "") is its default: read as unset on both sides."""
    return value or None


SCALAR = Shape("scalar", comparable=_set_or_none, from_engine=_set_or_none)
FLAG = Shape("flag", comparable=_set_or_none, from_engine=_set_or_none, show=_show_bool)
NUMBER = Shape("number", comparable=_set_or_none, from_engine=_set_or_none)
SIZE = Shape("size", comparable=_set_or_none, from_engine=_set_or_none, show=units.format_size)
ORDERED = Shape(
    "ordered list", comparable=_ordered, to_engine=list, from_engine=_ordered, show=_show_list
)
SET = Shape("set", comparable=_sorted, to_engine=list, from_engine=_sorted, show=_show_list)


def cpu_list(value: str) -> str:
    """A cpuset list in one spelling: ``"0,1,2,5"`` and ``"0-2,5"`` both read ``0-2,5``.
    Raises ValueError on anything else."""
    numbers: set[int] = set()
    for part in value.replace(" ", "").split(","):
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ValueError(part)
        low, high = int(first), int(last) if dash else int(first)
        if high < low or high > 4095:
            raise ValueError(part)
        numbers.update(range(low, high + 1))
    runs: list[str] = []
    for n in sorted(numbers):
        if runs and n - 1 in numbers:
            start = runs[-1].split("-")[0]
            runs[-1] = f"{start}-{n}"
        else:
            runs.append(str(n))
    return ",".join(runs)


CPU_LIST = Shape(
    "cpu list",
    comparable=cpu_list,
    from_engine=lambda raw: cpu_list(raw) if raw else None,
)


def _ulimits(value: Mapping[str, Any]) -> Comparable:
    items = []
    for name, limit in value.items():
        soft, hard = (limit, limit) if isinstance(limit, int) else (limit.soft, limit.hard)
        items.append((name, soft, hard))
    return tuple(sorted(items)) or None


def _ulimits_to_engine(value: Comparable) -> Any:
    return [{"Name": name, "Soft": soft, "Hard": hard} for name, soft, hard in value]


def _ulimits_from_engine(raw: Any) -> Comparable:
    items = [(u.get("Name") or "", u.get("Soft") or 0, u.get("Hard") or 0) for u in raw or ()]
    return tuple(sorted(items)) or None


def _show_ulimits(value: Comparable) -> str:
    return " ".join(f"{n}={s}" if s == h else f"{n}={s}:{h}" for n, s, h in value)


ULIMITS = Shape(
    "ulimits",
    comparable=_ulimits,
    to_engine=_ulimits_to_engine,
    from_engine=_ulimits_from_engine,
    show=_show_ulimits,
)


def _logging(value: Any) -> Comparable:
    return (value.driver, tuple(sorted(value.options.items())))


def _logging_to_engine(value: Comparable) -> Any:
    driver, options = value
    return {"Type": driver, "Config": dict(options)}


def _logging_from_engine(raw: Any) -> Comparable:
    if not raw or not raw.get("Type"):
        return None
    return (raw["Type"], tuple(sorted((raw.get("Config") or {}).items())))


def _show_logging(value: Comparable) -> str:
    driver, options = value
    return " ".join([driver, *(f"{k}={v}" for k, v in options)])


LOGGING = Shape(
    "logging",
    comparable=_logging,
    to_engine=_logging_to_engine,
    from_engine=_logging_from_engine,
    show=_show_logging,
)


@dataclass(frozen=True)
class Engine:
    """Where a manifest field lives in the Engine (a field's ``Annotated`` metadata).

    ``path``: the Engine field(s), ``Config.X`` or ``HostConfig.X`` as ``docker inspect`` shows
    them (the create body has ``Config``'s fields at its top). ``in_place``: the Engine's
    ``/containers/{id}/update`` changes it without a recreate. ``min_api``: the oldest API
    version that supports it. ``shape``: None when the field is mapped by hand. ``unset``: how
    a field left out of the manifest compares: ``default`` (the Engine's own default reads
    back as unset, anything else is drift) or ``ignored`` (the Engine fills it from its daemon
    configuration, which reconcile cannot read, so only a value that is written is compared).
    ``info_default``: the ``/info`` key whose value is the Engine's default (read as unset).
    """

    path: str
    in_place: bool = False
    min_api: str = "1.24"
    shape: Shape | None = None
    unset: Literal["default", "ignored"] = "default"
    info_default: str | None = None
    note: str = ""

    @property
    def apply(self) -> str:
        """``in place`` or ``recreate``, as the docs and plans say it."""
        return "in place" if self.in_place else "recreate"

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> Any:
        """The declaration in the JSON Schema, beside the field's type (``x-`` keywords)."""
        schema = handler(core_schema)
        if not self.path:
            schema["x-engine"] = "none: reconcile's own"
            return schema
        schema["x-engine"] = self.path
        schema["x-apply"] = self.apply
        schema["x-min-api"] = self.min_api
        if self.note:
            schema["x-note"] = self.note
        return schema


@dataclass(frozen=True)
class FieldEntry:
    """One row of the table: a field's manifest path, Python attribute path and declaration."""

    path: str  # as the manifest spells it: "resources.cpusetCpus"
    attrs: tuple[str, ...]  # attribute names from ContainerSpec: ("resources", "cpuset_cpus")
    engine: Engine
    doc: str = ""
    many: bool = False  # inside a list item (ports[], mounts[], networks[])

    @property
    def driven(self) -> bool:
        """Whether the table drives it end to end (it has a shape)."""
        return self.engine.shape is not None

    def value(self, spec: BaseModel) -> Any:
        """The field's value in a spec (a table-driven field is never inside a list)."""
        node: Any = spec
        for attr in self.attrs:
            node = getattr(node, attr)
        return node


@dataclass(frozen=True)
class Table:
    """The declared container fields, in model order."""

    entries: tuple[FieldEntry, ...] = field(default_factory=tuple)

    def __iter__(self) -> Iterator[FieldEntry]:
        return iter(self.entries)

    @property
    def driven(self) -> tuple[FieldEntry, ...]:
        """The table-driven entries."""
        return tuple(e for e in self.entries if e.driven)

    def get(self, path: str) -> FieldEntry:
        """The entry of a manifest path."""
        for entry in self.entries:
            if entry.path == path:
                return entry
        raise KeyError(path)


def _models_in(annotation: Any) -> Iterator[tuple[type[BaseModel], bool]]:
    """The models an annotation holds, with whether they are list items."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _models_in(typing.get_args(annotation)[0])
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, False
    elif origin in (list, tuple, set, frozenset):
        for arg in typing.get_args(annotation):
            yield from ((m, True) for m, _ in _models_in(arg))
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _models_in(arg)


def collect(model: type[BaseModel], prefix: str = "", attrs: tuple[str, ...] = ()) -> Table:
    """Every ``Engine``-annotated field of ``model`` and the models nested in it."""
    entries: list[FieldEntry] = []

    def walk(node: type[BaseModel], path: str, at: tuple[str, ...], many: bool) -> None:
        for name, info in node.model_fields.items():
            alias = info.alias or name
            here = f"{path}.{alias}" if path else alias
            declared = [m for m in info.metadata if isinstance(m, Engine)]
            if declared:
                entries.append(
                    FieldEntry(
                        here,
                        (*at, name),
                        declared[0],
                        info.description or "",
                        many,
                    )
                )
            for nested, in_list in _models_in(info.annotation):
                walk(nested, f"{here}[]" if in_list else here, (*at, name), many or in_list)

    walk(model, prefix, attrs, False)
    unique: dict[str, FieldEntry] = {}
    for entry in entries:
        unique.setdefault(entry.path, entry)
    return Table(tuple(unique.values()))


@cache
def container_table() -> Table:
    """The table of the ``Container`` kind's spec."""
    from reconciler.manifests.container import ContainerSpec

    return collect(ContainerSpec)


def render_markdown(table: Table | None = None) -> str:
    """The field table as docs/manifest.md shows it (between its ``fields`` markers)."""
    rows = [
        "| Field | Engine field | A change is applied | Oldest API (Docker) |",
        "|---|---|---|---|",
    ]
    for entry in table or container_table():
        engine = entry.engine
        if not engine.path:
            rows.append(f"| `{entry.path}` | none (reconcile's own) | no Engine change | any |")
            continue
        paths = ", ".join(f"`{p.strip()}`" for p in engine.path.split(","))
        if engine.note:
            paths += f" ({engine.note})"
        since = engine.min_api
        release = DOCKER_RELEASES.get(since)
        if api_tuple(since) <= api_tuple(FLOOR_API):
            since_text = f"{since} (any supported Engine)"
        else:
            since_text = f"{since} (Docker {release})" if release else since
        rows.append(f"| `{entry.path}` | {paths} | {engine.apply} | {since_text} |")
    return "\n".join(rows) + "\n"
