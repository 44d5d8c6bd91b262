"""A small Docker Engine API client on the standard library: the backend's only HTTP code.

The docker SDK (with requests and urllib3) cost ~180 ms of every ``reconcile`` start-up
(docs/decisions/engine-client.md); this client speaks the few endpoints the backend uses.
It knows the wire: JSON in and out, the API version prefix, keep-alive connections shared by
threads, streams of JSON objects; ``addresses`` says where the Engine is. What an error means
to reconcile is decided in ``engine.translate_error``; a request raises ``ClientError``s only.
"""

from __future__ import annotations

import codecs
import contextlib
import http.client
import json
import select
import socket
import threading
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.runtime.docker import addresses, connections

DEFAULT_TIMEOUT = 30.0
# The applier runs 16 steps at once; more idle connections than that would only sit there.
MAX_IDLE = 16
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
STREAM_READ = 64 * 1024
USER_AGENT = "reconcile"
Params = Mapping[str, str | int | bool | None]


class ClientError(Exception):
    """Base of this module's errors."""


class ConnectionFailed(ClientError):
    """No connection to the Engine could be made, or it broke before the answer was read."""


class ResponseTimeout(ClientError):
    """The Engine took the request but did not answer in time."""


class ApiError(ClientError):
    """The Engine answered with an HTTP error; ``message`` is its own explanation."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def path(template: str, *idents: str) -> str:
    """``template`` with each ``{}`` replaced by an ident, quoted for a URL path."""
    return template.format(*(urllib.parse.quote(i, safe="/:") for i in idents))


def encode_filters(filters: Mapping[str, Iterable[str]]) -> str:
    """The ``filters`` query parameter: a JSON object of lists of strings."""
    return json.dumps({key: list(values) for key, values in filters.items()})


@dataclass(frozen=True)
class _Answer:
    status: int
    reason: str
    body: bytes
    content_type: str
    api_version: str = ""  # the Engine's ``Api-Version`` header (every answer carries it)


class Client:
    """One Engine's API over keep-alive connections; safe to share between threads.

    Idle connections wait in a small pool; a connection the Engine has closed meanwhile is
    dropped before use, and an idempotent request whose kept-alive connection breaks is sent
    once more on a new one. Every path is prefixed with the API version the Engine reports
    (``negotiate``, done once on first use).
    """

    def __init__(
        self,
        address: addresses.Address,
        timeout: float = DEFAULT_TIMEOUT,
        max_idle: int = MAX_IDLE,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.address = address
        self._environment = environment  # an ssh process's (its agent, HOME); None: ours
        self._ssh_slots = (
            threading.BoundedSemaphore(connections.SSH_CONNECTIONS) if address.ssh else None
        )
        self.timeout = timeout
        self._max_idle = max_idle
        self._context = addresses.ssl_context(address.tls) if address.tls else None
        self._idle: list[http.client.HTTPConnection] = []
        self._idle_lock = threading.Lock()
        self._version_lock = threading.Lock()
        self._version: str | None = None

    @property
    def api_version(self) -> str | None:
        """The negotiated API version, None before ``negotiate``."""
        return self._version

    def negotiate(self) -> str:
        """The Engine's API version, asked once: the ``Api-Version`` header of ``GET /_ping``
        (as the docker CLI negotiates; ~0.5 ms where ``/version`` takes ~10 ms, since the
        Engine gathers its components' versions for it), else ``/version``'s ``ApiVersion``."""
        with self._version_lock:
            if self._version is None:
                ping = self._exchange("GET", "/_ping", None, {}, self.timeout)
                version = ping.api_version if ping.status == 200 else ""
                if not version:
                    answer = self._decode(self._exchange("GET", "/version", None, {}, self.timeout))
                    found = answer.get("ApiVersion") if isinstance(answer, dict) else None
                    version = found if isinstance(found, str) else ""
                if not version:
                    raise ClientError("the Engine's /version answer has no ApiVersion")
                self._version = version
            return self._version

    def get(self, path: str, params: Params | None = None, *, timeout: float | None = None) -> Any:
        """GET ``path``; the decoded JSON answer."""
        return self.request("GET", path, params=params, timeout=timeout)

    def post(
        self,
        path: str,
        body: Mapping[str, Any] | None = None,
        params: Params | None = None,
        *,
        timeout: float | None = None,
    ) -> Any:
        """POST ``body`` as JSON (or nothing); the decoded JSON answer, None when empty."""
        return self.request("POST", path, params=params, body=body, timeout=timeout)

    def delete(self, path: str, params: Params | None = None) -> Any:
        """DELETE ``path``."""
        return self.request("DELETE", path, params=params)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """One API call; raises ``ApiError`` for an HTTP error, other ``ClientError``s when
        the Engine cannot be reached or does not answer within ``timeout`` seconds."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        payload = None if body is None else json.dumps(body).encode()
        answer = self._exchange(
            method, self._url(path, params), payload, headers, timeout or self.timeout
        )
        return self._decode(answer)

    def stream(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> JsonStream:
        """Start a call whose answer is a stream of JSON objects (events, pull progress, a
        build's log); ``body`` is sent as it is (a build context's tar).

        The stream has a connection of its own and no read timeout: it may stay quiet for
        as long as nothing happens. ``JsonStream.close`` ends it from any thread."""
        url = self._url(path, params)
        with self._in_flight(self.timeout):  # the set-up only: a stream may last for hours
            connection = self._connect(self.timeout)
            connection.sock.settimeout(None)
            try:
                connection.request(
                    method, url, body=body, headers={"User-Agent": USER_AGENT, **(headers or {})}
                )
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                why = connections.failure(connection) or _describe(exc)
                connection.close()
                raise ConnectionFailed(f"the connection to the Engine broke: {why}") from exc
        if response.status >= 400:
            body = response.read()
            connection.close()
            raise ApiError(response.status, _message(body, response.reason))
        return JsonStream(connection, response)

    def pull(self, repository: str, tag: str, platform: str | None = None) -> JsonStream:
        """``POST /images/create``: pull ``repository:tag`` (or ``repository@sha256:..``
        when ``tag`` is a digest); the stream reports progress.

        The registry credentials come from the docker CLI's config (and credential helpers),
        read by ``credentials`` only now: pulls are rare, and the docker SDK's import is what
        this client exists to avoid on every start."""
        from reconciler.runtime.docker import credentials

        headers: dict[str, str] = {}
        try:
            found = credentials.for_repository(repository)
        except credentials.CredentialsError as exc:
            raise ClientError(str(exc)) from None
        if found:
            headers["X-Registry-Auth"] = found.engine_header()
        return self.stream(
            "POST",
            "/images/create",
            params={"fromImage": repository, "tag": tag}
            | ({"platform": platform} if platform else {}),
            headers=headers,
        )

    def close(self) -> None:
        """Close the idle connections (later calls open new ones)."""
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    # -- the wire ----------------------------------------------------------------------------

    def _url(self, path: str, params: Params | None) -> str:
        url = f"/v{self.negotiate()}{path}"
        query = {
            key: ("1" if value else "0") if isinstance(value, bool) else str(value)
            for key, value in (params or {}).items()
            if value is not None
        }
        return f"{url}?{urllib.parse.urlencode(query)}" if query else url

    def _exchange(
        self,
        method: str,
        url: str,
        payload: bytes | None,
        headers: Mapping[str, str],
        timeout: float,
    ) -> _Answer:
        headers = {"User-Agent": USER_AGENT, **headers}
        with self._in_flight(timeout):
            return self._attempts(method, url, payload, headers, timeout)

    def _attempts(
        self,
        method: str,
        url: str,
        payload: bytes | None,
        headers: Mapping[str, str],
        timeout: float,
    ) -> _Answer:
        for fresh in (False, True):
            connection, reused = self._acquire(timeout, fresh)
            try:
                connection.request(method, url, body=payload, headers=headers)
                response = connection.getresponse()
                body = response.read()
            except TimeoutError as exc:
                connection.close()
                raise ResponseTimeout(f"no answer within {timeout:g} s") from exc
            except (OSError, http.client.HTTPException) as exc:
                if reused and not fresh and method in IDEMPOTENT:
                    connection.close()
                    continue  # the Engine closed the kept-alive connection; once more on a new one
                why = connections.failure(connection) or _describe(exc)
                connection.close()
                raise ConnectionFailed(f"the connection to the Engine broke: {why}") from exc
            if response.will_close:
                connection.close()
            else:
                self._release(connection)
            return _Answer(
                response.status,
                response.reason,
                body,
                response.getheader("Content-Type") or "",
                response.getheader("Api-Version") or "",
            )
        raise AssertionError("unreachable: the second attempt returns or raises")

    @contextlib.contextmanager
    def _in_flight(self, timeout: float) -> Iterator[None]:
        """Hold one of the ssh request slots (``connections.SSH_CONNECTIONS``) meanwhile."""
        slots = self._ssh_slots
        if slots is None:
            yield
            return
        if not slots.acquire(timeout=timeout):
            raise ConnectionFailed(
                f"all {connections.SSH_CONNECTIONS} ssh connections stayed busy for {timeout:g} s"
            )
        try:
            yield
        finally:
            slots.release()

    def _acquire(self, timeout: float, fresh: bool) -> tuple[http.client.HTTPConnection, bool]:
        while not fresh:
            with self._idle_lock:
                if not self._idle:
                    break
                connection = self._idle.pop()
            if _open(connection.sock):
                connection.sock.settimeout(timeout)
                return connection, True
            connection.close()
        return self._connect(timeout), False

    def _release(self, connection: http.client.HTTPConnection) -> None:
        with self._idle_lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(connection)
                return
        connection.close()

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        try:
            connection = connections.open_connection(
                self.address, self._context, timeout, self._environment
            )
        except TimeoutError as exc:
            raise ConnectionFailed(
                f"no connection to {self._where()} within {timeout:g} s"
            ) from exc
        except OSError as exc:
            raise ConnectionFailed(f"cannot connect to {self._where()}: {_describe(exc)}") from exc
        return connection

    def _where(self) -> str:
        address = self.address
        if address.socket_path:
            return address.socket_path
        return address.url if address.ssh else f"{address.host}:{address.port}"

    def _decode(self, answer: _Answer) -> Any:
        if answer.status >= 400:  # 304 (already started, already stopped) is a success
            raise ApiError(answer.status, _message(answer.body, answer.reason))
        if not answer.body:
            return None
        if "json" not in answer.content_type:
            return answer.body.decode("utf-8", "replace")
        try:
            return json.loads(answer.body)
        except ValueError as exc:
            raise ClientError(f"the Engine answered malformed JSON: {_describe(exc)}") from exc


class JsonStream:
    """The JSON objects of a streamed answer, in order, as they arrive.

    Iterate once. ``close`` may be called from any thread: it shuts the socket down, which
    ends a blocked read at once and the iteration quietly. A connection that breaks
    otherwise raises ``ConnectionFailed``.
    """

    def __init__(
        self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse
    ) -> None:
        self._connection = connection
        self._response = response
        self._closed = threading.Event()
        self._iterating = False

    def __iter__(self) -> Iterator[Any]:
        self._iterating = True
        decoder = json.JSONDecoder()
        text = codecs.getincrementaldecoder("utf-8")("replace")
        buffered = ""
        try:
            while True:
                try:
                    chunk = self._response.read1(STREAM_READ)
                except (OSError, ValueError, http.client.HTTPException) as exc:
                    # ValueError: a chunk-size line cut short by a shutdown.
                    if self._closed.is_set():
                        return
                    raise ConnectionFailed(f"the Engine's stream broke: {_describe(exc)}") from exc
                if not chunk:
                    break
                buffered += text.decode(chunk)
                while buffered := buffered.lstrip():
                    try:
                        item, end = decoder.raw_decode(buffered)
                    except ValueError:
                        break  # an object cut in two: the rest is in a later chunk
                    buffered = buffered[end:]
                    yield item
            if buffered and not self._closed.is_set():
                raise ClientError(f"the Engine's stream ended inside a value: {buffered[:200]!r}")
        finally:
            self._connection.close()

    def close(self) -> None:
        """End the stream (from any thread)."""
        self._closed.set()
        sock = self._connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # closed already
                sock.shutdown(socket.SHUT_RDWR)
        if not self._iterating:
            self._connection.close()


def _open(sock: socket.socket | None) -> bool:
    """Whether a kept-alive connection is still usable: an idle socket with something to
    read has been closed by the Engine (or holds junk)."""
    if sock is None:
        return False
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return not poller.poll(0)
    except (OSError, ValueError):
        return False


def _message(body: bytes, reason: str) -> str:
    """The Engine's explanation of an error: its JSON ``message``, else the text, else the
    HTTP reason."""
    text = body.decode("utf-8", "replace").strip()
    try:
        decoded = json.loads(text)
    except ValueError:
        decoded = None
    if isinstance(decoded, dict) and decoded.get("message"):
        return str(decoded["message"])
    return text or reason


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
