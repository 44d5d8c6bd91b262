"""Compose files as a source of manifests: a file with top-level ``services:`` is a compose
project, read by compose v2 itself (``binary``), mapped onto our manifests (``convert``) and
validated by our models like any manifest, with compose's file:line:col in every message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from reconciler.errors import Location, Problem
from reconciler.loading.cache import LoadCache
from reconciler.loading.compose import dependencies
from reconciler.loading.compose.binary import ComposeUnavailable, Options, canonical
from reconciler.loading.compose.errors import compose_problems
from reconciler.loading.compose.positions import read_positions
from reconciler.loading.results import FieldPath, LoadedManifest, format_path

__all__ = ["GroupLoad", "Options", "group_files", "is_compose", "load_group", "manifests_yaml"]

_SERVICES_RE = re.compile(rb"^services[ \t]*:", re.MULTILINE)
# The files ``docker compose`` reads by default in a directory, in its order of preference,
# and the override it merges on top of each.
BASE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
_OVERRIDE = re.compile(r"^(compose|docker-compose)\.override\.ya?ml$")


def is_compose(raw: bytes) -> bool:
    """Whether a file's bytes are a compose file (a top-level ``services:`` key)."""
    return bool(_SERVICES_RE.search(raw))


def is_override(path: Path) -> bool:
    """Whether ``path`` is compose's default override file (merged onto its base)."""
    return bool(_OVERRIDE.match(path.name))


def group_files(found: Sequence[Path], named: Sequence[Path]) -> list[list[Path]]:
    """Compose files as projects, merged as ``docker compose`` merges them.

    Files named on the command line (``named``, in their order) form one project per
    directory, as ``docker compose -f a -f b`` does. Found in a directory, compose's default
    file (``compose.yaml``, else ``compose.yml``, ``docker-compose.yaml``,
    ``docker-compose.yml``) and its ``.override`` form one project; any other compose file is
    a project of its own."""
    real = {os.path.realpath(p): p for p in found}
    groups: list[list[Path]] = []
    by_dir: dict[Path, list[Path]] = {}
    taken: set[str] = set()
    for given in named:
        key = os.path.realpath(given)
        if key in real and key not in taken:
            taken.add(key)
            by_dir.setdefault(real[key].parent, []).append(real[key])
    groups += list(by_dir.values())
    defaults: dict[Path, list[Path]] = {}
    for path in found:
        if os.path.realpath(path) in taken:
            continue
        if path.name in BASE_NAMES or is_override(path):
            defaults.setdefault(path.parent, []).append(path)
        else:
            groups.append([path])
    for files in defaults.values():
        bases = sorted(
            (f for f in files if not is_override(f)), key=lambda f: BASE_NAMES.index(f.name)
        )
        overrides = [f for f in files if is_override(f)]
        if bases:
            groups.append([bases[0], *overrides])
            groups += [[extra] for extra in bases[1:]]
        else:
            groups += [[o] for o in overrides]
    return groups


@dataclass(frozen=True)
class GroupLoad:
    """One compose project loaded: like a file's load, over all of its files."""

    files: tuple[Path, ...]
    manifests: tuple[LoadedManifest, ...]
    problems: tuple[Problem, ...]
    identities: tuple[tuple[str, str], ...]
    digest: str


def load_group(
    files: Sequence[Path], options: Options | None = None, cache: LoadCache | None = None
) -> GroupLoad:
    """Read, convert and validate one compose project (``files`` merged in order); with a
    ``cache``, a project whose files, options and the environment they use are unchanged is
    taken from it (compose is not run again; see ``dependencies``)."""
    options = options or Options()
    files = tuple(files)
    digest = dependencies.digest(files, options)
    cached = cache.get(files[0], digest) if cache is not None else None
    if cached is not None:
        return GroupLoad(files, cached.manifests, (), cached.identities, digest)
    # Where each key was written (for this load's problems, and for the policy's later).
    done = _load_group(files, options, digest, read_positions(files))
    if cache is not None and not done.problems:
        cache.put(files[0], digest, done.manifests, done.identities)
    return done


def _load_group(
    files: tuple[Path, ...],
    options: Options,
    digest: str,
    positions: dict[FieldPath, Location],
) -> GroupLoad:
    from reconciler.loading.compose.convert import convert
    from reconciler.loading.compose.positions import locate
    from reconciler.loading.parsing import Document
    from reconciler.loading.validation import check_document

    first = Location(str(files[0]))
    try:
        model, error = canonical(files, options)
    except ComposeUnavailable as exc:
        return GroupLoad(files, (), (Problem(first, "", str(exc)),), (), digest)
    if model is None:
        return GroupLoad(files, (), compose_problems(error, files, positions), (), digest)
    conversion = convert(model, env_file_refs(files))
    problems = [
        Problem(locate(positions, path, first), format_path(path), message)
        for path, message in conversion.problems
    ]
    manifests: list[LoadedManifest] = []
    identities: list[tuple[str, str]] = []
    for item in conversion.documents:
        start = locate(positions, item.origin, first)
        keys: dict[FieldPath, Location] = {("kind",): start, ("metadata", "name"): start}
        for ours, theirs in item.origins.items():
            keys[ours] = locate(positions, theirs, start)
        checked = check_document(Document(item.document, start, keys))
        for problem in checked.problems:
            problems.append(_in_compose_terms(problem, item.origins))
        if checked.identity is not None:
            identities.append(checked.identity)
        if checked.manifest is not None:
            manifests.append(LoadedManifest(checked.manifest, start, MappingProxyType(dict(keys))))
    return GroupLoad(
        files, tuple(manifests), tuple(sorted(set(problems))), tuple(identities), digest
    )


def env_file_refs(files: Sequence[Path]) -> dict[str, list[dict[str, Any]]]:
    """The env files each service of ``files`` names, as absolute paths (compose reads them
    itself, relative to the project directory, and merges their values; the manifests name
    them again so that the policy judges what is read from the host). Read from the files as
    written: compose's canonical model no longer says."""
    from ruamel.yaml import YAML

    base = files[0].parent
    found: dict[str, list[dict[str, Any]]] = {}
    for path in files:
        try:
            data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
        except Exception:  # compose reports what is wrong with the file
            continue
        services = data.get("services") if isinstance(data, dict) else None
        for name, service in (services or {}).items() if isinstance(services, dict) else ():
            given = service.get("env_file") if isinstance(service, dict) else None
            items = [given] if isinstance(given, str | dict) else list(given or ())
            refs = []
            for item in items:
                ref = item if isinstance(item, dict) else {"path": item}
                if not isinstance(ref.get("path"), str):
                    continue
                entry: dict[str, Any] = {"path": os.path.abspath(base / ref["path"])}
                if ref.get("required") is False:
                    entry["required"] = False
                refs.append(entry)
            if refs:
                found[str(name)] = refs  # a later file's list replaces, as compose merges it
    return found


def manifests_yaml(manifests: Sequence[LoadedManifest]) -> str:
    """Manifests as one YAML file of documents, each headed by where it came from."""
    import io

    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 100
    buffer = io.StringIO()
    for index, loaded in enumerate(manifests):
        if index:
            buffer.write("---\n")
        buffer.write(f"# from {loaded.location}\n")
        yaml.dump(loaded.document, buffer)
    return buffer.getvalue()


def _in_compose_terms(problem: Problem, origins: Mapping[tuple[str, ...], FieldPath]) -> Problem:
    """A problem of a converted document, named by the compose key it came from."""
    ours = problem.field
    for prefix, theirs in sorted(origins.items(), key=lambda kv: -len(kv[0])):
        dotted = ".".join(prefix)
        if ours == dotted or ours.startswith((dotted + ".", dotted + "[")):
            return Problem(
                problem.location, format_path(theirs) + ours[len(dotted) :], problem.message
            )
    return problem
