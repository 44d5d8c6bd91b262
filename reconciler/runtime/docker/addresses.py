"""Where the Docker Engine is: the docker context, ``DOCKER_HOST`` and the TLS settings, read
as the docker CLI reads them (``resolveContextName``, the default context from the
environment as the SDK's ``kwargs_from_env``). Plain data and parsing; ``contexts`` reads
the context store, ``client`` connects. Decision note: docs/decisions/remote-engines.md.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_HOST = "unix:///var/run/docker.sock"
# The local Engine's usual sockets: its state stays in the state directory itself.
LOCAL_SOCKETS = frozenset({"/var/run/docker.sock", "/run/docker.sock"})
DEFAULT_CONTEXT = "default"


class AddressError(Exception):
    """The docker context, DOCKER_HOST or the TLS settings cannot be used."""


@dataclass(frozen=True)
class Tls:
    """How to speak TLS to a tcp:// Engine."""

    verify: bool  # check the Engine's certificate (against ``ca_file``, else the system CAs)
    ca_file: str | None = None
    cert_file: str | None = None  # the client certificate and its key, presented when set
    key_file: str | None = None


@dataclass(frozen=True)
class Ssh:
    """An Engine reached as the docker CLI reaches ``ssh://[user@]host[:port][/socket]``: an
    ``ssh`` process per connection running ``docker system dial-stdio`` on the host."""

    host: str
    user: str = ""
    port: str = ""
    socket_path: str = ""  # the remote Engine's socket; empty: the remote docker's default

    def remote_command(self) -> str:
        """What ssh runs on the host (one string: ssh hands it to the remote shell)."""
        import shlex

        words = ["docker", "system", "dial-stdio"]
        if self.socket_path.strip("/"):
            words[1:1] = [f"--host=unix://{self.socket_path}"]
        return " ".join(shlex.quote(word) for word in words)

    def argv(self, connect_timeout: int) -> list[str]:
        """The ssh command line. BatchMode: never a password or host-key prompt (an unknown
        host key is refused); the user's ssh config, agent and known_hosts apply otherwise."""
        args = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect_timeout}", "-T"]
        if self.user:
            args += ["-l", self.user]
        if self.port:
            args += ["-p", self.port]
        return [*args, "--", self.host, self.remote_command()]


@dataclass(frozen=True)
class Address:
    """Where the Engine listens: a unix socket path, a tcp host and port, or an ssh target;
    ``context`` names the docker context it came from ('' for DOCKER_HOST or the default)."""

    url: str
    socket_path: str = ""
    host: str = ""
    port: int = 0
    tls: Tls | None = None
    ssh: Ssh | None = None
    context: str = ""

    @property
    def local_default(self) -> bool:
        """Whether this is the machine's own Engine at its usual socket."""
        return self.socket_path in LOCAL_SOCKETS

    @property
    def elsewhere(self) -> str:
        """Why the Engine's host may not be this machine ("" when it is): reached over ssh,
        or over tcp at an address that is not this machine's loopback. Paths in manifests
        (bind sources, devices) would then name the Engine host's files, which reconcile
        cannot see or judge. A unix socket is taken as this machine's."""
        if self.ssh is not None:
            return f"it is reached over ssh ({self.url})"
        if self.host and self.host not in ("127.0.0.1", "localhost", "::1"):
            return f"it is reached over tcp at {self.host}"
        return ""

    def describe(self) -> str:
        """The address for messages: the URL, and the context it came from."""
        return f"{self.url} (docker context {self.context})" if self.context else self.url


def config_dir(environment: Mapping[str, str], home: str | None = None) -> str:
    """The docker CLI's configuration directory: ``$DOCKER_CONFIG``, else ``~/.docker``."""
    return environment.get("DOCKER_CONFIG") or os.path.join(
        home or os.path.expanduser("~"), ".docker"
    )


def context_name(
    environment: Mapping[str, str], home: str | None = None, option: str | None = None
) -> tuple[str, str]:
    """The docker context to use and where that was said, by the docker CLI's rules: the
    ``--context`` option; else ``default`` when DOCKER_HOST is set; else DOCKER_CONTEXT;
    else the config's ``currentContext``; else ``default``."""
    if option:
        return option, "--context"
    if (environment.get("DOCKER_HOST") or "").strip():
        return DEFAULT_CONTEXT, "DOCKER_HOST"
    if name := (environment.get("DOCKER_CONTEXT") or "").strip():
        return name, "DOCKER_CONTEXT"
    where = os.path.join(config_dir(environment, home), "config.json")
    try:
        with open(where, encoding="utf-8") as handle:
            config = json.load(handle)
    except FileNotFoundError:
        return DEFAULT_CONTEXT, ""
    except (OSError, ValueError) as exc:
        raise AddressError(f"cannot read the docker config {where}: {exc}") from exc
    current = config.get("currentContext") if isinstance(config, dict) else None
    if isinstance(current, str) and current.strip():
        return current.strip(), where
    return DEFAULT_CONTEXT, ""


def from_env(
    environment: Mapping[str, str], home: str | None = None, context: str | None = None
) -> Address:
    """The Engine address as the docker CLI finds it: the context named by ``context`` (the
    ``--context`` option) or the environment (``context_name``), whose endpoint and TLS
    material come from the context store (``contexts``); the ``default`` context is
    ``DOCKER_HOST`` (the default socket when unset) with the TLS variables: TLS is on for tcp
    when ``DOCKER_TLS_VERIFY`` is non-empty or ``DOCKER_CERT_PATH`` is set; the files
    ``ca.pem`` (checked only with DOCKER_TLS_VERIFY), ``cert.pem`` and ``key.pem`` are read
    from DOCKER_CERT_PATH, else from ``~/.docker`` (``home`` overrides ``~``).
    """
    name, source = context_name(environment, home, context)
    if name != DEFAULT_CONTEXT:
        from reconciler.runtime.docker import contexts

        return contexts.endpoint(config_dir(environment, home), name, source)
    url = (environment.get("DOCKER_HOST") or "").strip()
    address = parse(url or DEFAULT_HOST)
    if not address.host:
        return address
    # An empty DOCKER_TLS_VERIFY means false; any other value, even "0", means true.
    verify = bool(environment.get("DOCKER_TLS_VERIFY"))
    cert_path = environment.get("DOCKER_CERT_PATH") or None
    if not (verify or cert_path):
        return address
    directory = cert_path or os.path.join(home or os.path.expanduser("~"), ".docker")
    tls = Tls(
        verify=verify,
        ca_file=os.path.join(directory, "ca.pem") if verify else None,
        cert_file=os.path.join(directory, "cert.pem"),
        key_file=os.path.join(directory, "key.pem"),
    )
    missing = [f for f in (tls.ca_file, tls.cert_file, tls.key_file) if f and not os.path.isfile(f)]
    if missing:
        raise AddressError(
            f"TLS is on (DOCKER_TLS_VERIFY/DOCKER_CERT_PATH) but {', '.join(missing)} "
            "does not exist"
        )
    return Address(url=address.url, host=address.host, port=address.port, tls=tls)


def parse(url: str) -> Address:
    """``unix:///path``, ``tcp://host:port`` (``http://`` alike), ``https://host:port`` (TLS
    checked against the system CAs), or ``ssh://[user@]host[:port][/socket]``. Anything
    else is an ``AddressError``."""
    if url == "unix://":
        url = DEFAULT_HOST
    if "://" in url:
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme
    else:  # a bare "host:port" is tcp, as for the docker CLI
        parts, scheme = urllib.parse.urlsplit(f"//{url}"), "tcp"
    if scheme == "ssh":
        return Address(url=url, ssh=_ssh(url, parts))
    if scheme in ("unix", "http+unix"):
        path = f"/{parts.netloc}{parts.path}" if parts.netloc else parts.path
        if not path:
            raise AddressError(f"DOCKER_HOST={url!r} names no socket path")
        return Address(url=url, socket_path=path)
    if scheme not in ("tcp", "http", "https"):
        raise AddressError(
            f"DOCKER_HOST={url!r}: {scheme}:// is not supported (use unix://, tcp:// or ssh://)"
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise AddressError(f"DOCKER_HOST={url!r}: {exc}") from exc
    if parts.query or parts.fragment or parts.password or parts.path.strip("/"):
        raise AddressError(f"DOCKER_HOST={url!r} is not of the form tcp://host:port")
    if not port:
        raise AddressError(f"DOCKER_HOST={url!r} names no port (tcp://host:port)")
    tls = Tls(verify=True) if scheme == "https" else None
    return Address(url=url, host=parts.hostname or "127.0.0.1", port=port, tls=tls)


def _ssh(url: str, parts: urllib.parse.SplitResult) -> Ssh:
    """The docker CLI's rules for an ssh URL (``connhelper/ssh``): no password, query or
    fragment; a host is required."""
    if parts.password is not None:
        raise AddressError(f"{url!r}: a password in an ssh URL is not supported (use a key)")
    if parts.query or parts.fragment:
        raise AddressError(f"{url!r}: an ssh URL takes no query or fragment")
    if not parts.hostname:
        raise AddressError(f"{url!r} names no host (ssh://[user@]host[:port])")
    try:
        port = parts.port
    except ValueError as exc:
        raise AddressError(f"{url!r}: {exc}") from exc
    # urlsplit gives an IPv6 literal without its brackets, as ssh wants it.
    return Ssh(
        host=parts.hostname,
        user=urllib.parse.unquote(parts.username or ""),
        port=str(port) if port else "",
        socket_path=parts.path,
    )


def ssl_context(tls: Tls) -> ssl.SSLContext:
    """The TLS context for ``tls``; unreadable files are an ``AddressError``."""
    try:
        if tls.verify:
            context = ssl.create_default_context(cafile=tls.ca_file)
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if tls.cert_file:
            context.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ValueError) as exc:
        raise AddressError(f"cannot use the TLS files: {exc}") from exc
    return context
