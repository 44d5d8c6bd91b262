"""``reconcile history`` and ``reconcile rollback``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli.options import (
    EXIT_FAILURE,
    GracefulStop,
    engine_context,
    policy_option,
    read_state,
    reports_errors,
    state_dir_option,
)
from reconciler.cli.output import finish_report, print_progress, show_plan

if TYPE_CHECKING:
    from reconciler.controllers.plan import Plan
    from reconciler.state.database import State


def _open_state(state_dir: Path | None) -> State:
    return read_state(state_dir)


@click.group(invoke_without_command=True)
@click.option("--project", "-p", required=True, help="The set whose history to show.")
@state_dir_option
@click.option(
    "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_context
@reports_errors
def history(ctx: click.Context, project: str, state_dir: Path | None, output: str) -> None:
    """Revisions applied to a set, newest first (``history show N`` prints one)."""
    ctx.obj = (project, state_dir, output)
    if ctx.invoked_subcommand is not None:
        return
    state = _open_state(state_dir)
    try:
        revisions = state.revisions(project)
        pin = state.pin(project)
    finally:
        state.close()
    if output == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "number": r.number,
                        "createdAt": r.created_at,
                        "source": r.source,
                        "digest": r.digest,
                        "outcome": r.outcome,
                        "message": r.message,
                        "resources": len(r.documents),
                        "images": r.images,
                        "digests": r.digests,
                        "pinned": pin is not None and pin.revision == r.number,
                    }
                    for r in revisions
                ],
                indent=2,
            )
        )
        return
    if not revisions:
        click.echo(f'no revisions recorded for project "{project}"')
        return
    for r in revisions:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created_at))
        mark = "  (pinned)" if pin is not None and pin.revision == r.number else ""
        click.echo(
            f"#{r.number:<4} {stamp}  {r.outcome:<6} {len(r.documents):>3} resources  "
            f"{r.source}{mark}" + (f"\n       {r.message}" if r.message else "")
        )


@history.command("show")
@click.argument("number", type=int)
@click.pass_obj
@reports_errors
def show(obj: tuple[str, Path | None, str], number: int) -> None:
    """Print one revision: its source, images, outcome and manifests."""
    project, state_dir, _output = obj
    state = _open_state(state_dir)
    try:
        revision = state.revision(project, number)
    finally:
        state.close()
    if revision is None:
        click.echo(
            f'revision {number} of project "{project}" does not exist '
            "(or was dropped by retention)",
            err=True,
        )
        sys.exit(EXIT_FAILURE)
    click.echo(
        json.dumps(
            {
                "number": revision.number,
                "createdAt": revision.created_at,
                "source": revision.source,
                "digest": revision.digest,
                "outcome": revision.outcome,
                "message": revision.message,
                "images": revision.images,
                "digests": revision.digests,
                "documents": _masked(revision.documents),
            },
            indent=2,
        )
    )


def _masked(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents with secret-looking env values shown as ***, like every other output."""
    from reconciler.manifests.constants import MASK
    from reconciler.values.desired import is_secret_name

    out = []
    for doc in documents:
        manifest = doc.get("manifest", {})
        env = manifest.get("spec", {}).get("env")
        if isinstance(env, dict):
            masked = {k: MASK if is_secret_name(k) else v for k, v in env.items()}
            manifest = {**manifest, "spec": {**manifest["spec"], "env": masked}}
        out.append({**doc, "manifest": manifest})
    return out


@click.command()
@click.argument("number", type=int, required=False)
@click.option("--project", "-p", required=True, help="The set to roll back.")
@click.option("--prune", is_flag=True, help="Also remove what the older revision lacks.")
@click.option("--force-prune", is_flag=True)
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@click.option(
    "--unpin",
    is_flag=True,
    help="Lift a previous rollback's pin instead (the source applies again).",
)
@state_dir_option
@policy_option
@reports_errors
def rollback(
    number: int | None,
    project: str,
    prune: bool,
    force_prune: bool,
    dry_run: bool,
    unpin: bool,
    state_dir: Path | None,
    policy: Path | None,
) -> None:
    """Re-apply an earlier revision (default: the last good one) through the normal plan.

    The revision's manifests are judged by today's host-access policy like any other source.
    The set stays pinned to it while its source (directory or git branch) does not change;
    `reconcile run` and `reconcile sync` say so in status.
    """
    from reconciler.converge import pipeline, records
    from reconciler.policy import load_policy
    from reconciler.sources import revision
    from reconciler.state import history as hist

    started = time.monotonic()
    stop = GracefulStop()
    with (
        stop,
        pipeline.session(state_dir, project, "rollback", engine_context()) as (
            runtime,
            state,
        ),
    ):
        if unpin:
            click.echo("pin lifted" if state.clear_pin(project) else "no pin to lift")
            return
        newest = hist.latest(state, project)
        target = (
            state.revision(project, number)
            if number is not None
            else hist.last_good(state, project)
        )
        if target is None or newest is None:
            what = f"revision {number}" if number is not None else "earlier good revision"
            click.echo(f'error: project "{project}" has no {what} to roll back to', err=True)
            sys.exit(EXIT_FAILURE)
        rules = load_policy(policy)

        def read() -> pipeline.Declared:
            return pipeline.Declared(
                revision.rollback_manifests(
                    target, lambda ref: getattr(runtime.inspect_image(ref), "id", None)
                ),
                kept_files=state.revision_files(project, target.number),
            )

        recorded: list[int] = []

        def announce(plan: Plan, warnings: list[str]) -> None:
            click.echo(f"Rolling back to revision #{target.number} ({target.source})")
            show_plan(plan, warnings)
            stop.acting = not dry_run

        request = pipeline.Request(
            project,
            rules,
            dry_run=dry_run,
            prune=prune,
            force_prune=force_prune,
        )
        hooks = pipeline.Hooks(
            report=print_progress,
            on_plan=announce,
            record=records.rollback_recorder(state, target.number, newest.digest, recorded),
            stop=stop.event,
        )
        result = pipeline.run_pass(runtime, state, request, read, hooks)
    if result.outcome is None:
        return
    click.echo(
        f"Recorded as revision #{recorded[0]}; pinned until the source changes "
        "(lift with `reconcile rollback --unpin`)"
    )
    finish_report(result, started, verb="Rollback", exit_code=stop.exit_code)
