"""One parsed document -> a manifest model, or the problems that stop it from being one.

The envelope (a mapping with ``apiVersion`` and ``kind``) is checked first, by hand: the kind
chooses the model, so a wrong ``apiVersion`` or ``kind`` makes every other message meaningless
and only those are reported.
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from reconciler.errors import Location, Problem
from reconciler.loading.messages import error_path, problems_from_errors
from reconciler.loading.parsing import Document
from reconciler.manifests import KINDS, Manifest
from reconciler.manifests.constants import API_VERSION

# Each pass removes at least one unknown key; past this many, the rest is not worth listing.
_MAX_PASSES = 20


@dataclass(frozen=True)
class Checked:
    """The outcome for one document.

    ``identity`` is ``(kind, name)`` whenever the document says which resource it means, even
    if it is invalid, so that references to it are not also reported as dangling.
    """

    manifest: Manifest | None
    problems: tuple[Problem, ...]
    identity: tuple[str, str] | None


def document_location(doc: Document) -> Location:
    """Where a document is said to be: its ``kind`` key, else where the document starts."""
    return doc.keys.get(("kind",), doc.start)


def check_document(doc: Document) -> Checked:
    """Validate one document against the model of its kind."""
    data = doc.data
    if not isinstance(data, dict):
        return Checked(
            None,
            (
                Problem(
                    doc.start,
                    "",
                    f"a manifest must be a mapping with apiVersion, kind, metadata and spec, not "
                    f"{_what(data)}",
                ),
            ),
            None,
        )
    identity = _identity(data)
    envelope = _envelope_problems(doc, data)
    if envelope:
        return Checked(None, tuple(envelope), identity)
    manifest, errors = _validate(KINDS[data["kind"]], data)
    if errors:
        return Checked(None, tuple(sorted(problems_from_errors(errors, doc))), identity)
    assert manifest is not None
    return Checked(manifest, (), identity)


def _validate(
    model: type[Manifest], data: dict[str, Any]
) -> tuple[Manifest | None, list[ErrorDetails]]:
    """Validate, reporting every unknown key and every other error, not just the first.

    The models refuse an unknown key by failing the whole object, which hides the other errors
    in it. So unknown keys are collected, removed from a copy, and validation runs again.
    """
    work = copy.deepcopy(data)
    unknown: list[ErrorDetails] = []
    for _ in range(_MAX_PASSES):
        try:
            manifest = model.model_validate(work)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            found = [e for e in errors if e["type"] == "unknown_field"]
            if not found:
                return None, unknown + errors
            unknown.extend(found)
            for error in found:
                *parent, key = error_path(error, work)
                holder: Any = work
                for part in parent:
                    holder = holder[part]
                holder.pop(key, None)
        else:
            return (None, unknown) if unknown else (manifest, [])
    return None, unknown


def _envelope_problems(doc: Document, data: dict[str, Any]) -> list[Problem]:
    problems = []
    start = doc.start
    version = data.get("apiVersion")
    if "apiVersion" not in data:
        problems.append(Problem(start, "apiVersion", f"is required; use {API_VERSION}"))
    elif version != API_VERSION:
        problems.append(
            Problem(
                doc.values.get(("apiVersion",), start),
                "apiVersion",
                f"{version!r} is not a supported apiVersion; use {API_VERSION}",
            )
        )
    known = sorted(KINDS)
    kind = data.get("kind")
    if "kind" not in data:
        problems.append(Problem(start, "kind", f"is required: one of {', '.join(known)}"))
    elif not isinstance(kind, str) or kind not in KINDS:
        close = difflib.get_close_matches(str(kind), known, n=1, cutoff=0.6) or [
            k for k in known if k.lower() == str(kind).lower()
        ]
        hint = f"did you mean {close[0]}?" if close else f"use one of {', '.join(known)}"
        problems.append(
            Problem(
                doc.values.get(("kind",), start),
                "kind",
                f"{kind!r} is not a known kind; {hint}",
            )
        )
    return problems


def _identity(data: dict[str, Any]) -> tuple[str, str] | None:
    kind, metadata = data.get("kind"), data.get("metadata")
    if isinstance(kind, str) and isinstance(metadata, dict):
        name = metadata.get("name")
        if isinstance(name, str):
            return kind, name
    return None


def _what(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return "a boolean" if isinstance(value, bool) else "a number"
