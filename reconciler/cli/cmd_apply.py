"""The commands that plan against the Engine: ``apply``, ``diff``, ``delete`` and ``get``.

Thin: each builds a ``pipeline.Request`` from its options, runs the one pass, prints, and
chooses the exit code.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import TYPE_CHECKING

import click

from reconciler.cli.options import (
    EXIT_CHANGES_PENDING,
    EXIT_FAILURE,
    GracefulStop,
    ManifestArgs,
    engine_context,
    manifest_options,
    reports_errors,
)
from reconciler.cli.output import (
    describe_selection,
    echo_plan,
    finish_report,
    print_progress,
    show_plan,
    warn,
)

if TYPE_CHECKING:
    from reconciler.cli.settle import Settling
    from reconciler.cli.transfers import TerminalTransfers
    from reconciler.controllers.plan import Plan
    from reconciler.converge import overview
    from reconciler.converge.pipeline import PassResult
    from reconciler.loading.compose.binary import Options as ComposeOptions
    from reconciler.runtime.base import Runtime


def compose_options(args: ManifestArgs) -> ComposeOptions:
    """What compose files are read with: the command's --env-file, --profile and -p."""
    from reconciler.loading.compose.binary import Options

    return Options(args.env_files, args.profiles, args.project)


def _compose_project(args: ManifestArgs) -> str:
    """The one compose project ``--adopt`` takes over: the name compose gives it."""
    from reconciler.errors import ReconcileError
    from reconciler.loading import compose_projects
    from reconciler.loading.compose.binary import canonical

    groups = compose_projects(list(args.filenames), recursive=args.recursive)
    if len(groups) != 1:
        raise ReconcileError(
            f"--adopt takes over one compose project; these paths hold {len(groups)}"
        )
    model, error = canonical(groups[0], compose_options(args))
    if model is None:
        raise ReconcileError(error)
    return str(model.get("name") or "")


def _pass(
    args: ManifestArgs,
    purpose: str,
    stop: GracefulStop,
    *,
    dry_run: bool = False,
    delete: bool = False,
    prune: bool = False,
    force_prune: bool = False,
    health_timeout: float = 120.0,
    report: bool = True,
    adopt: bool = False,
    settling: Settling | None = None,
) -> PassResult:
    """Run the pass for the manifests of ``args``, holding the project's lock (``settling``:
    told of the runtime and state once they are open, and of anything printed besides the
    plan, for the settled receipt)."""
    from reconciler.converge import pipeline, records
    from reconciler.policy import load_policy
    from reconciler.sources import hosts
    from reconciler.sources.files import Files
    from reconciler.sources.naming import project_name

    files = Files(
        args.filenames, args.recursive, compose_options(args), hosts.loader(args.host_file)
    )
    project = args.project or project_name(list(args.filenames))
    with pipeline.session(args.state_dir, project, purpose, engine_context()) as (
        runtime,
        state,
    ):
        if settling is not None:
            settling.opened(runtime, state)
        policy = load_policy(args.policy)
        cache_dir = state.path.parent

        def read() -> pipeline.Declared:
            loaded, selection = files.read_placed(cache_dir)
            if selection is not None and selection.placed:
                click.echo(describe_selection(selection), err=True)
                spoke()
            notes = files.directory_findings(policy)
            warn([f"policy ({v.mode}): {v}" for v in notes])
            if notes:
                spoke()
            return pipeline.Declared(loaded.manifests)

        def spoke() -> None:
            if settling is not None:
                settling.spoke()  # the receipt replays the plan only

        def unpinned() -> None:
            warn(["an explicit apply lifts the rollback pin of this project"])
            spoke()

        request = pipeline.Request(
            project,
            policy,
            dry_run=dry_run,
            delete=delete,
            prune=prune,
            force_prune=force_prune,
            health_timeout=health_timeout,
            keep_dir=cache_dir,
            adopt_from=_compose_project(args) if adopt else None,
        )

        def planned(plan: Plan, warnings: list[str]) -> None:
            if report:
                show_plan(plan, warnings)
            stop.acting = not dry_run

        hooks = pipeline.Hooks(
            report=print_progress if report else None,
            on_plan=planned,
            record=records.revision_recorder(state, files.description, unpinned),
            stop=stop.event,
        )
        transfers = _transfers(runtime) if report and not dry_run else None
        try:
            return pipeline.run_pass(runtime, state, request, read, hooks)
        finally:
            if transfers is not None:
                transfers.close()
                runtime.set_progress(None)


def _transfers(runtime: Runtime) -> TerminalTransfers | None:
    """Bars for pulls and builds, on a terminal only (logs and pipes stay quiet)."""
    if not sys.stderr.isatty():
        return None
    from reconciler.cli.transfers import TerminalTransfers

    transfers = TerminalTransfers()
    runtime.set_progress(transfers)
    return transfers


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
@click.option(
    "--adopt",
    is_flag=True,
    help="Take over what docker compose made for this compose project: its named volumes "
    "and networks in place (their data kept), its containers (recreated only where their "
    "config differs). Only what carries that project's compose label is taken.",
)
@reports_errors
def apply(
    args: ManifestArgs,
    prune: bool,
    force_prune: bool,
    wait_ready: bool,
    wait_timeout: float,
    health_timeout: float,
    dry_run: bool,
    adopt: bool,
) -> None:
    """Make the Engine match the manifests, once."""
    started = time.monotonic()
    from reconciler.cli import settled
    from reconciler.cli.settle import Settling

    # --wait reads the containers' health, --adopt takes over what compose made: no receipt.
    wanted = settled.enabled() and not (wait_ready or adopt)
    settling = Settling(args, compose_options(args)) if wanted else None
    with GracefulStop() as stop, settling or contextlib.nullcontext():
        try:
            result = _pass(
                args,
                "apply",
                stop,
                dry_run=dry_run,
                prune=prune,
                force_prune=force_prune,
                health_timeout=health_timeout,
                adopt=adopt,
                settling=settling,
            )
        except BaseException:
            if settling is not None:
                settling.finish(None, eligible=False)
            raise
        if settling is not None:
            settling.finish(result, eligible=not stop.exit_code)
    if stop.exit_code:
        finish_report(result, started, exit_code=stop.exit_code)
    if dry_run or not (result.plan.has_changes or result.plan.conflicts or wait_ready):
        if result.plan.conflicts:
            sys.exit(EXIT_FAILURE)
        return
    late: list[str] = []
    if wait_ready and result.outcome is not None and result.outcome.ok:
        from reconciler import runtime
        from reconciler.converge import pipeline

        one_shots = frozenset(n for n, c in result.desired.containers.items() if c.one_shot)
        late = pipeline.wait_ready(
            runtime.connect(context=engine_context()),
            _containers(result.plan),
            wait_timeout,
            one_shots,
        )
    finish_report(result, started, late)


def _containers(plan: Plan) -> list[str]:
    """The containers a plan leaves declared: those it acts on (but removes) and those in sync."""
    acted = {
        s.name for s in plan.steps if s.kind.value == "Container" and s.action.value != "remove"
    }
    in_sync = {k.split("/", 1)[1] for k in plan.in_sync if k.startswith("Container/")}
    return sorted(acted | in_sync)


@click.command()
@manifest_options()
@click.option("--prune", is_flag=True, help="Include removals of resources no longer declared.")
@click.option("--force-prune", is_flag=True, help="Show prunes even when the guard would refuse.")
@click.option(
    "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@reports_errors
def diff(args: ManifestArgs, prune: bool, force_prune: bool, output: str) -> None:
    """Show the plan against the live Engine; change nothing.

    Exit 0 when in sync, 3 when changes are pending, 1 on error or conflict.
    """
    with GracefulStop() as stop:
        result = _pass(
            args, "diff", stop, dry_run=True, prune=prune, force_prune=force_prune, report=False
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
def delete(args: ManifestArgs, dry_run: bool) -> None:
    """Remove what the manifests declare. Volumes stay unless their deletionPolicy is Delete."""
    started = time.monotonic()
    with GracefulStop() as stop:
        result = _pass(args, "delete", stop, dry_run=dry_run, delete=True)
    if not dry_run:
        finish_report(result, started, verb="Delete", exit_code=stop.exit_code)


@click.command()
@manifest_options(required=False)
@click.option(
    "--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@reports_errors
def get(args: ManifestArgs, output: str) -> None:
    """List the set's resources with their state and, given the manifests with -f, whether
    they match them (synced, drifted, missing, conflict, not-declared, external)."""
    from reconciler.converge import overview, pipeline
    from reconciler.policy import load_policy
    from reconciler.sources import hosts
    from reconciler.sources.files import Files
    from reconciler.sources.naming import project_name

    if not args.filenames and not args.project:
        raise click.UsageError("give --project, or the manifests with -f")
    files = Files(
        args.filenames, args.recursive, compose_options(args), hosts.loader(args.host_file)
    )
    project = args.project or project_name(list(args.filenames))
    with pipeline.session(args.state_dir, None, "get", engine_context()) as (runtime, state):
        policy = load_policy(args.policy)

        def read() -> pipeline.Declared:
            if not args.filenames:
                return pipeline.Declared(())
            return pipeline.Declared(files.read(state.path.parent).manifests)

        # The plan of a full prune: what is declared is judged, the rest is "not-declared".
        request = pipeline.Request(project, policy, dry_run=True, prune=True, force_prune=True)
        result = pipeline.run_pass(runtime, state, request, read)
    rows = overview.rows(result, declared=bool(args.filenames))
    click.echo(render_rows(rows, output), nl=False)


def render_rows(rows: list[overview.Row], output: str) -> str:
    """Rows as an aligned table or as JSON."""
    import json
    from dataclasses import asdict

    if output == "json":
        return json.dumps([asdict(r) for r in rows], indent=2) + "\n"
    header = ("KIND", "NAME", "STATE", "HEALTH", "SYNC", "SOURCE")
    table = [header] + [(r.kind, r.name, r.state, r.health, r.sync, r.source) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n"
        for row in table
    )
