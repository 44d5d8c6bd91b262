"""A small webhook endpoint for ``reconcile sync``: a POST with the shared secret triggers a
fetch at once instead of waiting for the next interval.

It accepts GitHub/Gitea style ``X-Hub-Signature-256: sha256=<HMAC of the body>`` or a plain
``X-Reconcile-Token: <secret>`` header, compared in constant time. Bind it to a local address.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1024 * 1024


def authorized(secret: bytes, body: bytes, signature: str | None, token: str | None) -> bool:
    """True when the request carries a valid HMAC signature of ``body`` or the token itself."""
    if signature and signature.startswith("sha256="):
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)
    return token is not None and hmac.compare_digest(token.encode(), secret)


def serve(address: str, secret: bytes, on_push: Callable[[], None]) -> ThreadingHTTPServer:
    """Serve ``POST /`` (any path) on ``host:port`` in a daemon thread; returns the server."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.send_error(413, "body too large")
                return
            body = self.rfile.read(length)
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
    server = ThreadingHTTPServer((host.strip("[]") or "127.0.0.1", int(port)), Handler)
    threading.Thread(target=server.serve_forever, name="webhook", daemon=True).start()
    return server
