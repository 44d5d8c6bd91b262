"""Remote Engines for real: the machine's Engine reached through an sshd of the tests' own
(scripts/sshd: 127.0.0.1, a key and known_hosts made for the tests, root's authorized_keys
in its private directory), docker contexts made by the real ``docker context create``, and
one state directory serving two Engines (the main one and a private dockerd).

The ssh client is the system's, run by reconcile as ``ssh`` from PATH, as the docker CLI runs
it; the tests put a wrapper first on PATH that adds ``-F`` with the test sshd's client config
(ssh reads ~/.ssh/config from the passwd entry, not from $HOME, so HOME cannot redirect it).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import docker.errors
import pytest
from docker import DockerClient

from tests.conftest import PrivateEngine

REPO = Path(__file__).resolve().parents[2]
PORT = os.environ.get("RECONCILE_SSHD_PORT", "2222")
SSH_HOST = f"ssh://root@127.0.0.1:{PORT}"
RECONCILE = Path(sys.executable).with_name("reconcile")
DOCKER_CLI = os.environ.get("DOCKER_CLI", "/usr/bin/docker")

CONTAINER = """\
apiVersion: reconcile/v1
kind: Container
metadata: {{name: {name}}}
spec:
  image: reconcile.local/busybox:latest
  command: [sh, -c, 'trap "exit 0" TERM; while true; do sleep 1; done']
  networkMode: none
  stopGracePeriod: 1s
"""


@pytest.fixture(scope="module")
def sshd_dir() -> Path:
    """The test sshd, started unless it runs (a failure, never a skip, when it cannot be)."""
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "sshd"), "start"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/sshd start failed: {done.stderr}", pytrace=False)
    return Path(done.stdout.strip())


def ssh_wrapper(directory: Path, config: Path) -> Path:
    """A directory with an ``ssh`` that is the system's with ``-F config``."""
    directory.mkdir(exist_ok=True)
    wrapper = directory / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {config} "$@"\n')
    wrapper.chmod(0o755)
    return directory


@pytest.fixture
def ssh_env(sshd_dir: Path, tmp_path: Path) -> dict[str, str]:
    """The environment of a user whose ssh knows the test sshd, with a docker config of its
    own, and no warm server."""
    bin_dir = ssh_wrapper(tmp_path / "bin", sshd_dir / "ssh_config")
    docker_config = tmp_path / "docker-config"
    docker_config.mkdir()
    return {
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "DOCKER_HOST": SSH_HOST,
        "DOCKER_CONFIG": str(docker_config),
        "RECONCILE_NO_SERVER": "1",
    }


def reconcile(
    *args: str | os.PathLike[str], env: Mapping[str, str | None], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the console script with ``env`` over the test process's environment (a None
    value removes the variable)."""
    environment = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    return subprocess.run(
        [str(RECONCILE), *map(str, args)],
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def manifests(directory: Path, *names: str) -> Path:
    directory.mkdir(exist_ok=True)
    for old in directory.glob("*.yaml"):
        old.unlink()
    for name in names:
        (directory / f"{name}.yaml").write_text(CONTAINER.format(name=name))
    return directory


def exists(client: DockerClient, name: str) -> bool:
    try:
        client.containers.get(name)
    except docker.errors.NotFound:
        return False
    return True


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    return done.stdout


def test_apply_diff_get_delete_over_ssh(
    ssh_env: dict[str, str],
    docker_client: DockerClient,
    test_image: str,
    unique_prefix: str,
    tmp_path: Path,
) -> None:
    web = f"{unique_prefix}-web"
    source = manifests(tmp_path / "m", web)
    common = ("-f", source, "-p", unique_prefix, "--state-dir", tmp_path / "state")
    for _ in range(2):  # every case twice: the second apply changes nothing
        ok(reconcile("apply", *common, env=ssh_env))
    assert docker_client.containers.get(web).status == "running"
    ok(reconcile("diff", *common, env=ssh_env))  # exit 0: in sync
    listed = ok(reconcile("get", *common, env=ssh_env))
    assert web in listed
    # A change is planned over ssh as over the socket (exit 3: changes pending).
    manifests(source, web, f"{unique_prefix}-db")
    assert reconcile("diff", *common, env=ssh_env).returncode == 3
    ok(reconcile("delete", *common, env=ssh_env))
    assert not exists(docker_client, web)
    assert not exists(docker_client, f"{unique_prefix}-db")


def test_events_and_logs_stream_over_ssh(
    ssh_env: dict[str, str], docker_client: DockerClient, test_image: str, unique_prefix: str
) -> None:
    # Streams (the Engine's events) and a pooled, kept-alive connection per request: the
    # runtime in this process, through the same ssh wrapper.
    import threading

    from reconciler.runtime.docker import DockerRuntime

    runtime = DockerRuntime.from_env({**os.environ, **ssh_env})
    stop = threading.Event()
    seen: list[str] = []
    name = f"{unique_prefix}-evt"

    def follow() -> None:
        for event in runtime.events(stop):
            seen.append(event.name)
            if event.name == name:
                stop.set()

    thread = threading.Thread(target=follow, daemon=True)
    try:
        assert runtime.ping()
        thread.start()
        time.sleep(3)  # the stream's own ssh connection is set up (~0.4 s here)
        docker_client.containers.run(
            test_image, ["true"], name=name, network_mode="none", detach=True
        )
        thread.join(30)
        assert name in seen
        calls = sum(runtime.calls.values())
        for _ in range(10):
            runtime.read_info()
        assert sum(runtime.calls.values()) == calls + 10
    finally:
        stop.set()
        runtime.close()
        thread.join(10)


def test_a_context_made_by_docker_context_create_is_followed(
    ssh_env: dict[str, str],
    docker_client: DockerClient,
    test_image: str,
    unique_prefix: str,
    tmp_path: Path,
) -> None:
    name = f"{unique_prefix}-ctx"
    env = {**ssh_env}
    created = subprocess.run(
        [DOCKER_CLI, "context", "create", name, "--docker", f"host={SSH_HOST}"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    web = f"{unique_prefix}-web"
    source = manifests(tmp_path / "m", web)
    common = ("-f", source, "-p", unique_prefix, "--state-dir", tmp_path / "state")
    nowhere = f"unix://{tmp_path}/nothing.sock"

    # --context wins over DOCKER_HOST, as for the docker CLI.
    done = reconcile("--context", name, "apply", *common, env={**env, "DOCKER_HOST": nowhere})
    ok(done)
    assert exists(docker_client, web)
    # DOCKER_CONTEXT, with DOCKER_HOST unset.
    ok(reconcile("diff", *common, env={**env, "DOCKER_HOST": "", "DOCKER_CONTEXT": name}))
    # DOCKER_HOST wins over DOCKER_CONTEXT: the unreachable socket, and nothing acts.
    refused = reconcile(
        "diff", *common, env={**env, "DOCKER_HOST": nowhere, "DOCKER_CONTEXT": name}
    )
    assert refused.returncode == 1 and "nothing.sock" in refused.stderr, refused.stderr
    # The config's current context (docker context use).
    used = subprocess.run(
        [DOCKER_CLI, "context", "use", name],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert used.returncode == 0, used.stderr
    config = json.loads(Path(env["DOCKER_CONFIG"], "config.json").read_text())
    assert config["currentContext"] == name
    ok(reconcile("diff", *common, env={**env, "DOCKER_HOST": ""}))
    # A context that does not exist is an error that names it.
    missing = reconcile("--context", f"{name}-gone", "diff", *common, env=env)
    assert missing.returncode == 1
    assert f'docker context "{name}-gone" (from --context) does not exist' in missing.stderr
    ok(reconcile("--context", name, "delete", *common, env=env))
    assert not exists(docker_client, web)


def test_an_unknown_host_key_is_refused_and_nothing_changes(
    sshd_dir: Path,
    ssh_env: dict[str, str],
    docker_client: DockerClient,
    test_image: str,
    unique_prefix: str,
    tmp_path: Path,
) -> None:
    strangers = tmp_path / "ssh_config"
    strangers.write_text(
        (sshd_dir / "ssh_config")
        .read_text()
        .replace(str(sshd_dir / "known_hosts"), str(tmp_path / "empty_known_hosts"))
    )
    (tmp_path / "empty_known_hosts").write_text("")
    # Even a user config that would ask is never asked: BatchMode on the command line.
    strangers.write_text(
        strangers.read_text().replace("StrictHostKeyChecking yes", "StrictHostKeyChecking ask")
    )
    bin_dir = ssh_wrapper(tmp_path / "strange-bin", strangers)
    env = {**ssh_env, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    web = f"{unique_prefix}-web"
    source = manifests(tmp_path / "m", web)
    done = reconcile(
        "apply", "-f", source, "-p", unique_prefix, "--state-dir", tmp_path / "state", env=env
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"error: cannot reach the Docker Engine at {SSH_HOST}: "), (
        done.stderr
    )
    assert "Host key verification failed" in done.stderr
    assert not exists(docker_client, web)
    assert (tmp_path / "empty_known_hosts").read_text() == ""  # nothing was accepted


@pytest.fixture
def second_engine(loaded_private_engine: PrivateEngine) -> PrivateEngine:
    """A second, real Engine (scripts/private-dockerd) with the test image loaded."""
    return loaded_private_engine


def test_one_state_directory_serving_two_engines_keeps_them_apart(
    second_engine: PrivateEngine,
    docker_client: DockerClient,
    test_image: str,
    unique_prefix: str,
    tmp_path: Path,
) -> None:
    a, b = f"{unique_prefix}-a", f"{unique_prefix}-b"
    state = tmp_path / "state"
    main = {"DOCKER_HOST": "unix:///var/run/docker.sock", "RECONCILE_NO_SERVER": "1"}
    other = {"DOCKER_HOST": second_engine.host, "RECONCILE_NO_SERVER": "1"}
    source = tmp_path / "m"
    project = ("-p", unique_prefix, "-f", source)
    second = second_engine.client()
    try:
        # The main Engine: a and b, with the shared state directory.
        manifests(source, a, b)
        ok(reconcile("apply", *project, "--state-dir", state, env=main))
        # The second Engine runs the same project, applied from another state directory.
        ok(reconcile("apply", *project, "--state-dir", tmp_path / "elsewhere", env=other))
        assert exists(second, b)
        # Now the shared state directory is pointed at the second Engine with only a. The
        # main Engine's inventory (a, b) must not make b on the second Engine prunable:
        # this state knows nothing the second Engine's reconcile made.
        manifests(source, a)
        pruned = reconcile("apply", *project, "--prune", "--state-dir", state, env=other)
        ok(pruned)
        assert exists(second, b), pruned.stdout + pruned.stderr
        assert "no inventory" in pruned.stderr, pruned.stderr
        # On the main Engine its own inventory still prunes its own b.
        planned = reconcile("diff", *project, "--prune", "--state-dir", state, env=main)
        assert planned.returncode == 3, planned.stderr
        assert b in planned.stdout and "remove" in planned.stdout, planned.stdout
        ok(reconcile("apply", *project, "--prune", "--state-dir", state, env=main))
        assert not exists(docker_client, b) and exists(docker_client, a)
        assert exists(second, b)
        # Where each state lives: the main Engine kept the directory, the other got its own.
        record = json.loads((state / "engines.json").read_text())
        assert record["addresses"]["unix:///var/run/docker.sock"] == record["root"]["key"]
        key = record["addresses"][second_engine.host]
        assert key != record["root"]["key"]
        assert (state / "engines" / key / "state.db").exists()
        # history is per Engine too: two revisions on the main Engine, one on the other.
        mine = json.loads(
            ok(
                reconcile(
                    "history", "-p", unique_prefix, "--state-dir", state, "-o", "json", env=main
                )
            )
        )
        theirs = json.loads(
            ok(
                reconcile(
                    "history", "-p", unique_prefix, "--state-dir", state, "-o", "json", env=other
                )
            )
        )
        assert len(theirs) == 1 and len(mine) >= 2, (mine, theirs)
    finally:
        for name in (a, b):
            with contextlib.suppress(docker.errors.NotFound):
                second.containers.get(name).remove(force=True)
        second.close()


def test_the_warm_server_runs_against_the_clients_engine(
    ssh_env: dict[str, str],
    docker_client: DockerClient,
    test_image: str,
    unique_prefix: str,
    tmp_path: Path,
) -> None:
    # A server started with an Engine of its own in its environment; the client names
    # another (a context, then a DOCKER_HOST): each command runs against the client's.
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    log = tmp_path / "server.log"
    server_env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/server-only.sock"}
    server_env.pop("RECONCILE_NO_SERVER", None)
    with open(log, "w", encoding="utf-8") as log_file:
        server = subprocess.Popen(
            [str(RECONCILE), "server", "--state-dir", str(state), "--idle-exit", "120"],
            env=server_env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
        )
    try:
        for _ in range(400):
            if "listening at" in log.read_text():
                break
            assert server.poll() is None, log.read_text()
            time.sleep(0.05)
        name = f"{unique_prefix}-ctx"
        env = {k: v for k, v in ssh_env.items() if k != "RECONCILE_NO_SERVER"}
        created = subprocess.run(
            [DOCKER_CLI, "context", "create", name, "--docker", f"host={SSH_HOST}"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
        )
        assert created.returncode == 0, created.stderr
        web = f"{unique_prefix}-web"
        source = manifests(tmp_path / "m", web)
        common = ("-f", source, "-p", unique_prefix, "--state-dir", state)
        warm = {**env, "DOCKER_HOST": "", "RECONCILE_NO_SERVER": None}
        ok(reconcile("--context", name, "apply", *common, env=warm))
        assert exists(docker_client, web)
        ok(reconcile("diff", *common, env={**warm, "DOCKER_CONTEXT": name}))
        # A DOCKER_HOST of the client's own is honoured too: the unreachable one fails.
        elsewhere = {**warm, "DOCKER_HOST": f"unix://{tmp_path}/client-only.sock"}
        broken = reconcile("diff", *common, env=elsewhere)
        assert broken.returncode == 1 and "client-only.sock" in broken.stderr, broken.stderr
        # The server ran all three (its log names each command it forked).
        said = log.read_text()
        assert said.count("apply: pid") == 1 and said.count("diff: pid") == 2, said
        ok(reconcile("delete", *common, env={**env, "DOCKER_HOST": "", "DOCKER_CONTEXT": name}))
    finally:
        server.terminate()
        server.wait(10)


def test_host_paths_are_refused_on_an_engine_of_another_host(
    ssh_env: dict[str, str], docker_client: DockerClient, unique_prefix: str, tmp_path: Path
) -> None:
    """Over ssh the Engine's host may be another machine: a bind mount or a device would
    name its files, which the policy judges here. Refused as a conflict; nothing created."""
    web = f"{unique_prefix}-web"
    source = tmp_path / "m"
    source.mkdir()
    (tmp_path / "data").mkdir()
    (source / "web.yaml").write_text(
        CONTAINER.format(name=web)
        + f"  mounts: [{{type: bind, source: {tmp_path / 'data'}, target: /data}}]\n"
    )
    done = reconcile(
        "apply", "-f", source, "-p", unique_prefix, "--state-dir", tmp_path / "st", env=ssh_env
    )
    assert done.returncode != 0
    shown = done.stdout + done.stderr
    assert "bind mounts" in shown and "over ssh" in shown, shown
    assert not exists(docker_client, web)
