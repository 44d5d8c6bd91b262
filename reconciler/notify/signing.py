"""HMAC-SHA256 signatures of webhook deliveries, and their verification (for receivers and
tests).

The signed material is ``TIMESTAMP.BODY``: the decimal Unix time of the ``X-Reconcile-
Timestamp`` header, a dot, then the raw body bytes. Signing the timestamp with the body means a
captured delivery cannot be replayed later with a fresh timestamp; a receiver refuses a
timestamp older than its tolerance. The recipe is in docs/notifications.md.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Reconcile-Signature"
TIMESTAMP_HEADER = "X-Reconcile-Timestamp"
PREFIX = "sha256="
# How old a delivery a receiver should accept (seconds), as Stripe and Slack do.
DEFAULT_TOLERANCE = 300


def signature(key: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Reconcile-Signature`` value: ``sha256=`` and the hex HMAC of ``TIMESTAMP.BODY``."""
    material = str(timestamp).encode("ascii") + b"." + body
    return PREFIX + hmac.new(key, material, hashlib.sha256).hexdigest()


def verify(
    key: bytes,
    timestamp_header: str,
    signature_header: str,
    body: bytes,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> str | None:
    """None when the delivery is authentic and fresh, else why it is not."""
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        return "timestamp is not an integer"
    if abs(now - timestamp) > tolerance:
        return f"timestamp is {now - timestamp:.0f}s away from now (tolerance {tolerance:g}s)"
    if not hmac.compare_digest(signature(key, timestamp, body), signature_header.strip()):
        return "signature does not match"
    return None
