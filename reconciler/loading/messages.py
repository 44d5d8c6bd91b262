"""Pydantic validation errors -> Problems with a position, an alias field path and a sentence.

Pydantic's locs name model fields by alias but also contain things that are not keys of the
document (discriminator tags such as ``tmpfs``, union branch names such as ``int``, ``[key]``),
so each loc is walked through the document's data and only real keys and indexes are kept.
Pydantic's generic wording ("Input should be a valid string") is rewritten into sentences that
say what YAML did and how to fix it.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Sequence
from typing import Any

from pydantic_core import ErrorDetails

from reconciler.errors import Location, Problem
from reconciler.loading.parsing import Document
from reconciler.loading.results import FieldPath, format_path

# Sentences for fields whose only constraint is a regular expression.
_PATTERN_HINTS = {
    "image": "is not a valid image reference (such as nginx:1.27 or registry/app@sha256:...)",
    "restartPolicy": "must be no, always, unless-stopped, on-failure or on-failure:N",
    "networkMode": "must be bridge, host, none or container:NAME",
    "pidMode": "must be host, private, shareable or container:NAME",
    "ipcMode": "must be host, private, shareable or container:NAME",
    "hostname": "is not a valid hostname (letters, digits and '-', dot-separated)",
    "mode": 'must be an octal file mode written as a quoted string, such as "1777"',
    "stopSignal": "must be a signal name such as SIGTERM, or its number",
    "deviceCgroupRules": 'must look like "c 188:* rwm": type a, b or c, major:minor, '
    "then permissions r, w, m",
}
_NOUNS = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping (key: value pairs)",
    "model_type": "a mapping (key: value pairs)",
    "model_attributes_type": "a mapping (key: value pairs)",
}
_KEY_LEVEL = frozenset({"unknown_field", "missing", "external_field"})


def problems_from_errors(errors: Sequence[ErrorDetails], doc: Document) -> list[Problem]:
    """One Problem per offending field, located at the key or value that caused it."""
    groups: dict[FieldPath, list[ErrorDetails]] = {}
    for error in errors:
        groups.setdefault(error_path(error, doc.data), []).append(error)
    # 'imag: x' gives "unknown field 'imag'; did you mean image?" and "image is required";
    # the second only repeats the first.
    for path in _suggested(groups):
        if all(e["type"] == "missing" for e in groups.get(path, [{"type": ""}])):
            groups.pop(path, None)
    problems = []
    for path, group in groups.items():
        value, found = _lookup(doc.data, path)
        sentence = _combine(group, path, value, doc.plain.get(path))
        problems.append(
            Problem(_locate(doc, path, group[0]["type"], value, found), format_path(path), sentence)
        )
    return problems


def _suggested(groups: dict[FieldPath, list[ErrorDetails]]) -> list[FieldPath]:
    """Paths of the fields that unknown-field errors suggest instead."""
    paths = []
    for path, group in groups.items():
        for error in group:
            ctx = error.get("ctx") or {}
            match = re.fullmatch(r"; did you mean (\S+)\?", str(ctx.get("hint", "")))
            instead = match.group(1) if match else str(ctx.get("instead") or "")
            if error["type"] == "unknown_field" and instead:
                paths.append((*path[:-1], instead))
    return paths


def error_path(error: ErrorDetails, data: Any) -> FieldPath:
    """The error's loc reduced to real keys and indexes of the data, plus the key it is about."""
    path: list[str | int] = []
    node = data
    loc = error["loc"]
    for i, part in enumerate(loc):
        found, child = _child(node, part)
        if found:
            node = child
        elif error["type"] == "missing" and i == len(loc) - 1 and isinstance(part, str):
            pass  # the missing field itself: not in the data, but it is what the error names
        else:
            continue  # a discriminator tag, union branch or '[key]': not part of the document
        path.append(part)
    ctx = error.get("ctx") or {}
    if error["type"] == "unknown_field" and "field" in ctx:
        path.append(_unrepr(ctx["field"]))
    elif error["type"] == "external_field" and "field" in ctx:
        # A field an external Volume or Network may not set ("driver", "metadata.labels").
        path.extend(str(ctx["field"]).split("."))
    elif error["type"] in ("union_tag_invalid", "union_tag_not_found") and "discriminator" in ctx:
        path.append(_unrepr(ctx["discriminator"]))
    return tuple(path)


def _unrepr(text: Any) -> str:
    try:
        value = ast.literal_eval(str(text))
    except (ValueError, SyntaxError):
        return str(text)
    return str(value)


def _lookup(data: Any, path: FieldPath) -> tuple[Any, bool]:
    node = data
    for part in path:
        found, node = _child(node, part)
        if not found:
            return None, False
    return node, True


def _child(node: Any, part: str | int) -> tuple[bool, Any]:
    """Whether ``part`` is a key (or index) of ``node``, and the value there."""
    if isinstance(node, dict) and isinstance(part, str) and part in node:
        return True, node[part]
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return True, node[part]
    return False, None


def _locate(doc: Document, path: FieldPath, kind: str, value: Any, found: bool) -> Location:
    """Scalars are pointed at by their value; keys, mappings and lists by their key."""
    scalar = found and kind not in _KEY_LEVEL and not isinstance(value, dict | list)
    if scalar and path in doc.values:
        return doc.values[path]
    for end in range(len(path), 0, -1):
        if path[:end] in doc.keys:
            return doc.keys[path[:end]]
    return doc.start


def _combine(group: list[ErrorDetails], path: FieldPath, value: Any, raw: str | None) -> str:
    """One sentence for all errors at one place (a union gives one error per branch)."""
    if len(group) > 1 and all(e["type"] in _NOUNS or e["type"] == "literal_error" for e in group):
        nouns = list(dict.fromkeys(_noun(e) for e in group))
        return f"must be {' or '.join(nouns)}{_yaml_hint(value, raw)}"
    sentences = list(dict.fromkeys(_sentence(e, path, value, raw) for e in group))
    return "; ".join(sentences)


def _noun(error: ErrorDetails) -> str:
    if error["type"] == "literal_error":
        return str((error.get("ctx") or {}).get("expected", "an allowed value"))
    return _NOUNS[error["type"]]


def _yaml_hint(value: Any, raw: str | None) -> str:
    """What YAML made of an unquoted value, and how to write what was meant."""
    if value is None:
        return "; the value is empty (null)"
    if raw is None:
        return ""
    what = "a boolean" if isinstance(value, bool) else "a number"
    return f'; YAML read {raw} as {what}, quote it: "{raw}"'


def _sentence(error: ErrorDetails, path: FieldPath, value: Any, raw: str | None) -> str:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == "missing":
        return "is required"
    if kind == "bool_type":
        if isinstance(value, str):
            return f"must be true or false, not the string {value!r}; write it without quotes"
        return f"must be true or false{_yaml_hint(value, None if value is None else raw)}"
    if kind in ("int_type", "int_from_float"):
        if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
            return f"must be a whole number, not the string {value!r}; remove the quotes"
        return f"must be a whole number{_yaml_hint(value, None)}"
    if kind in _NOUNS:
        return f"must be {_NOUNS[kind]}{_yaml_hint(value, raw)}"
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}{_suggest(value, ctx.get('expected'))}"
    if kind == "string_pattern_mismatch":
        field = next((p for p in reversed(path) if isinstance(p, str)), "")
        hint = _PATTERN_HINTS.get(field)
        return f"{value!r} {hint}" if hint else f"{value!r} does not match {ctx.get('pattern')}"
    if kind == "string_too_short":
        if ctx.get("min_length") == 1:
            return "must not be empty"
        return f"must be at least {ctx.get('min_length')} characters long"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters long"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"allows at most {ctx.get('max_length')} item(s)"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {
            "greater_than_equal": ("at least", "ge"),
            "greater_than": ("above", "gt"),
            "less_than_equal": ("at most", "le"),
            "less_than": ("below", "lt"),
        }[kind]
        return f"must be {words[0]} {ctx.get(words[1])}, not {value!r}"
    if kind == "union_tag_invalid":
        return (
            f"{ctx.get('tag')!r} is not a valid {_unrepr(ctx.get('discriminator'))}; "
            f"use one of {ctx.get('expected_tags')}"
        )
    if kind == "union_tag_not_found":
        return "is required"
    message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return re.sub(r"^Input should be", "must be", message)


def _suggest(value: Any, expected: Any) -> str:
    if not isinstance(value, str) or not expected:
        return ""
    allowed = re.findall(r"'([^']*)'", str(expected))
    lowered = {a.lower(): a for a in allowed}
    close = difflib.get_close_matches(value.lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean {lowered[close[0]]}?" if close else ""
