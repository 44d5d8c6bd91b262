"""The loop's commands: ``run`` (the foreground control loop), ``status`` and ``events``."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.cli.options import (
    EXIT_FAILURE,
    engine_context,
    host_file_option,
    notify_option,
    policy_option,
    read_state,
    reports_errors,
    seconds,
)
from reconciler.errors import PolicyRefusal

if TYPE_CHECKING:
    pass


def _project_of(directory: Path | None, project: str | None) -> str:
    from reconciler.sources.naming import project_name

    if project:
        return project
    if directory is None:
        raise click.UsageError("give --project or --manifests")
    return project_name([directory])


@click.command()
@click.option(
    "--manifests",
    "-m",
    "directory",
    required=True,
    type=click.Path(path_type=Path),
    help="The directory to watch.",
)
@click.option(
    "--project", "-p", default=None, help="Name of the set; default: the directory's name."
)
@click.option("-R", "--recursive", is_flag=True, help="Also read subdirectories.")
@click.option("--prune", is_flag=True, help="Remove resources whose manifests are removed.")
@click.option("--resync", default="5m", show_default=True, help="Full resync period.")
@click.option(
    "--debounce",
    default="500ms",
    show_default=True,
    help="Quiet period after file changes before a pass.",
)
@click.option(
    "--health-timeout",
    default="2m",
    show_default=True,
    help="How long a container waits for a dependency to become healthy.",
)
@click.option(
    "--log-format", type=click.Choice(["human", "json"]), default="human", show_default=True
)
@click.option("--verbose", "-v", is_flag=True, help="Also log every pass.")
@click.option(
    "--metrics-addr",
    default=None,
    metavar="HOST:PORT",
    help="Serve Prometheus metrics on this address (e.g. 127.0.0.1:9400).",
)
@click.option("--state-dir", type=click.Path(path_type=Path), default=None)
@policy_option
@notify_option
@host_file_option
@reports_errors
def run(
    directory: Path,
    project: str | None,
    recursive: bool,
    prune: bool,
    resync: str,
    debounce: str,
    health_timeout: str,
    log_format: str,
    verbose: bool,
    metrics_addr: str | None,
    state_dir: Path | None,
    policy: Path | None,
    notify_config: Path | None,
    host_file: Path | None,
) -> None:
    """Keep the host converged with a watched directory until SIGTERM or SIGINT."""
    import logging

    from reconciler import runtime
    from reconciler.converge import enginestate
    from reconciler.loop import logs
    from reconciler.loop.alerting import open_notifier
    from reconciler.loop.metrics import Metrics
    from reconciler.loop.runner import Loop
    from reconciler.loop.settings import LoopSettings
    from reconciler.loop.signals import run_until_signalled
    from reconciler.policy import check_manifest_dir, load_policy
    from reconciler.sources import hosts
    from reconciler.state.locking import project_lock

    rules = load_policy(policy)
    host = hosts.loader(host_file)
    host()  # a bad host file stops the command before anything runs
    for violation in check_manifest_dir(directory, rules):
        if violation.mode == "enforce":
            raise PolicyRefusal(str(violation))
        click.echo(f"warning: policy ({violation.mode}): {violation}", err=True)
    settings = LoopSettings(
        policy=rules,
        directory=directory.absolute(),
        project=_project_of(directory, project),
        prune=prune,
        recursive=recursive,
        resync=seconds(resync, "--resync"),
        debounce=seconds(debounce, "--debounce"),
        health_timeout=seconds(health_timeout, "--health-timeout"),
        host=host,
    )
    log = logs.setup(log_format, logging.DEBUG if verbose else logging.INFO)
    engine = runtime.connect(context=engine_context())
    state = enginestate.open_state_of_loop(state_dir, engine)
    for warning in state.warnings:
        log.warning(warning)
    metrics = Metrics(settings.project) if metrics_addr else None
    try:
        notifier = open_notifier(notify_config, state.home, log, metrics)
    except BaseException:
        state.close()
        raise
    try:
        with project_lock(state.path.parent, settings.project, "run"):
            loop = Loop(settings, engine, state, metrics=metrics, notifier=notifier)
            servers = [metrics.serve(metrics_addr)] if metrics and metrics_addr else []
            log.info(
                f'watching {settings.directory} for project "{settings.project}"',
                extra={"prune": prune, "resync": resync, "state": str(state.path)},
            )
            run_until_signalled(loop, log, servers)
    finally:
        notifier.close()
        state.close()


def _ago(stamp: float) -> str:
    seconds = max(0.0, time.time() - stamp)
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@click.command()
@click.option("--manifests", "-m", "directory", type=click.Path(path_type=Path), default=None)
@click.option("--project", "-p", default=None)
@click.option("--state-dir", type=click.Path(path_type=Path), default=None)
@click.option(
    "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@reports_errors
def status(
    directory: Path | None, project: str | None, state_dir: Path | None, output: str
) -> None:
    """What the running loop last reported: each resource's status and the last pass."""
    name = _project_of(directory, project)
    state = read_state(state_dir)
    try:
        found = state.load_status(name)
    finally:
        state.close()
    if found is None:
        click.echo(
            f'no status for project "{name}": has `reconcile run` ever run for it?', err=True
        )
        sys.exit(EXIT_FAILURE)
    updated, doc = found
    doc["running"] = _alive(doc.get("pid"))
    doc["updatedAt"] = updated
    if output == "json":
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
        return
    last = doc.get("lastPass", {})
    running = f"running (pid {doc.get('pid')})" if doc["running"] else "not running"
    click.echo(
        f'Project "{name}": loop {running}; source {doc.get("origin") or doc.get("directory")}'
    )
    if doc.get("pinnedTo"):
        click.echo(f"Pinned to revision #{doc['pinnedTo']} by a rollback, until the source changes")
    if doc.get("rollback"):
        click.echo(click.style(f"rollback: {doc['rollback']}", fg="red"))
    click.echo(
        f"Last pass: {_ago(last.get('startedAt', updated))}, {last.get('seconds', 0):.3f}s, "
        f"{last.get('outcome')}"
        + (f" ({last['error']})" if last.get("error") else "")
        + (f"; retry in {last['retryIn']:.0f}s" if last.get("retryIn") else "")
    )
    if "lastSuccessAt" in doc:
        click.echo(f"Last successful pass: {_ago(doc['lastSuccessAt'])}")
    source = doc.get("source", {})
    for problem in source.get("problems", []):
        click.echo(click.style(f"invalid manifest: {problem}", fg="red"))
    for file in source.get("settlingFiles", []):
        click.echo(f"waiting for {file} to be quiet (it may be half written): nothing is pruned")
    if doc.get("pruneRefused"):
        click.echo(click.style(doc["pruneRefused"], fg="red"))
    for update in doc.get("imageUpdates") or ():
        if update.get("state") not in ("current", "unknown"):
            latest = str(update.get("latest") or "")[:19]
            click.echo(
                f"image {update.get('ref')}: {update.get('state')}"
                + (f" ({latest})" if latest else "")
                + (f": {update['detail']}" if update.get("detail") else "")
            )
    rows = [("KIND", "NAME", "STATUS", "DETAIL")] + [
        (r["kind"], r["name"], r["status"], r["detail"]) for r in doc.get("resources", [])
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    click.echo("")
    for row in rows:
        click.echo(
            "  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True)) + "  " + row[3]
        )


@click.command()
@click.option("--manifests", "-m", "directory", type=click.Path(path_type=Path), default=None)
@click.option("--project", "-p", default=None)
@click.option("--limit", "-n", type=int, default=50, show_default=True)
@click.option("--state-dir", type=click.Path(path_type=Path), default=None)
@click.option(
    "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@reports_errors
def events(
    directory: Path | None, project: str | None, limit: int, state_dir: Path | None, output: str
) -> None:
    """The events journal: what changed, why, when, and how it went."""
    from dataclasses import asdict

    name = _project_of(directory, project)
    state = read_state(state_dir)
    try:
        found = state.events(name, limit)
    finally:
        state.close()
    if output == "json":
        click.echo(json.dumps([asdict(e) for e in found], indent=2))
        return
    for e in found:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.at))
        line = f"{stamp}  {e.kind}/{e.name}  {e.action} ({e.reason}) {e.outcome}"
        click.echo(line + (f": {e.message}" if e.message else ""))
