"""The ``reconcile`` command line: a thin shell over the core.

It parses arguments, calls the core, and maps errors to exit codes and messages:
0 ok, 1 invalid input or failure, 2 usage error, 3 changes pending (``diff``).
Heavy modules are imported inside commands so that ``--help`` and no-op runs start fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any, TypeVar

import click

from reconciler import __version__
from reconciler.errors import ReconcileError

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
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="reconcile")
def cli() -> None:
    """Declarative reconciler for a single Docker host."""


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``reconcile`` console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="reconcile")
