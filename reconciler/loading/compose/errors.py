"""compose's own error messages, placed at the file, line and key they are about.

compose prints one error (after any number of log lines), naming the key path somewhere in it
(``services.web.ports must be a array``, ``error while interpolating
services.web.environment.TOKEN: required variable TOKEN is missing a value``), a YAML line
(``yaml: line 4: ...``), a dependency cycle, or a file it could not open. Each is placed at
the key it names in the files as written (``positions``), with compose's absolute file paths
taken out of the text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from reconciler.errors import Location, Problem
from reconciler.loading.compose.positions import locate
from reconciler.loading.results import FieldPath, format_path

_KEY_RE = re.compile(
    r"\b((?:services|volumes|networks|secrets|configs)(?:\.[A-Za-z0-9_\-]+(?:\.[0-9]+)?)+)"
)
_LINE_RE = re.compile(r"\byaml: line (\d+)")
_FILE_RE = re.compile(r"(/[^\s:'\"]+\.ya?ml)")
_LOG_RE = re.compile(r'^time="[^"]*" level=(\w+) msg="((?:[^"\\]|\\.)*)"')
_EXTRA_RE = re.compile(r"additional propert(?:y|ies) '([^']+)' not allowed")
_CYCLE_RE = re.compile(r"dependency cycle detected: ([A-Za-z0-9_.-]+) ->")
_OPEN_RE = re.compile(r"open (/[^\s:]+): no such file or directory")
_NO_IMAGE_RE = re.compile(r'service "([^"]+)" has neither an image nor a build context')
_UNSET_RE = re.compile(r'The \\?"([A-Za-z_][A-Za-z0-9_]*)\\?" variable is not set')


def compose_problems(
    stderr: str, files: Sequence[Path], positions: Mapping[FieldPath, Location]
) -> tuple[Problem, ...]:
    """compose's failure as problems with file:line:col (one, usually)."""
    first = Location(str(files[0]))
    unset: list[str] = []
    lines = []
    for line in stderr.splitlines():
        log = _LOG_RE.match(line)
        if log:
            found = _UNSET_RE.search(log.group(2))
            if found:
                unset.append(found.group(1))
            continue
        if line.strip():
            lines.append(line.strip())
    text = " ".join(lines) or "compose could not read the files"
    for path in files:
        text = text.replace(f"validating {path.resolve()}: ", "")
        text = text.replace(f"{path.resolve()}: ", "")
    text = text.removesuffix(": invalid compose project")
    return (_placed(text, files, positions, first, unset),)


def _at(positions: Mapping[FieldPath, Location], path: FieldPath, fallback: Location) -> Location:
    return locate(dict(positions), path, fallback)


def _placed(
    text: str,
    files: Sequence[Path],
    positions: Mapping[FieldPath, Location],
    first: Location,
    unset: list[str],
) -> Problem:
    line = _LINE_RE.search(text)
    if line:
        named = _FILE_RE.search(text)
        shown = _shown(named.group(1), files) if named else str(files[0])
        return Problem(Location(shown, int(line.group(1))), "", _short(text, files))
    image = _NO_IMAGE_RE.search(text)
    if image:
        service = image.group(1)
        where = _at(positions, ("services", service, "image"), first)
        why = f'the variable "{unset[0]}" is not set' if unset else "give it an image"
        return Problem(
            where, f"services.{service}.image", f'service "{service}" has no image: {why}'
        )
    cycle = _CYCLE_RE.search(text)
    if cycle:
        path: FieldPath = ("services", cycle.group(1), "depends_on")
        return Problem(_at(positions, path, first), format_path(path), text)
    missing = _OPEN_RE.search(text)
    if missing:
        return _missing_file(missing.group(1), text, files, positions, first)
    key = _KEY_RE.search(text)
    if key:
        parts: list[str | int] = [int(p) if p.isdigit() else p for p in key.group(1).split(".")]
        path = tuple(parts)
        rest = text[key.end() :].lstrip(": ").strip()
        extra = _EXTRA_RE.search(rest)
        where = _at(positions, (*path, extra.group(1)) if extra else path, first)
        if text[: key.start()].strip().startswith("error while interpolating"):
            rest = rest or text
        return Problem(where, format_path(path), rest or text)
    return Problem(first, "", _short(text, files))


def _missing_file(
    missing: str,
    text: str,
    files: Sequence[Path],
    positions: Mapping[FieldPath, Location],
    first: Location,
) -> Problem:
    """``open FILE: no such file``: placed at the key whose value names the file."""
    name = Path(missing).name
    for path in files:
        try:
            content = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for number, written in enumerate(content, start=1):
            if name in written:
                keys = [
                    k for k, at in positions.items() if at.file == str(path) and at.line == number
                ]
                field = format_path(max(keys, key=len)) if keys else ""
                column = written.index(name.split("/")[0]) + 1
                key_column = next((positions[k].column for k in keys), column)
                return Problem(Location(str(path), number, key_column), field, text)
    return Problem(first, "", text)


def _shown(absolute: str, files: Sequence[Path]) -> str:
    for path in files:
        if str(path.resolve()) == absolute:
            return str(path)
    return absolute


def _short(text: str, files: Sequence[Path]) -> str:
    for path in files:
        text = text.replace(str(path.resolve()), str(path))
    return text
