"""``reconcile history`` and ``reconcile rollback``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli.options import EXIT_FAILURE, reports_errors

if TYPE_CHECKING:
    from reconciler.state.database import State


def _open_state(state_dir: Path | None) -> State:
    from reconciler.state.database import State
    from reconciler.state.statedir import default_state_dir

    return State.open(state_dir or default_state_dir())


@click.group(invoke_without_command=True)
@click.option("--project", "-p", required=True, help="The set whose history to show.")
@click.option("--state-dir", type=click.Path(path_type=Path), default=None)
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
@click.option("--state-dir", type=click.Path(path_type=Path), default=None)
@reports_errors
def rollback(
    number: int | None,
    project: str,
    prune: bool,
    force_prune: bool,
    dry_run: bool,
    unpin: bool,
    state_dir: Path | None,
) -> None:
    """Re-apply an earlier revision (default: the last good one) through the normal plan.

    The set stays pinned to it while its source (directory or git branch) does not change;
    `reconcile run` and `reconcile sync` say so in status.
    """
    from reconciler.cli.cmd_apply import engine_runtime, finish_report
    from reconciler.cli.output import print_progress, show_plan
    from reconciler.converge.pipeline import converge
    from reconciler.state import history as hist
    from reconciler.state.locking import project_lock
    from reconciler.values.desired import build

    state = _open_state(state_dir)
    try:
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
        runtime = engine_runtime()
        manifests = hist.manifests_of(target)
        current = {ref: getattr(runtime.inspect_image(ref), "id", None) for ref in target.images}
        available = {i for i in target.images.values() if runtime.inspect_image(i) is not None}
        manifests = hist.pin_images(manifests, target.images, current, available)
        desired = build(project, ((m.manifest, str(m.location)) for m in manifests))
        started = time.monotonic()
        with project_lock(state.path.parent, project, "rollback"):
            click.echo(f"Rolling back to revision #{target.number} ({target.source})")
            result = converge(
                runtime,
                state,
                desired,
                prune=prune,
                force_prune=force_prune,
                dry_run=dry_run,
                report=print_progress,
                on_plan=show_plan,
            )
            if result.outcome is None:
                return
            outcome = "ok" if result.outcome.ok else "failed"
            recorded = hist.record(
                state, project, f"rollback:#{target.number}", manifests, result.images, outcome
            )
            # The pin holds while the source still declares what it declared before the first
            # rollback: a rollback of a rollback keeps the original upstream.
            previous = state.pin(project)
            state.set_pin(project, recorded, previous.upstream if previous else newest.digest)
            click.echo(
                f"Recorded as revision #{recorded}; pinned until the source changes "
                "(lift with `reconcile rollback --unpin`)"
            )
        finish_report(result, started, verb="Rollback")
    finally:
        state.close()
