"""What digest a tag has in its registry now: one manifest ``HEAD`` (the distribution API),
with the docker config's credentials, as Diun and the docker CLI ask it.

A ``HEAD`` is not a pull: Docker Hub does not count it against the pull rate limit, and it
moves no layers. The answer's ``Docker-Content-Digest`` is the digest the Engine records in
an image's ``RepoDigests`` when it pulls that tag (the index's digest for a multi-platform
image), so the two compare directly.

Authentication follows the registry's ``WWW-Authenticate`` challenge: ``Basic`` gets the
credentials; ``Bearer`` gets a token from the realm it names (with the credentials, or
anonymously). Registries the Engine treats as insecure (``127.0.0.0/8`` and those in its
``insecure-registries``) are spoken to over plain HTTP, the rest over HTTPS with the system's
CAs. Credentials and tokens are never part of an error message.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import ssl
import urllib.parse
from collections.abc import Callable, Mapping

from reconciler.runtime.docker.credentials import Credentials, CredentialsError, registry_of

TIMEOUT = 15.0
HUB = "registry-1.docker.io"
ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


class RegistryError(Exception):
    """The registry could not tell the digest; ``reason`` is one of ``unreachable``,
    ``unauthorized``, ``not-found`` or ``error`` (for status, metrics and backoff)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def split_reference(ref: str) -> tuple[str, str, str]:
    """``(registry, repository path, tag)`` of an image reference; the path gets Docker
    Hub's ``library/`` for official images. A digest reference has no tag to follow: ``""``."""
    name, at, _ = ref.partition("@")
    if at:
        registry, path = registry_of(name)
        return registry, _hub_path(registry, path), ""
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:
        repository, tag = name, "latest"
    registry, path = registry_of(repository)
    return registry, _hub_path(registry, path), tag


def _hub_path(registry: str, path: str) -> str:
    return f"library/{path}" if registry == "docker.io" and "/" not in path else path


def loopback(registry: str) -> bool:
    """True for a registry on this machine's loopback (insecure for the Engine by default)."""
    host = urllib.parse.urlsplit(f"//{registry}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def insecure(names: frozenset[str], cidrs: tuple[str, ...], registry: str) -> bool:
    """Whether the Engine speaks plain HTTP to ``registry``: named in its insecure
    registries, on the loopback, or an address in one of its insecure CIDRs."""
    if registry in names or loopback(registry):
        return True
    host = urllib.parse.urlsplit(f"//{registry}").hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    for cidr in cidrs:
        try:
            if address in ipaddress.ip_network(cidr, strict=False):
                return True
        except ValueError:
            continue
    return False


class Registry:
    """Asks registries for tags' digests; ``insecure(registry)`` says which to speak HTTP to,
    ``credentials(repository)`` finds the docker config's credentials."""

    def __init__(
        self,
        insecure: Callable[[str], bool] = loopback,
        credentials: Callable[[str], Credentials] | None = None,
        timeout: float = TIMEOUT,
    ) -> None:
        self.insecure = insecure
        self._credentials = credentials
        self.timeout = timeout

    def digest(self, ref: str) -> str:
        """The digest ``ref``'s tag has in its registry now (``sha256:...``)."""
        registry, path, tag = split_reference(ref)
        if not tag:
            raise RegistryError("error", f"{ref} names a digest, not a tag to follow")
        host = HUB if registry == "docker.io" else registry
        url_path = f"/v2/{path}/manifests/{urllib.parse.quote(tag, safe='')}"
        status, headers = self._head(host, url_path, {})
        if status == 401:
            creds = self._find_credentials(f"{registry}/{path}")
            authorization = self._authorize(
                host, headers.get("www-authenticate", ""), path, creds, ref
            )
            status, headers = self._head(host, url_path, {"Authorization": authorization})
            if status == 401:
                raise RegistryError(
                    "unauthorized",
                    f"{registry} refused the credentials for {ref}"
                    + ("" if creds else " (the docker config has none for it: docker login)"),
                )
        if status == 404:
            raise RegistryError("not-found", f"{registry} has no tag {tag!r} of {path}")
        if status in (403,):
            raise RegistryError("unauthorized", f"{registry} denies access to {path}")
        if status >= 400:
            raise RegistryError("error", f"{registry} answered HTTP {status} for {ref}")
        digest = headers.get("docker-content-digest", "")
        if not digest.startswith("sha256:"):
            raise RegistryError("error", f"{registry} gave no digest for {ref}")
        return digest

    # -- the wire ------------------------------------------------------------------------

    def _find_credentials(self, repository: str) -> Credentials:
        if self._credentials is None:
            from reconciler.runtime.docker.credentials import for_repository

            finder: Callable[[str], Credentials] = for_repository
        else:
            finder = self._credentials
        try:
            return finder(repository)
        except CredentialsError as exc:
            raise RegistryError("unauthorized", str(exc)) from None

    def _authorize(self, host: str, challenge: str, path: str, creds: Credentials, ref: str) -> str:
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic":
            if not creds or not creds.username:
                raise RegistryError(
                    "unauthorized",
                    f"{host} wants credentials for {ref} and the docker config has none "
                    "(docker login)",
                )
            return creds.basic()
        if scheme.lower() != "bearer":
            raise RegistryError("error", f"{host} asks for an unknown authentication {scheme!r}")
        fields = _challenge_fields(params)
        realm = fields.get("realm", "")
        parts = urllib.parse.urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RegistryError("error", f"{host} names no usable token realm")
        query = {"scope": fields.get("scope") or f"repository:{path}:pull"}
        if fields.get("service"):
            query["service"] = fields["service"]
        headers: dict[str, str] = {}
        if creds and creds.username:
            headers["Authorization"] = creds.basic()
        target = (parts.path or "/") + "?" + urllib.parse.urlencode(query)
        if parts.query:
            target += "&" + parts.query
        status, body = self._get(parts.scheme, parts.netloc, target, headers)
        if status in (401, 403):
            raise RegistryError("unauthorized", f"{host} refused the credentials for {ref}")
        if status >= 400:
            raise RegistryError("error", f"{host}'s token service answered HTTP {status}")
        try:
            answer = json.loads(body)
            token = answer.get("token") or answer.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError("error", f"{host}'s token service gave no token")
        return f"Bearer {token}"

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        if scheme == "http":
            return http.client.HTTPConnection(netloc, timeout=self.timeout)
        return http.client.HTTPSConnection(
            netloc, timeout=self.timeout, context=ssl.create_default_context()
        )

    def _head(self, host: str, path: str, headers: Mapping[str, str]) -> tuple[int, dict[str, str]]:
        scheme = "http" if self.insecure(host) else "https"
        connection = self._connection(scheme, host)
        try:
            connection.request(
                "HEAD", path, headers={"Accept": ACCEPT, "User-Agent": "reconcile", **headers}
            )
            response = connection.getresponse()
            response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            raise RegistryError("unreachable", f"cannot reach {host}: {_describe(exc)}") from None
        finally:
            connection.close()

    def _get(
        self, scheme: str, netloc: str, target: str, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        connection = self._connection(scheme, netloc)
        try:
            connection.request("GET", target, headers={"User-Agent": "reconcile", **headers})
            response = connection.getresponse()
            return response.status, response.read(1024 * 1024)
        except (OSError, http.client.HTTPException) as exc:
            raise RegistryError("unreachable", f"cannot reach {netloc}: {_describe(exc)}") from None
        finally:
            connection.close()


def _challenge_fields(params: str) -> dict[str, str]:
    """``realm="https://auth",service="x",scope="y"`` -> a dict (quoted values may hold commas)."""
    fields: dict[str, str] = {}
    rest = params.strip()
    while rest:
        key, eq, rest = rest.partition("=")
        if not eq:
            break
        rest = rest.lstrip()
        if rest.startswith('"'):
            value, _, rest = rest[1:].partition('"')
        else:
            value, _, rest = rest.partition(",")
        fields[key.strip().lower()] = value
        rest = rest.lstrip(", ")
    return fields


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
