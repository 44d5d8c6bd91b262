"""Image updates against the real Engine and a real registry (scripts/registry): a tag moved
in the registry (as someone else's push moves it; the Engine's own tag stays) is reported by
``notify`` without touching the container, applied by ``apply`` within an interval, rolled
back when the new image is unhealthy, held back by ``minAge``; a registry that refuses the
credentials, a deleted tag and a dead registry are reported while the container keeps
running."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker import DockerClient

from tests import registry_helpers as reg
from tests.conftest import remove_prefixed_resources
from tests.e2e.loop_helpers import LoopRig, eventually
from tests.notify.receiver import receiver

pytestmark = pytest.mark.docker

APP = """\
apiVersion: reconcile/v1
kind: Container
metadata: {name: $p-app}
spec:
  image: $ref
  updatePolicy: $policy
  stopSignal: SIGKILL
  restartPolicy: unless-stopped
"""

VERSION = 'FROM {base}\nRUN echo {v} > /version\nCMD ["sleep", "3600"]\n'
UNHEALTHY = (
    "FROM {base}\nRUN echo {v} > /version\n"
    "HEALTHCHECK --interval=1s --timeout=1s --retries=1 CMD false\n"
    'CMD ["sleep", "3600"]\n'
)


@pytest.fixture
def images(
    docker_client: DockerClient, test_image: str, unique_prefix: str, tmp_path: Path, rig: LoopRig
) -> Iterator[dict[str, str]]:
    """v1, v2 and v3 (unhealthy) of ``127.0.0.1:5055/<prefix>/app`` pushed, ``live`` = v1 in
    the registry only; maps each version to its image ID (and ``path`` to the repository path)."""
    reg.ensure_registries()
    path = f"{unique_prefix}/app"
    found = {"path": path}
    for v, text in (("v1", VERSION), ("v2", VERSION), ("v3", UNHEALTHY)):
        ref = f"{reg.OPEN}/{path}:{v}"
        # The prefix in each image: the builder's cache never hands it another test's image.
        dockerfile = text.format(base=test_image, v=f"{v}-{unique_prefix}")
        found[v] = reg.build(docker_client, ref, dockerfile, tmp_path / v)
        reg.push(docker_client, ref)
    reg.retag(reg.OPEN, path, "v1", "live")
    yield found
    # The loop first (it would pull and recreate again), then its containers (they hold the
    # images), then the images.
    rig.stop_all()
    remove_prefixed_resources(docker_client, unique_prefix)
    reg.remove_images(docker_client, unique_prefix)


def _declare(rig: LoopRig, ref: str, policy: str) -> None:
    (rig.directory / "app.yaml").write_text(rig.render(APP, ref=ref, policy=policy))


def _update(rig: LoopRig) -> dict[str, object]:
    found = rig.status().get("imageUpdates") or [{}]
    return dict(found[0])


def _image(rig: LoopRig) -> str:
    container = rig.container("app")
    return "" if container is None else str(container.attrs["Image"])


def _hook_config(rig: LoopRig, url: str) -> Path:
    key = rig.work / "hook.key"
    key.write_text("image-updates-hmac-key\n")
    key.chmod(0o600)
    path = rig.work / "notifications.yaml"
    path.write_text(
        f'sinks:\n  - name: oncall\n    webhook: {{url: "{url}/", secretFile: {key}}}\n'
    )
    return path


def test_notify_reports_a_new_digest_and_changes_nothing(
    rig: LoopRig, images: dict[str, str]
) -> None:
    ref = f"{reg.OPEN}/{images['path']}:live"
    _declare(rig, ref, "{mode: notify, interval: 1s}")
    with receiver() as hook:
        rig.start("--notify-config", str(_hook_config(rig, hook.url)))
        _notify_case(rig, images, ref)
        sent = hook.wait_for(lambda d: d.json()["kind"] == "update-available")
        assert sent is not None, "no update-available notification"
        assert sent.json()["resource"] == f"Image/{ref}"
        assert sent.json()["details"]["digest"] == _update(rig)["latest"]


def _notify_case(rig: LoopRig, images: dict[str, str], ref: str) -> None:
    rig.eventually(lambda: _image(rig) == images["v1"], "the container runs v1")
    before = rig.started_at("app")
    v2 = reg.retag(reg.OPEN, images["path"], "v2", "live")
    rig.eventually(lambda: _update(rig).get("latest") == v2, "the loop sees v2's digest")
    assert _update(rig)["state"] == "available"
    events = [e for e in rig.events() if e["reason"] == "update-available"]
    assert [e["name"] for e in events] == [ref]
    assert v2 in str(events[0]["message"])
    assert rig.started_at("app") == before, "notify must not touch the container"
    assert _image(rig) == images["v1"]


def test_apply_converges_then_an_unhealthy_update_is_rolled_back_and_rejected(
    rig: LoopRig, images: dict[str, str]
) -> None:
    ref = f"{reg.OPEN}/{images['path']}:live"
    _declare(rig, ref, "{mode: apply, interval: 1s}")
    rig.start()
    rig.eventually(lambda: _image(rig) == images["v1"], "the container runs v1")
    v2 = reg.retag(reg.OPEN, images["path"], "v2", "live")
    rig.eventually(lambda: _image(rig) == images["v2"], "the container follows to v2", 30)
    rig.eventually(lambda: _update(rig).get("state") == "current", "v2 is current")
    # History keeps the digest each image was pulled as.
    shown = rig.cli("history", "-o", "json")
    assert shown.returncode == 0, shown.stderr
    digests = [r.get("digests", {}) for r in json.loads(shown.stdout)]
    assert {ref: f"{reg.OPEN}/{images['path']}@{v2}"} in digests

    v3 = reg.retag(reg.OPEN, images["path"], "v3", "live")
    rig.eventually(
        lambda: any(e["reason"] == "update-rollback" for e in rig.events()),
        "the unhealthy v3 is rolled back",
        45,
    )
    rig.eventually(lambda: _image(rig) == images["v2"], "the container is back on v2", 30)
    rig.eventually(lambda: _update(rig).get("state") == "rejected", "v3 is rejected")
    assert _update(rig)["latest"] == v3
    # The rejected digest is never applied again, however often the registry is asked
    # (the interval is 1 s: a few checks pass meanwhile).
    time.sleep(4)
    applied = [e for e in rig.events() if e["reason"] == "update-applied" and v3 in e["message"]]
    assert len(applied) == 1
    assert _image(rig) == images["v2"]
    assert rig.container("app") is not None
    assert rig.container("app").attrs["State"]["Running"]  # type: ignore[union-attr]


def test_min_age_holds_a_fresh_digest_back(rig: LoopRig, images: dict[str, str]) -> None:
    ref = f"{reg.OPEN}/{images['path']}:live"
    _declare(rig, ref, "{mode: apply, interval: 1s, minAge: 1h}")
    rig.start()
    rig.eventually(lambda: _image(rig) == images["v1"], "the container runs v1")
    v2 = reg.retag(reg.OPEN, images["path"], "v2", "live")
    rig.eventually(lambda: _update(rig).get("state") == "waiting", "v2 waits for minAge")
    update = _update(rig)
    assert update["latest"] == v2
    assert "minAge" in str(update["detail"])
    assert _image(rig) == images["v1"]


def test_registry_problems_are_reported_and_the_container_keeps_running(
    rig: LoopRig, images: dict[str, str], docker_client: DockerClient, tmp_path: Path
) -> None:
    # The protected registry, with the right password at first: v1 is pulled.
    path = images["path"]
    secured = f"{reg.AUTH}/{path}:live"
    auth = {"username": reg.AUTH_USER, "password": reg.auth_password()}
    docker_client.images.get(images["v1"]).tag(secured)
    reg.push(docker_client, secured, auth)
    docker_client.images.remove(secured)
    config = tmp_path / "docker-config"
    config.mkdir()
    _login(config, reg.auth_password())
    rig.env = {**rig.env, "DOCKER_CONFIG": str(config)}
    _declare(rig, secured, "{mode: apply, interval: 1s}")
    rig.start()
    rig.eventually(lambda: _image(rig) == images["v1"], "v1 pulled with the credentials")
    rig.eventually(lambda: _update(rig).get("state") == "current", "checked with them")
    started = rig.started_at("app")

    _login(config, "not-the-password")
    rig.eventually(lambda: _update(rig).get("state") == "error", "refused credentials seen")
    detail = str(_update(rig)["detail"])
    assert "unauthorized" in detail
    assert reg.auth_password() not in detail and "not-the-password" not in detail
    assert rig.started_at("app") == started

    # The tag deleted from the registry.
    _login(config, reg.auth_password())
    rig.eventually(lambda: _update(rig).get("state") == "current", "credentials work again")
    _delete(path, str(_update(rig)["latest"]))
    rig.eventually(lambda: "not-found" in str(_update(rig).get("detail")), "the tag is gone")
    assert rig.started_at("app") == started
    logged = rig.processes[-1].log_path.read_text()
    assert reg.auth_password() not in logged


def _delete(path: str, digest: str) -> None:
    """Delete a manifest of the protected registry (with its credentials)."""
    import base64
    import urllib.request

    token = base64.b64encode(f"{reg.AUTH_USER}:{reg.auth_password()}".encode()).decode()
    request = urllib.request.Request(
        f"http://{reg.AUTH}/v2/{path}/manifests/{digest}",
        method="DELETE",
        headers={"Authorization": f"Basic {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 202


def _login(config: Path, password: str) -> None:
    login = ["docker", "--config", str(config), "login", "-u", reg.AUTH_USER]
    done = subprocess.run(
        [*login, "--password-stdin", reg.AUTH],
        input=password,
        capture_output=True,
        text=True,
        check=False,
    )
    if password == reg.auth_password():
        assert done.returncode == 0, done.stderr
    else:  # docker login checks the password: write the wrong one directly
        import base64

        token = base64.b64encode(f"{reg.AUTH_USER}:{password}".encode()).decode()
        (config / "config.json").write_text(json.dumps({"auths": {reg.AUTH: {"auth": token}}}))


def test_a_dead_registry_is_reported_and_nothing_changes(
    rig: LoopRig, images: dict[str, str], docker_client: DockerClient
) -> None:
    dead = f"127.0.0.1:5099/{images['path']}:live"  # nothing listens there
    docker_client.images.get(images["v1"]).tag(dead)
    _declare(rig, dead, "{mode: apply, interval: 1s}")
    rig.start()
    rig.eventually(lambda: _image(rig) == images["v1"], "the local image runs")
    rig.eventually(lambda: _update(rig).get("state") == "error", "the dead registry is seen")
    assert "unreachable" in str(_update(rig)["detail"])
    started = rig.started_at("app")
    eventually(lambda: rig.status().get("lastPass"), "a pass was reported")
    assert rig.started_at("app") == started
