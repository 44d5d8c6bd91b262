"""The ``reconcile`` command line: a thin shell over the core.

It parses arguments, calls the core, and maps errors to exit codes and messages:
0 ok, 1 invalid input or failure, 2 usage error, 3 changes pending (``diff``).
Heavy modules are imported inside commands so that ``--help`` and no-op runs start fast.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler import __version__, timings
from reconciler.cli.cmd_apply import apply, delete, diff, get
from reconciler.cli.cmd_compose import convert
from reconciler.cli.cmd_history import history, rollback
from reconciler.cli.cmd_images import images
from reconciler.cli.cmd_loop import events, run, status
from reconciler.cli.cmd_sync import sync
from reconciler.cli.options import (
    EXIT_FAILURE,
    compose_options,
    context_option,
    host_file_option,
    policy_option,
    reports_errors,
)
from reconciler.cli.output import describe_selection

if TYPE_CHECKING:
    from reconciler.sources.placing import Placed, Selection


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="reconcile")
@context_option
@click.option(
    "--timings",
    "show_timings",
    is_flag=True,
    help="Print how long each phase of the command took and its Engine calls to stderr "
    "(also RECONCILE_TIMINGS=1; may be given after the command too).",
)
@click.option(
    "--backend",
    type=click.Choice(["docker", "swarm"]),
    default=None,
    help="docker: containers (the default); swarm: each container a Swarm service, on a "
    "manager's Engine. Overrides RECONCILE_BACKEND.",
)
def cli(context: str | None, show_timings: bool, backend: str | None) -> None:
    """Declarative reconciler for Docker Engines: the local one, or the one DOCKER_HOST
    (unix://, tcp://, ssh://) or a docker context names."""
    if show_timings:
        timings.enable()
    if backend is not None:
        import os

        from reconciler.runtime import BACKEND_ENV

        # The one place the backend is chosen (runtime.connect) reads it from there.
        os.environ[BACKEND_ENV] = backend


compose_option_list = compose_options()


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "-f",
    "--filename",
    "filenames",
    multiple=True,
    type=click.Path(),
    help="A manifest file or directory; repeatable.",
)
@click.option("-R", "--recursive", is_flag=True, help="Also read the directories' subdirectories.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: problems on stderr as file:line:col; json: one report on stdout.",
)
@policy_option
@host_file_option
@click.option("--project", "-p", default=None, help="Compose files: the project name.")
@compose_option_list[0]
@compose_option_list[1]
@reports_errors
def validate(
    paths: tuple[str, ...],
    filenames: tuple[str, ...],
    recursive: bool,
    output: str,
    policy: Path | None,
    host_file: Path | None,
    project: str | None,
    profiles: tuple[str, ...],
    env_files: tuple[Path, ...],
) -> None:
    """Check manifests without touching the Engine: syntax, fields, references, cycles, and
    the host-access policy (each refusal explained). With ``--host-file`` (or
    $RECONCILE_HOST_FILE), also which resources that host runs, judged as that host would.

    Exits 0 when everything is valid, 1 when anything is wrong (every problem is listed).
    """
    import json
    from collections import Counter

    from reconciler.errors import Location, ManifestError, Problem
    from reconciler.loading import load, swarmcheck
    from reconciler.loading.discovery import display_name
    from reconciler.policy import admit, check_manifest_dir, explain, load_policy
    from reconciler.runtime import backend_name
    from reconciler.sources import hosts, placing

    sources = [*filenames, *paths]
    if not sources:
        raise click.UsageError("give at least one manifest file or directory with -f")
    from reconciler.loading.compose.binary import Options

    result = load(sources, recursive=recursive, compose=Options(env_files, profiles, project))
    if not result.files:
        raise ManifestError(
            [Problem(Location(", ".join(sources)), "", "no manifest files (*.yaml, *.yml) found")]
        )
    rules = load_policy(policy)
    violations = []
    selection = None
    if result.ok and (host_file is not None or os.environ.get(hosts.HOST_FILE_ENV)):
        roots = [Path(s) for s in sources if Path(s).is_dir()]
        selection = placing.select(result.manifests, hosts.loader(host_file), roots)
        result = dataclasses.replace(
            result, manifests=selection.manifests, problems=selection.problems
        )
    if result.ok:
        admission = admit(result.manifests, rules)
        violations = list(admission.violations)
    violations += [
        v for s in sources if Path(s).is_dir() for v in check_manifest_dir(Path(s), rules)
    ]
    if result.ok and backend_name() == "swarm":
        # What a Swarm service cannot hold is a problem of the manifest, located.
        result = dataclasses.replace(
            result,
            problems=tuple(sorted((*result.problems, *swarmcheck.problems(result.manifests)))),
        )
    refused = [v for v in violations if v.mode == "enforce"]
    kinds = Counter(m.kind for m in result.manifests)
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "ok": result.ok,
                    "files": [display_name(f) for f in result.files],
                    "resources": dict(sorted(kinds.items())),
                    "problems": [
                        {
                            "file": p.location.file,
                            "line": p.location.line,
                            "column": p.location.column,
                            "field": p.field,
                            "message": p.message,
                        }
                        for p in result.problems
                    ],
                    "placement": _selection_json(selection),
                    "policy": {
                        "source": rules.source,
                        "profile": rules.profile,
                        "violations": [
                            {
                                "rule": v.rule_id,
                                "mode": v.mode,
                                "resource": v.resource,
                                "message": v.message,
                                "file": v.location.file,
                                "line": v.location.line,
                                "column": v.location.column,
                            }
                            for v in violations
                        ],
                    },
                },
                indent=2,
            )
        )
        if not result.ok or refused:
            sys.exit(EXIT_FAILURE)
        return
    if selection is not None and selection.placed:
        click.echo(describe_selection(selection))
    for violation in violations:
        click.echo(explain(violation) + "\n", err=True)
    if result.problems:
        for problem in result.problems:
            click.echo(str(problem), err=True)
        bad = len(result.problems_by_file())
        count = len(result.problems)
        click.echo(
            f"{count} problem{'s' if count != 1 else ''} in {bad} of {len(result.files)} "
            f"file{'s' if len(result.files) != 1 else ''}",
            err=True,
        )
        sys.exit(EXIT_FAILURE)
    if refused:
        click.echo(f"{len(refused)} refused by the policy ({rules.source})", err=True)
        sys.exit(EXIT_FAILURE)
    summary = ", ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in sorted(kinds.items()))
    files = len(result.files)
    click.echo(f"OK: {files} file{'s' if files != 1 else ''}, {summary or 'no resources'}")


def _selection_json(selection: Selection | None) -> dict[str, Any] | None:
    if selection is None or selection.host is None:
        return None

    def entry(placed: Placed) -> dict[str, Any]:
        return {
            "kind": placed.item.kind,
            "name": placed.item.name,
            "placement": str(placed.placement) if placed.placement is not None else None,
            "from": placed.origin or None,
        }

    return {
        "host": selection.host.name,
        "labels": selection.host.labels,
        "hostFile": selection.host.source,
        "here": [entry(p) for p in selection.here],
        "elsewhere": [entry(p) for p in selection.elsewhere],
    }


@cli.command()
@click.option(
    "--fields",
    is_flag=True,
    help="Print the Container fields instead: each with its Engine field, whether a change "
    "is applied in place or by a recreate, and the oldest Engine API that supports it "
    "(Markdown, as in docs/manifest.md).",
)
@click.option(
    "--compose",
    is_flag=True,
    help="Print how each compose key is read instead (Markdown, as in docs/compose.md).",
)
@reports_errors
def schema(fields: bool, compose: bool) -> None:
    """Print the JSON Schema of manifests (for editors such as yaml-language-server). Each
    Container field carries its Engine mapping as x-engine, x-apply and x-min-api."""
    if compose:
        from reconciler.loading.compose.keys import render_markdown as compose_table

        click.echo(compose_table(), nl=False)
        return
    if fields:
        from reconciler.manifests.fields import render_markdown

        click.echo(render_markdown(), nl=False)
        return
    from reconciler.manifests.schema import render

    click.echo(render(), nl=False)


@cli.command()
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="The state directory whose commands it runs (default: $RECONCILE_STATE_DIR or "
    "~/.local/state/reconcile); it listens at STATE_DIR/server.sock.",
)
@click.option(
    "--idle-exit",
    type=float,
    default=None,
    help="Exit after this many seconds without a command (the console script starts servers "
    "that way; by default a server runs until stopped).",
)
@reports_errors
def server(state_dir: Path | None, idle_exit: float | None) -> None:
    """Keep a warm process that runs this user's commands for one state directory.

    Starting Python and building the manifest validators costs more than a small apply's own
    work; with a server running, `apply`, `diff`, `get`, `delete`, `validate`, `history`,
    `rollback`, `status` and `events` (with the same state directory) run in a forked copy of
    it that has all of that done, with the caller's arguments, directory, environment and
    terminal, and exit with the same status. `run` and `sync` never go through it. Set
    RECONCILE_NO_SERVER=1 to bypass it. Stops on SIGTERM or Ctrl-C.
    """
    from reconciler.cli.server import serve
    from reconciler.state.statedir import default_state_dir

    def log(message: str) -> None:
        click.echo(f"reconcile server: {message}", err=True)

    serve(state_dir or default_state_dir(), main, log, idle_exit=idle_exit)


for _command in (
    apply,
    diff,
    get,
    delete,
    run,
    sync,
    status,
    events,
    history,
    rollback,
    images,
    convert,
):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``reconcile`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    timings.begin(args)
    try:
        cli.main(args=timings.hoisted(args), prog_name="reconcile")
    finally:
        timings.report()
