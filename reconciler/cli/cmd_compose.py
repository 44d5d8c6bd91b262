"""Commands about compose files: ``convert`` (compose -> native manifests)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.cli.options import EXIT_FAILURE, compose_options, reports_errors


@click.command()
@click.option(
    "-f",
    "--filename",
    "filenames",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="A compose file (repeatable: merged in order, as docker compose -f a -f b).",
)
@click.option("--project", "-p", default=None, help="The compose project name.")
@compose_options()[0]
@compose_options()[1]
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the manifests to this file (default: standard output).",
)
@reports_errors
def convert(
    filenames: tuple[Path, ...],
    project: str | None,
    profiles: tuple[str, ...],
    env_files: tuple[Path, ...],
    output: Path | None,
) -> None:
    """Write the native manifests a compose project converges to, for people who want to own
    them. Values are as compose resolved them (from .env and the environment): read the
    output for secrets before committing it."""
    from reconciler.loading import load
    from reconciler.loading.compose import manifests_yaml
    from reconciler.loading.compose.binary import Options

    result = load(list(filenames), compose=Options(env_files, profiles, project))
    if not result.files:
        raise click.UsageError("no compose file found")
    if result.problems:
        for problem in result.problems:
            click.echo(str(problem), err=True)
        sys.exit(EXIT_FAILURE)
    text = manifests_yaml(result.manifests)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(result.manifests)} manifests to {output}", err=True)
    if any(
        m.kind == "Container" and m.document.get("spec", {}).get("env") for m in result.manifests
    ):
        click.echo(
            "note: env values are written as compose resolved them (from .env and the "
            "environment); check the output for secrets before committing it",
            err=True,
        )
