"""Fixtures for end-to-end tests: the real ``reconcile`` command against the real Engine.

Everything under tests/e2e is marked ``docker`` by tests/conftest.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from docker import DockerClient

from tests.e2e.git_helpers import SyncRig, make_sync_rig
from tests.e2e.loop_helpers import LoopRig, make_rig

# run_reconcile(*args, env=..., cwd=..., input=..., timeout=...) -> CompletedProcess[str]
RunReconcile = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture(scope="session")
def reconcile_bin() -> Path:
    """The installed console script (next to this interpreter: .venv/bin/reconcile)."""
    path = Path(sys.executable).with_name("reconcile")
    if not path.exists():
        pytest.fail(f"{path} not found: run scripts/setup (pip install -e '.[dev]')", pytrace=False)
    return path


@pytest.fixture
def run_reconcile(reconcile_bin: Path, tmp_path: Path) -> RunReconcile:
    """Run ``reconcile ARGS...`` as a user would, capturing text output; never raises on exit.

    Runs in ``tmp_path`` by default, with the caller's environment plus ``env``. No stdin,
    as in CI. ``timeout`` (seconds) stops a hung command with a test failure.
    """

    def run(
        *args: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        input: str | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, **(env or {})}
        try:
            return subprocess.run(
                [str(reconcile_bin), *map(str, args)],
                cwd=cwd or tmp_path,
                env=full_env,
                input=input,
                stdin=None if input is not None else subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(
                f"reconcile {' '.join(map(str, args))} timed out after {timeout}s: {exc.stderr!r}",
                pytrace=False,
            )

    return run


# The rigs of the loop and sync tests: a project, its directories, its processes (stopped
# afterwards) and its Engine resources (removed afterwards, by the unique prefix).
@pytest.fixture
def rig(
    docker_client: DockerClient,
    test_image: str,
    unique_prefix: str,
    reconcile_bin: Path,
    tmp_path: Path,
) -> Iterator[LoopRig]:
    yield from make_rig(docker_client, test_image, unique_prefix, reconcile_bin, tmp_path)


@pytest.fixture
def sync(
    docker_client: DockerClient,
    test_image: str,
    unique_prefix: str,
    reconcile_bin: Path,
    tmp_path: Path,
) -> Iterator[SyncRig]:
    yield from make_sync_rig(docker_client, test_image, unique_prefix, reconcile_bin, tmp_path)
