"""The kinds of connection ``client`` speaks HTTP over: a unix socket, tcp (with TLS or not)
and an ssh channel (``sshdial``). Each is an ``http.client`` connection; ``open_connection``
makes and connects the one an address asks for, and ``failure`` says why one broke.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Mapping

from reconciler.runtime.docker import addresses

# Requests one client has in flight at once over ssh, each on a connection of its own (so at
# most this many ssh processes). sshd drops new connections at random beyond ten
# unauthenticated ones (its default MaxStartups 10:30:100), and every connection costs an ssh
# handshake and a remote `docker` start (~0.4 s here): a no-op diff of 20 containers took
# 3.4 s with 8, 1.9 s with 4 and 2.1 s with 2 (benchmarks/README.md, remote Engines).
SSH_CONNECTIONS = 4

# Not imported at run time unless an ssh address is used: sshdial loads subprocess.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from reconciler.runtime.docker.sshdial import Channel


class UnixConnection(http.client.HTTPConnection):
    """HTTP over the Engine's unix socket."""

    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class SshConnection(http.client.HTTPConnection):
    """HTTP over ``ssh ... docker system dial-stdio``: one ssh process per connection, ended
    when the connection is closed."""

    def __init__(
        self, target: addresses.Ssh, environment: Mapping[str, str] | None, timeout: float
    ) -> None:
        super().__init__("docker", timeout=timeout)
        self._target = target
        self._environment = environment
        self._channel: Channel | None = None

    def connect(self) -> None:
        from reconciler.runtime.docker import sshdial

        timeout = self.timeout if isinstance(self.timeout, float | int) else 30.0
        self._channel = sshdial.Channel(self._target, self._environment, timeout)
        self.sock = self._channel.sock

    def failure(self) -> str:
        """Why ssh ended, when it did ('' otherwise)."""
        return self._channel.failure() if self._channel is not None else ""

    def close(self) -> None:
        super().close()
        if self._channel is not None:  # kept: ``failure`` reads what ssh said
            self._channel.close()


def open_connection(
    address: addresses.Address,
    context: ssl.SSLContext | None,
    timeout: float,
    environment: Mapping[str, str] | None = None,
) -> http.client.HTTPConnection:
    """A new, connected connection to ``address``; raises ``OSError`` (``TimeoutError``
    included) when it cannot be made."""
    connection: http.client.HTTPConnection
    if address.ssh is not None:
        connection = SshConnection(address.ssh, environment, timeout)
    elif address.socket_path:
        connection = UnixConnection(address.socket_path, timeout)
    elif context is not None:
        connection = http.client.HTTPSConnection(
            address.host, address.port, timeout=timeout, context=context
        )
    else:
        connection = http.client.HTTPConnection(address.host, address.port, timeout=timeout)
    try:
        connection.connect()
    except BaseException:
        connection.close()
        raise
    return connection


def failure(connection: http.client.HTTPConnection) -> str:
    """What the transport itself says about a broken connection ('' when nothing)."""
    return connection.failure() if isinstance(connection, SshConnection) else ""
