"""Fixtures for tests against the real Docker Engine (everything here is marked ``docker``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from docker import DockerClient
from docker.models.containers import Container

# A factory: make_container(suffix, command=..., labels=..., **run_kwargs) -> started Container.
MakeContainer = Callable[..., Container]


@pytest.fixture
def make_container(
    docker_client: DockerClient, test_image: str, unique_prefix: str
) -> MakeContainer:
    """Start a detached container from the test image, named ``<unique_prefix>-<suffix>``.

    For setting the scene outside the reconciler (an unmanaged name clash, drift done by
    hand). It sleeps by default so it stays running; unique_prefix removes it afterwards.
    """

    def make(
        suffix: str,
        command: Sequence[str] = ("sleep", "300"),
        labels: dict[str, str] | None = None,
        **run_kwargs: Any,
    ) -> Container:
        return docker_client.containers.run(
            test_image,
            list(command),
            name=f"{unique_prefix}-{suffix}",
            labels=labels or {},
            detach=True,
            **run_kwargs,
        )

    return make
