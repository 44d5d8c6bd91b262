"""Asking a registry for a tag's digest: reference parsing, challenges, insecure registries
(literal inputs, golden outputs), and the token flow against a real HTTP server on 127.0.0.1
that speaks the distribution API's Bearer challenge."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reconciler.runtime.docker.credentials import Credentials, registry_of
from reconciler.runtime.docker.registry import (
    Registry,
    RegistryError,
    _challenge_fields,
    insecure,
    split_reference,
)
from reconciler.values.observed import ImageInfo, repository_of

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("nginx", ("docker.io", "library/nginx", "latest")),
        ("nginx:1.27", ("docker.io", "library/nginx", "1.27")),
        ("acme/api:2", ("docker.io", "acme/api", "2")),
        ("ghcr.io/acme/api:2", ("ghcr.io", "acme/api", "2")),
        ("127.0.0.1:5055/t/app", ("127.0.0.1:5055", "t/app", "latest")),
        ("localhost/app:dev", ("localhost", "app", "dev")),
        ("registry:5000/app@sha256:00", ("registry:5000", "app", "")),
    ],
)
def test_references_split_as_the_docker_cli_splits_them(
    ref: str, expected: tuple[str, str, str]
) -> None:
    assert split_reference(ref) == expected


def test_repository_and_registry_of_a_reference() -> None:
    assert repository_of("127.0.0.1:5055/t/app:v1") == "127.0.0.1:5055/t/app"
    assert repository_of("127.0.0.1:5055/t/app") == "127.0.0.1:5055/t/app"
    assert repository_of("nginx@sha256:00") == "nginx"
    assert registry_of("nginx") == ("docker.io", "nginx")
    assert registry_of("my.registry/x") == ("my.registry", "x")


def test_the_local_digest_is_found_in_the_reference_repository() -> None:
    image = ImageInfo(
        id="sha256:1",
        repo_digests=("nginx@sha256:aa", "127.0.0.1:5055/t/app@sha256:bb"),
    )
    assert image.digest_in("docker.io/library/nginx:latest") == "sha256:aa"
    assert image.digest_in("nginx:1.27") == "sha256:aa"
    assert image.digest_in("127.0.0.1:5055/t/app:v1") == "sha256:bb"
    assert image.digest_in("127.0.0.1:5056/t/app:v1") == ""


def test_challenge_fields_keep_commas_inside_quotes() -> None:
    assert _challenge_fields(
        'realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/nginx:pull,push"'
    ) == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:library/nginx:pull,push",
    }


def test_insecure_registries_as_the_engine_judges_them() -> None:
    names, cidrs = frozenset({"reg.lan:5000"}), ("10.0.0.0/8",)
    assert insecure(names, cidrs, "127.0.0.1:5055")
    assert insecure(names, cidrs, "localhost:5000")
    assert insecure(names, cidrs, "reg.lan:5000")
    assert insecure(names, cidrs, "10.1.2.3:5000")
    assert not insecure(names, cidrs, "192.168.1.2:5000")
    assert not insecure(names, cidrs, "ghcr.io")


def test_credentials_never_show_in_their_repr() -> None:
    shown = repr(Credentials("r.example", "alice", "s3cret-pw", "tok"))
    assert "s3cret-pw" not in shown and "alice" not in shown and "tok" not in shown


class _TokenRegistry(BaseHTTPRequestHandler):
    """A registry that answers a HEAD with a Bearer challenge and hands out a token for the
    right Basic credentials (the distribution spec's token flow)."""

    def log_message(self, *_: object) -> None:
        pass

    def do_HEAD(self) -> None:
        if self.path == "/v2/lib/gone/manifests/1":
            self._answer(404)
        elif self.headers.get("Authorization") == "Bearer t0k":
            self._answer(200, {"Docker-Content-Digest": DIGEST})
        else:
            port = self.server.server_address[1]  # type: ignore[index]
            challenge = (
                f'Bearer realm="http://127.0.0.1:{port}/token",service="test",'
                'scope="repository:lib/app:pull"'
            )
            self._answer(401, {"WWW-Authenticate": challenge})

    def do_GET(self) -> None:
        good = "Basic " + base64.b64encode(b"alice:pw").decode()
        if self.path.startswith("/token?") and self.headers.get("Authorization") == good:
            body = b'{"token": "t0k"}'
            self._answer(200, {"Content-Length": str(len(body))}, body)
        else:
            self._answer(401)

    def _answer(
        self, status: int, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", "0")
        self.end_headers()
        if body:
            self.wfile.write(body)


@pytest.fixture
def token_registry() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenRegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_token_flow_gets_the_digest(token_registry: str) -> None:
    registry = Registry(credentials=lambda repo: Credentials(token_registry, "alice", "pw"))
    assert registry.digest(f"{token_registry}/lib/app:1") == DIGEST


def test_wrong_credentials_and_a_missing_tag_are_told_apart(token_registry: str) -> None:
    wrong = Registry(credentials=lambda repo: Credentials(token_registry, "alice", "nope"))
    with pytest.raises(RegistryError) as refused:
        wrong.digest(f"{token_registry}/lib/app:1")
    assert refused.value.reason == "unauthorized"
    assert "nope" not in str(refused.value)
    with pytest.raises(RegistryError) as missing:
        wrong.digest(f"{token_registry}/lib/gone:1")
    assert missing.value.reason == "not-found"


def test_a_registry_nobody_answers_for_is_unreachable() -> None:
    with pytest.raises(RegistryError) as caught:
        Registry(timeout=2).digest("127.0.0.1:9/x/y:1")
    assert caught.value.reason == "unreachable"
