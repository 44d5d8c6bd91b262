"""``reconcile sync``: GitOps on one host — follow a branch of a git repository."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from reconciler.cli.options import (
    EXIT_FAILURE,
    engine_context,
    host_file_option,
    notify_option,
    policy_option,
    reports_errors,
    seconds,
)


@click.command()
@click.option(
    "--repo",
    "url",
    required=True,
    help="Repository URL (file://, https://, ssh://, user@host:path).",
)
@click.option("--branch", default="main", show_default=True)
@click.option(
    "--path",
    "subpath",
    default=".",
    show_default=True,
    help="Directory of the manifests inside the repository.",
)
@click.option(
    "--project", "-p", default=None, help="Name of the set; default: the repository's name."
)
@click.option("--interval", default="60s", show_default=True, help="How often to fetch.")
@click.option("--once", is_flag=True, help="Fetch and apply once, then exit (0 when in sync).")
@click.option("-R", "--recursive", is_flag=True, help="Also read subdirectories of --path.")
@click.option("--prune", is_flag=True, help="Remove resources a new commit no longer declares.")
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Accept a commit that declares nothing (with --prune: removes everything).",
)
@click.option(
    "--allow-force-push",
    is_flag=True,
    help="Follow the branch even when its history was rewritten.",
)
@click.option(
    "--rollback-on-failure",
    is_flag=True,
    help="Re-apply the last good revision when a new one fails or crash-loops.",
)
@click.option(
    "--rollback-window",
    default="2m",
    show_default=True,
    help="How long a new revision is watched for --rollback-on-failure.",
)
@click.option(
    "--webhook-addr",
    default=None,
    metavar="HOST:PORT",
    help="Listen for push webhooks here (needs --webhook-secret-env).",
)
@click.option(
    "--webhook-secret-env",
    default=None,
    metavar="VAR",
    help="Environment variable holding the webhook's shared secret.",
)
@click.option("--health-timeout", default="2m", show_default=True)
@click.option(
    "--log-format", type=click.Choice(["human", "json"]), default="human", show_default=True
)
@click.option("--verbose", "-v", is_flag=True)
@click.option("--metrics-addr", default=None, metavar="HOST:PORT")
@click.option("--state-dir", type=click.Path(path_type=Path), default=None)
@policy_option
@notify_option
@host_file_option
@reports_errors
def sync(
    url: str,
    branch: str,
    subpath: str,
    project: str | None,
    interval: str,
    once: bool,
    recursive: bool,
    prune: bool,
    allow_empty: bool,
    allow_force_push: bool,
    rollback_on_failure: bool,
    rollback_window: str,
    webhook_addr: str | None,
    webhook_secret_env: str | None,
    health_timeout: str,
    log_format: str,
    verbose: bool,
    metrics_addr: str | None,
    state_dir: Path | None,
    policy: Path | None,
    notify_config: Path | None,
    host_file: Path | None,
) -> None:
    """Follow a git branch: fetch on an interval, apply each new commit's manifests.

    A failed fetch, a force-push, a missing path, an empty set or invalid manifests keep the
    last applied commit running (and never prune); the error is reported with the SHA.
    """
    from reconciler import runtime
    from reconciler.converge import enginestate
    from reconciler.loop import logs
    from reconciler.loop.alerting import open_notifier
    from reconciler.loop.metrics import Metrics
    from reconciler.loop.runner import Loop
    from reconciler.loop.settings import LoopSettings
    from reconciler.loop.signals import run_until_signalled
    from reconciler.policy import load_policy
    from reconciler.sources import hosts
    from reconciler.sources.git import GitSource, redact
    from reconciler.sources.naming import repository_project
    from reconciler.state.locking import project_lock

    if webhook_addr and not webhook_secret_env:
        raise click.UsageError("--webhook-addr needs --webhook-secret-env")
    secret = os.environ.get(webhook_secret_env or "", "") if webhook_secret_env else ""
    if webhook_addr and not secret:
        raise click.UsageError(f"environment variable {webhook_secret_env} is empty or unset")
    name = project or repository_project(url)
    # Read now, so that a bad host file stops the command before anything runs.
    host = hosts.load_host(host_file)
    log = logs.setup(log_format, logging.DEBUG if verbose else logging.INFO)
    engine = runtime.connect(context=engine_context())
    state = enginestate.open_state_of_loop(state_dir, engine)
    rules = load_policy(policy)
    source = GitSource(
        url,
        branch,
        subpath,
        state.path.parent / "git" / name,
        recursive=recursive,
        allow_empty=allow_empty,
        allow_force_push=allow_force_push,
        policy=rules,
        host=lambda: host,
    )
    settings = LoopSettings(
        directory=Path(subpath),
        project=name,
        prune=prune,
        recursive=recursive,
        resync=seconds(interval, "--interval"),
        health_timeout=seconds(health_timeout, "--health-timeout"),
        rollback_on_failure=rollback_on_failure,
        rollback_window=seconds(rollback_window, "--rollback-window"),
        policy=rules,
        # --allow-empty means "a commit may remove everything": the prune guard must not refuse.
        force_prune=allow_empty,
    )
    metrics = Metrics(name) if metrics_addr else None
    try:
        notifier = open_notifier(notify_config, state.home, log, metrics)
    except BaseException:
        state.close()
        raise
    try:
        with project_lock(state.path.parent, name, "sync"):
            loop = Loop(settings, engine, state, metrics=metrics, source=source, notifier=notifier)
            if once:
                report = loop.run_pass(["once"])
                problems = [] if report.error else list(source.read().problems)
                for line in [report.error, *map(str, problems)]:
                    if line:
                        click.echo(f"error: {line}", err=True)
                if report.outcome != "ok" or problems:
                    sys.exit(EXIT_FAILURE)
                return
            servers: list[Any] = []
            if metrics and metrics_addr:
                servers.append(metrics.serve(metrics_addr))
            if webhook_addr:
                from reconciler.loop.webhook import serve

                servers.append(serve(webhook_addr, secret.encode(), loop.request_refresh))

            log.info(
                f'following {redact(url)} branch {branch} path {subpath} as project "{name}" '
                f"on host {host}",
                extra={"interval": interval, "prune": prune, "host": host.name},
            )
            run_until_signalled(loop, log, servers)
    finally:
        notifier.close()
        state.close()
