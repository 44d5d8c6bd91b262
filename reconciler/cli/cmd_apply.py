"""The commands that talk to the Engine: ``apply``, ``diff``, ``get``, ``delete``.

Thin: they load, call ``reconciling``, print, and choose the exit code.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli.options import (
    EXIT_CHANGES_PENDING,
    EXIT_FAILURE,
    policy_option,
    reports_errors,
)
from reconciler.cli.output import echo_plan, print_progress, show_plan, warn
from reconciler.errors import PolicyRefusal

if TYPE_CHECKING:
    from reconciler.controllers.plan import Plan
    from reconciler.converge.pipeline import PassResult
    from reconciler.loading import LoadResult
    from reconciler.policy import Policy
    from reconciler.runtime.base import Runtime
    from reconciler.state.database import State
    from reconciler.values.desired import DesiredState


@dataclass(frozen=True)
class Source:
    """Where the manifests come from and which set and state they belong to."""

    filenames: tuple[Path, ...]
    recursive: bool = False
    project: str | None = None
    state_dir: Path | None = None
    policy: Path | None = None


def manifest_options(required: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """-f/--filename (repeatable), -R/--recursive, --project and --state-dir, handed to the
    command as one ``source`` argument."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(func)
        def wrapper(
            filenames: tuple[Path, ...],
            recursive: bool,
            project: str | None,
            state_dir: Path | None,
            policy: Path | None,
            **kwargs: Any,
        ) -> Any:
            source = Source(filenames, recursive, project, state_dir, policy)
            return func(source=source, **kwargs)

        for option in (
            policy_option,
            click.option(
                "--state-dir",
                type=click.Path(path_type=Path),
                default=None,
                help="Where the state database lives (default: $RECONCILE_STATE_DIR or "
                "~/.local/state/reconcile).",
            ),
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


def _load(source: Source, cache_dir: Path | None = None) -> tuple[LoadResult, Policy]:
    """Load, validate and admit the manifests; raise on any problem (nothing is changed).

    ``cache_dir`` (the state directory) keeps validated files between commands."""
    from reconciler.converge.pipeline import admit_set
    from reconciler.errors import Location, ManifestError, Problem
    from reconciler.loading import LoadCache, load
    from reconciler.policy import check_manifest_dir, load_policy

    cache = LoadCache.open(cache_dir) if cache_dir is not None else None
    result = load(list(source.filenames), recursive=source.recursive, cache=cache)
    if not result.files:
        where = ", ".join(str(f) for f in source.filenames)
        raise ManifestError(
            [Problem(Location(where), "", "no manifest files (*.yaml, *.yml) found")]
        )
    result.raise_for_problems()
    policy = load_policy(source.policy)
    result, admission = admit_set(result, policy)
    notes = [v for f in source.filenames if f.is_dir() for v in check_manifest_dir(f, policy)]
    notes += [*admission.warned, *admission.audited]
    warn([f"policy ({v.mode}): {v}" for v in notes if v.mode != "enforce"])
    refused = [str(v) for v in notes if v.mode == "enforce"]
    if refused:
        raise PolicyRefusal("\n".join(refused))
    result.raise_for_problems()
    return result, policy


def _desired(source: Source, cache_dir: Path | None = None) -> DesiredState:
    from reconciler.converge.pipeline import desired_state, project_name

    project = source.project or project_name(list(source.filenames))
    return desired_state(project, _load(source, cache_dir)[0])


def engine_runtime(ping: bool = True) -> Runtime:
    """The Docker Engine named by the environment; ``ping`` checks now that it answers."""
    from reconciler.runtime.docker import DockerRuntime

    runtime = DockerRuntime.from_env()
    if ping:
        runtime.ping()
    return runtime


def _state(state_dir: Path | None) -> State:
    from reconciler.state.database import State
    from reconciler.state.statedir import default_state_dir

    return State.open(state_dir or default_state_dir())


def _lock_dir(state: State) -> Path:
    return state.path.parent


def _run_pass(
    source: Source,
    *,
    dry_run: bool,
    prune: bool = False,
    force_prune: bool = False,
    delete: bool = False,
    report: bool = True,
    purpose: str,
    health_timeout: float = 120.0,
) -> PassResult:
    from reconciler.converge.pipeline import converge, desired_state, project_name
    from reconciler.state import history
    from reconciler.state.locking import project_lock

    state = _state(source.state_dir)
    try:
        project = source.project or project_name(list(source.filenames))
        with project_lock(_lock_dir(state), project, purpose):
            # The Engine lists (and inspects the project's containers) while the manifests
            # are read; begun under the lock, so no other reconciler changes the set between
            # this snapshot and the plan. A manifest error still wins: it is raised first.
            runtime = engine_runtime(ping=False)
            listing = runtime.start_listing(prefetch=project, keep_dir=_lock_dir(state))
            loaded, policy = _load(source, _lock_dir(state))
            desired = desired_state(project, loaded)
            # What was inspected is stored while the Engine carries out the plan (observe
            # filled the cache; nothing after it changes the cache).
            keeper = threading.Thread(target=runtime.keep_inspects, args=(listing,))

            def planned(plan: Plan, warnings: list[str]) -> None:
                if report:
                    show_plan(plan, warnings)
                keeper.start()

            try:
                result = converge(
                    runtime,
                    state,
                    desired,
                    prune=prune,
                    force_prune=force_prune,
                    dry_run=dry_run,
                    delete=delete,
                    report=print_progress if report else None,
                    on_plan=planned,
                    policy=policy,
                    health_timeout=health_timeout,
                    listing=listing,
                )
            finally:
                if keeper.ident is not None:  # started: the plan was made
                    keeper.join()
            if result.outcome is not None and not delete:
                if state.clear_pin(project):
                    warn(["an explicit apply lifts the rollback pin of this project"])
                where = ",".join(str(Path(f).absolute()) for f in source.filenames)
                history.record(
                    state,
                    project,
                    f"files:{where}",
                    loaded.manifests,
                    result.images,
                    "ok" if result.outcome.ok and not result.plan.conflicts else "failed",
                    "; ".join(
                        [f"{s.key}: {m}" for s, m in result.outcome.failed]
                        + [f"{c.kind}/{c.name}: {c.message}" for c in result.plan.conflicts]
                    )[:2000],
                )
            return result
    finally:
        state.close()


def finish_report(
    result: PassResult,
    started: float,
    wait_names: list[str] | None = None,
    wait_timeout: float = 0.0,
    verb: str = "Apply",
) -> None:
    outcome = result.outcome
    assert outcome is not None
    problems = [f"{s.key}: {msg}" for s, msg in outcome.failed]
    if wait_names and outcome.ok:
        from reconciler.converge.applying import Applier

        applier = Applier(engine_runtime(), result.plan.project, b"")
        problems += applier.wait_ready(wait_names, wait_timeout)
    conflicts = [f"{c.kind}/{c.name}: {c.message}" for c in result.plan.conflicts]
    click.echo(
        f"{verb} {'complete' if not (problems or conflicts or outcome.skipped) else 'incomplete'}: "
        f"{len(outcome.done)} done, {len(outcome.failed)} failed, {len(outcome.skipped)} skipped, "
        f"{len(result.plan.conflicts)} conflicts ({time.monotonic() - started:.1f}s)"
    )
    for line in problems + conflicts:
        click.echo(click.style(f"error: {line}", fg="red"), err=True)
    if problems or conflicts or outcome.skipped:
        sys.exit(EXIT_FAILURE)


@click.command()
@manifest_options()
@click.option("--prune", is_flag=True, help="Remove resources of the set no longer declared.")
@click.option(
    "--force-prune",
    is_flag=True,
    help="Allow a prune that removes all, or more than half, of the set.",
)
@click.option(
    "--wait",
    "wait_ready",
    is_flag=True,
    help="Wait until every container runs and passes its healthcheck.",
)
@click.option(
    "--wait-timeout", type=float, default=120.0, show_default=True, help="Seconds --wait waits."
)
@click.option(
    "--health-timeout",
    type=float,
    default=120.0,
    show_default=True,
    help="Seconds a container waits for a dependency to become healthy (dependsOn).",
)
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@reports_errors
def apply(
    source: Source,
    prune: bool,
    force_prune: bool,
    wait_ready: bool,
    wait_timeout: float,
    health_timeout: float,
    dry_run: bool,
) -> None:
    """Make the Engine match the manifests, once."""
    started = time.monotonic()
    result = _run_pass(
        source,
        dry_run=dry_run,
        prune=prune,
        force_prune=force_prune,
        purpose="apply",
        health_timeout=health_timeout,
    )
    if dry_run or not (result.plan.has_changes or result.plan.conflicts or wait_ready):
        if result.plan.conflicts:
            sys.exit(EXIT_FAILURE)
        return
    names = sorted(
        {
            s.name
            for s in result.plan.steps
            if s.kind.value == "Container" and s.action.value != "remove"
        }
        | set(_in_sync_containers(result.plan))
    )
    finish_report(result, started, names if wait_ready else None, wait_timeout)


def _in_sync_containers(plan: Plan) -> list[str]:
    return [k.split("/", 1)[1] for k in plan.in_sync if k.startswith("Container/")]


@click.command()
@manifest_options()
@click.option("--prune", is_flag=True, help="Include removals of resources no longer declared.")
@click.option("--force-prune", is_flag=True, help="Show prunes even when the guard would refuse.")
@click.option(
    "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@reports_errors
def diff(
    source: Source,
    prune: bool,
    force_prune: bool,
    output: str,
) -> None:
    """Show the plan against the live Engine; change nothing.

    Exit 0 when in sync, 3 when changes are pending, 1 on error or conflict.
    """
    result = _run_pass(
        source,
        dry_run=True,
        prune=prune,
        force_prune=force_prune,
        report=False,
        purpose="diff",
    )
    warn(result.warnings)
    echo_plan(result.plan, output)
    if result.plan.conflicts:
        sys.exit(EXIT_FAILURE)
    if result.plan.has_changes:
        sys.exit(EXIT_CHANGES_PENDING)


@click.command()
@manifest_options()
@click.option("--dry-run", is_flag=True, help="Show what would be removed; change nothing.")
@reports_errors
def delete(source: Source, dry_run: bool) -> None:
    """Remove what the manifests declare. Volumes stay unless their deletionPolicy is Delete."""
    started = time.monotonic()
    result = _run_pass(source, dry_run=dry_run, delete=True, purpose="delete")
    if not dry_run:
        finish_report(result, started, verb="Delete")


@click.command()
@manifest_options(required=False)
@click.option(
    "--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@reports_errors
def get(source: Source, output: str) -> None:
    """List the set's resources with their state and, given the manifests with -f, whether
    they match them (synced, drifted, missing, conflict, not-declared)."""
    from reconciler.converge.overview import render_rows, rows_for

    if not source.filenames and not source.project:
        raise click.UsageError("give --project, or the manifests with -f")
    runtime = engine_runtime()
    state = _state(source.state_dir)
    try:
        desired = _desired(source, _lock_dir(state)) if source.filenames else None
        rows = rows_for(runtime, state, desired, source.project)
    finally:
        state.close()
    click.echo(render_rows(rows, output), nl=False)
