"""``reconcile images``: the images reconcile pulled or built for a set, and the opt-in
clean-up of those nothing uses (``--prune``)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from reconciler.cli.options import reports_errors, state_dir_option


@click.command()
@click.option("--project", "-p", required=True, help="The set whose images to show.")
@click.option(
    "--prune",
    is_flag=True,
    help="Remove those no container (anyone's) and no kept revision uses, and that carry no "
    "tag reconcile did not give them.",
)
@click.option("--dry-run", is_flag=True, help="With --prune: say what would go; remove nothing.")
@state_dir_option
@click.option(
    "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@reports_errors
def images(project: str, prune: bool, dry_run: bool, state_dir: Path | None, output: str) -> None:
    """Images reconcile pulled or built for a set; with --prune, remove the unused ones."""
    from reconciler.converge import pipeline
    from reconciler.converge.imagecleanup import Fetched, image_cleanup

    with pipeline.session(state_dir, project if prune else None, "images") as (runtime, state):
        if prune:
            found = image_cleanup(runtime, state, project, dry_run=dry_run)
        else:
            found = [
                Fetched(ident, (ref,), how, "")
                for _, ident, ref, how, _ in state.fetched_images(project)
            ]
    if output == "json":
        click.echo(json.dumps([asdict(f) for f in found], indent=2))
        return
    if not found:
        click.echo(f'no images pulled or built by reconcile for project "{project}"')
        return
    for item in found:
        line = f"{item.image_id[7:19]}  {item.how:6}  {', '.join(item.refs)}"
        click.echo(line + (f"  {item.outcome}" if item.outcome else ""))
