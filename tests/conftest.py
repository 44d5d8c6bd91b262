"""Test plumbing shared by the whole suite: the Docker Engine gate and its fixtures.

Docker tests
    A test needs the Engine when it is marked ``@pytest.mark.docker``, lives under
    ``tests/docker/`` or ``tests/e2e/``, or uses the ``docker_client`` fixture (all of these
    get the marker automatically). When the Engine cannot be reached such a test

    * FAILS when the Engine is required: ``REQUIRE_DOCKER=1`` (``.ci/run`` sets it), or, when
      REQUIRE_DOCKER is unset, ``CI=true``. ``REQUIRE_DOCKER=0`` explicitly allows skipping.
    * is SKIPPED with the reason otherwise (a laptop without Docker still runs the unit tests).

    The Engine is found the way the docker CLI finds it (``DOCKER_HOST`` etc., via
    ``docker.from_env()``). ``scripts/setup`` installs and starts one.

Fixtures
    ``docker_client``  session-scoped ``docker.DockerClient`` (API version negotiated).
    ``test_image``     name of the local test image, checked to exist (``TEST_IMAGE``).
    ``unique_prefix``  ``rt-<8 hex>``; afterwards every container, network and volume named
                       with it, or labelled ``io.reconcile.project=<it>...``, is force-removed.
    ``state_dir``      an empty directory for the reconciler's state, under ``tmp_path``.
    ``private_engine`` a dockerd of the test's own (scripts/private-dockerd, its own network
                       namespace) to pause, kill or restart; the main Engine is never stopped.

Test code may import ``docker`` directly; only the product code is restricted to its backend.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import pytest
from docker import DockerClient

from reconciler.manifests.constants import LABEL_PROJECT
from tests.docker.scenario import Scenario

# Built by scripts/build-images (its IMAGE constant is the same string): FROM scratch plus
# Debian's static busybox, with the applets on PATH, a 1777 /tmp and minimal /etc/passwd, group.
TEST_IMAGE = "reconcile.local/busybox:latest"

# Prefix of every test resource name; unique_prefix adds 8 random hex digits.
TEST_PREFIX = "rt-"

# Directories whose tests all need the Engine.
_DOCKER_DIRS = ("docker", "e2e")
_TESTS_ROOT = Path(__file__).parent

_ENGINE_TIMEOUT_SECONDS = 10

# The settled fast path (reconciler/cli/settled.py) answers a repeated no-op apply from its
# receipt only while the Engine's event log is quiet; on the shared Engine, other tests'
# events decide that at random. Off for the suite's commands; tests/e2e/test_settled.py
# turns it on, on an Engine of its own.
os.environ.setdefault("RECONCILE_SETTLED", "0")


def docker_required() -> bool:
    """Whether a missing Engine fails the Docker tests (True) or skips them (False)."""
    explicit = os.environ.get("REQUIRE_DOCKER", "").strip().lower()
    if explicit:
        return explicit in {"1", "true", "yes", "on"}
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class EngineStatus:
    client: DockerClient | None
    detail: str  # version when reachable, the error when not

    @property
    def reachable(self) -> bool:
        return self.client is not None


@functools.cache
def engine_status() -> EngineStatus:
    """Connect once per process (each xdist worker has its own) and remember the outcome."""
    where = os.environ.get("DOCKER_HOST") or "the default socket"
    try:
        client = docker.from_env(timeout=_ENGINE_TIMEOUT_SECONDS)
        client.ping()
        version = client.version()
    except Exception as exc:  # any failure to connect means "no Engine"; the reason is shown
        return EngineStatus(None, f"Docker Engine not reachable at {where}: {exc}")
    return EngineStatus(
        client, f"{version.get('Version', '?')} (API {client.api.api_version}) at {where}"
    )


def _require_engine() -> DockerClient:
    """Return the client, or fail/skip the current test as the environment demands."""
    status = engine_status()
    if status.client is not None:
        return status.client
    if docker_required():
        pytest.fail(
            f"{status.detail}. The Engine is required here (REQUIRE_DOCKER=1 or CI=true): "
            "run scripts/setup to install and start it.",
            pytrace=False,
        )
    pytest.skip(f"{status.detail} (set REQUIRE_DOCKER=1 to make this a failure)")


def pytest_report_header(config: pytest.Config) -> list[str]:
    required = "required" if docker_required() else "optional (skipped if missing)"
    status = engine_status()
    state = status.detail if status.reachable else f"NOT reachable ({status.detail})"
    return [f"docker engine: {state}; docker tests {required}"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        try:
            parts = item.path.relative_to(_TESTS_ROOT).parts
        except ValueError:
            parts = ()
        fixtures = getattr(item, "fixturenames", ())
        if (parts and parts[0] in _DOCKER_DIRS) or "docker_client" in fixtures:
            item.add_marker(pytest.mark.docker)


def pytest_runtest_setup(item: pytest.Item) -> None:
    # Checked before any fixture runs, so an unreachable Engine gives one clear message.
    if item.get_closest_marker("docker") is not None:
        _require_engine()


@pytest.fixture(scope="session")
def docker_client() -> DockerClient:
    return _require_engine()


@pytest.fixture(scope="session")
def test_image(docker_client: DockerClient) -> str:
    try:
        docker_client.images.get(TEST_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(
            f"test image {TEST_IMAGE} is missing: run scripts/build-images (or scripts/setup)",
            pytrace=False,
        )
    return TEST_IMAGE


def _owned_by(name: str, labels: dict[str, str] | None, prefix: str) -> bool:
    return name.startswith(prefix) or (labels or {}).get(LABEL_PROJECT, "").startswith(prefix)


def remove_prefixed_resources(client: DockerClient, prefix: str) -> list[str]:
    """Force-remove containers, then networks, then volumes belonging to ``prefix``.

    A resource belongs to it when its name starts with ``prefix`` or its
    ``io.reconcile.project`` label does. Returns what could not be removed.
    Containers go first: networks and volumes in use cannot be removed.
    """
    problems: list[str] = []
    by_name: dict[str, str | list[str] | bool] = {"name": prefix}
    by_label: dict[str, str | list[str] | bool] = {"label": LABEL_PROJECT}

    def attempt(kind: str, name: str, remove: functools.partial[None]) -> None:
        try:
            remove()
        except docker.errors.NotFound:
            pass  # already gone (the code under test, or a parallel cleanup, removed it)
        except docker.errors.APIError as exc:
            problems.append(f"{kind} {name}: {exc}")

    # The Engine's name filter matches substrings, so filter by prefix here; the label filter
    # narrows to resources carrying the project label at all. ignore_removed: the SDK
    # inspects each listed container, and a parallel test may remove one in between.
    containers = {
        c.id: c
        for filters in (by_name, by_label)
        for c in client.containers.list(all=True, filters=filters, ignore_removed=True)
    }
    for c in containers.values():
        if _owned_by(c.name or "", c.labels, prefix):
            remove = functools.partial(c.remove, force=True, v=True)
            attempt("container", c.name or str(c.id), remove)

    networks = {
        n.id: n for filters in (by_name, by_label) for n in client.networks.list(filters=filters)
    }
    for n in networks.values():
        if _owned_by(n.name or "", n.attrs.get("Labels"), prefix):
            attempt("network", n.name or str(n.id), functools.partial(n.remove))

    volumes = {
        v.id: v for filters in (by_name, by_label) for v in client.volumes.list(filters=filters)
    }
    for v in volumes.values():
        if _owned_by(v.name or "", v.attrs.get("Labels"), prefix):
            attempt("volume", v.name or str(v.id), functools.partial(v.remove, force=True))
    return problems


@pytest.fixture
def unique_prefix() -> Iterator[str]:
    """A fresh ``rt-<8 hex>`` name prefix; everything under it is removed after the test.

    Use it in every name (and as the project label) the test creates. Cleanup runs whether
    the test passed or failed, and fails the teardown if something could not be removed,
    so leaks are seen instead of piling up on the Engine.
    """
    prefix = f"{TEST_PREFIX}{uuid.uuid4().hex[:8]}"
    yield prefix
    status = engine_status()
    if status.client is None:
        return  # nothing can have been created without an Engine
    problems = remove_prefixed_resources(status.client, prefix)
    if problems:
        # One retry: a container may still be in the middle of its own removal.
        problems = remove_prefixed_resources(status.client, prefix)
    if problems:
        pytest.fail(f"cleanup of {prefix} left resources behind: {problems}", pytrace=False)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """An empty directory where the reconciler may keep its state (SQLite etc.)."""
    path = tmp_path / "state"
    path.mkdir()
    return path


@pytest.fixture
def sc(
    docker_client: DockerClient, test_image: str, unique_prefix: str, tmp_path: Path
) -> Iterator[Scenario]:
    """A ``Scenario`` (tests/docker/scenario.py): manifests in ``tmp_path/manifests``, its own
    state directory, resources named with the unique prefix (cleaned up by that fixture)."""
    directory = tmp_path / "manifests"
    directory.mkdir()
    scenario = Scenario(unique_prefix, test_image, directory, tmp_path / "state", docker_client)
    yield scenario
    scenario.runtime.close()


class PrivateEngine:
    """A dockerd of a test's own, started by scripts/private-dockerd: its own network
    namespace, data and exec roots and socket under a short /tmp directory (unix socket paths
    are short), to stop, kill, pause or restart. The main Engine is never touched."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="rt-engine-", dir="/tmp"))
        self.host = ""  # the DOCKER_HOST that reaches it, once started

    @property
    def pid(self) -> int:
        """dockerd's pid."""
        return int((self.root / "dockerd.pid").read_text())

    def start(self) -> None:
        """(Re)start it on the same data root; returns once it answers."""
        done = subprocess.run(
            [str(_PRIVATE_DOCKERD), "start", str(self.root)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"scripts/private-dockerd start failed: {done.stderr}", pytrace=False)
        self.host = done.stdout.strip()

    def stop(self) -> None:
        """Stop it as a service stop does (SIGTERM: it stops its containers first)."""
        subprocess.run(
            [str(_PRIVATE_DOCKERD), "stop", str(self.root)], check=True, capture_output=True
        )

    def kill(self) -> None:
        """Kill it and its containerd outright, as a crash does; the shims live on."""
        containerd = self.root / "exec" / "containerd" / "containerd.pid"
        for pidfile in (self.root / "dockerd.pid", containerd):
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
        # Unreaped in a sandbox whose init does not reap, a killed containerd still looks
        # alive to a restarted dockerd (kill 0 succeeds on a zombie), which would wait for it.
        containerd.unlink(missing_ok=True)

    def client(self) -> DockerClient:
        """A client of this Engine."""
        return DockerClient(base_url=self.host, timeout=30)

    def log(self) -> str:
        """The end of its log."""
        path = self.root / "dockerd.log"
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        return "private dockerd log (tail):\n" + "\n".join(lines[-30:])

    def destroy(self) -> None:
        """Remove everything: containers, the daemon, its shims, its mounts and directory."""
        with contextlib.suppress(docker.errors.DockerException, OSError, ValueError):
            os.kill(self.pid, signal.SIGCONT)  # a test may have paused it
            client = self.client()
            for c in client.containers.list(all=True, ignore_removed=True):
                with contextlib.suppress(docker.errors.APIError):
                    c.remove(force=True, v=True)
            client.close()
        subprocess.run(
            [str(_PRIVATE_DOCKERD), "stop", str(self.root)], check=False, capture_output=True
        )
        # containerd shims outlive their containerd; those of this Engine name its directory.
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                with contextlib.suppress(OSError):
                    args = (proc / "cmdline").read_bytes().split(b"\0")
                    if f"{self.root}/".encode() in b" ".join(args) and b"shim" in args[0]:
                        os.kill(int(proc.name), signal.SIGKILL)
        mounts = [
            line.split()[1]
            for line in Path("/proc/mounts").read_text().splitlines()
            if line.split()[1].startswith(f"{self.root}/")
        ]
        for mount in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


_PRIVATE_DOCKERD = _TESTS_ROOT.parent / "scripts" / "private-dockerd"


@pytest.fixture
def private_engine(docker_client: DockerClient) -> Iterator[PrivateEngine]:
    """A private Engine (``PrivateEngine``), started; removed afterwards whatever the test
    did to it."""
    engine = PrivateEngine()
    try:
        engine.start()
        yield engine
    finally:
        engine.destroy()


DOCKER0 = Path("/sys/class/net/docker0")


@pytest.fixture
def loaded_private_engine(private_engine: PrivateEngine) -> Iterator[PrivateEngine]:
    """A private Engine (its own event log, its own restarts) with the test image loaded;
    the host's docker0 must not notice."""
    had_docker0 = DOCKER0.exists()
    image = subprocess.run(
        f"docker save {TEST_IMAGE} | docker -H {private_engine.host} load",
        shell=True,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert image.returncode == 0, image.stderr
    yield private_engine
    private_engine.stop()
    assert DOCKER0.exists() == had_docker0, "the private dockerd touched the host's docker0"
