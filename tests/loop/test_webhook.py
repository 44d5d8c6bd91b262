"""The webhook's authorization: a GitHub/Gitea HMAC of the exact body, or the plain token;
anything else is refused. And the endpoint itself, in-process on a free local port."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import threading
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
