"""The default name of a project: from its manifest paths or its repository's URL."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from reconciler.manifests.constants import MAX_NAME_LENGTH


def project_name(paths: Sequence[str | Path]) -> str:
    """The default project of a set of paths: the name of the first directory (or of the
    directory holding the first file), made a valid name."""
    first = Path(paths[0]).resolve() if paths else Path.cwd()
    base = first.name if first.is_dir() else first.parent.name
    return _valid(base)


def repository_project(url: str) -> str:
    """The default project of a git repository: its name without ``.git``."""
    base = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git")
    return _valid(base)


def _valid(base: str) -> str:
    name = re.sub(r"[^a-z0-9_.-]+", "-", base.lower()).strip("-_.") or "default"
    return name[:MAX_NAME_LENGTH]
