"""The docker CLI's context store, read: a named context's Engine endpoint and TLS material.

Layout (docker/cli ``cli/context/store``), under the docker config directory:
``contexts/meta/<sha256 of the name>/meta.json`` holds ``Endpoints.docker.Host`` and
``SkipTLSVerify``; ``contexts/tls/<sha256>/docker/{ca,cert,key}.pem`` the TLS files, each
optional. TLS applies to a tcp endpoint only, as for the CLI: with no TLS file and no
SkipTLSVerify the Engine is spoken to in plain HTTP.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from reconciler.runtime.docker.addresses import DEFAULT_HOST, Address, AddressError, Tls, parse

TLS_FILES = ("ca.pem", "cert.pem", "key.pem")


def directory_name(name: str) -> str:
    """The directory a context's files live under: the hex SHA-256 of its name."""
    return hashlib.sha256(name.encode()).hexdigest()


def endpoint(config_dir: str, name: str, source: str = "") -> Address:
    """The Engine address of the context ``name`` (``source`` says who named it, for
    messages). A context that does not exist, or has no docker endpoint, is an
    ``AddressError``."""
    digest = directory_name(name)
    said = f" (from {source})" if source else ""
    meta_path = os.path.join(config_dir, "contexts", "meta", digest, "meta.json")
    try:
        with open(meta_path, encoding="utf-8") as handle:
            meta = json.load(handle)
    except FileNotFoundError:
        raise AddressError(
            f'the docker context "{name}"{said} does not exist (no {meta_path}); '
            "`docker context ls` lists the contexts"
        ) from None
    except (OSError, ValueError) as exc:
        raise AddressError(f'cannot read the docker context "{name}": {exc}') from exc
    docker = _docker_endpoint(meta)
    if docker is None:
        raise AddressError(f'the docker context "{name}" has no docker endpoint ({meta_path})')
    host = docker.get("Host") or DEFAULT_HOST
    if not isinstance(host, str):
        raise AddressError(f'the docker context "{name}": Endpoints.docker.Host is not a string')
    try:
        address = parse(host)
    except AddressError as exc:
        raise AddressError(f'the docker context "{name}": {exc}') from exc
    address = Address(
        url=address.url,
        socket_path=address.socket_path,
        host=address.host,
        port=address.port,
        tls=address.tls,
        ssh=address.ssh,
        context=name,
    )
    if not address.host:  # unix sockets and ssh take no TLS
        return address
    tls_dir = os.path.join(config_dir, "contexts", "tls", digest, "docker")
    files = {
        f: os.path.join(tls_dir, f) for f in TLS_FILES if os.path.isfile(os.path.join(tls_dir, f))
    }
    skip_verify = docker.get("SkipTLSVerify") is True
    if not files and not skip_verify:
        return address
    if ("cert.pem" in files) != ("key.pem" in files):
        raise AddressError(
            f'the docker context "{name}" has only one of cert.pem and key.pem in {tls_dir}'
        )
    tls = Tls(
        verify=not skip_verify,
        ca_file=files.get("ca.pem"),
        cert_file=files.get("cert.pem"),
        key_file=files.get("key.pem"),
    )
    return Address(url=address.url, host=address.host, port=address.port, tls=tls, context=name)


def _docker_endpoint(meta: Any) -> dict[str, Any] | None:
    endpoints = meta.get("Endpoints") if isinstance(meta, dict) else None
    docker = endpoints.get("docker") if isinstance(endpoints, dict) else None
    return docker if isinstance(docker, dict) else None
