"""Helpers for end-to-end tests of ``reconcile sync``: a local bare repository as the remote
(a ``file://`` URL), a working clone that commits and pushes to it, and a rig that runs
``reconcile sync`` once or as a loop against one project on the real Engine.

Manifests are ``string.Template`` text as in ``tests.e2e.loop_helpers``: ``$p`` is the project
(the test's unique prefix), ``$image`` the test image.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docker import DockerClient

from tests.docker.scenario import LOOP
from tests.e2e.loop_helpers import LoopProcess, LoopRig

BRANCH = "main"
PATH = "deploy"
IDENTITY = ("-c", "user.email=t@t", "-c", "user.name=t")
# A container command that fails at once: with restartPolicy "no" only the loop restarts it,
# so it crash-loops under the loop's backoff.
CRASH = "echo crashing; exit 1"


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd``; its stdout. Fails the test with git's stderr on an error."""
    done = subprocess.run(
        ["git", *IDENTITY, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


@dataclass
class Remote:
    """A bare repository standing in for the remote, and a clone that pushes to it."""

    bare: Path
    clone: Path

    @property
    def url(self) -> str:
        """The ``file://`` URL ``reconcile sync --repo`` follows."""
        return f"file://{self.bare}"

    def commit(self, files: Mapping[str, str | None], message: str, *, push: bool = True) -> str:
        """Write (text) or delete (None) files under the clone, commit them, push; the SHA."""
        for name, text in files.items():
            path = self.clone / name
            if text is None:
                git(self.clone, "rm", "-r", "--quiet", name)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            git(self.clone, "add", name)
        git(self.clone, "commit", "--quiet", "--allow-empty", "-m", message)
        if push:
            git(self.clone, "push", "--quiet", "origin", BRANCH)
        return self.head()

    def head(self) -> str:
        """The SHA the clone's branch points at."""
        return git(self.clone, "rev-parse", "HEAD")

    def force_push(self, sha: str) -> None:
        """Rewrite the remote branch to ``sha`` (an older commit) and the clone with it."""
        git(self.clone, "reset", "--quiet", "--hard", sha)
        git(self.clone, "push", "--quiet", "--force", "origin", f"{sha}:refs/heads/{BRANCH}")

    def remove(self) -> Path:
        """Take the remote away (as a deleted repository); where it was moved."""
        aside = self.bare.with_name(self.bare.name + ".gone")
        self.bare.rename(aside)
        return aside

    def restore(self, aside: Path) -> None:
        """Put a removed remote back."""
        aside.rename(self.bare)


def make_remote(root: Path) -> Remote:
    """An empty bare repository ``root/remote.git`` with branch main, and its clone."""
    bare = root / "remote.git"
    clone = root / "clone"
    git(root, "init", "--quiet", "--bare", "--initial-branch", BRANCH, str(bare))
    git(root, "init", "--quiet", "--initial-branch", BRANCH, str(clone))
    git(clone, "remote", "add", "origin", f"file://{bare}")
    return Remote(bare, clone)


@dataclass
class SyncRig:
    """One project followed from one remote: ``reconcile sync`` runs, the Engine, the state.

    Engine, state and CLI look-ups come from the wrapped ``LoopRig`` (``rig``)."""

    rig: LoopRig
    remote: Remote
    env: dict[str, str] = field(default_factory=dict)
    # What ``--repo`` says, when not the remote's own URL (an https URL that the git config
    # rewrites to the remote, say).
    repo_url: str | None = None

    @property
    def project(self) -> str:
        """The project, which is also the prefix of every name."""
        return self.rig.project

    def container_yaml(self, name: str, gen: int = 1, command: str = LOOP) -> str:
        """A container ``<project>-<name>`` (restartPolicy no, 1 s grace, GENERATION=gen)."""
        return self.rig.container_yaml(name, gen, command)

    def push(self, message: str, **containers: int | str | None) -> str:
        """Commit ``deploy/<name>.yaml`` per keyword: a generation (int), a command (str) or
        None to delete it; push; return the SHA."""
        files: dict[str, str | None] = {}
        for name, value in containers.items():
            path = f"{PATH}/{name}.yaml"
            if value is None:
                files[path] = None
            elif isinstance(value, int):
                files[path] = self.container_yaml(name, value)
            else:
                files[path] = self.container_yaml(name, 1, value)
        return self.remote.commit(files, message)

    def sync_args(self, *extra: str) -> list[str]:
        """The arguments of ``reconcile sync`` for this rig."""
        return [
            str(self.rig.reconcile_bin),
            "sync",
            "--repo",
            self.repo_url or self.remote.url,
            "--branch",
            BRANCH,
            "--path",
            PATH,
            "-p",
            self.project,
            "--state-dir",
            str(self.rig.state_dir),
            *extra,
        ]

    def once(self, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``reconcile sync --once`` with ``extra`` options; its exit code and output."""
        return subprocess.run(
            [*self.sync_args("--once"), *extra],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            cwd=self.rig.work,
        )

    def start(self, *extra: str) -> LoopProcess:
        """``reconcile sync`` as a loop (JSON log, -v) in the background; stopped by the
        fixture that made the rig."""
        args = [*self.sync_args("-v", "--log-format", "json"), *extra]
        return self.rig.spawn(args, f"sync{len(self.rig.processes)}", self.env)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Another ``reconcile`` command on this project's state."""
        return self.rig.cli(*args)

    def history(self) -> list[dict[str, Any]]:
        """``reconcile history -o json``: the revisions, newest first."""
        done = self.rig.cli("history", "-o", "json")
        assert done.returncode == 0, done.stderr
        return list(json.loads(done.stdout))

    def show(self, number: int) -> dict[str, Any]:
        """``reconcile history show N``."""
        done = self.cli_show(number)
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    def cli_show(self, number: int) -> subprocess.CompletedProcess[str]:
        """``reconcile history -p P show N``, as it exited."""
        return subprocess.run(
            [
                str(self.rig.reconcile_bin),
                "history",
                "-p",
                self.project,
                "--state-dir",
                str(self.rig.state_dir),
                "show",
                str(number),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
            cwd=self.rig.work,
        )

    def status(self) -> dict[str, Any]:
        """The last status document of the project."""
        return self.rig.status()

    def engine_state(self) -> dict[str, tuple[str, str]]:
        """name suffix -> (container id, GENERATION) of the project's containers."""
        found: dict[str, tuple[str, str]] = {}
        for name in self.rig.names():
            c = self.rig.container(name)
            if c is None:
                continue
            env = [e for e in c.attrs["Config"]["Env"] if e.startswith("GENERATION=")]
            found[name] = (str(c.id), env[0].split("=", 1)[1] if env else "")
        return found

    def source_of(self, sha: str) -> str:
        """How history names commit ``sha`` of this rig's remote."""
        return f"git:{self.remote.url}@{sha}:{PATH}"


def make_sync_rig(
    client: DockerClient,
    image: str,
    project: str,
    reconcile_bin: Path,
    tmp_path: Path,
) -> Iterator[SyncRig]:
    """A rig whose loops are stopped afterwards (the body of the ``sync`` fixtures)."""
    directory = tmp_path / "manifests"  # for `reconcile apply` and `run` on the same project
    directory.mkdir()
    rig = LoopRig(project, image, directory, tmp_path / "state", client, reconcile_bin, tmp_path)
    remote = make_remote(tmp_path)
    try:
        yield SyncRig(rig, remote)
    finally:
        rig.stop_all()
