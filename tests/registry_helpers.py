"""The local image registries of scripts/registry, for the image tests: pushing test images,
moving a tag in the registry only (so the Engine's own tag stays where it was, as when
someone else pushes), deleting a tag, and removing a test's images afterwards."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import docker.errors
import pytest
from docker import DockerClient

OPEN = "127.0.0.1:5055"
AUTH = "127.0.0.1:5056"
AUTH_USER = "reconcile"
PASSWORD_FILE = (
    Path(os.environ.get("REGISTRY_ROOT", "/var/lib/reconcile-registry")) / "auth/password"
)
SCRIPT = Path(__file__).parents[1] / "scripts" / "registry"
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def ensure_registries() -> None:
    """Start the registries unless they answer; a test that needs them fails without."""
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"the local registries are not available:\n{done.stderr}", pytrace=False)


def auth_password() -> str:
    return PASSWORD_FILE.read_text().strip()


def build(client: DockerClient, ref: str, dockerfile: str, directory: Path) -> str:
    """Build ``dockerfile`` (text) in ``directory`` as ``ref``; the image ID."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Dockerfile").write_text(dockerfile)
    image, _ = client.images.build(path=str(directory), tag=ref, rm=True)
    return str(image.id)


def push(client: DockerClient, ref: str, auth: dict[str, str] | None = None) -> None:
    repository, _, tag = ref.rpartition(":")
    for line in client.images.push(repository, tag, stream=True, decode=True, auth_config=auth):
        if "error" in line:
            raise AssertionError(f"push of {ref} failed: {line['error']}")


def _request(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def retag(registry: str, path: str, source_tag: str, tag: str) -> str:
    """Point ``path:tag`` at ``path:source_tag``'s manifest in the registry; its digest."""
    status, body, _ = _request(
        "GET", f"http://{registry}/v2/{path}/manifests/{source_tag}", headers={"Accept": MANIFEST}
    )
    assert status == 200, f"no manifest {path}:{source_tag} in {registry} ({status})"
    status, _, headers = _request(
        "PUT",
        f"http://{registry}/v2/{path}/manifests/{tag}",
        body,
        {"Content-Type": json.loads(body).get("mediaType", MANIFEST)},
    )
    assert status == 201, f"cannot put {path}:{tag} ({status})"
    return headers["Docker-Content-Digest"]


def delete_manifest(registry: str, path: str, digest: str) -> None:
    """Delete a manifest (and so every tag naming it) from the registry."""
    status, _, _ = _request("DELETE", f"http://{registry}/v2/{path}/manifests/{digest}")
    assert status == 202, f"cannot delete {path}@{digest} ({status})"


def remove_images(client: DockerClient, prefix: str) -> None:
    """Remove every local image with a tag containing ``prefix`` (the test's own). The plain
    list: the SDK's ``images.list`` inspects each image, and a parallel test's removal in
    between would fail it."""
    for image in client.api.images():
        tags = image.get("RepoTags") or []
        if any(prefix in tag for tag in tags):
            # A parallel test's cleanup may race, or a container still use it: best effort.
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(str(image["Id"]), force=True)
