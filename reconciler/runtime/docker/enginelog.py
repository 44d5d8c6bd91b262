"""The Engine's event stream: followed live (the loop) or replayed from its in-memory log
between two moments (a one-shot command checking what it kept, ``inspectstore``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from reconciler.errors import EngineUnavailable
from reconciler.runtime.base import EngineEvent
from reconciler.runtime.docker import client, observing
from reconciler.runtime.docker.engine import Engine, translate_error

EVENT_TYPES = ("container", "network", "volume", "image")


def follow(
    engine: Engine, stop: threading.Event, types: tuple[str, ...] = EVENT_TYPES
) -> Iterator[EngineEvent]:
    """Events of ``types`` (container, network, volume and image) until ``stop`` is set.

    One streaming call; a watcher thread closes the stream when ``stop`` is set (or the
    consumer goes away), which unblocks the reading thread within ~0.2 s.
    """
    stream = engine.call(
        "follow Engine events",
        "events",
        lambda api: api.stream(
            "GET", "/events", params={"filters": client.encode_filters({"type": types})}
        ),
        retry=False,
    )
    done = threading.Event()

    def watch() -> None:
        while not stop.wait(0.2) and not done.is_set():
            continue
        stream.close()

    watcher = threading.Thread(target=watch, name="docker-events-watch", daemon=True)
    watcher.start()
    try:
        for raw in stream:
            if stop.is_set():
                return
            yield observing.engine_event(raw)
    except Exception as exc:
        if stop.is_set() or done.is_set():
            return
        raise translate_error(exc, "follow Engine events", engine.host) from exc
    finally:
        done.set()
    if not stop.is_set():
        raise EngineUnavailable(f"the Docker Engine at {engine.host} ended the event stream")


def replay(engine: Engine, since_ns: int, until_ns: int) -> list[dict[str, Any]]:
    """Every event the Engine still holds from ``since_ns`` to ``until_ns`` (its clock); the
    Engine answers at once when ``until_ns`` has passed."""
    params = {"since": _api_time(since_ns), "until": _api_time(until_ns)}
    stream = engine.call(
        "replay Engine events",
        "events.replay",
        lambda api: api.stream("GET", "/events", params=params),
        retry=False,
    )
    try:
        return [dict(event) for event in stream]
    except Exception as exc:
        raise translate_error(exc, "replay Engine events", engine.host) from exc
    finally:
        stream.close()


def _api_time(ns: int) -> str:
    """An Engine timestamp parameter: seconds with nine fraction digits."""
    return f"{ns // 10**9}.{ns % 10**9:09d}"
