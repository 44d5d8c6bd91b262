"""The stacks of tests/compose/stacks validate as they are written (no Engine): ``reconcile
validate -f compose.yaml`` reads each one with its ``.env``, profiles and extends; the GPU
stack, which cannot run here, is checked only this way.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.loading import load
from reconciler.loading.compose.binary import Options
from tests.compose.conftest import IMAGE, PRIVILEGED_POLICY, STACKS, Reconcile

# stack -> (needs the privileged policy, validate's summary)
SUMMARIES = {
    "wordpress": (False, "OK: 1 file, 2 Containers, 1 Network, 2 Volumes"),
    "nextcloud": (False, "OK: 1 file, 4 Containers, 2 Networks, 2 Volumes"),
    "vpn": (True, "OK: 1 file, 2 Containers, 1 Network, 1 Volume"),
    "profiles": (False, "OK: 1 file, 1 Container, 1 Network"),
    "extends": (False, "OK: 1 file, 2 Containers, 1 Network"),
    "dotenv": (False, "OK: 1 file, 1 Container, 1 Network, 1 Volume"),
    "migration": (False, "OK: 1 file, 2 Containers, 1 Network, 1 Volume"),
    "gpu": (True, "OK: 1 file, 1 Container, 1 Network, 1 Volume"),
}
PORTS = {"WEB_PORT": "28080", "SSH_PORT": "28022"}


def test_every_stack_is_listed() -> None:
    assert sorted(p.name for p in STACKS.iterdir() if p.is_dir()) == sorted(SUMMARIES)


@pytest.mark.parametrize("stack", sorted(SUMMARIES))
def test_stack_validates(
    stack: str, reconcile: Reconcile, baseline_policy: Path, tmp_path: Path
) -> None:
    privileged, summary = SUMMARIES[stack]
    env = dict(PORTS) if stack == "dotenv" else {"IMAGE": IMAGE, **PORTS}
    policy = PRIVILEGED_POLICY if privileged else baseline_policy
    done = reconcile(
        "validate", "-f", "compose.yaml", "--policy", policy, cwd=STACKS / stack, env=env
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.strip() == summary


@pytest.mark.parametrize(
    ("args", "env", "containers"),
    [
        ((), {}, 1),
        (("--profile", "debug"), {}, 2),
        ((), {"COMPOSE_PROFILES": "debug"}, 2),
    ],
    ids=["no-profile", "--profile", "COMPOSE_PROFILES"],
)
def test_profiles(
    args: tuple[str, ...], env: dict[str, str], containers: int, reconcile: Reconcile
) -> None:
    done = reconcile(
        "validate",
        "-f",
        "compose.yaml",
        *args,
        cwd=STACKS / "profiles",
        env={"IMAGE": IMAGE, **env},
    )
    assert done.returncode == 0, done.stderr
    plural = "s" if containers > 1 else ""
    assert done.stdout.strip() == f"OK: 1 file, {containers} Container{plural}, 1 Network"


def test_gpu_reservation_is_refused_by_the_baseline(
    reconcile: Reconcile, baseline_policy: Path
) -> None:
    done = reconcile(
        "validate",
        "-f",
        "compose.yaml",
        "-p",
        "ml",
        "--policy",
        baseline_policy,
        cwd=STACKS / "gpu",
        env={"IMAGE": IMAGE},
    )
    assert done.returncode == 1
    first = done.stderr.splitlines()[0]
    assert first == (
        '[baseline/gpus] container "ml-ollama-1": GPUs are not granted to this container '
        "(compose.yaml:13:11)"
    )


def _load(stack: str, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> dict[str, object]:
    """The manifests of a stack, loaded in-process, by name."""
    for key in ("COMPOSE_PROFILES", "COMPOSE_FILE", "IMAGE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = load([STACKS / stack / "compose.yaml"], compose=Options(project_name="p"))
    assert not result.problems, result.problems
    return {m.manifest.metadata.name: m.manifest for m in result.manifests}


def test_gpu_reservation_maps_to_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    manifests = _load("gpu", monkeypatch, {"IMAGE": IMAGE})
    gpus = manifests["p-ollama-1"].spec.gpus  # type: ignore[attr-defined]
    assert (gpus.count, gpus.device_ids, gpus.driver, gpus.capabilities) == (
        1,
        None,
        "nvidia",
        ["gpu"],
    )


def test_dotenv_interpolation(monkeypatch: pytest.MonkeyPatch) -> None:
    """``.env`` beside the file, ``${VAR:-default}``, ``${VAR:?message}`` (set)."""
    manifests = _load("dotenv", monkeypatch, {"SSH_PORT": "28022"})
    spec = manifests["p-gitea"].spec  # type: ignore[attr-defined]
    assert spec.image == IMAGE  # from .env
    assert dict(spec.env) == {
        "USER_UID": "1001",  # .env
        "USER_GID": "1000",  # the default
        "GITEA__database__DB_TYPE": "sqlite3",
        "GITEA__database__PASSWD": "s3cret-from-dotenv",
        "GITEA__server__ROOT_URL": "http://git.example.org:3000/",
        "GITEA__log__LEVEL": "Warn",
    }


def test_dollar_dollar_is_a_literal_dollar(monkeypatch: pytest.MonkeyPatch) -> None:
    manifests = _load("dotenv", monkeypatch, {"SSH_PORT": "28022"})
    spec = manifests["p-gitea"].spec  # type: ignore[attr-defined]
    assert spec.args[-1] == (
        "trap 'exit 0' TERM; echo \"uid=${USER_UID}\" > /tmp/who; while true; do sleep 1; done"
    )


def test_dotenv_required_variable(reconcile: Reconcile) -> None:
    """``${SSH_PORT:?SSH_PORT must be set}`` unset: compose's message reaches the user."""
    done = reconcile("validate", "-f", "compose.yaml", cwd=STACKS / "dotenv")
    assert done.returncode == 1
    assert "required variable SSH_PORT is missing a value: SSH_PORT must be set" in done.stderr
