"""Loading manifests: files -> YAML documents with positions -> validated models -> cross-checks.

The only part of the project that reads YAML. Nothing here raises for a bad manifest: every
problem is collected, with file, line, column and field path, into a ``LoadResult``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from reconciler.errors import Location, Problem
from reconciler.loading import crossrefs
from reconciler.loading.cache import LoadCache
from reconciler.loading.discovery import discover, read_limited
from reconciler.loading.encoding import decode
from reconciler.loading.results import LoadedManifest, LoadResult
from reconciler.manifests import ContainerManifest, Manifest
from reconciler.manifests.constants import MAX_FILE_BYTES
from reconciler.manifests.container import BindMount, Mount

if TYPE_CHECKING:
    from reconciler.loading.compose.binary import Options as ComposeOptions
    from reconciler.loading.yamldoc import YamlDocument, parse_yaml, read_yaml, validate_yaml

__all__ = [
    "FileLoad",
    "LoadCache",
    "LoadResult",
    "LoadedManifest",
    "YamlDocument",
    "combine",
    "compose_projects",
    "discover",
    "is_compose_file",
    "load",
    "load_file",
    "load_text",
    "parse_yaml",
    "read_yaml",
    "validate_yaml",
]

# The YAML side (ruamel, ~50 ms to import) is loaded on first use: a load whose files all come
# from the cache never parses.
_YAMLDOC = frozenset({"YamlDocument", "parse_yaml", "read_yaml", "validate_yaml"})


def __getattr__(name: str) -> Any:
    if name in _YAMLDOC:
        from reconciler.loading import yamldoc

        return getattr(yamldoc, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class FileLoad:
    """One file on its own: its valid documents, its problems (cross-file checks not yet run),
    the identities (kind, name) it names even in invalid documents, and a digest of its bytes."""

    path: Path
    manifests: tuple[LoadedManifest, ...]
    problems: tuple[Problem, ...]
    identities: tuple[tuple[str, str], ...]
    digest: str


def load_file(
    path: Path, cache: LoadCache | None = None, raw: bytes | Problem | None = None
) -> FileLoad:
    """Read, parse and validate one file (no cross-file checks: see ``combine``).

    With a ``cache``, a file whose bytes loaded cleanly before is taken from it. ``raw``:
    what ``read_limited`` already gave for it."""
    loaded: list[LoadedManifest] = []
    problems: list[Problem] = []
    identities: list[tuple[str, str]] = []
    if raw is None:
        raw = read_limited(path)
    if isinstance(raw, Problem):
        return FileLoad(path, (), (raw,), (), "")
    digest = hashlib.sha256(raw).hexdigest()
    cached = cache.get(path, digest) if cache is not None else None
    if cached is not None:
        return FileLoad(path, cached.manifests, (), cached.identities, digest)
    _load_bytes(raw, str(path), loaded, problems, identities)
    if cache is not None and not problems:
        cache.put(path, digest, tuple(loaded), tuple(identities))
    return FileLoad(path, tuple(loaded), tuple(problems), tuple(identities), digest)


def combine(files: Sequence[FileLoad]) -> LoadResult:
    """The files as one set, with the cross-file checks (unique names, references, cycles)."""
    return _finish(
        tuple(f.path for f in files),
        [m for f in files for m in f.manifests],
        [p for f in files for p in f.problems],
        [i for f in files for i in f.identities],
    )


def load(
    paths: Sequence[str | Path],
    *,
    recursive: bool = False,
    cache: LoadCache | None = None,
    compose: ComposeOptions | None = None,
) -> LoadResult:
    """Load every manifest file under ``paths`` (see ``discover``) as one set; compose files
    among them are read as compose projects (``compose.group_files``) with ``compose``'s
    options.

    Raises ``SourceUnavailable`` only when a path does not exist; everything wrong inside the
    files is returned as problems. A ``cache`` is consulted per file and saved afterwards.
    """
    found = discover(paths, recursive=recursive)
    raw = {path: read_limited(path) for path in found}  # each file is read once
    composed = [path for path in found if _is_compose(raw[path])]
    files = [load_file(path, cache, raw[path]) for path in found if path not in composed]
    if composed:
        from reconciler.loading.compose import group_files, load_group

        for group in group_files(composed, [Path(p) for p in paths]):
            done = load_group(group, compose, cache)
            files.append(
                FileLoad(group[0], done.manifests, done.problems, done.identities, done.digest)
            )
    if cache is not None:
        cache.save()
    return combine(files)


def compose_projects(paths: Sequence[str | Path], *, recursive: bool = False) -> list[list[Path]]:
    """The compose projects among the manifest files under ``paths``, grouped as ``load``
    groups them (each project's files in merge order)."""
    from reconciler.loading.compose import group_files

    composed = [p for p in discover(paths, recursive=recursive) if is_compose_file(p)]
    return group_files(composed, [Path(p) for p in paths]) if composed else []


def is_compose_file(path: Path) -> bool:
    """Whether a discovered file is a compose file (top-level ``services:``)."""
    return _is_compose(read_limited(path))


def _is_compose(raw: bytes | Problem) -> bool:
    from reconciler.loading.compose import is_compose

    return not isinstance(raw, Problem) and is_compose(raw)


def load_text(text: str | bytes, filename: str) -> LoadResult:
    """Load one file's content given in memory (tests, git sources) as a whole set."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    loaded: list[LoadedManifest] = []
    problems: list[Problem] = []
    identities: list[tuple[str, str]] = []
    if len(raw) > MAX_FILE_BYTES:
        problems.append(
            Problem(
                Location(filename),
                "",
                f"file is larger than the limit of {MAX_FILE_BYTES} bytes ({len(raw)} bytes); "
                "split it into several files",
            )
        )
    else:
        _load_bytes(raw, filename, loaded, problems, identities)
    return _finish((Path(filename),), loaded, problems, identities)


def resolve_relative_paths(manifest: Manifest, base: Path) -> Manifest:
    """The manifest with bind sources, env files, secret files and build contexts written as
    ``./x`` or
    ``../x`` made absolute against
    ``base`` (the manifest file's directory), normalized but not resolved through symlinks
    (the host-access policy does that, on the real path)."""
    if not isinstance(manifest, ContainerManifest):
        return manifest

    def absolute(mount: Mount) -> Mount:
        if isinstance(mount, BindMount) and not mount.source.startswith("/"):
            path = os.path.normpath(os.path.join(os.path.abspath(base), mount.source))
            return mount.model_copy(update={"source": path})
        return mount

    def anchored(path: str) -> str:
        if path.startswith("/"):
            return path
        return os.path.normpath(os.path.join(os.path.abspath(base), path))

    spec = manifest.spec
    mounts = [absolute(m) for m in spec.mounts]
    env_files = [f.model_copy(update={"path": anchored(f.path)}) for f in spec.env_files]
    secrets = [
        s.model_copy(update={"file": anchored(s.file)}) if s.file is not None else s
        for s in spec.secrets
    ]
    build = spec.build
    if build is not None and not build.context.startswith("/"):
        build = build.model_copy(update={"context": anchored(build.context)})
    if (
        mounts == spec.mounts
        and env_files == spec.env_files
        and secrets == spec.secrets
        and build is spec.build
    ):
        return manifest
    spec = spec.model_copy(
        update={"mounts": mounts, "env_files": env_files, "secrets": secrets, "build": build}
    )
    return manifest.model_copy(update={"spec": spec})


def _load_bytes(
    raw: bytes,
    filename: str,
    loaded: list[LoadedManifest],
    problems: list[Problem],
    identities: list[tuple[str, str]],
) -> None:
    from reconciler.loading.parsing import parse_text
    from reconciler.loading.validation import check_document, document_location

    text = decode(raw, filename)
    if isinstance(text, Problem):
        problems.append(text)
        return
    parsed = parse_text(text, filename)
    problems.extend(parsed.problems)
    for doc in parsed.documents:
        checked = check_document(doc)
        problems.extend(checked.problems)
        if checked.identity is not None:
            identities.append(checked.identity)
        if checked.manifest is not None:
            loaded.append(
                LoadedManifest(
                    manifest=resolve_relative_paths(checked.manifest, Path(filename).parent),
                    location=document_location(doc),
                    positions=MappingProxyType(dict(doc.keys)),
                )
            )


def _finish(
    files: tuple[Path, ...],
    loaded: list[LoadedManifest],
    problems: list[Problem],
    identities: list[tuple[str, str]],
) -> LoadResult:
    problems.extend(crossrefs.check(loaded, defined=identities))
    return LoadResult(files=files, manifests=tuple(loaded), problems=tuple(sorted(set(problems))))
