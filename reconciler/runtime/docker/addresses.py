"""Where the Docker Engine is: ``DOCKER_HOST``, the TLS settings and the docker context, read
as the docker CLI and the docker SDK read them (``kwargs_from_env``). Plain data and parsing;
``client`` connects.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_HOST = "unix:///var/run/docker.sock"
SSH_UNSUPPORTED = (
    "ssh:// is not supported by reconcile; forward the remote Engine's socket instead "
    "(ssh -nNT -L /tmp/docker.sock:/var/run/docker.sock USER@HOST, then "
    "DOCKER_HOST=unix:///tmp/docker.sock), or expose it over tcp:// with TLS"
)


class AddressError(Exception):
    """DOCKER_HOST or the TLS settings cannot be used."""


@dataclass(frozen=True)
class Tls:
    """How to speak TLS to a tcp:// Engine."""

    verify: bool  # check the Engine's certificate (against ``ca_file``, else the system CAs)
    ca_file: str | None = None
    cert_file: str | None = None  # the client certificate and its key, presented when set
    key_file: str | None = None


@dataclass(frozen=True)
class Address:
    """Where the Engine listens: a unix socket path, or a tcp host and port."""

    url: str
    socket_path: str = ""
    host: str = ""
    port: int = 0
    tls: Tls | None = None


def from_env(environment: Mapping[str, str], home: str | None = None) -> Address:
    """The Engine address as the docker CLI and SDK read it from the environment.

    A docker context other than ``default`` (``DOCKER_CONTEXT``, else the docker config's
    ``currentContext``; ``DOCKER_HOST`` wins over both, as for the CLI) is refused: it names
    another Engine, which reconcile does not follow yet. ``DOCKER_HOST`` is ``unix:///path``
    (the default socket when unset) or ``tcp://host:port``.
    TLS is on for tcp when ``DOCKER_TLS_VERIFY`` is non-empty or ``DOCKER_CERT_PATH`` is set;
    the files ``ca.pem`` (checked only with DOCKER_TLS_VERIFY), ``cert.pem`` and ``key.pem``
    are read from DOCKER_CERT_PATH, else from ``~/.docker`` (``home`` overrides ``~``).
    """
    url = (environment.get("DOCKER_HOST") or "").strip()
    if not url:
        refuse_context(environment, home)
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


def refuse_context(environment: Mapping[str, str], home: str | None = None) -> None:
    """Raise ``AddressError`` when the docker CLI would use a context other than ``default``:
    planning against the local Engine while the user's shell points at another host would
    report "in sync" about the wrong machine."""
    name = (environment.get("DOCKER_CONTEXT") or "").strip()
    where = "DOCKER_CONTEXT"
    if not name:
        config_dir = environment.get("DOCKER_CONFIG") or os.path.join(
            home or os.path.expanduser("~"), ".docker"
        )
        where = os.path.join(config_dir, "config.json")
        try:
            with open(where, encoding="utf-8") as handle:
                config = json.load(handle)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise AddressError(f"cannot read the docker config {where}: {exc}") from exc
        current = config.get("currentContext") if isinstance(config, dict) else None
        name = current.strip() if isinstance(current, str) else ""
    if name and name != "default":
        raise AddressError(
            f'the docker context "{name}" (from {where}) names an Engine reconcile cannot '
            "follow yet, and it will not act on another one instead: set DOCKER_HOST to that "
            f"context's endpoint (docker context inspect {name} --format "
            "'{{.Endpoints.docker.Host}}'), or use the default context "
            "(unset DOCKER_CONTEXT; docker context use default)"
        )


def parse(url: str) -> Address:
    """``unix:///path``, ``tcp://host:port`` (``http://`` alike), or ``https://host:port``
    (TLS checked against the system CAs). Anything else is an ``AddressError``."""
    if url == "unix://":
        url = DEFAULT_HOST
    if "://" in url:
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme
    else:  # a bare "host:port" is tcp, as for the docker CLI
        parts, scheme = urllib.parse.urlsplit(f"//{url}"), "tcp"
    if scheme == "ssh":
        raise AddressError(SSH_UNSUPPORTED)
    if scheme in ("unix", "http+unix"):
        path = f"/{parts.netloc}{parts.path}" if parts.netloc else parts.path
        if not path:
            raise AddressError(f"DOCKER_HOST={url!r} names no socket path")
        return Address(url=url, socket_path=path)
    if scheme not in ("tcp", "http", "https"):
        raise AddressError(
            f"DOCKER_HOST={url!r}: {scheme}:// is not supported (use unix:// or tcp://)"
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
