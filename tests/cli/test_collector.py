"""A one-shot command holds the cyclic collector off, and gives it back after a while."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator

import pytest

from reconciler.cli import collector


@pytest.fixture
def enabled_after() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    try:
        yield
    finally:
        (gc.enable if was else gc.disable)()


@pytest.mark.usefixtures("enabled_after")
def test_the_collector_is_off_while_a_command_runs_and_back_on_after_the_pause() -> None:
    collector.pause(0.2)
    assert not gc.isenabled()
    timers = [t for t in threading.enumerate() if t.name == "gc-resume"]
    assert timers and all(t.daemon for t in timers), "a pause never keeps a process alive"
    deadline = time.monotonic() + 5
    while not gc.isenabled() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gc.isenabled()


@pytest.mark.usefixtures("enabled_after")
def test_a_collector_someone_else_turned_off_is_left_to_them() -> None:
    gc.disable()
    collector.pause(0.01)
    time.sleep(0.1)
    assert not gc.isenabled()
