"""Webhook signatures: a golden value (checked against ``openssl dgst -sha256 -hmac``) and
every way verification refuses a delivery."""

from __future__ import annotations

from reconciler.notify import signing

KEY = b"k3y"
BODY = b'{"kind":"rollback"}'
STAMP = 1700000000
# printf '1700000000.{"kind":"rollback"}' | openssl dgst -sha256 -hmac k3y
GOLDEN = "sha256=9a2712f81a363e834697c7a4345294dbed51323388c97977af42f8220b1bfad0"


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    assert signing.signature(KEY, STAMP, BODY) == GOLDEN


def test_verify_accepts_an_authentic_fresh_delivery() -> None:
    assert signing.verify(KEY, str(STAMP), GOLDEN, BODY, now=STAMP + 10) is None


def test_verify_refuses_tampering_replays_and_garbage() -> None:
    now = STAMP + 10
    assert signing.verify(KEY, str(STAMP), GOLDEN, BODY + b" ", now) == "signature does not match"
    assert signing.verify(b"other", str(STAMP), GOLDEN, BODY, now) == "signature does not match"
    # The same body and signature under a fresh timestamp: the timestamp is signed too.
    assert signing.verify(KEY, str(STAMP + 5), GOLDEN, BODY, now) == "signature does not match"
    assert signing.verify(KEY, str(STAMP), GOLDEN, BODY, now=STAMP + 301) == (
        "timestamp is 301s away from now (tolerance 300s)"
    )
    assert signing.verify(KEY, "soon", GOLDEN, BODY, now) == "timestamp is not an integer"
