"""Registry credentials as the docker CLI finds them: the docker config's ``auths``, its
``credsStore`` and ``credHelpers`` (``docker-credential-*`` programs), read through the docker
SDK's auth helpers. Imported only where a registry is spoken to (a pull, an update check):
the SDK's import is what start-up avoids (docs/decisions/engine-client.md).

Credentials are handed on, never printed: ``Credentials.__repr__`` hides them.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field


class CredentialsError(Exception):
    """The docker config or a credential helper could not be read."""


@dataclass(frozen=True)
class Credentials:
    """A user name and password (or an identity token) for one registry."""

    registry: str
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)

    def __bool__(self) -> bool:
        return bool(self.username or self.identity_token)

    def basic(self) -> str:
        """The ``Authorization: Basic`` value."""
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def engine_header(self) -> str:
        """The ``X-Registry-Auth`` header the Engine takes with a pull."""
        body: dict[str, str] = {"serveraddress": self.registry}
        if self.identity_token:
            body["identitytoken"] = self.identity_token
        else:
            body |= {"username": self.username, "password": self.password}
        return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()


def registry_of(repository: str) -> tuple[str, str]:
    """``(registry, path)`` of a repository name: ``nginx`` -> ``("docker.io", "nginx")``,
    ``127.0.0.1:5055/t/app`` -> ``("127.0.0.1:5055", "t/app")``, as the docker CLI splits."""
    first, slash, rest = repository.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "docker.io", repository


def for_repository(repository: str) -> Credentials:
    """The credentials the docker config gives ``repository``'s registry (empty when none)."""
    registry, _ = registry_of(repository)
    try:
        import docker.auth

        found = docker.auth.resolve_authconfig(docker.auth.load_config(), registry)
    except Exception as exc:
        # The helper's own message may quote what it was given; say only what failed.
        raise CredentialsError(
            f"cannot read the registry credentials for {registry}: {type(exc).__name__}"
        ) from None
    if not found:
        return Credentials(registry)
    return Credentials(
        registry,
        username=str(found.get("username") or found.get("Username") or ""),
        password=str(found.get("password") or found.get("Password") or ""),
        identity_token=str(found.get("IdentityToken") or found.get("identitytoken") or ""),
    )
