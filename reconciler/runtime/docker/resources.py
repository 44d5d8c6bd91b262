"""Networks and volumes on the Docker Engine, and joining containers to networks: the
resource operations ``DockerRuntime`` inherits."""

from __future__ import annotations

import time
from collections.abc import Mapping

from reconciler.errors import PermanentBackendError
from reconciler.runtime.docker import client, translate
from reconciler.runtime.docker.engine import Engine, NotFoundError
from reconciler.values.configs import NetworkAttachmentConfig, NetworkConfig, VolumeConfig

# Waits before retrying the removal of a network whose endpoints are still being torn down.
ENDPOINT_WAITS = (0.2, 0.5, 1.0, 2.0)


class NetworkAndVolumeOps:
    """Operations on networks and volumes through ``self._engine``."""

    _engine: Engine

    def connect_network(self, container: str, attachment: NetworkAttachmentConfig) -> None:
        """Join a network with the given aliases and address."""
        self._engine.call(
            f"connect container {container!r} to network {attachment.name!r}",
            "network.connect",
            lambda api: api.post(
                client.path("/networks/{}/connect", attachment.name),
                {
                    "Container": container,
                    "EndpointConfig": translate.endpoint(attachment, api.api_version),
                },
            ),
        )

    def disconnect_network(self, container: str, network: str) -> None:
        """Leave a network (forcefully); not being attached is not an error."""
        try:
            self._engine.call(
                f"disconnect container {container!r} from network {network!r}",
                "network.disconnect",
                lambda api: api.post(
                    client.path("/networks/{}/disconnect", network),
                    {"Container": container, "Force": True},
                ),
            )
        except NotFoundError:
            return
        except PermanentBackendError as exc:
            # 20.10 answers 500 "is not connected to the network" for both missing cases.
            if "is not connected to" not in str(exc):
                raise

    # -- volumes and networks ------------------------------------------------------------

    def create_volume(self, name: str, config: VolumeConfig, labels: Mapping[str, str]) -> None:
        """Create a named volume (the Engine returns an existing local volume unchanged)."""
        body = translate.volume_body(name, config, labels)
        self._engine.call(
            f"create volume {name!r}",
            "volume.create",
            lambda api: api.post("/volumes/create", body),
        )

    def remove_volume(self, name: str) -> None:
        """Remove a named volume; a missing one is not an error, one in use is refused."""
        try:
            self._engine.call(
                f"remove volume {name!r}",
                "volume.remove",
                lambda api: api.delete(client.path("/volumes/{}", name)),
            )
        except NotFoundError:
            return
        except PermanentBackendError as exc:
            if "in use" in str(exc):
                users = after(str(exc), "in use - ").split(" (HTTP")[0]
                raise PermanentBackendError(
                    f"cannot remove volume {name!r}: it is in use by containers {users}"
                ) from exc
            raise

    def create_network(self, name: str, config: NetworkConfig, labels: Mapping[str, str]) -> None:
        """Create a network; a network of that name existing already is an error, except
        when a retried create finds the one its timed-out first attempt made."""
        body = translate.network_body(name, config, labels)
        attempts = 0

        def create(api: client.Client) -> None:
            nonlocal attempts
            attempts += 1
            api.post("/networks/create", body)

        try:
            self._engine.call(f"create network {name!r}", "network.create", create)
        except PermanentBackendError as exc:
            if attempts < 2 or "already exists" not in str(exc):
                raise

    def remove_network(self, name: str) -> None:
        """Remove a network; a missing one is not an error.

        Right after its containers are removed the Engine may still report active endpoints
        while it tears them down: that is waited out for a few seconds. Endpoints that stay
        (a known 20.10 race, moby#42119) are reported with the way out."""
        for delay in (*ENDPOINT_WAITS, None):
            try:
                self._engine.call(
                    f"remove network {name!r}",
                    "network.remove",
                    lambda api: api.delete(client.path("/networks/{}", name)),
                )
                return
            except NotFoundError:
                return
            except PermanentBackendError as exc:
                if "active endpoints" not in str(exc):
                    raise
                if delay is None:
                    raise PermanentBackendError(
                        f"cannot remove network {name!r}: the Engine still lists endpoints on it "
                        "although no container is attached (a known Engine race; restarting "
                        "dockerd clears them)"
                    ) from exc
                time.sleep(delay)


def after(text: str, marker: str) -> str:
    """What follows ``marker`` in an Engine message (the whole text when it is absent)."""
    return text.partition(marker)[2] or text
