"""The webhook's authorization: a GitHub/Gitea HMAC of the exact body, or the plain token;
anything else is refused. And the endpoint itself, in-process on a free local port, with
well-behaved clients and, over raw sockets, with faulty ones."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import logging
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from reconciler.loop.webhook import MAX_BODY, authorized, serve

SECRET = b"webhook-shared-secret"
BODY = b'{"ref": "refs/heads/main", "after": "0123abcd"}'


def sign(body: bytes, secret: bytes = SECRET) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def test_a_correct_signature_of_the_body_is_authorized() -> None:
    assert authorized(SECRET, BODY, sign(BODY), None)
    assert authorized(SECRET, b"", sign(b""), None)


@pytest.mark.parametrize(
    "signature",
    [
        sign(BODY, b"another-secret"),
        sign(BODY + b" "),  # the signature of another body
        sign(BODY).upper().replace("SHA256=", "sha256="),  # hex digits must match exactly
        sign(BODY)[:-1],
        "sha256=",
        "sha256=" + "0" * 64,
    ],
)
def test_a_wrong_signature_is_refused(signature: str) -> None:
    assert not authorized(SECRET, BODY, signature, None)


def test_a_wrong_signature_is_refused_even_with_a_correct_token() -> None:
    # A request that signs must sign correctly; the token is no second chance.
    assert not authorized(SECRET, BODY, sign(BODY, b"x"), SECRET.decode())


def test_the_plain_token_is_authorized_and_nothing_else_is() -> None:
    assert authorized(SECRET, BODY, None, SECRET.decode())
    assert not authorized(SECRET, BODY, None, "webhook-shared-secreT")
    assert not authorized(SECRET, BODY, None, "")
    assert not authorized(SECRET, BODY, None, None)


def test_non_ascii_headers_are_refused_not_a_crash() -> None:
    assert not authorized(SECRET, BODY, "sha256=\u00e9" + "0" * 63, None)
    assert not authorized(SECRET, BODY, None, "webhook-shared-secr\u00e9t")


def test_a_sha1_signature_is_not_accepted_as_such() -> None:
    sha1 = "sha1=" + hmac.new(SECRET, BODY, hashlib.sha1).hexdigest()
    assert not authorized(SECRET, BODY, sha1, None)


class Pushes:
    def __init__(self) -> None:
        self.count = 0
        self.seen = threading.Event()

    def __call__(self) -> None:
        self.count += 1
        self.seen.set()


@pytest.fixture
def endpoint() -> Iterator[tuple[int, Pushes]]:
    pushes = Pushes()
    server = serve("127.0.0.1:0", SECRET, pushes)
    try:
        yield int(server.server_address[1]), pushes
    finally:
        server.shutdown()
        server.server_close()


def post(port: int, body: bytes, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/hooks/push", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_the_endpoint_accepts_a_signed_push_and_refuses_the_rest(
    endpoint: tuple[int, Pushes],
) -> None:
    port, pushes = endpoint
    assert post(port, BODY, {"X-Hub-Signature-256": sign(BODY + b"x")}) == 401
    assert post(port, BODY, {}) == 401
    assert post(port, BODY, {"X-Reconcile-Token": "nope"}) == 401
    assert pushes.count == 0

    assert post(port, BODY, {"X-Hub-Signature-256": sign(BODY)}) == 202
    assert pushes.seen.wait(5)
    assert post(port, b"", {"X-Reconcile-Token": SECRET.decode()}) == 202
    assert pushes.count == 2


def test_the_endpoint_refuses_a_body_over_the_limit_without_reading_it(
    endpoint: tuple[int, Pushes],
) -> None:
    port, pushes = endpoint
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("POST", "/")
        conn.putheader("Content-Length", str(MAX_BODY + 1))
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 413
    finally:
        conn.close()
    assert pushes.count == 0


# -- a client that misbehaves: raw sockets against the real server on 127.0.0.1 -------------

# The read timeout the faulty-client tests serve with; a connection must be gone well within
# ``CLOSED_WITHIN`` (bounded waits everywhere: a hung server fails the test, not CI).
TIMEOUT = 0.5
CLOSED_WITHIN = 10.0


@pytest.fixture
def strict() -> Iterator[tuple[int, Pushes]]:
    pushes = Pushes()
    server = serve("127.0.0.1:0", SECRET, pushes, timeout=TIMEOUT, max_connections=2)
    try:
        yield int(server.server_address[1]), pushes
    finally:
        server.shutdown()
        server.server_close()


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=CLOSED_WITHIN)
    sock.settimeout(CLOSED_WITHIN)
    return sock


def response(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by the timeout)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def raw_post(port: int, headers: str, body: bytes = b"") -> int:
    with connect(port) as sock:
        sock.sendall(f"POST / HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode() + body)
        return status_of(response(sock))


def test_an_idle_connection_is_closed_after_the_read_timeout(
    strict: tuple[int, Pushes],
) -> None:
    port, _ = strict
    with connect(port) as sock:
        started = time.monotonic()
        assert response(sock) == b"", "closed without a word: nothing was asked"
        assert time.monotonic() - started < CLOSED_WITHIN / 2


def test_a_client_trickling_its_request_is_cut_off(strict: tuple[int, Pushes]) -> None:
    port, pushes = strict
    request = b"POST / HTTP/1.1\r\nX-Padding: " + b"a" * 100
    with connect(port) as sock:
        started = time.monotonic()
        # One byte per 0.2 s: every read is within the timeout, the whole request is not.
        for byte in request:
            if select.select([sock], [], [], 0)[0]:
                break  # the server closed the connection
            try:
                sock.send(bytes([byte]))
            except OSError:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the server read a whole request sent at a trickle")
        assert time.monotonic() - started < CLOSED_WITHIN / 2
    assert pushes.count == 0


@pytest.mark.parametrize("length", ["-5", "abc", "1_0", "+5", "0x10", "\u0665", "9" * 40])
def test_an_invalid_content_length_is_a_400(strict: tuple[int, Pushes], length: str) -> None:
    port, pushes = strict
    headers = f"Content-Length: {length}\r\nX-Reconcile-Token: {SECRET.decode()}\r\n"
    with connect(port) as sock:
        sock.sendall(f"POST / HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        assert status_of(response(sock)) == 400
    assert pushes.count == 0


def test_a_signature_in_latin1_is_a_401(strict: tuple[int, Pushes]) -> None:
    port, _ = strict
    with connect(port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: sha256=\xe9\r\n\r\n")
        assert status_of(response(sock)) == 401


def test_two_content_lengths_that_disagree_are_a_400(strict: tuple[int, Pushes]) -> None:
    port, _ = strict
    assert raw_post(port, "Content-Length: 2\r\nContent-Length: 3\r\n", b"{}") == 400


def _handlers() -> int:
    """The request threads the webhook server runs (socketserver names them after their
    target); other tests' threads in this process do not count."""
    return sum("process_request_thread" in t.name for t in threading.enumerate())


def test_more_connections_than_the_bound_get_a_503_without_a_thread() -> None:
    # The idle clients hold their slots for the whole read timeout: long enough here that a
    # loaded host cannot let them go before the third client comes (a flake at 0.5 s).
    pushes = Pushes()
    server = serve("127.0.0.1:0", SECRET, pushes, timeout=2.0, max_connections=2)
    port = int(server.server_address[1])
    try:
        with connect(port) as first, connect(port) as second:
            # Both slots are taken once the server runs a thread for each idle client.
            deadline = time.monotonic() + CLOSED_WITHIN
            while _handlers() < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert _handlers() == 2
            with connect(port) as third:
                assert status_of(response(third)) == 503
            assert _handlers() == 2, "the third client got no thread"
            assert response(first) == response(second) == b""
        token = f"X-Reconcile-Token: {SECRET.decode()}\r\n"
        assert raw_post(port, token) == 202, "slots come back when connections end"
        assert pushes.count == 1
    finally:
        server.shutdown()
        server.server_close()


def test_a_dropped_connection_prints_no_traceback(
    strict: tuple[int, Pushes], capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="reconcile")
    port, pushes = strict
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"{" * 10
    # Half a body then a reset (SO_LINGER 0), and half a body then a plain close.
    with connect(port) as sock:
        sock.sendall(head)
        time.sleep(0.1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with connect(port) as sock:
        sock.sendall(head)
    deadline = time.monotonic() + CLOSED_WITHIN
    while not any("connection dropped" in r.getMessage() for r in caplog.records):
        if time.monotonic() > deadline:
            break  # a server that printed instead is caught below
        time.sleep(0.05)
    time.sleep(TIMEOUT * 2)  # the plain close: the server's read ends at once
    token = f"X-Reconcile-Token: {SECRET.decode()}\r\n"
    assert raw_post(port, token) == 202, "the server still serves"
    err = capfd.readouterr().err
    assert "Traceback" not in err, err
    assert pushes.count == 1
