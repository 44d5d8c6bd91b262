"""A git branch as a manifest source (``reconcile sync``), through the git command line.

The repository is fetched into the state directory; each new commit's ``--path`` is extracted
into its own tree and loaded like a directory. A commit is taken only whole: if the fetch fails,
the remote is gone, the branch was force-pushed, the path is missing, the set is empty, or any
manifest does not validate, the last applied commit keeps running and the error is reported
with the commit's SHA. Credentials come from the environment (askpass helpers, ssh agent,
``GIT_SSH_COMMAND``) and are never logged: URLs are shown with their userinfo masked.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import Location, Problem, SourceUnavailable
from reconciler.manifests.placement import Host
from reconciler.policy import Policy
from reconciler.sources.directory import DirectorySource, Snapshot

TREES_KEPT = 3
GIT_TIMEOUT = 120.0
Runner = Callable[..., "subprocess.CompletedProcess[bytes]"]


def redact(text: str) -> str:
    """``https://user:token@host/x`` -> ``https://***@host/x`` wherever it appears."""
    return re.sub(r"(?<=://)[^/@\s]+@", "***@", text)


class GitError(Exception):
    """A git command failed; the message is redacted."""


@dataclass(frozen=True)
class Commit:
    """A commit that was loaded, and what came of it."""

    sha: str
    snapshot: Snapshot


class GitSource:
    """``--path`` of ``--branch`` of a repository, at the newest acceptable commit."""

    def __init__(
        self,
        url: str,
        branch: str,
        path: str,
        work_dir: Path,
        *,
        recursive: bool = False,
        allow_empty: bool = False,
        allow_force_push: bool = False,
        policy: Policy | None = None,
        host: Callable[[], Host] | None = None,
        run: Runner = subprocess.run,
    ) -> None:
        self.url = url
        self.branch = branch
        self.path = path.strip("/") or "."
        self.work_dir = work_dir
        self.recursive = recursive
        self.allow_empty = allow_empty
        self.allow_force_push = allow_force_push
        self._run = run
        self.policy = policy
        # This host in a fleet: each commit is cut down to what is placed on it.
        self.host = host
        self._repo = work_dir / "repo.git"
        self._applied_file = work_dir / "applied-commit"
        self._current: Commit | None = None
        self._error: Problem | None = None
        self._seen: str | None = None

    @property
    def description(self) -> str:
        """``git:URL@SHA:path`` of the commit in use (URL redacted)."""
        sha = self._current.sha if self._current else "(none)"
        return f"git:{redact(self.url)}@{sha}:{self.path}"

    @property
    def commit(self) -> str | None:
        """The SHA in use, if any."""
        return self._current.sha if self._current else None

    def read(self, *, force: bool = False) -> Snapshot:
        """The snapshot of the commit in use, with the latest fetch or commit error attached.

        Raises ``SourceUnavailable`` until some commit has been loaded successfully."""
        if self._current is None:
            self.refresh()
        if self._current is None:
            message = str(self._error) if self._error else "nothing fetched yet"
            raise SourceUnavailable(f"git source {redact(self.url)}: {message}")
        snapshot = self._current.snapshot
        if self._error is None:
            return snapshot
        return Snapshot(
            manifests=snapshot.manifests,
            problems=(*snapshot.problems, self._error),
            stale_files=snapshot.stale_files,
            unknown_files=snapshot.unknown_files,
            digest=snapshot.digest,
        )

    def refresh(self) -> None:
        """Fetch the branch; take its head if it is acceptable, else keep the commit in use."""
        try:
            self._ensure_repo()
            self._git(
                "fetch",
                "--prune",
                "--no-tags",
                "origin",
                f"+refs/heads/{self.branch}:refs/remotes/origin/{self.branch}",
            )
            head = self._git("rev-parse", f"refs/remotes/origin/{self.branch}^{{commit}}")
        except GitError as exc:
            self._fail("", f"fetch failed: {exc}; keeping the last applied commit")
            return
        head = head.strip()
        applied = self._current.sha if self._current else self._read_applied()
        if self._current is None and applied and applied != head:
            # After a restart: take up the commit that was running before judging the new head,
            # so a bad head keeps it running instead of leaving nothing to run.
            self._load_commit(applied)
        if self._current is not None and head == self._current.sha:
            self._error = None
            return
        if head == self._seen and self._error is not None:
            return  # this head was already judged and refused
        self._seen = head
        if (
            applied
            and applied != head
            and not self.allow_force_push
            and not self._descends(applied, head)
        ):
            self._fail(
                head,
                f"branch {self.branch} was force-pushed from {applied[:12]} to {head[:12]}; "
                "refusing to follow a rewritten history (pass --allow-force-push to follow it)",
            )
            return
        self._load_commit(head)

    def _load_commit(self, sha: str) -> None:
        try:
            tree = self._extract(sha)
        except GitError as exc:
            self._fail(sha, str(exc))
            return
        try:
            snapshot = DirectorySource(
                tree, recursive=self.recursive, policy=self.policy, host=self.host
            ).read()
        except SourceUnavailable as exc:
            self._fail(sha, str(exc))
            return
        if snapshot.problems:
            first = "; ".join(str(p) for p in snapshot.problems[:3])
            self._fail(sha, f"its manifests do not validate: {first}")
            return
        if snapshot.elsewhere and not snapshot.manifests and not self.allow_empty:
            self._fail(
                sha,
                f"it places nothing on host {snapshot.host} ({len(snapshot.elsewhere)} "
                f"resources under {self.path}/ are all placed elsewhere); refusing to remove "
                "everything here (check the host file, or pass --allow-empty to allow it)",
            )
            return
        if not snapshot.manifests and not self.allow_empty:
            self._fail(
                sha,
                f"it declares nothing under {self.path}/; refusing to remove "
                "everything (pass --allow-empty to allow it)",
            )
            return
        self._current = Commit(sha, snapshot)
        self._error = None
        self._write_applied(sha)
        self._prune_trees(keep=sha)

    def _fail(self, sha: str, message: str) -> None:
        where = f"commit {sha[:12]}" if sha else f"git {redact(self.url)}"
        self._error = Problem(Location(where), "", redact(message))

    # -- git plumbing ---------------------------------------------------------------------

    def _ensure_repo(self) -> None:
        if (self._repo / "HEAD").exists():
            return
        self.work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._git("init", "--bare", "--quiet", str(self._repo), cwd=self.work_dir, bare=False)
        self._git("remote", "add", "origin", self.url)

    def _descends(self, old: str, new: str) -> bool:
        try:
            self._git("merge-base", "--is-ancestor", old, new)
        except GitError:
            return False
        return True

    def _extract(self, sha: str) -> Path:
        target = self.work_dir / "trees" / sha
        if target.exists():
            return target / self.path
        data = self._git_bytes(
            "archive",
            "--format=tar",
            sha,
            "--",
            self.path,
            missing=f"path {self.path}/ does not exist at commit {sha[:12]}",
        )
        staging = target.with_name(sha + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            archive.extractall(staging, filter="data")
        staging.rename(target)
        if not (target / self.path).is_dir():
            raise GitError(f"path {self.path}/ is not a directory at commit {sha[:12]}")
        return target / self.path

    def _prune_trees(self, keep: str) -> None:
        trees = self.work_dir / "trees"
        entries = sorted(trees.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[TREES_KEPT:]:
            if old.name != keep:
                shutil.rmtree(old, ignore_errors=True)

    def _read_applied(self) -> str | None:
        try:
            return self._applied_file.read_text().strip() or None
        except OSError:
            return None

    def _write_applied(self, sha: str) -> None:
        temp = self._applied_file.with_suffix(".tmp")
        temp.write_text(sha + "\n")
        os.replace(temp, self._applied_file)

    def _git(self, *args: str, cwd: Path | None = None, bare: bool = True) -> str:
        return self._git_bytes(*args, cwd=cwd, bare=bare).decode("utf-8", "replace")

    def _git_bytes(
        self, *args: str, cwd: Path | None = None, bare: bool = True, missing: str = ""
    ) -> bytes:
        command: Sequence[str] = ["git", *(["--git-dir", str(self._repo)] if bare else []), *args]
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        try:
            done = self._run(
                command, cwd=cwd, env=env, capture_output=True, timeout=GIT_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GitError(redact(f"git {args[0]}: {exc}")) from None
        if done.returncode != 0:
            stderr = done.stderr.decode("utf-8", "replace").strip().splitlines()
            # The cause is on git's "fatal:"/"error:" line; advice lines follow it.
            causes = [line for line in stderr if line.startswith(("fatal:", "error:"))]
            detail = (causes or stderr or [f"exit {done.returncode}"])[0]
            if missing and ("did not match" in detail or "not a valid" in detail):
                raise GitError(missing)
            raise GitError(redact(f"git {args[0]}: {detail}"))
        return bytes(done.stdout)
