"""Real receivers on 127.0.0.1 for the notification tests: an HTTP server that records what is
POSTed to it (answering with a chosen status), a listener that accepts connections and never
answers, and a port nothing listens on."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Delivery:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        """The body, parsed."""
        return json.loads(self.body)


class Receiver:
    """An HTTP server recording every POST; it answers with ``statuses`` in turn (the last
    one for every request after)."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses or (204,))
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver._deliveries.append(
                        Delivery(self.path, dict(self.headers.items()), body, time.monotonic())
                    )
                    count = len(receiver._deliveries)
                    status = receiver.statuses[min(count, len(receiver.statuses)) - 1]
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def deliveries(self) -> list[Delivery]:
        """Everything received so far, in order."""
        with self._lock:
            return list(self._deliveries)

    def wait_for(
        self, predicate: Callable[[Delivery], bool], timeout: float = 20.0
    ) -> Delivery | None:
        """The first delivery matching ``predicate`` within ``timeout`` seconds, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for delivery in self.deliveries():
                if predicate(delivery):
                    return delivery
            time.sleep(0.05)
        return None

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


class Silent:
    """Accepts connections and never reads or answers: a hung receiver."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        """Close the listener and every held connection."""
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def receiver(*statuses: int) -> Iterator[Receiver]:
    """A ``Receiver`` for the duration of a ``with``."""
    found = Receiver(*statuses)
    try:
        yield found
    finally:
        found.close()


@contextmanager
def silent() -> Iterator[Silent]:
    """A ``Silent`` listener for the duration of a ``with``."""
    found = Silent()
    try:
        yield found
    finally:
        found.close()
