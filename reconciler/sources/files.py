"""Manifest files and directories named on the command line (``-f``), read as one set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import Location, ManifestError, PolicyRefusal, Problem
from reconciler.loading import LoadCache, LoadResult, load
from reconciler.loading.compose.binary import Options as ComposeOptions
from reconciler.policy import Policy, Violation, check_manifest_dir


@dataclass(frozen=True)
class Files:
    """Files and directories (``recursive``: their subdirectories too)."""

    paths: tuple[Path, ...]
    recursive: bool = False
    compose: ComposeOptions | None = None

    @property
    def description(self) -> str:
        """The source as history records it: ``files:`` and the absolute paths."""
        return "files:" + ",".join(str(Path(p).absolute()) for p in self.paths)

    def read(self, cache_dir: Path | None = None) -> LoadResult:
        """Every manifest, validated; raises ``ManifestError`` listing every problem (nothing
        has changed then). ``cache_dir`` keeps validated files between commands."""
        cache = LoadCache.open(cache_dir) if cache_dir is not None else None
        result = load(list(self.paths), recursive=self.recursive, cache=cache, compose=self.compose)
        if not result.files:
            where = ", ".join(str(f) for f in self.paths)
            raise ManifestError(
                [Problem(Location(where), "", "no manifest files (*.yaml, *.yml) found")]
            )
        result.raise_for_problems()
        return result

    def directory_findings(self, policy: Policy) -> list[Violation]:
        """What the policy says of the manifest directories themselves (who may write them);
        raises ``PolicyRefusal`` for an enforced one and returns the rest."""
        found = [v for p in self.paths if p.is_dir() for v in check_manifest_dir(p, policy)]
        refused = [str(v) for v in found if v.mode == "enforce"]
        if refused:
            raise PolicyRefusal("\n".join(refused))
        return found
