"""The symlink-swap race, done for real: a bind source's path component is exchanged with a
symlink (renameat2 RENAME_EXCHANGE) while the Engine starts the container, then swapped back,
so every path string checks out again while the container has another host directory
mounted. Only the container's mount table tells; every pass looks at it."""

from __future__ import annotations

import ctypes
import os
import subprocess
from pathlib import Path

from docker import DockerClient

from tests.conftest import TEST_IMAGE

AT_FDCWD = -100
RENAME_EXCHANGE = 2


def exchange(a: Path, b: Path) -> None:
    """Atomically swap two paths (renameat2 with RENAME_EXCHANGE)."""
    libc = ctypes.CDLL(None, use_errno=True)
    done = libc.renameat2(AT_FDCWD, bytes(a), AT_FDCWD, bytes(b), RENAME_EXCHANGE)
    if done != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno), str(a))


def test_a_source_swapped_while_the_engine_starts_is_caught_and_recreated(
    docker_client: DockerClient,
    unique_prefix: str,
    reconcile_bin: Path,
    tmp_path: Path,
) -> None:
    base = Path(os.path.realpath(tmp_path))
    data = base / "allowed" / "data"
    data.mkdir(parents=True)
    (data / "ok").write_text("admitted\n")
    secret = base / "secret"  # outside the allowlist: stands in for the host's /etc
    secret.mkdir()
    (secret / "shadow").write_text("root:secret\n")
    decoy = base / "decoy"
    decoy.symlink_to(secret)
    policy = base / "policy.yaml"
    policy.write_text(
        "apiVersion: reconcile/v1\nkind: Policy\nprofile: baseline\n"
        f"binds:\n  - {{path: {base / 'allowed'}}}\n"
    )
    manifests = base / "m"
    manifests.mkdir()
    name = f"{unique_prefix}-web"
    (manifests / "web.yaml").write_text(
        "apiVersion: reconcile/v1\nkind: Container\n"
        f"metadata: {{name: {name}}}\n"
        "spec:\n"
        f"  image: {TEST_IMAGE}\n"
        "  command: [sh, -c, 'trap \"exit 0\" TERM; while true; do sleep 1; done']\n"
        "  stopGracePeriod: 1s\n"
        "  networkMode: none\n"
        f"  mounts: [{{type: bind, source: {data}, target: /data, readOnly: true}}]\n"
    )

    def reconcile(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(reconcile_bin),
                *args,
                "-f",
                str(manifests),
                "-p",
                unique_prefix,
                "--state-dir",
                str(base / "state"),
                "--policy",
                str(policy),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "RECONCILE_NO_SERVER": "1"},
        )

    done = reconcile("apply")
    assert done.returncode == 0, done.stderr
    container = docker_client.containers.get(name)
    assert container.exec_run(["cat", "/data/ok"]).output == b"admitted\n"

    # The attack: swap the admitted directory for a symlink to the secret while the Engine
    # (re)starts the container, then swap it back.
    exchange(data, decoy)
    try:
        container.restart(timeout=1)
    finally:
        exchange(data, decoy)
    assert data.is_dir() and not data.is_symlink() and decoy.is_symlink()
    assert container.exec_run(["cat", "/data/shadow"]).output == b"root:secret\n"

    # Every path string is fine again; the mount table is not.
    diff = reconcile("diff")
    assert diff.returncode == 3, (diff.stdout, diff.stderr)
    assert f"-/+ recreate Container/{name}  (policy-violation)" in diff.stdout, diff.stdout
    assert f"is {secret} on the host, not {data}" in diff.stdout, diff.stdout

    done = reconcile("apply")
    assert done.returncode == 0, (done.stdout, done.stderr)
    container = docker_client.containers.get(name)
    assert container.exec_run(["cat", "/data/ok"]).output == b"admitted\n"
    assert container.exec_run(["ls", "/data"]).output == b"ok\n"
    assert reconcile("diff").returncode == 0
