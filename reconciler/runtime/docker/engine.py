"""The Engine connection: a lazy API client, a call counter, retries and error translation.

Every Engine call of the backend goes through ``Engine.call`` so that errors are translated in
one place (``translate_error``), transient ones are retried with bounded jittered backoff, and
``calls`` counts real Engine round-trips (one per attempt) for the benchmarks.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from reconciler.errors import (
    BackendError,
    EngineUnavailable,
    ImageNotFound,
    PermanentBackendError,
    TransientBackendError,
)
from reconciler.runtime.docker import addresses, client
from reconciler.values.desired import is_secret_name

T = TypeVar("T")

DEFAULT_TIMEOUT = 30
ATTEMPTS = 4
BACKOFF_INITIAL = 0.2
BACKOFF_MAX = 2.0


# 500s that repeat however often the same call is made: the container's own config is at fault
# (the OCI runtime refused it, a device or mount cannot be set up).
PERMANENT_500_MARKERS = (
    "oci runtime",
    "executable file not found",
    "no such file or directory",
    "not a shared or slave mount",
    "error gathering device information",
    "is not connected to",
)

# 404 explanations that mean the image, not the container or network, is missing (the
# docker SDK's list, which decided ImageNotFound before this client).
IMAGE_NOT_FOUND_MARKERS = (
    "no such image",
    "not found: does not exist or no pull access",
    "repository does not exist",
    "was found but does not match the specified platform",
)


class NotFoundError(PermanentBackendError):
    """The Engine answered 404; callers decide whether that means None, a no-op or an error."""


class NameInUse(PermanentBackendError):
    """The Engine refused a create because the name is taken (409)."""


# NAME=value as the Engine (and runc) echo environment variables in errors, bare or quoted
# with Go's escapes (``"DB_PASSWORD=a\x00b"``): the value runs to a quote, a blank or the end.
_ASSIGNMENT = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)=(?P<value>(?:\\.|[^\s\"'\\,;])+)")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret value replaced by ``***`` (longest first), also where the
    Engine echoes it escaped, and the value of every secret-looking ``NAME=value``."""
    forms = {form for secret in secrets if secret for form in (secret, *_escaped(secret))}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return _ASSIGNMENT.sub(
        lambda m: f"{m['name']}=***" if is_secret_name(m["name"]) else m[0], text
    )


def _escaped(secret: str) -> tuple[str, ...]:
    """How Go's ``%q``, JSON and Python's escapes spell ``secret`` inside a message."""
    go_form = "".join(_GO_ESCAPES.get(ch) or _go_char(ch) for ch in secret)
    json_form = json.dumps(secret)[1:-1]
    python_form = secret.encode("unicode_escape").decode("ascii")
    return tuple({go_form, json_form, python_form} - {secret})


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def _go_char(ch: str) -> str:
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch


def translate_error(
    exc: BaseException, what: str, host: str, secrets: Iterable[str] = ()
) -> BackendError:
    """The project's error for a client exception raised while trying to ``what``."""
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, client.ApiError):
        status = exc.status
        detail = redact(exc.message, secrets)
        message = f"cannot {what}: {detail} (HTTP {status})"
        if status == 404 and any(m in detail.lower() for m in IMAGE_NOT_FOUND_MARKERS):
            return ImageNotFound(message)
        if status == 404:
            return NotFoundError(message)
        if status == 409 and "in progress" in detail:
            return TransientBackendError(message)
        if status == 409 and "already in use" in detail:
            return NameInUse(message)
        if status >= 500 and not any(m in detail.lower() for m in PERMANENT_500_MARKERS):
            return TransientBackendError(message)
        return PermanentBackendError(message)
    if isinstance(exc, client.ConnectionFailed):
        return EngineUnavailable(f"cannot reach the Docker Engine at {host}: {_short(exc)}")
    if isinstance(exc, client.ResponseTimeout):
        return TransientBackendError(f"cannot {what}: the Docker Engine timed out ({_short(exc)})")
    return PermanentBackendError(f"cannot {what}: {redact(_short(exc), secrets)}")


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _retryable(exc: BaseException) -> bool:
    # An unreachable Engine is not retried here: a daemon restart outlasts the backoff, and the
    # loop retries the whole pass later; failing fast keeps `reconcile` start-up snappy.
    return isinstance(exc, TransientBackendError) and not isinstance(exc, EngineUnavailable)


class Engine:
    """A lazily connected ``client.Client`` with counting, translation and retries."""

    def __init__(
        self,
        environment: Mapping[str, str] | None = None,
        timeout: int = DEFAULT_TIMEOUT,
        attempts: int = ATTEMPTS,
        context: str | None = None,
    ) -> None:
        env = dict(os.environ if environment is None else environment)
        # The address is read now (files of the docker config and context store), its
        # problems reported on first use, as an unreachable Engine's are.
        self.address: addresses.Address | None = None
        self._address_error: addresses.AddressError | None = None
        try:
            self.address = addresses.from_env(env, context=context)
            self.host = self.address.describe()
        except addresses.AddressError as exc:
            self._address_error = exc
            self.host = env.get("DOCKER_HOST") or "the docker context's address"
        self.calls: Counter[str] = Counter()
        self._environment = env
        self._timeout = timeout
        self._attempts = attempts
        self._api: client.Client | None = None
        self._lock = threading.Lock()
        self._failed: tuple[float, EngineUnavailable] | None = None

    @property
    def api(self) -> client.Client:
        """The client, connected on first use (negotiating the API version is one Engine call).

        Threads that waited while a negotiation failed fail with it at once: against a hung
        Engine each would otherwise wait out its own timeout in turn (four lists, minutes)."""
        waited_since = time.monotonic()
        with self._lock:
            if self._failed is not None and self._failed[0] >= waited_since:
                raise self._failed[1]
            if self._api is None:
                self.calls["version"] += 1
                api: client.Client | None = None
                try:
                    if self._address_error is not None or self.address is None:
                        raise self._address_error or addresses.AddressError("no address")
                    api = client.Client(
                        self.address, timeout=self._timeout, environment=self._environment
                    )
                    api.negotiate()
                except (addresses.AddressError, client.ClientError) as exc:
                    if api is not None:
                        api.close()
                    # Whatever stops the negotiation (no socket, a bad DOCKER_HOST or docker
                    # context, an odd answer), the Engine cannot be used.
                    failure = EngineUnavailable(
                        f"cannot use the Docker Engine: {_short(exc)}"
                        if isinstance(exc, addresses.AddressError)
                        else f"cannot reach the Docker Engine at {self.host}: {_short(exc)}"
                    )
                    self._failed = (time.monotonic(), failure)
                    raise failure from exc
                self._failed = None
                self._api = api
            return self._api

    def call(
        self,
        what: str,
        key: str,
        fn: Callable[[client.Client], T],
        *,
        retry: bool = True,
        secrets: Iterable[str] = (),
    ) -> T:
        """Run ``fn(api)`` as one counted Engine call, translated, retried when transient."""
        secret_list = tuple(secrets)

        def attempt() -> T:
            api = self.api
            self.calls[key] += 1
            try:
                return fn(api)
            except Exception as exc:
                raise translate_error(exc, what, self.host, secret_list) from exc

        retrying = Retrying(
            # No retry once a call has used its timeout: against a hung Engine, four attempts
            # of 30 s each wedged a command for two minutes.
            stop=stop_after_attempt(self._attempts if retry else 1)
            | stop_after_delay(self._timeout),
            # Full jitter: a random wait up to 0.2 s, 0.4 s, 0.8 s... capped at 2 s.
            wait=wait_random_exponential(multiplier=BACKOFF_INITIAL, max=BACKOFF_MAX),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        return retrying(attempt)

    def close(self) -> None:
        """Close the kept-alive connections (a later call reconnects)."""
        with self._lock:
            if self._api is not None:
                self._api.close()
                self._api = None
