"""A small webhook endpoint for ``reconcile sync``: a POST with the shared secret triggers a
fetch at once instead of waiting for the next interval.

It accepts GitHub/Gitea style ``X-Hub-Signature-256: sha256=<HMAC of the body>`` or a plain
``X-Reconcile-Token: <secret>`` header, compared in constant time. Bind it to a local address.

Whoever can reach the port can misbehave, so every connection is bounded: each read waits at
most ``timeout`` seconds and a whole request at most ``DEADLINE_FACTOR`` times that (a client
trickling bytes is cut off too), at most ``max_connections`` are served at once (more get a
503 without a thread), the body is at most ``MAX_BODY`` bytes with a valid ``Content-Length``.
What a client does wrong is answered or dropped, never printed as a traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from reconciler.loop.logs import LOGGER_NAME

MAX_BODY = 1024 * 1024
READ_TIMEOUT = 10.0
DEADLINE_FACTOR = 3
MAX_CONNECTIONS = 16
_BUSY = b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def authorized(secret: bytes, body: bytes, signature: str | None, token: str | None) -> bool:
    """True when the request carries a valid HMAC signature of ``body`` or the token itself.
    Headers are compared as bytes: compare_digest refuses str with non-ASCII characters."""
    if signature and signature.startswith("sha256="):
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))
    return token is not None and hmac.compare_digest(token.encode("utf-8", "replace"), secret)


def content_length(values: list[str]) -> int | None:
    """The body length the ``Content-Length`` headers give (0 when there is none), or None
    when it is not one plain decimal number: a sign, spaces, ``1_0``, non-ASCII digits, more
    digits than any real length has, or two headers that disagree."""
    if not values:
        return 0
    value = values[0]
    if len(set(values)) > 1 or not value.isascii() or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


class _Deadline(io.RawIOBase):
    """A socket read with a deadline for the whole request, on top of the per-read timeout."""

    def __init__(self, sock: socket.socket, timeout: float, deadline: float) -> None:
        self._sock = sock
        self._timeout = timeout
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request deadline passed")
        self._sock.settimeout(min(self._timeout, left))
        return self._sock.recv_into(buffer)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, max_connections: int) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(max_connections)
        self.log = logging.getLogger(LOGGER_NAME)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            # Busy: answer without a thread, and never wait on this client.
            try:
                request.settimeout(0)
                request.send(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that times out, resets or goes away is its own fault: one debug line. A bug
        # of ours is logged with its traceback, through the loop's log (not printed).
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            self.log.debug("webhook: connection dropped", extra={"error": str(error)})
        else:
            self.log.error("webhook: request failed", exc_info=True)


def serve(
    address: str,
    secret: bytes,
    on_push: Callable[[], None],
    *,
    timeout: float = READ_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
) -> ThreadingHTTPServer:
    """Serve ``POST /`` (any path) on ``host:port`` in a daemon thread; returns the server."""

    class Handler(BaseHTTPRequestHandler):
        def setup(self) -> None:
            super().setup()
            self.connection.settimeout(timeout)
            # The socket's own reader is replaced (closed, or the socket would stay open).
            self.rfile.close()
            deadline = time.monotonic() + timeout * DEADLINE_FACTOR
            self.rfile = io.BufferedReader(_Deadline(self.connection, timeout, deadline))

        def do_POST(self) -> None:
            length = content_length(self.headers.get_all("Content-Length") or [])
            if length is None:
                self.send_error(400, "invalid Content-Length")
                return
            if length > MAX_BODY:
                self.send_error(413, "body too large")
                return
            body = self.rfile.read(length)
            if len(body) < length:
                return  # the client went away mid-body: nobody to answer
            signature = self.headers.get("X-Hub-Signature-256")
            token = self.headers.get("X-Reconcile-Token")
            if not authorized(secret, body, signature, token):
                self.send_error(401, "bad or missing signature")
                return
            on_push()
            self.send_response(202)
            self.end_headers()
            self.wfile.write(b"fetch scheduled\n")

        def log_message(self, format: str, *args: object) -> None:
            return  # the loop logs what matters; no access log with client details

    host, _, port = address.rpartition(":")
    server = _Server((host.strip("[]") or "127.0.0.1", int(port)), Handler, max_connections)
    threading.Thread(target=server.serve_forever, name="webhook", daemon=True).start()
    return server
