"""What the pass commands print: the plan (coloured by action), each step's progress,
warnings and the closing line."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import click

from reconciler.cli.options import EXIT_FAILURE

if TYPE_CHECKING:
    from reconciler.controllers.plan import Plan
    from reconciler.converge.applying import Progress
    from reconciler.converge.pipeline import PassResult
    from reconciler.sources.placing import Selection


def echo_plan(plan: Plan, output: str) -> None:
    """The plan as text (one coloured line per step) or JSON."""
    from reconciler.controllers.plan import render_json, render_text

    if output == "json":
        click.echo(render_json(plan), nl=False)
        return
    for line in render_text(plan).splitlines():
        click.echo(_colour(line))


def _colour(line: str) -> str:
    stripped = line.lstrip()
    for prefix, colour in (
        ("-/+", "yellow"),
        ("+", "green"),
        ("~", "yellow"),
        (">", "cyan"),
        ("-", "red"),
        ("!", "magenta"),
    ):
        if stripped.startswith(prefix):
            return click.style(line, fg=colour)
    return line


def print_progress(progress: Progress) -> None:
    step = progress.step
    if progress.phase == "start":
        return
    if progress.phase == "done":
        verb = {
            "create": "created",
            "recreate": "recreated",
            "update": "updated",
            "start": "started",
            "restart": "restarted",
            "remove": "removed",
            "stop": "stopped",
        }.get(step.action.value, step.action.value)
        click.echo(f"  {step.key}: {verb} ({progress.seconds:.2f}s)")
    elif progress.phase == "warning":
        click.echo(click.style(f"  {step.key}: warning: {progress.message}", fg="yellow"), err=True)
    else:
        label = "FAILED" if progress.phase == "failed" else "skipped"
        click.echo(click.style(f"  {step.key}: {label}: {progress.message}", fg="red"), err=True)


def show_plan(plan: Plan, warnings: list[str]) -> None:
    warn(warnings)
    echo_plan(plan, "text")
    if plan.has_changes:
        click.echo("")


def warn(warnings: list[str]) -> None:
    for warning in warnings:
        click.echo(click.style(f"warning: {warning}", fg="yellow"), err=True)


def finish_report(
    result: PassResult,
    started: float,
    late_problems: list[str] | None = None,
    verb: str = "Apply",
    exit_code: int = 0,
) -> None:
    """The closing line of an applying command and its errors; exits 1 when anything failed,
    was skipped or conflicted (``late_problems``: e.g. containers ``--wait`` gave up on), and
    with ``exit_code`` when given (a signal stopped the pass)."""
    outcome = result.outcome
    assert outcome is not None
    problems = [f"{s.key}: {msg}" for s, msg in outcome.failed] + (late_problems or [])
    conflicts = [f"{c.kind}/{c.name}: {c.message}" for c in result.plan.conflicts]
    incomplete = bool(problems or conflicts or outcome.skipped)
    click.echo(
        f"{verb} {'incomplete' if incomplete else 'complete'}: "
        f"{len(outcome.done)} done, {len(outcome.failed)} failed, {len(outcome.skipped)} skipped, "
        f"{len(result.plan.conflicts)} conflicts ({time.monotonic() - started:.1f}s)"
    )
    for line in problems + conflicts:
        click.echo(click.style(f"error: {line}", fg="red"), err=True)
    if exit_code or incomplete:
        sys.exit(exit_code or EXIT_FAILURE)


def describe_selection(selection: Selection) -> str:
    """Which resources of a placed set this host runs, and which it leaves to others."""
    here = len(selection.here)
    lines = [f"host {selection.host}: {here} resource{'s' if here != 1 else ''} placed here"]
    lines += [f"  here       {p.describe()}" for p in selection.here if p.placement is not None]
    lines += [f"  elsewhere  {p.describe()}" for p in selection.elsewhere]
    return "\n".join(lines)
