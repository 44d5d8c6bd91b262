"""Secrets, env files and configuration content on the real Engine, through the CLI: a SOPS-
encrypted env file and secret file reach the container and nowhere else (plans, JSON, history,
events, status, the state directory); an env file's change recreates exactly its container; a
wrong key fails cleanly and leaves the containers as they were; a configuration file's change
recreates its container."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from docker import DockerClient

pytestmark = pytest.mark.docker

SOPS = Path(__file__).parents[2] / ".venv" / "bin" / "sops"
RECONCILE = Path(__file__).parents[2] / ".venv" / "bin" / "reconcile"
PASSWORD = "hunter2-Zq8-not-in-any-output"
TOKEN = "tok-7f3a-secret-file-content"

APP = """\
apiVersion: reconcile/v1
kind: Container
metadata: {{name: {p}-app}}
spec:
  image: {image}
  command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 1; done"]
  stopGracePeriod: 1s
  user: "1000:1000"
  envFiles: [./app.sops.env]
  env: {{API_URL: http://override}}
  secrets: [{{name: token, file: ./token.sops}}]
  mounts: [{{type: bind, source: ./conf, target: /etc/app, readOnly: true, configuration: true}}]
---
apiVersion: reconcile/v1
kind: Container
metadata: {{name: {p}-other}}
spec:
  image: {image}
  command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 1; done"]
  stopGracePeriod: 1s
"""


def _identity(path: Path) -> str:
    """A new age key at ``path`` (0600); its public recipient."""
    import pyrage  # type: ignore[import-untyped]

    identity = pyrage.x25519.Identity.generate()
    path.write_text(f"{identity}\n")
    path.chmod(0o600)
    return str(identity.to_public())


def _encrypt(plain: bytes, recipient: str, out: Path, kind: str) -> None:
    done = subprocess.run(
        [
            str(SOPS),
            "--encrypt",
            "--age",
            recipient,
            "--input-type",
            kind,
            "--output-type",
            kind,
            "/dev/stdin",
        ],
        input=plain,
        capture_output=True,
        check=True,
    )
    out.write_bytes(done.stdout)


def _reconcile(
    state: Path, *args: str, key: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(state), "RECONCILE_NO_SERVER": "1"}
    if key is not None:
        env["RECONCILE_AGE_KEY_FILE"] = str(key)
    return subprocess.run(
        [str(RECONCILE), *args, "--state-dir", str(state)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


@pytest.fixture
def setup(tmp_path: Path, unique_prefix: str, test_image: str) -> tuple[Path, Path, Path, str]:
    """(manifests, state, key, recipient) with the set written and its files encrypted."""
    manifests, state = tmp_path / "m", tmp_path / "state"
    manifests.mkdir()
    state.mkdir(mode=0o700)
    key = tmp_path / "age.key"
    recipient = _identity(key)
    _encrypt(
        f"DB_PASSWORD={PASSWORD}\nMODE=a\n".encode(),
        recipient,
        manifests / "app.sops.env",
        "dotenv",
    )
    _encrypt(TOKEN.encode(), recipient, manifests / "token.sops", "binary")
    (manifests / "conf").mkdir()
    (manifests / "conf" / "app.conf").write_text("workers 1\n")
    (manifests / "set.yaml").write_text(APP.format(p=unique_prefix, image=test_image))
    return manifests, state, key, recipient


def test_secrets_reach_the_container_and_nothing_else(
    setup: tuple[Path, Path, Path, str], docker_client: DockerClient, unique_prefix: str
) -> None:
    manifests, state, key, _ = setup
    applied = _reconcile(state, "apply", "-f", str(manifests), "-p", unique_prefix, key=key)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    app = docker_client.containers.get(f"{unique_prefix}-app")
    code, out = app.exec_run(["sh", "-c", "echo $DB_PASSWORD $API_URL; cat /run/secrets/token"])
    assert isinstance(out, bytes)
    assert (code, out.decode()) == (0, f"{PASSWORD} http://override\n{TOKEN}")
    code, out = app.exec_run(["stat", "-c", "%a %u", "/run/secrets/token"])
    assert isinstance(out, bytes)
    assert out.decode().split() == ["400", "1000"]  # readable by the container's user alone

    outputs = [applied.stdout, applied.stderr]
    for args in (
        ("diff", "-f", str(manifests), "-p", unique_prefix, "-o", "json"),
        ("get", "-f", str(manifests), "-p", unique_prefix, "-o", "json"),
        ("history", "-p", unique_prefix),
        ("history", "-p", unique_prefix, "show", "1"),
        ("events", "-p", unique_prefix),
    ):
        done = _reconcile(state, *args, key=key)
        outputs += [done.stdout, done.stderr]
    joined = "\n".join(outputs)
    assert PASSWORD not in joined and TOKEN not in joined
    # On disk, only the secret store holds the token (root-only, 0400), and nothing the
    # password: the inspect and load caches are sealed, the database keeps references.
    for path in state.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert PASSWORD.encode() not in data, path
            if TOKEN.encode() in data:
                assert path.parent.parent.parent == state / "secrets", path
                assert (path.stat().st_mode & 0o777) == 0o400


def test_an_env_file_change_recreates_exactly_its_container(
    setup: tuple[Path, Path, Path, str], docker_client: DockerClient, unique_prefix: str
) -> None:
    manifests, state, key, recipient = setup
    assert (
        _reconcile(state, "apply", "-f", str(manifests), "-p", unique_prefix, key=key).returncode
        == 0
    )
    ids = {n: docker_client.containers.get(f"{unique_prefix}-{n}").id for n in ("app", "other")}
    _encrypt(
        f"DB_PASSWORD={PASSWORD}\nMODE=b\n".encode(),
        recipient,
        manifests / "app.sops.env",
        "dotenv",
    )
    diff = _reconcile(state, "diff", "-f", str(manifests), "-p", unique_prefix, key=key)
    assert diff.returncode == 3
    assert "env.MODE: *** -> ***" in diff.stdout
    assert (
        _reconcile(state, "apply", "-f", str(manifests), "-p", unique_prefix, key=key).returncode
        == 0
    )
    assert docker_client.containers.get(f"{unique_prefix}-app").id != ids["app"]
    assert docker_client.containers.get(f"{unique_prefix}-other").id == ids["other"]


def test_a_wrong_key_fails_cleanly_and_changes_nothing(
    setup: tuple[Path, Path, Path, str],
    docker_client: DockerClient,
    unique_prefix: str,
    tmp_path: Path,
) -> None:
    manifests, state, key, _ = setup
    assert (
        _reconcile(state, "apply", "-f", str(manifests), "-p", unique_prefix, key=key).returncode
        == 0
    )
    before = docker_client.containers.get(f"{unique_prefix}-app").id
    other_key = tmp_path / "other.key"
    _identity(other_key)
    (manifests / "conf" / "app.conf").write_text("workers 2\n")  # a change it must not apply
    failed = _reconcile(state, "apply", "-f", str(manifests), "-p", unique_prefix, key=other_key)
    assert failed.returncode == 1
    message = failed.stdout + failed.stderr
    assert "set.yaml:9" in message and "app.sops.env" in message
    assert "is not encrypted for this host's age key" in message
    assert PASSWORD not in message
    app = docker_client.containers.get(f"{unique_prefix}-app")
    assert (app.id, app.status) == (before, "running")


def test_a_configuration_change_recreates_its_container(
    setup: tuple[Path, Path, Path, str], docker_client: DockerClient, unique_prefix: str
) -> None:
    manifests, state, key, _ = setup
    assert (
        _reconcile(state, "apply", "-f", str(manifests), "-p", unique_prefix, key=key).returncode
        == 0
    )
    before = docker_client.containers.get(f"{unique_prefix}-app").id
    assert (
        _reconcile(state, "diff", "-f", str(manifests), "-p", unique_prefix, key=key).returncode
        == 0
    )
    (manifests / "conf" / "app.conf").write_text("workers 4\n")
    diff = _reconcile(state, "diff", "-f", str(manifests), "-p", unique_prefix, key=key)
    assert diff.returncode == 3
    assert "mounts[/etc/app].content:" in diff.stdout and f"{manifests}/conf changed" in diff.stdout
    assert (
        _reconcile(state, "apply", "-f", str(manifests), "-p", unique_prefix, key=key).returncode
        == 0
    )
    app = docker_client.containers.get(f"{unique_prefix}-app")
    assert app.id != before
    assert app.exec_run(["cat", "/etc/app/app.conf"]).output == b"workers 4\n"
    assert (
        _reconcile(state, "diff", "-f", str(manifests), "-p", unique_prefix, key=key).returncode
        == 0
    )


def test_a_rollback_restores_the_previous_secret_and_env_file(
    setup: tuple[Path, Path, Path, str], docker_client: DockerClient, unique_prefix: str
) -> None:
    """A change of content alone is a new revision (its files kept sealed in the state), and
    a rollback re-applies the files as they were, whatever the disk holds now."""
    manifests, state, key, recipient = setup
    p = unique_prefix
    assert _reconcile(state, "apply", "-f", str(manifests), "-p", p, key=key).returncode == 0
    _encrypt(
        f"DB_PASSWORD={PASSWORD}\nMODE=b\n".encode(),
        recipient,
        manifests / "app.sops.env",
        "dotenv",
    )
    _encrypt(b"token-two", recipient, manifests / "token.sops", "binary")
    assert _reconcile(state, "apply", "-f", str(manifests), "-p", p, key=key).returncode == 0
    app = docker_client.containers.get(f"{p}-app")
    assert app.exec_run(["sh", "-c", "echo $MODE; cat /run/secrets/token"]).output == (
        b"b\ntoken-two"
    )
    history = _reconcile(state, "history", "-p", p, "-o", "json", key=key)
    assert history.stdout.count('"number"') == 2, history.stdout

    rolled = _reconcile(state, "rollback", "1", "-p", p, key=key)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    app = docker_client.containers.get(f"{p}-app")
    assert app.exec_run(["sh", "-c", "echo $MODE; cat /run/secrets/token"]).output == (
        f"a\n{TOKEN}".encode()
    )
    # The sealed copies never show in clear in the state directory.
    for path in state.rglob("*"):
        if path.is_file() and "secrets" not in path.parts:
            assert b"token-two" not in path.read_bytes(), path
