"""Manifest files and directories named on the command line (``-f``), read as one set."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import Location, ManifestError, PolicyRefusal, Problem
from reconciler.loading import LoadCache, LoadResult, load
from reconciler.loading.compose.binary import Options as ComposeOptions
from reconciler.manifests.placement import Host
from reconciler.policy import Policy, Violation, check_manifest_dir
from reconciler.sources import placing


@dataclass(frozen=True)
class Files:
    """Files and directories (``recursive``: their subdirectories too); ``host``: this host
    in a fleet, whose selection of the set ``read`` returns."""

    paths: tuple[Path, ...]
    recursive: bool = False
    compose: ComposeOptions | None = None
    host: Callable[[], Host] | None = None

    @property
    def description(self) -> str:
        """The source as history records it: ``files:`` and the absolute paths."""
        return "files:" + ",".join(str(Path(p).absolute()) for p in self.paths)

    def read(self, cache_dir: Path | None = None) -> LoadResult:
        """Every manifest placed on this host, validated; raises ``ManifestError`` listing
        every problem (nothing has changed then). ``cache_dir`` keeps validated files between
        commands."""
        return self.read_placed(cache_dir)[0]

    def read_placed(
        self, cache_dir: Path | None = None
    ) -> tuple[LoadResult, placing.Selection | None]:
        """``read``, and the selection it made (None without a host)."""
        cache = LoadCache.open(cache_dir) if cache_dir is not None else None
        result = load(list(self.paths), recursive=self.recursive, cache=cache, compose=self.compose)
        if not result.files:
            where = ", ".join(str(f) for f in self.paths)
            raise ManifestError(
                [Problem(Location(where), "", "no manifest files (*.yaml, *.yml) found")]
            )
        result.raise_for_problems()
        selection = self.select(result)
        if selection is None:
            return result, None
        if selection.problems:
            raise ManifestError(list(selection.problems))
        return dataclasses.replace(result, manifests=selection.manifests), selection

    def select(self, result: LoadResult) -> placing.Selection | None:
        """This host's selection of a loaded set (None without a host)."""
        if self.host is None:
            return None
        roots = [Path(p) for p in self.paths if Path(p).is_dir()]
        return placing.select(result.manifests, self.host, roots)

    def directory_findings(self, policy: Policy) -> list[Violation]:
        """What the policy says of the manifest directories themselves (who may write them);
        raises ``PolicyRefusal`` for an enforced one and returns the rest."""
        found = [v for p in self.paths if p.is_dir() for v in check_manifest_dir(p, policy)]
        refused = [str(v) for v in found if v.mode == "enforce"]
        if refused:
            raise PolicyRefusal("\n".join(refused))
        return found
