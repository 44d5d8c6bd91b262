"""The push-service sink: ntfy, Gotify, Slack, Discord, Telegram, mail... through Apprise.

Apprise (and the ``requests`` it brings) is imported here only, inside the functions, so a
process without an Apprise sink never loads it (start-up time: docs/decisions/engine-client.md).
Apprise's own log is silenced: its lines may hold parts of a URL, and our log says what failed.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from reconciler.notify.config import SinkConfig
from reconciler.notify.events import Event, Severity
from reconciler.notify.sending import SendError, shown_url

if TYPE_CHECKING:
    from apprise.plugins.base import NotifyBase

_TYPES = {Severity.INFO: "info", Severity.WARNING: "warning", Severity.ERROR: "failure"}
_quiet = threading.Lock()


def _apprise() -> Any:
    """The ``apprise`` module, its logger silenced."""
    import logging

    import apprise

    with _quiet:
        logger = logging.getLogger("apprise")
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())
        logger.propagate = False
    return apprise


def check_url(url: str) -> str | None:
    """None when Apprise can send to ``url``, else why not (naming only the scheme)."""
    plugin = _apprise().Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        scheme = urlsplit(url).scheme or "(none)"
        return f"not a URL Apprise supports or can use (scheme {scheme}://)"
    return None


class AppriseSink:
    """Sends events through one Apprise URL."""

    def __init__(self, config: SinkConfig) -> None:
        self.name = config.name
        self._url = config.target
        self._plugin: NotifyBase | None = None
        self.shown = f"apprise {shown_url(config.target.reveal())}"

    def send(self, event: Event, delivery: str, timeout: float) -> None:
        """Deliver ``event`` once; Apprise says only yes or no, so a no is worth a retry."""
        plugin = self._plugin
        if plugin is None:
            plugin = _apprise().Apprise.instantiate(self._url.reveal(), suppress_exceptions=True)
            if plugin is None:
                raise SendError("Apprise cannot use this URL", retry=False)
            self._plugin = plugin
        plugin.socket_connect_timeout = timeout
        plugin.socket_read_timeout = timeout
        body = event.summary
        if event.details:
            body += "\n" + "\n".join(f"{k}: {v}" for k, v in event.details.items())
        try:
            ok = plugin.notify(body=body, title=event.title(), notify_type=_TYPES[event.level])
        except Exception as exc:  # a plugin's bug must not end the sender thread
            raise SendError(f"Apprise failed ({type(exc).__name__})", retry=True) from None
        if not ok:
            raise SendError("the service refused it or could not be reached", retry=True)
