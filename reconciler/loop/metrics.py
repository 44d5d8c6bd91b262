"""Prometheus metrics of the loop (``--metrics-addr``). prometheus_client is imported only
when metrics are switched on, so other commands do not pay for it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reconciler.controllers.plan import Step


class Metrics:
    """The loop's metrics on their own registry, served over HTTP."""

    def __init__(self, project: str) -> None:
        import prometheus_client as prom

        self._registry = prom.CollectorRegistry()
        registry = self._registry
        self.project = project
        self.pass_seconds = prom.Histogram(
            "reconcile_pass_duration_seconds",
            "Duration of a reconcile pass.",
            ["project"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry,
        )
        self.actions = prom.Counter(
            "reconcile_actions_total",
            "Steps executed, by kind, action, reason and outcome.",
            ["project", "kind", "action", "reason", "outcome"],
            registry=registry,
        )
        self.drift = prom.Counter(
            "reconcile_drift_detected_total",
            "Resources found differing from their manifests.",
            ["project", "kind"],
            registry=registry,
        )
        self.resources = prom.Gauge(
            "reconcile_resources", "Resources by status.", ["project", "status"], registry=registry
        )
        self.last_success = prom.Gauge(
            "reconcile_last_successful_pass_timestamp_seconds",
            "Unix time of the last pass that completed without errors.",
            ["project"],
            registry=registry,
        )
        self.passes = prom.Counter(
            "reconcile_passes_total",
            "Passes by outcome.",
            ["project", "outcome"],
            registry=registry,
        )
        self.notifications = prom.Counter(
            "reconcile_notifications_total",
            "Notifications by sink and outcome: sent, failed (after its retries), dropped "
            "(queue full), held (rate limit; sent later in a summary).",
            ["project", "sink", "outcome"],
            registry=registry,
        )

        self.image_updates = prom.Gauge(
            "reconcile_image_update_available",
            "1 when a followed image tag has a digest in its registry that is not running "
            "(available, waiting for minAge, or rejected after a failed probation).",
            ["project", "image", "state"],
            registry=registry,
        )

    def record_updates(self, statuses: Iterable[Any]) -> None:
        """The image-update findings (``loop.updates.UpdateStatus``), one series per tag."""
        self.image_updates.clear()
        for status in statuses:
            pending = status.state in ("available", "waiting", "rejected")
            self.image_updates.labels(self.project, status.ref, status.state).set(int(pending))

    def serve(self, address: str) -> Any:
        """Serve /metrics on ``host:port``; returns the server (for shutdown)."""
        import prometheus_client as prom

        host, _, port = address.rpartition(":")
        server, _thread = prom.start_http_server(
            int(port), addr=host.strip("[]") or "127.0.0.1", registry=self._registry
        )
        return server

    def notification(self, sink: str, outcome: str) -> None:
        """Count one notification's outcome (called from the sink's sender thread)."""
        self.notifications.labels(self.project, sink, outcome).inc()

    def record_pass(
        self,
        seconds: float,
        outcome: str,
        wall: float,
        done: Iterable[Step],
        failed: Iterable[Step],
        statuses: dict[str, int],
    ) -> None:
        """Account for one pass."""
        self.pass_seconds.labels(self.project).observe(seconds)
        self.passes.labels(self.project, outcome).inc()
        for result, steps in (("done", done), ("failed", failed)):
            for step in steps:
                self.actions.labels(
                    self.project, step.kind.value, step.action.value, step.reason.value, result
                ).inc()
                if step.reason.value in ("config-changed", "not-running", "duplicate", "unhealthy"):
                    self.drift.labels(self.project, step.kind.value).inc()
        for status in (
            "synced",
            "completed",
            "drifted",
            "progressing",
            "crash-loop",
            "invalid-manifest",
            "failed",
            "conflict",
            "missing",
            "external",
        ):
            self.resources.labels(self.project, status).set(statuses.get(status, 0))
        if outcome == "ok":
            self.last_success.labels(self.project).set(wall)
