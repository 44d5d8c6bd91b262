"""The generic webhook sink: one JSON POST per event, signed with HMAC-SHA256 (``signing``).

Each delivery has an id (``X-Reconcile-Delivery``) that stays the same across its retries, so a
receiver can drop a duplicate; the timestamp and signature are made anew for each attempt.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from reconciler.notify import signing
from reconciler.notify.config import SinkConfig
from reconciler.notify.events import Event
from reconciler.notify.sending import SendError, shown_url

# Statuses worth another attempt: the receiver is busy, restarting or rate-limiting us.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
PAYLOAD_VERSION = 1
USER_AGENT = "reconcile-notify/1"


class WebhookSink:
    """POSTs events to one URL."""

    def __init__(self, config: SinkConfig, wall: Callable[[], float] = time.time) -> None:
        assert config.key is not None, "a webhook sink has an HMAC key"
        self.name = config.name
        self._url = config.target
        self._key = config.key
        self._wall = wall
        self.shown = f"webhook {shown_url(config.target.reveal())}"

    def body(self, event: Event, delivery: str) -> bytes:
        """The JSON body of ``event`` (keys sorted: the same event gives the same bytes)."""
        payload = {"version": PAYLOAD_VERSION, "id": delivery, **event.to_json()}
        return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def headers(self, event: Event, delivery: str, body: bytes) -> dict[str, str]:
        """The request's headers, the signature over this moment's timestamp included."""
        stamp = int(self._wall())
        return {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Reconcile-Event": event.kind,
            "X-Reconcile-Delivery": delivery,
            signing.TIMESTAMP_HEADER: str(stamp),
            signing.SIGNATURE_HEADER: signing.signature(self._key.reveal().encode(), stamp, body),
        }

    def send(self, event: Event, delivery: str, timeout: float) -> None:
        """Deliver ``event`` once; ``SendError`` says whether trying again may help."""
        url = urlsplit(self._url.reveal())
        body = self.body(event, delivery)
        headers = self.headers(event, delivery, body)
        if url.username or url.password:
            import base64

            login = f"{url.username or ''}:{url.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(login).decode("ascii")
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        host, port = url.hostname or "", url.port
        connection: http.client.HTTPConnection
        if url.scheme == "https":
            import ssl

            context = ssl.create_default_context()
            connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read(64 * 1024)
            status = response.status
        except TimeoutError:
            raise SendError(f"no answer within {timeout:g}s", retry=True) from None
        except (OSError, http.client.HTTPException) as exc:
            raise SendError(_reason(exc), retry=True) from None
        finally:
            connection.close()
        if 200 <= status < 300:
            return
        raise SendError(f"HTTP {status}", retry=status in RETRY_STATUSES)


def _reason(exc: BaseException) -> str:
    """A short reason that holds no URL (an ``OSError``'s text may name the address)."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, socket.gaierror):
        return "cannot resolve the host name"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__
