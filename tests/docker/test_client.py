"""The Engine API client against the real Engine: version negotiation, errors, events,
threads. Its offline tests (a fake Engine, DOCKER_HOST parsing) are in tests/runtime."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from docker import DockerClient

from reconciler.errors import (
    ImageNotFound,
)
from reconciler.runtime.docker import client, engine

# -- against the real Engine ---------------------------------------------------------------


@pytest.fixture
def eng() -> Iterator[engine.Engine]:
    e = engine.Engine()
    yield e
    e.close()


def inspect(e: engine.Engine, name: str) -> Any:
    return e.call(
        f"inspect container {name!r}",
        "container.inspect",
        lambda api: api.get(client.path("/containers/{}/json", name)),
    )


def create(e: engine.Engine, name: str, image: str) -> str:
    body = {"Image": image, "Cmd": ["sleep", "300"]}
    answer = e.call(
        f"create container {name!r}",
        "container.create",
        lambda api: api.post("/containers/create", body, {"name": name}),
    )
    return str(answer["Id"])


def test_the_api_version_is_negotiated_once_for_all_threads(
    eng: engine.Engine, docker_client: DockerClient
) -> None:
    infos: list[Any] = []

    def read_info() -> None:
        infos.append(eng.call("read Engine info", "info", lambda api: api.get("/info")))

    threads = [threading.Thread(target=read_info) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(infos) == 8
    assert eng.calls == {"version": 1, "info": 8}
    assert eng.api.api_version == docker_client.version()["ApiVersion"]


def test_a_missing_container_is_not_found(eng: engine.Engine, unique_prefix: str) -> None:
    with pytest.raises(engine.NotFoundError, match=r"No such container: .*-ghost \(HTTP 404\)"):
        inspect(eng, f"{unique_prefix}-ghost")


def test_a_missing_image_is_image_not_found(eng: engine.Engine) -> None:
    with pytest.raises(ImageNotFound, match="HTTP 404"):
        eng.call(
            "inspect image",
            "image.inspect",
            lambda api: api.get(client.path("/images/{}/json", "reconcile.local/missing:never")),
        )


def test_a_name_clash_is_name_in_use(
    eng: engine.Engine, test_image: str, unique_prefix: str
) -> None:
    name = f"{unique_prefix}-clash"
    create(eng, name, test_image)
    with pytest.raises(engine.NameInUse, match=r"already in use.*\(HTTP 409\)"):
        create(eng, name, test_image)
    assert eng.calls["container.create"] == 2  # a permanent error is not retried


def test_the_event_stream_delivers_and_ends_when_closed(
    eng: engine.Engine, docker_client: DockerClient, test_image: str, unique_prefix: str
) -> None:
    name = f"{unique_prefix}-ev"
    filters = client.encode_filters({"type": ["container"], "container": [name]})
    stream = eng.call(
        "follow Engine events",
        "events",
        lambda api: api.stream("GET", "/events", params={"filters": filters}),
        retry=False,
    )
    seen: list[Any] = []
    failures: list[BaseException] = []

    def read() -> None:
        try:
            seen.extend(stream)
        except BaseException as exc:
            failures.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    docker_client.containers.create(test_image, ["true"], name=name)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not seen:
        time.sleep(0.05)
    assert [(e["Type"], e["Action"]) for e in seen] == [("container", "create")]

    time.sleep(0.3)  # the reader is blocked on the socket again
    closed_at = time.monotonic()
    stream.close()
    reader.join(timeout=2)
    assert not reader.is_alive()
    assert time.monotonic() - closed_at < 1
    assert failures == []


def test_concurrent_inspects_share_a_few_kept_alive_connections(
    eng: engine.Engine, test_image: str, unique_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"{unique_prefix}-many"
    ident = create(eng, name, test_image)
    api = eng.api
    opened: list[int] = []
    real_connect = api._connect

    def counting_connect(timeout: float) -> Any:
        opened.append(1)
        return real_connect(timeout)

    monkeypatch.setattr(api, "_connect", counting_connect)
    ids: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(25):
            found = inspect(eng, name)["Id"]
            with lock:
                ids.append(found)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ids == [ident] * 200
    assert eng.calls["container.inspect"] == 200
    assert 1 <= len(opened) <= 8, "one connection per thread at most, each kept alive"
