"""Exit codes, error reporting and the options shared by the commands."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import click

from reconciler.errors import ReconcileError

if TYPE_CHECKING:
    from reconciler.state.database import State

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CHANGES_PENDING = 3

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(func: F) -> F:
    """Turn the project's errors into a message on stderr and exit code 1 (no traceback)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ReconcileError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_FAILURE)
        except Signalled as exc:
            click.echo(f"interrupted ({signal.Signals(exc.signum).name})", err=True)
            sys.exit(128 + exc.signum)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


policy_option = click.option(
    "--policy",
    type=click.Path(path_type=Path),
    default=None,
    help="Host-access policy file (default: $RECONCILE_POLICY, else /etc/reconcile/policy.yaml "
    "if it exists, else the built-in baseline profile).",
)

notify_option = click.option(
    "--notify-config",
    type=click.Path(path_type=Path),
    default=None,
    help="Notifications file: sinks and the events they get (default: "
    "$RECONCILE_NOTIFY_CONFIG, else STATE_DIR/notifications.yaml if it exists, else none).",
)

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the state database lives (default: $RECONCILE_STATE_DIR or "
    "~/.local/state/reconcile).",
)


context_option = click.option(
    "--context",
    default=None,
    metavar="NAME",
    help="The docker context (Engine) to work on, as `docker --context`; overrides "
    "DOCKER_HOST, DOCKER_CONTEXT and the docker config's current context.",
)


def engine_context() -> str | None:
    """The ``--context`` given before the command (``reconcile --context NAME CMD``)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return None
    value = ctx.find_root().params.get("context")
    return value if isinstance(value, str) and value else None


def read_state(state_dir: Path | None) -> State:
    """The state of the Engine the command names, for a command that only reads it."""
    from reconciler import runtime
    from reconciler.converge import enginestate

    return enginestate.open_state_to_read(state_dir, runtime.connect(context=engine_context()))


@dataclass(frozen=True)
class ManifestArgs:
    """The manifest options of a pass command: where the manifests are, the set, the state
    and the policy."""

    filenames: tuple[Path, ...]
    recursive: bool = False
    project: str | None = None
    state_dir: Path | None = None
    policy: Path | None = None
    env_files: tuple[Path, ...] = ()
    profiles: tuple[str, ...] = ()
    host_file: Path | None = None


host_file_option = click.option(
    "--host-file",
    type=click.Path(path_type=Path),
    default=None,
    help="This host's name and labels in a fleet, for placements (default: "
    "$RECONCILE_HOST_FILE, else /etc/reconcile/host.yaml if it exists, else the hostname).",
)


def manifest_options(required: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """-f/--filename (repeatable), -R/--recursive, --project, --state-dir and --policy,
    handed to the command as one ``args`` argument."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(func)
        def wrapper(
            filenames: tuple[Path, ...],
            recursive: bool,
            project: str | None,
            state_dir: Path | None,
            policy: Path | None,
            env_files: tuple[Path, ...],
            profiles: tuple[str, ...],
            host_file: Path | None,
            **kwargs: Any,
        ) -> Any:
            args = ManifestArgs(
                filenames, recursive, project, state_dir, policy, env_files, profiles, host_file
            )
            return func(args=args, **kwargs)

        for option in (
            *compose_options(),
            host_file_option,
            policy_option,
            state_dir_option,
            click.option(
                "--project",
                "-p",
                default=None,
                help="Name of the set; default: the name of the first manifest directory.",
            ),
            click.option("-R", "--recursive", is_flag=True, help="Also read subdirectories."),
            click.option(
                "-f",
                "--filename",
                "filenames",
                multiple=True,
                required=required,
                type=click.Path(path_type=Path),
                help="Manifest file or directory (repeatable).",
            ),
        ):
            wrapper = option(wrapper)
        return wrapper

    return decorate


def compose_options() -> tuple[Callable[[Callable[..., Any]], Callable[..., Any]], ...]:
    """--env-file and --profile, as ``docker compose`` takes them, for compose files."""
    return (
        click.option(
            "--profile",
            "profiles",
            multiple=True,
            help="Compose files: a profile to enable (repeatable; also COMPOSE_PROFILES).",
        ),
        click.option(
            "--env-file",
            "env_files",
            multiple=True,
            type=click.Path(path_type=Path),
            help="Compose files: an environment file for interpolation (repeatable; default: "
            ".env beside the first compose file).",
        ),
    )


def seconds(value: str, option: str) -> float:
    """A duration option (``500ms``, ``2m``) in seconds; a usage error naming ``option``."""
    from reconciler.manifests.units import parse_duration_ns

    try:
        return parse_duration_ns(value) / 1e9
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


class Signalled(BaseException):
    """SIGTERM or SIGINT arrived before a pass began to change anything: stop at once."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class GracefulStop:
    """SIGTERM and SIGINT for a one-shot command, as ``with GracefulStop() as stop``.

    Before the pass acts (``acting`` False) a signal stops the command at once: nothing has
    changed. Once it acts, the first signal sets ``event``: the steps in progress finish (a
    recreate puts the old container back or completes), no other starts, the inventory and
    journal are written, and the command then exits with 128 + the signal (``exit_code``).
    A second signal stops at once. A process killed outright instead leaves what the next
    run repairs (docs/decisions/crash-safe-recreate.md)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum = 0
        self.acting = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.signum = self.signum or signum
        if not self.acting or self.event.is_set():
            raise Signalled(signum)
        self.event.set()
        click.echo(
            f"interrupted ({signal.Signals(signum).name}): finishing the steps in progress, "
            "starting no other (again to stop at once)",
            err=True,
        )

    @property
    def exit_code(self) -> int:
        """128 + the signal that stopped the pass, or 0 when none arrived."""
        return 128 + self.signum if self.signum else 0
