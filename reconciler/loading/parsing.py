"""YAML text -> plain Python documents with the position of every key and item.

This is the only module of the project that imports ruamel. It uses ruamel's scanner and parser
(the event stream) and composes the documents itself, so that every YAML feature we refuse
(anchors, aliases, merge keys, tags, directives other than ``%YAML 1.2``) is seen and reported
with its position instead of being silently resolved. Plain scalars are resolved with the YAML
1.2 core schema (``yes``/``no``/``on``/``off`` stay strings; ``0644`` is the decimal 644).
See docs/manifest-loading.md for the accepted subset and why.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from ruamel.yaml.reader import ReaderError

from reconciler.errors import Location, Problem
from reconciler.loading.results import FieldPath, format_path
from reconciler.manifests.constants import MAX_DOCUMENTS_PER_FILE, MAX_NESTING_DEPTH

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# The YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution), nothing more.
_NULL_RE = re.compile(r"^(~|null|Null|NULL|)$")
_TRUE_RE = re.compile(r"^(true|True|TRUE)$")
_FALSE_RE = re.compile(r"^(false|False|FALSE)$")
_INT10_RE = re.compile(r"^[-+]?[0-9]+$")
_INT8_RE = re.compile(r"^0o[0-7]+$")
_INT16_RE = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT_RE = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_INF_RE = re.compile(r"^[-+]?\.(inf|Inf|INF)$")
_NAN_RE = re.compile(r"^\.(nan|NaN|NAN)$")


@dataclass
class Document:
    """One YAML document as plain data, with where each part of it was written.

    ``keys`` maps a field path to the position of its mapping key (or of the sequence item);
    ``values`` maps it to the position of the value; ``plain`` keeps the source text of plain
    scalars that YAML read as something other than a string (so messages can quote ``3.10``).
    """

    data: Any
    start: Location
    keys: dict[FieldPath, Location] = field(default_factory=dict)
    values: dict[FieldPath, Location] = field(default_factory=dict)
    plain: dict[FieldPath, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedFile:
    """The documents of one file, or the problems that make the file unreadable as YAML.

    A file is all or nothing at this level: if any problem is found, ``documents`` is empty,
    because acting on half a file would look like the other half was deleted.
    """

    documents: tuple[Document, ...]
    problems: tuple[Problem, ...]


class _Fatal(Exception):
    """A problem after which the rest of the stream cannot be read sensibly."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def resolve_plain(text: str) -> Any:
    """The value of a plain (unquoted) scalar under the YAML 1.2 core schema."""
    if _NULL_RE.match(text):
        return None
    if _TRUE_RE.match(text):
        return True
    if _FALSE_RE.match(text):
        return False
    if _INT10_RE.match(text):
        return int(text, 10)
    if _INT8_RE.match(text):
        return int(text[2:], 8)
    if _INT16_RE.match(text):
        return int(text[2:], 16)
    if _FLOAT_RE.match(text):
        return float(text)
    if _INF_RE.match(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN_RE.match(text):
        return math.nan
    return text


def _describe(value: Any) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a number"
    return "a number" if isinstance(value, float) else "a string"


class _Composer:
    """Builds documents from ruamel's event stream, collecting problems as it goes."""

    def __init__(self, events: Iterator[Event], filename: str) -> None:
        self._events = events
        self._file = filename
        self.problems: list[Problem] = []
        self._doc: Document | None = None

    def _loc(self, event: Event) -> Location:
        mark = event.start_mark
        return Location(self._file, mark.line + 1, mark.column + 1)

    def _problem(self, event: Event, path: FieldPath, message: str) -> None:
        self.problems.append(Problem(self._loc(event), format_path(path), message))

    def documents(self) -> list[Document]:
        docs: list[Document] = []
        count = 0
        for event in self._events:
            if isinstance(event, StreamEndEvent):
                break
            if not isinstance(event, DocumentStartEvent):
                continue
            count += 1
            if count > MAX_DOCUMENTS_PER_FILE:
                raise _Fatal(
                    Problem(
                        self._loc(event),
                        "",
                        f"file has more than {MAX_DOCUMENTS_PER_FILE} documents; split it",
                    )
                )
            self._check_directives(event)
            doc = self._document()
            if doc is not None:
                docs.append(doc)
        return docs

    def _check_directives(self, event: DocumentStartEvent) -> None:
        version = getattr(event, "version", None)
        if version is not None and tuple(version) != (1, 2):
            self._problem(
                event,
                (),
                f"%YAML {'.'.join(map(str, version))} is not supported: manifests are "
                "YAML 1.2; remove the directive",
            )
        if getattr(event, "tags", None):
            self._problem(event, (), "%TAG directives are not allowed; tags are not supported")

    def _document(self) -> Document | None:
        first = next(self._events)
        doc = Document(data=None, start=self._loc(first))
        self._doc = doc
        empty = (
            isinstance(first, ScalarEvent)
            and first.value == ""
            and first.style is None
            and first.tag is None
            and first.anchor is None
        )
        doc.data = self._node(first, (), 0)
        end = next(self._events)
        assert isinstance(end, DocumentEndEvent), end
        # A bare '---' (or a trailing one) is an empty document: skipped, like kubectl does.
        return None if empty else doc

    def _node(self, event: Event, path: FieldPath, depth: int) -> Any:
        assert self._doc is not None
        self._doc.values[path] = self._loc(event)
        if isinstance(event, AliasEvent):
            self._problem(
                event, path, f"aliases (*{event.anchor}) are not allowed; write the value out"
            )
            return None
        if not isinstance(event, ScalarEvent | CollectionStartEvent):
            raise AssertionError(f"unexpected YAML event {event!r}")
        if event.anchor is not None:
            self._problem(
                event,
                path,
                f"anchors (&{event.anchor}) are not allowed; write the value out where it is used",
            )
        if event.tag is not None:
            tag = re.sub(r"^tag:yaml\.org,2002:", "!!", event.tag)
            self._problem(
                event,
                path,
                f"explicit tags ({tag}) are not allowed; "
                "remove the tag (quote the value if you want a string)",
            )
        if isinstance(event, ScalarEvent):
            return self._scalar(event, path)
        if isinstance(event, MappingStartEvent | SequenceStartEvent):
            if depth + 1 > MAX_NESTING_DEPTH:
                raise _Fatal(
                    Problem(
                        self._loc(event),
                        "",
                        f"nesting is deeper than {MAX_NESTING_DEPTH} levels",
                    )
                )
            if isinstance(event, MappingStartEvent):
                return self._mapping(path, depth + 1)
            return self._sequence(path, depth + 1)
        raise AssertionError(f"unexpected YAML event {event!r}")

    def _scalar(self, event: ScalarEvent, path: FieldPath) -> Any:
        assert self._doc is not None
        if event.style is not None or event.tag is not None:
            return event.value  # quoted or block scalars are always strings
        value = resolve_plain(event.value)
        if isinstance(value, str):
            return value
        self._doc.plain[path] = event.value
        if isinstance(value, float) and not math.isfinite(value):
            self._problem(
                event,
                path,
                f"{event.value} is not a finite number; "
                f'quote it if you mean the text "{event.value}"',
            )
        elif isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            self._problem(
                event,
                path,
                f"the number {event.value} is too large "
                "(above 64 bits); quote it if you mean the text",
            )
        return value

    def _mapping(self, path: FieldPath, depth: int) -> dict[str, Any]:
        assert self._doc is not None
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        while True:
            key_event = next(self._events)
            if isinstance(key_event, MappingEndEvent):
                return result
            key = self._key(key_event, path, depth)
            value_event = next(self._events)
            if key is None:
                self._node(value_event, (*path, "<invalid key>"), depth)
                continue
            child = (*path, key)
            line = key_event.start_mark.line + 1
            if key in first_line:
                self._problem(
                    key_event,
                    child,
                    f"duplicate key {key!r}: it appears on lines "
                    f"{first_line[key]} and {line}; keep one",
                )
                self._node(value_event, (*path, "<duplicate key>"), depth)
                continue
            first_line[key] = line
            self._doc.keys[child] = self._loc(key_event)
            result[key] = self._node(value_event, child, depth)

    def _key(self, event: Event, path: FieldPath, depth: int) -> str | None:
        """The key as a string, or None (after reporting why) when it is not a plain string."""
        if not isinstance(event, ScalarEvent) or event.tag is not None or event.anchor:
            self._node(event, (*path, "<invalid key>"), depth)
            if isinstance(event, MappingStartEvent | SequenceStartEvent):
                self._problem(event, path, "keys must be strings, not lists or mappings")
            return None
        if event.style is not None:
            return str(event.value)
        if event.value == "<<":
            self._problem(event, path, "merge keys (<<) are not allowed; write the keys out")
            return None
        value = resolve_plain(event.value)
        if not isinstance(value, str):
            self._problem(
                event,
                path,
                f"key {event.value or '(empty)'} is {_describe(value)}, "
                f'not a string; quote it: "{event.value}"',
            )
            return None
        return value

    def _sequence(self, path: FieldPath, depth: int) -> list[Any]:
        assert self._doc is not None
        result: list[Any] = []
        while True:
            event = next(self._events)
            if isinstance(event, SequenceEndEvent):
                return result
            child = (*path, len(result))
            self._doc.keys[child] = self._loc(event)
            result.append(self._node(event, child, depth))


def _c_events(text: str) -> Iterator[Event]:
    """Events from libyaml's parser (ruamel.yaml.clib), spelled as the pure parser spells them
    (a plain scalar's style is None, not '')."""
    assert _C_YAML is not None, "only called when libyaml is available"
    for event in _C_YAML.parse(text):
        if isinstance(event, ScalarEvent) and event.style == "":
            event.style = None
        yield event


def _pure_events(text: str) -> Iterator[Event]:
    return iter(YAML(typ="safe", pure=True).parse(text))


def _c_yaml() -> YAML | None:
    try:
        yaml = YAML(typ="safe", pure=False)
    except Exception:  # no C extension on this platform: the pure parser does everything
        return None
    return yaml if "CParser" in getattr(yaml.Parser, "__name__", "") else None


_C_YAML = _c_yaml()


def parse_text(text: str, filename: str) -> ParsedFile:
    """Parse decoded YAML text into documents; never raises for bad input.

    libyaml's C parser does the work when it is available (about 15 times faster); anything it
    finds wrong is parsed again by ruamel's pure parser, whose positions and messages are the
    ones users see (and the tests pin down). Both feed the same composer, which resolves plain
    scalars by YAML 1.2 itself, so the documents do not depend on the parser.
    """
    if _C_YAML is not None:
        try:
            fast = _parse(_c_events(text), text, filename)
        except Exception:  # whatever libyaml trips over, the pure parser explains
            fast = None
        if fast is not None and not fast.problems:
            return fast
    return _parse(_pure_events(text), text, filename)


def _parse(events: Iterator[Event], text: str, filename: str) -> ParsedFile:
    composer = _Composer(events, filename)
    try:
        documents = composer.documents()
    except _Fatal as fatal:
        composer.problems.append(fatal.problem)
    except MarkedYAMLError as exc:
        composer.problems.append(_syntax_problem(exc, text, filename))
    except ReaderError as exc:
        line, col = _line_col(text, exc.position)
        composer.problems.append(
            Problem(
                Location(filename, line, col),
                "",
                f"the character U+{exc.character:04X} is not allowed in YAML; remove it",
            )
        )
    except YAMLError as exc:
        composer.problems.append(Problem(Location(filename), "", f"not valid YAML: {exc}"))
    if composer.problems:
        return ParsedFile((), tuple(sorted(composer.problems)))
    if not documents:
        return ParsedFile(
            (),
            (
                Problem(
                    Location(filename),
                    "",
                    "file has no documents (it is empty or only comments); "
                    "add a manifest or delete the file",
                ),
            ),
        )
    return ParsedFile(tuple(documents), ())


def _syntax_problem(exc: MarkedYAMLError, text: str, filename: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
    lines = text.splitlines()
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    indent = source[: len(source) - len(source.lstrip(" \t"))]
    if "\t" in indent or "'\\t'" in str(exc.problem):
        return Problem(
            Location(filename, line, col),
            "",
            "tabs are not allowed for indentation in YAML; indent with spaces",
        )
    what = str(exc.problem or exc.context)
    context = exc.context_mark
    if exc.context and exc.problem:
        if context is not None and (context.line, context.column) != (line - 1, col - 1):
            what = (
                f"{exc.problem} ({exc.context} started at line {context.line + 1}, "
                f"column {context.column + 1})"
            )
        else:
            what = f"{exc.problem} ({exc.context})"
    return Problem(Location(filename, line, col), "", f"YAML syntax error: {what}")


def _line_col(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    line = before.count("\n") + 1
    return line, offset - (before.rfind("\n") + 1) + 1
