"""A safe reader for YAML files that are not manifests (the host-access policy file, ...).

It reads a file exactly like a manifest is read (size limit, UTF-8 only, the same refused YAML
features, the YAML 1.2 core schema) but expects one document and knows nothing of kinds. The
result is plain data plus where each part was written, so that any model validated against it
reports problems with file:line:col, the same way manifest problems are reported.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from reconciler.errors import Location, Problem
from reconciler.loading.discovery import read_limited
from reconciler.loading.encoding import decode
from reconciler.loading.messages import error_path, problems_from_errors
from reconciler.loading.parsing import Document, parse_text
from reconciler.loading.results import FieldPath

ModelT = TypeVar("ModelT", bound=BaseModel)

# Each pass removes at least one unknown key; past this many, the rest is not worth listing.
_MAX_PASSES = 20


@dataclass(frozen=True)
class YamlDocument:
    """The one document of a file as plain data, with positions, or the problems reading it.

    ``keys`` maps a field path such as ``('binds', 0, 'path')`` to the location of its key (or
    list item), ``values`` to the location of its value. ``data`` is None when there are
    problems that make the file unreadable.
    """

    filename: str
    data: Any
    start: Location
    keys: Mapping[FieldPath, Location] = field(default_factory=dict)
    values: Mapping[FieldPath, Location] = field(default_factory=dict)
    plain: Mapping[FieldPath, str] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()

    def locate(self, *path: str | int) -> Location:
        """The location of ``path``, else of its nearest ancestor that was written down."""
        for end in range(len(path), 0, -1):
            found = self.keys.get(tuple(path[:end]))
            if found is not None:
                return found
        return self.start


def read_yaml(path: Path) -> YamlDocument:
    """Read one single-document YAML file; never raises for bad content."""
    raw = read_limited(path)
    if isinstance(raw, Problem):
        return YamlDocument(str(path), None, Location(str(path)), problems=(raw,))
    return parse_yaml(raw, str(path))


def parse_yaml(raw: bytes | str, filename: str) -> YamlDocument:
    """Parse one single-document YAML text given in memory."""
    start = Location(filename)
    text = decode(raw.encode("utf-8") if isinstance(raw, str) else raw, filename)
    if isinstance(text, Problem):
        return YamlDocument(filename, None, start, problems=(text,))
    parsed = parse_text(text, filename)
    if parsed.problems:
        return YamlDocument(filename, None, start, problems=parsed.problems)
    if len(parsed.documents) > 1:
        second = parsed.documents[1].start
        return YamlDocument(
            filename,
            None,
            start,
            problems=(
                Problem(second, "", "this file must hold one YAML document; remove the '---'"),
            ),
        )
    doc = parsed.documents[0]
    return YamlDocument(
        filename,
        doc.data,
        doc.start,
        MappingProxyType(dict(doc.keys)),
        MappingProxyType(dict(doc.values)),
        MappingProxyType(dict(doc.plain)),
    )


def validate_yaml(model: type[ModelT], doc: YamlDocument) -> tuple[ModelT | None, list[Problem]]:
    """Validate the document against a pydantic model, with every problem located.

    Every unknown key is reported (not just the first): unknown keys are removed from a copy
    and validation runs again, as the manifest loader does.
    """
    if doc.problems:
        return None, list(doc.problems)
    work = copy.deepcopy(doc.data)
    unknown: list[ErrorDetails] = []
    result: ModelT | None = None
    errors: list[ErrorDetails] = []
    for _ in range(_MAX_PASSES):
        try:
            result = model.model_validate(work)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            found = [e for e in errors if e["type"] == "unknown_field"]
            if not found:
                break
            unknown.extend(found)
            errors = []
            for error in found:
                _drop(work, error_path(error, work))
        else:
            break
    errors = unknown + errors
    if errors:
        located = Document(doc.data, doc.start, dict(doc.keys), dict(doc.values), dict(doc.plain))
        return None, sorted(problems_from_errors(errors, located))
    return result, []


def _drop(data: Any, path: FieldPath) -> None:
    if not path:
        return
    *parent, key = path
    holder: Any = data
    for part in parent:
        holder = holder[part]
    if isinstance(holder, dict):
        holder.pop(key, None)
