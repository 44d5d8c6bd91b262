"""Running a loop in the foreground until SIGTERM or SIGINT (``reconcile run`` and ``sync``)."""

from __future__ import annotations

import logging
import signal
from collections.abc import Sequence
from typing import Any

from reconciler.loop.runner import Loop


def run_until_signalled(loop: Loop, log: logging.Logger, servers: Sequence[Any]) -> None:
    """Run ``loop`` until SIGTERM or SIGINT (the step in progress finishes), then shut the
    side servers (metrics, webhook) down."""

    def _stop(signum: int, _frame: Any) -> None:
        log.info(f"received {signal.Signals(signum).name}; finishing the current step")
        loop.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    loop.run()
    for server in servers:
        server.shutdown()
    log.info("stopped")
