"""Leaving the receipt of an ``apply`` that found nothing to do (``cli/settled.py`` reads it).

``Settling`` goes along with one apply: it notes the Engine and the state as the pass opens
them, the host filesystem's answers to the policy meanwhile (``hostpaths.Recording``), and
after the pass decides whether the command settled: an empty plan with no conflict or
warning, a state the pass did not write, nothing that asks a registry or a build context on
every run, a local Engine. Then it writes the receipt; otherwise it removes any of the same
name.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reconciler import hostpaths
from reconciler.cli import settled
from reconciler.cli.options import ManifestArgs
from reconciler.converge.pipeline import PassResult
from reconciler.loading.compose.binary import Options as ComposeOptions
from reconciler.runtime.base import Runtime
from reconciler.state.database import State
from reconciler.state.statedir import default_state_dir

# The state database's own files: a pass that wrote state (an outcome, a lifted pin, the
# inventory) changes the database once its log is checkpointed into it, at the latest when
# the last connection closes, which also removes the log. Another process with the state
# open keeps a log there. Not the shared-memory index, which readers touch too.
STATE_FILES = ("", "-wal")


class Settling:
    """What one apply's receipt needs, collected around its pass."""

    def __init__(
        self, args: ManifestArgs, options: ComposeOptions, argv: list[str] | None = None
    ) -> None:
        self.args = args
        self.options = options
        self.root = str(args.state_dir or default_state_dir())
        self.key = settled.key_of(sys.argv[1:] if argv is None else argv, os.environ, os.getcwd())
        self.engine: dict[str, Any] | None = None
        self.state_before: list[int] | None = None
        self.state_path: Path | None = None
        self._recording = hostpaths.Recording()
        self.answers: list[Any] = []
        self.quiet = True

    def __enter__(self) -> Settling:
        self.answers = self._recording.__enter__()
        return self

    def __exit__(self, *_: object) -> None:
        self._recording.__exit__()

    def spoke(self) -> None:
        """The pass printed something besides the plan (a warning, a fleet selection): the
        receipt, which replays the plan only, would leave it out."""
        self.quiet = False

    def opened(self, runtime: Runtime, state: State) -> None:
        """The pass's session is open (the project's lock held), nothing listed yet."""
        self.state_path = state.path
        self.state_before = settled.signature(str(state.path))
        info = getattr(runtime, "first_info", None)
        url, _local = runtime.endpoint()
        clock = _clock_ns(info) if isinstance(info, dict) else None
        if runtime.orchestrator or clock is None or not url.startswith("unix://"):
            return
        assert isinstance(info, dict)
        socket_path = url.removeprefix("unix://")
        self.engine = {
            "socket": socket_path,
            "signature": settled.signature(socket_path),
            "who": [info.get("ID"), info.get("Name"), info.get("DockerRootDir")],
            "cutoff_ns": clock,
        }

    def finish(self, result: PassResult | None, *, eligible: bool) -> None:
        """After the pass (its state closed): leave the receipt if the command settled."""
        receipt = self._receipt(result) if eligible and result is not None else None
        try:
            if receipt is None:
                settled.forget(self.root, self.key)
            else:
                settled.write(self.root, self.key, receipt)
                _sweep(self.root)
        except OSError:
            pass  # a receipt is only ever a shortcut

    def _receipt(self, result: PassResult) -> dict[str, Any] | None:
        plan = result.plan
        if plan.steps or plan.conflicts or plan.warnings or result.warnings or not self.quiet:
            return None
        if result.outcome is not None and not result.outcome.ok:
            return None
        for container in result.desired.containers.values():
            if container.pull_policy == "Always" or container.build is not None:
                return None  # asks a registry or a build context on every run
        if self.engine is None or self.state_path is None:
            return None
        if settled.signature(str(self.state_path)) != self.state_before:
            return None  # the pass wrote state: the next one may print something else
        files = self._files(result)
        if files is None:
            return None
        anchor = settled.anchor_before(self.engine["socket"], self.engine["cutoff_ns"])
        if anchor is None:
            return None
        from reconciler.controllers.plan import render_text

        state = [[p, settled.signature(p)] for p in self._state_names()]
        return {
            "written": time.time(),
            "project": plan.project,
            "stdout": "".join(f"{line}\n" for line in render_text(plan).splitlines()),
            "files": files + state,
            "host": self.answers,
            "engine": {**self.engine, "anchor_ns": anchor},
        }

    def _state_names(self) -> list[str]:
        assert self.state_path is not None
        return [f"{self.state_path}{suffix}" for suffix in STATE_FILES]

    def _files(self, result: PassResult) -> list[list[Any]] | None:
        """Every file and directory the pass read, with its signature; None when there are
        too many, or the files a compose project reads cannot be told."""
        compose = self._compose_inputs()
        if compose is None:
            return None
        found: list[list[Any]] = []
        for path in [*self._paths(result), *compose]:
            entries = settled.tree(path)
            if entries is None:
                return None
            found += entries
        return found

    def _paths(self, result: PassResult) -> Iterator[str]:
        from reconciler.policy.reading import DEFAULT_POLICY_PATH, policy_path
        from reconciler.runtime.docker.addresses import config_dir
        from reconciler.sources.hosts import DEFAULT_HOST_FILE, host_file_path

        args = self.args
        for given in args.filenames:
            yield str(given)
            if not given.is_dir():
                yield str(given.parent)  # a file created beside it (.env, a placement)
        yield from sorted(result.input_files)
        yield from sorted(result.watched)
        for path in (policy_path(args.policy), DEFAULT_POLICY_PATH):
            if path is not None:
                yield str(path)
        for path in (host_file_path(args.host_file), DEFAULT_HOST_FILE):
            if path is not None:
                yield str(path)
        docker = config_dir(os.environ)
        yield os.path.join(docker, "config.json")
        yield os.path.join(docker, "contexts")

    def _compose_inputs(self) -> list[str] | None:
        """The compose binary and every file the compose projects among the paths read;
        None when those cannot all be told."""
        from reconciler.loading import compose_projects
        from reconciler.loading.compose import dependencies
        from reconciler.loading.compose.binary import binary

        groups = compose_projects(list(self.args.filenames), recursive=self.args.recursive)
        if not groups:
            return []
        paths = [str(binary())]
        for group in groups:
            read = dependencies.inputs(group, self.options)
            if read is None:
                return None
            paths += [str(p) for p in read]
        return paths


def _clock_ns(info: dict[str, Any]) -> int | None:
    from reconciler.runtime.docker.inspectstore import engine_time_ns

    return engine_time_ns(info)


def _sweep(root: str) -> None:
    """Remove receipts too old to be used (one per command line and place: they pile up)."""
    directory = settled.directory_of(root)
    cutoff = time.time() - settled.MAX_AGE
    with os.scandir(directory) as entries:
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
            except OSError:
                continue
