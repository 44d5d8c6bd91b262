"""The Engine connection: a lazy low-level client, a call counter, retries and error translation.

Every Engine call of the backend goes through ``Engine.call`` so that errors are translated in
one place (``translate_error``), transient ones are retried with bounded jittered backoff, and
``calls`` counts real Engine round-trips (one per attempt) for the benchmarks.
"""

from __future__ import annotations

import os
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import docker
import docker.errors
import docker.utils
import requests.exceptions
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from reconciler.errors import (
    BackendError,
    EngineUnavailable,
    ImageNotFound,
    PermanentBackendError,
    TransientBackendError,
)

T = TypeVar("T")

DEFAULT_HOST = "unix:///var/run/docker.sock"
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


class NotFoundError(PermanentBackendError):
    """The Engine answered 404; callers decide whether that means None, a no-op or an error."""


class NameInUse(PermanentBackendError):
    """The Engine refused a create because the name is taken (409)."""


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced by ``***`` (longest first)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def translate_error(
    exc: BaseException, what: str, host: str, secrets: Iterable[str] = ()
) -> BackendError:
    """The project's error for an SDK/transport exception raised while trying to ``what``."""
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, docker.errors.APIError):
        status = exc.status_code or 0
        detail = redact(str(exc.explanation or exc), secrets)
        message = f"cannot {what}: {detail} (HTTP {status})"
        if isinstance(exc, docker.errors.ImageNotFound) or (
            status == 404 and "no such image" in detail.lower()
        ):
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
    # requests' exceptions are OSErrors too: they go first.
    if isinstance(exc, requests.exceptions.ConnectionError):
        return EngineUnavailable(f"cannot reach the Docker Engine at {host}: {_short(exc)}")
    if isinstance(exc, requests.exceptions.Timeout):
        return TransientBackendError(f"cannot {what}: the Docker Engine timed out ({_short(exc)})")
    if isinstance(exc, requests.exceptions.RequestException):
        return PermanentBackendError(f"cannot {what}: {redact(_short(exc), secrets)}")
    if isinstance(exc, socket.error):
        return EngineUnavailable(f"cannot reach the Docker Engine at {host}: {_short(exc)}")
    if isinstance(exc, docker.errors.DockerException):
        # Raised while building the client: version negotiation failed or DOCKER_HOST is bad.
        return EngineUnavailable(f"cannot reach the Docker Engine at {host}: {_short(exc)}")
    return PermanentBackendError(f"cannot {what}: {redact(_short(exc), secrets)}")


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _retryable(exc: BaseException) -> bool:
    # An unreachable Engine is not retried here: a daemon restart outlasts the backoff, and the
    # loop retries the whole pass later; failing fast keeps `reconcile` start-up snappy.
    return isinstance(exc, TransientBackendError) and not isinstance(exc, EngineUnavailable)


class Engine:
    """A lazily connected ``docker.APIClient`` with counting, translation and retries."""

    def __init__(
        self,
        environment: Mapping[str, str] | None = None,
        timeout: int = DEFAULT_TIMEOUT,
        attempts: int = ATTEMPTS,
    ) -> None:
        env = dict(os.environ if environment is None else environment)
        self.host = env.get("DOCKER_HOST") or DEFAULT_HOST
        self.calls: Counter[str] = Counter()
        self._environment = env
        self._timeout = timeout
        self._attempts = attempts
        self._api: docker.APIClient | None = None
        self._lock = threading.Lock()

    @property
    def api(self) -> docker.APIClient:
        """The client, connected on first use (negotiating the API version is one Engine call)."""
        with self._lock:
            if self._api is None:
                self.calls["version"] += 1
                try:
                    kwargs = docker.utils.kwargs_from_env(environment=self._environment)
                    self._api = docker.APIClient(version="auto", timeout=self._timeout, **kwargs)
                except Exception as exc:
                    raise translate_error(exc, "connect", self.host) from exc
            return self._api

    def call(
        self,
        what: str,
        key: str,
        fn: Callable[[docker.APIClient], T],
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
            stop=stop_after_attempt(self._attempts if retry else 1),
            # Full jitter: a random wait up to 0.2 s, 0.4 s, 0.8 s... capped at 2 s.
            wait=wait_random_exponential(multiplier=BACKOFF_INITIAL, max=BACKOFF_MAX),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        return retrying(attempt)

    def close(self) -> None:
        """Close the connection pool (a later call reconnects)."""
        with self._lock:
            if self._api is not None:
                self._api.close()
                self._api = None


def raw_post(api: docker.APIClient, path: str, body: Mapping[str, Any], *idents: str) -> Any:
    """POST a raw JSON body, exactly as built by ``translate``.

    The SDK's wrappers drop fields we need (its update lacks NanoCpus and PidsLimit); its
    private helpers build the URL and check the answer exactly as its public methods do.
    """
    client: Any = api
    response = client._post_json(client._url(path, *idents), data=dict(body))
    client._raise_for_status(response)
    return response.json() if response.content else None
