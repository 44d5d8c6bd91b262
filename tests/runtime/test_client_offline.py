"""The Engine API client without an Engine: a small fake Engine on a unix socket for what the
real one will not do on demand (dropped connections, slow answers, streams cut mid-object),
DOCKER_HOST and TLS parsing on literals, and small pure pieces."""

from __future__ import annotations

import base64
import http.server
import json
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import (
    EngineUnavailable,
    ImageNotFound,
    PermanentBackendError,
    TransientBackendError,
)
from reconciler.runtime.docker import addresses, client, engine, observing, translate
from reconciler.runtime.docker.addresses import Address, Tls

# -- no Engine at the address ---------------------------------------------------------------


def test_an_unreachable_socket_is_engine_unavailable_at_once() -> None:
    e = engine.Engine({"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    started = time.monotonic()
    with pytest.raises(
        EngineUnavailable,
        match=r"cannot reach the Docker Engine at unix:///nonexistent/docker.sock: .*No such file",
    ):
        e.call("read Engine info", "info", lambda api: api.get("/info"))
    assert time.monotonic() - started < 1
    assert e.calls == {"version": 1}  # not retried: the loop retries the whole pass later


def test_an_ssh_failure_says_what_ssh_said(tmp_path: Path) -> None:
    fake = tmp_path / "ssh"
    fake.write_text("#!/bin/sh\necho 'Host key verification failed.' >&2\nexit 255\n")
    fake.chmod(0o755)
    e = engine.Engine({"DOCKER_HOST": "ssh://deploy@build-host:2200", "PATH": str(tmp_path)})
    with pytest.raises(EngineUnavailable) as caught:
        e.call("read Engine info", "info", lambda api: api.get("/info"))
    assert str(caught.value) == (
        "cannot reach the Docker Engine at ssh://deploy@build-host:2200: the connection to the "
        "Engine broke: ssh to build-host port 2200 exited with status 255: "
        "Host key verification failed."
    )


# -- against a fake Engine -------------------------------------------------------------------


class FakeEngine(http.server.BaseHTTPRequestHandler):
    """Answers /_ping (with the Api-Version header, as the Engine does; a handler class with
    ``ping_header`` False leaves it out) and /version, and per path: ok, flaky (answered once
    per connection, then hung up on), close (answers, then closes without saying so), slow,
    error, stream, cut, and /images/create (notes the X-Registry-Auth header)."""

    protocol_version = "HTTP/1.1"
    requests_seen: list[str]
    ping_header = True

    def setup(self) -> None:
        super().setup()
        self.flaky = 0

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.answer()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.answer()

    def answer(self) -> None:
        self.requests_seen.append(f"{self.command} {self.path}")
        route = self.path.split("?")[0].removeprefix("/v1.41")
        if self.path == "/_ping":
            self.send_response(200)
            if self.ping_header:
                self.send_header("Api-Version", "1.41")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")
        elif self.path == "/version":
            self.json(200, {"ApiVersion": "1.41"})
        elif route == "/flaky" and self.flaky:
            self.close_connection = True  # hang up without an answer
        elif route in ("/ok", "/flaky"):
            self.flaky += route == "/flaky"
            self.json(200, {"ok": True})
        elif route == "/close":
            self.json(200, {"ok": True})
            self.close_connection = True
        elif route == "/slow":
            time.sleep(1.5)
            self.json(200, {})
        elif route == "/error":
            self.json(500, {"message": "boom: no such file or directory"})
        elif route == "/images/create":
            self.requests_seen.append(f"auth {self.headers.get('X-Registry-Auth')}")
            self.chunks([b'{"status": "Pulling"}\n', b'{"errorDetail": {"message": "denied"}}\n'])
        elif route == "/stream":
            # One object split across chunks, a two-byte character split too, an error object.
            self.chunks([b'{"a": 1}\n{"b"', b': 2}{"c": "\xc3', b'\xa9"}\r\n', b'{"error": "x"}'])
        elif route == "/cut":
            self.chunks([b'{"a": 1}{"b": '])
        else:
            self.json(404, {"message": f"page not found: {route}"})

    def json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def chunks(self, parts: list[bytes]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in parts:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.flush()
            time.sleep(0.05)
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True


class FakeServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[tuple[client.Client, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (FakeEngine,), {"requests_seen": seen})
    sock = str(tmp_path / "engine.sock")
    server = FakeServer(sock, handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    api = client.Client(Address(url=f"unix://{sock}", socket_path=sock), timeout=0.5)
    yield api, seen
    api.close()
    server.shutdown()
    server.server_close()


def test_a_kept_alive_connection_the_engine_dropped_is_reopened_for_a_get_only(
    fake: tuple[client.Client, list[str]],
) -> None:
    api, seen = fake
    assert api.get("/flaky") == {"ok": True}
    assert api.get("/flaky") == {"ok": True}  # hung up on the reused connection: sent again
    assert seen == ["GET /_ping", "GET /v1.41/flaky", "GET /v1.41/flaky", "GET /v1.41/flaky"]
    with pytest.raises(client.ConnectionFailed, match="the connection to the Engine broke"):
        api.post("/flaky")  # not idempotent: never sent twice


def test_a_connection_the_engine_closed_while_idle_is_not_reused(
    fake: tuple[client.Client, list[str]],
) -> None:
    api, seen = fake
    assert api.post("/close") == {"ok": True}
    time.sleep(0.1)
    assert api.post("/close") == {"ok": True}
    assert seen == ["GET /_ping", "POST /v1.41/close", "POST /v1.41/close"]


def test_the_api_version_comes_from_the_ping_header(
    fake: tuple[client.Client, list[str]],
) -> None:
    api, seen = fake
    assert api.negotiate() == "1.41"
    assert api.negotiate() == "1.41"  # asked once
    assert seen == ["GET /_ping"]


def test_an_engine_whose_ping_has_no_version_header_is_asked_for_its_version(
    tmp_path: Path,
) -> None:
    seen: list[str] = []
    handler = type("Handler", (FakeEngine,), {"requests_seen": seen, "ping_header": False})
    sock = str(tmp_path / "engine.sock")
    server = FakeServer(sock, handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = client.Client(Address(url=f"unix://{sock}", socket_path=sock), timeout=0.5)
    try:
        assert api.get("/ok") == {"ok": True}
        assert seen == ["GET /_ping", "GET /version", "GET /v1.41/ok"]
    finally:
        api.close()
        server.shutdown()
        server.server_close()


def test_queries_and_errors(fake: tuple[client.Client, list[str]]) -> None:
    api, seen = fake
    api.get("/ok", {"all": True, "size": False, "t": 3, "skip": None, "name": "a b/c"})
    assert seen[-1] == "GET /v1.41/ok?all=1&size=0&t=3&name=a+b%2Fc"
    with pytest.raises(client.ApiError, match="page not found") as missing:
        api.get(client.path("/containers/{}/json", "a b/c:d"))
    assert missing.value.status == 404
    assert seen[-1] == "GET /v1.41/containers/a%20b/c:d/json"
    with pytest.raises(client.ApiError, match="boom") as caught:
        api.get("/error")
    assert caught.value.status == 500
    translated = engine.translate_error(caught.value, "do it", "unix:///x")
    assert isinstance(translated, PermanentBackendError)  # a PERMANENT_500_MARKERS message
    assert str(translated) == "cannot do it: boom: no such file or directory (HTTP 500)"


def test_a_slow_answer_times_out_as_a_transient_error(
    fake: tuple[client.Client, list[str]],
) -> None:
    api, _ = fake
    started = time.monotonic()
    with pytest.raises(client.ResponseTimeout, match=r"no answer within 0.5 s") as caught:
        api.get("/slow")
    assert time.monotonic() - started < 1.2
    translated = engine.translate_error(caught.value, "list containers", "unix:///x")
    assert type(translated) is TransientBackendError
    assert api.get("/slow", timeout=3) == {}


def test_a_stream_yields_objects_however_the_chunks_cut_them(
    fake: tuple[client.Client, list[str]],
) -> None:
    api, _ = fake
    assert list(api.stream("GET", "/stream")) == [{"a": 1}, {"b": 2}, {"c": "é"}, {"error": "x"}]
    with pytest.raises(client.ClientError, match="ended inside a value"):
        list(api.stream("GET", "/cut"))
    with pytest.raises(client.ApiError, match="page not found"):
        api.stream("GET", "/nowhere")


def test_a_pull_sends_the_registry_credentials_of_the_docker_config(
    fake: tuple[client.Client, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, seen = fake
    config = tmp_path / "docker-config"
    config.mkdir()
    secret = base64.b64encode(b"deploy:s3cret").decode()
    auths = {"auths": {"registry.local:5000": {"auth": secret}}}
    (config / "config.json").write_text(json.dumps(auths))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))

    progress = list(api.pull("registry.local:5000/team/app", "v2"))
    assert [observing.pull_failure(item) for item in progress] == ["", "denied"]
    assert (
        seen[-2] == "POST /v1.41/images/create?fromImage=registry.local%3A5000%2Fteam%2Fapp&tag=v2"
    )
    header = seen[-1].removeprefix("auth ")
    sent = json.loads(base64.urlsafe_b64decode(header))
    assert (sent["username"], sent["password"]) == ("deploy", "s3cret")
    assert sent["serveraddress"] == "registry.local:5000"

    list(api.pull("elsewhere.example/app", "latest"))  # no credentials: no header
    assert seen[-1] == "auth None"


# -- addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", Address(url="unix:///var/run/docker.sock", socket_path="/var/run/docker.sock")),
        ("unix://", Address(url="unix:///var/run/docker.sock", socket_path="/var/run/docker.sock")),
        (
            "unix:///run/user/1000/docker.sock",
            Address(url="", socket_path="/run/user/1000/docker.sock"),
        ),
        ("unix://var/run/docker.sock", Address(url="", socket_path="/var/run/docker.sock")),
        ("tcp://10.0.0.5:2375", Address(url="", host="10.0.0.5", port=2375)),
        ("tcp://engine.example:2375/", Address(url="", host="engine.example", port=2375)),
        ("http://[::1]:2375", Address(url="", host="::1", port=2375)),
        ("tcp://:2375", Address(url="", host="127.0.0.1", port=2375)),
        ("10.0.0.5:2375", Address(url="", host="10.0.0.5", port=2375)),
        ("localhost:2375", Address(url="", host="localhost", port=2375)),
        (
            "https://engine.example:2376",
            Address(url="", host="engine.example", port=2376, tls=Tls(verify=True)),
        ),
    ],
)
def test_docker_host_forms(url: str, expected: Address) -> None:
    address = addresses.from_env({"DOCKER_HOST": url})
    assert address.socket_path == expected.socket_path
    assert (address.host, address.port, address.tls) == (expected.host, expected.port, expected.tls)
    assert address.url == (expected.url or url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("tcp://engine.example", "names no port"),
        ("tcp://engine.example:http", "Port could not be cast"),
        ("tcp://engine.example:2375/v1.41", "not of the form tcp://host:port"),
        ("tcp://engine.example:2375?tls=1", "not of the form tcp://host:port"),
        ("npipe:////./pipe/docker_engine", "npipe:// is not supported"),
        ("ssh://me:secret@engine.example", "a password in an ssh URL is not supported"),
        ("ssh://engine.example?x=1", "takes no query or fragment"),
        ("ssh://", "names no host"),
        ("fd://", "fd:// is not supported"),
    ],
)
def test_docker_host_refusals(url: str, message: str) -> None:
    with pytest.raises(addresses.AddressError, match=message):
        addresses.from_env({"DOCKER_HOST": url})


def pem_dir(directory: Path, *names: str) -> Path:
    directory.mkdir()
    for name in names:
        (directory / name).write_text("not checked here\n")
    return directory


def test_tls_from_the_environment(tmp_path: Path) -> None:
    certs = pem_dir(tmp_path / "certs", "ca.pem", "cert.pem", "key.pem")
    verified = addresses.from_env(
        {
            "DOCKER_HOST": "tcp://engine:2376",
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": str(certs),
        }
    )
    assert verified.tls == Tls(
        verify=True,
        ca_file=str(certs / "ca.pem"),
        cert_file=str(certs / "cert.pem"),
        key_file=str(certs / "key.pem"),
    )
    # DOCKER_CERT_PATH alone: TLS with the client certificate, the Engine's not checked.
    unverified = addresses.from_env(
        {"DOCKER_HOST": "tcp://engine:2376", "DOCKER_CERT_PATH": str(certs)}
    )
    assert unverified.tls == Tls(
        verify=False, cert_file=str(certs / "cert.pem"), key_file=str(certs / "key.pem")
    )
    # An empty DOCKER_TLS_VERIFY is false; without DOCKER_CERT_PATH that means plain tcp.
    plain = addresses.from_env({"DOCKER_HOST": "tcp://engine:2375", "DOCKER_TLS_VERIFY": ""})
    assert plain.tls is None
    # TLS settings do not apply to a unix socket.
    local = addresses.from_env({"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/nowhere"})
    assert (local.socket_path, local.tls) == ("/var/run/docker.sock", None)


def test_tls_files_default_to_the_home_docker_directory(tmp_path: Path) -> None:
    pem_dir(tmp_path / ".docker", "ca.pem", "cert.pem", "key.pem")
    address = addresses.from_env(
        {"DOCKER_HOST": "tcp://engine:2376", "DOCKER_TLS_VERIFY": "1"}, home=str(tmp_path)
    )
    assert address.tls is not None
    assert address.tls.ca_file == str(tmp_path / ".docker" / "ca.pem")


def test_missing_tls_files_are_named(tmp_path: Path) -> None:
    certs = pem_dir(tmp_path / "certs", "cert.pem")
    with pytest.raises(addresses.AddressError, match=r"ca.pem, .*key.pem does not exist"):
        addresses.from_env(
            {
                "DOCKER_HOST": "tcp://engine:2376",
                "DOCKER_TLS_VERIFY": "1",
                "DOCKER_CERT_PATH": str(certs),
            }
        )


def test_unreadable_tls_files_are_an_unavailable_engine(tmp_path: Path) -> None:
    certs = pem_dir(tmp_path / "certs", "ca.pem", "cert.pem", "key.pem")
    e = engine.Engine(
        {
            "DOCKER_HOST": "tcp://127.0.0.1:1",
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": str(certs),
        }
    )
    with pytest.raises(EngineUnavailable, match="cannot use the TLS files"):
        e.call("read Engine info", "info", lambda api: api.get("/info"))


# -- small pure pieces ---------------------------------------------------------------------


def test_no_module_of_reconcile_loads_the_sdk_requests_or_urllib3() -> None:
    """What import-linter cannot see: an import inside a function is fine, one at module
    level (here or in anything imported) costs every start ~180 ms."""
    code = (
        "import importlib, pkgutil, sys, reconciler\n"
        "for found in pkgutil.walk_packages(reconciler.__path__, 'reconciler.'):\n"
        "    importlib.import_module(found.name)\n"
        "print(sorted(n for n in ('docker', 'requests', 'urllib3') if n in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("busybox", ("busybox", "latest")),
        ("busybox:1.36", ("busybox", "1.36")),
        ("registry.local:5000/team/app", ("registry.local:5000/team/app", "latest")),
        ("registry.local:5000/team/app:v2", ("registry.local:5000/team/app", "v2")),
        ("app@sha256:0123abcd", ("app", "sha256:0123abcd")),
        ("app:v2@sha256:0123abcd", ("app:v2", "sha256:0123abcd")),
    ],
)
def test_what_a_pull_asks_for(ref: str, expected: tuple[str, str]) -> None:
    assert translate.repository_and_tag(ref) == expected


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (404, "No such image: x:1", ImageNotFound),
        (404, "pull access denied for x, repository does not exist", ImageNotFound),
        (404, "No such container: x", engine.NotFoundError),
        (409, "removal of container x is already in progress", TransientBackendError),
        (409, 'Conflict. The container name "/x" is already in use', engine.NameInUse),
        (409, "conflict: unable to delete", PermanentBackendError),
        (500, "driver failed programming external connectivity", TransientBackendError),
        (500, "OCI runtime create failed: exec format error", PermanentBackendError),
        (400, "invalid reference format", PermanentBackendError),
    ],
)
def test_api_errors_are_translated_by_status_and_message(
    status: int, message: str, kind: type[Exception]
) -> None:
    translated = engine.translate_error(client.ApiError(status, message), "act", "unix:///x")
    assert type(translated) is kind
    assert str(translated) == f"cannot act: {message} (HTTP {status})"


def test_secret_values_are_masked_also_where_the_engine_echoes_them_escaped() -> None:
    # What runc says through the Engine when an env value holds a NUL, verbatim.
    said = (
        "failed to create shim task: OCI runtime create failed: environment variable value "
        'can\'t contain null(\\x00): "DB_PASSWORD=hunter2\\x00xyz": unknown'
    )
    translated = engine.translate_error(client.ApiError(500, said), "start", "unix:///x")
    assert "hunter2" not in str(translated) and '"DB_PASSWORD=***"' in str(translated)
    # Known values are masked in every spelling; other NAME=value pairs are left alone.
    assert engine.redact('a "p\\x07q\\n" b', ["p\aq\n"]) == 'a "***" b'
    assert engine.redact('{"v":"p\\u0000q"}', ["p\x00q"]) == '{"v":"***"}'
    assert engine.redact("API_TOKEN=abc MODE=fast", []) == "API_TOKEN=*** MODE=fast"
