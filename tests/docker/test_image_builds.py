"""Images built from a context on the real Engine: a context change rebuilds and recreates
exactly the containers using that image; ``.dockerignore``d files and a no-op pass build and
pull nothing; a failing build shows the log's tail and the manifest and leaves the running
container as it was; a missing context is a manifest error; the policy refuses a context it
would refuse as a bind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest
from docker import DockerClient

from reconciler.converge.imagecleanup import image_cleanup
from reconciler.errors import ManifestError, PolicyRefusal
from reconciler.policy import Policy
from tests import registry_helpers as reg
from tests.conftest import remove_prefixed_resources
from tests.docker.scenario import Scenario

pytestmark = pytest.mark.docker

SET = """\
apiVersion: reconcile/v1
kind: Container
metadata: {name: $p-web}
spec:
  image: $p/site:dev
  build: {context: $ctx_a, args: {FLAVOUR: plain}}
  stopSignal: SIGKILL
---
apiVersion: reconcile/v1
kind: Container
metadata: {name: $p-web2}
spec:
  image: $p/site:dev
  build: {context: $ctx_a, args: {FLAVOUR: plain}}
  stopSignal: SIGKILL
---
apiVersion: reconcile/v1
kind: Container
metadata: {name: $p-api}
spec:
  image: $p/api:dev
  build: $ctx_b
  stopSignal: SIGKILL
"""

DOCKERFILE = (
    "FROM {base}\nARG FLAVOUR=none\nCOPY . /app\n"
    'RUN echo "$FLAVOUR" > /flavour\nCMD ["sleep", "3600"]\n'
)


@pytest.fixture
def contexts(
    sc: Scenario, docker_client: DockerClient, test_image: str, tmp_path: Path
) -> Iterator[tuple[Path, Path]]:
    a, b = tmp_path / "ctx-a", tmp_path / "ctx-b"
    for ctx in (a, b):
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(DOCKERFILE.format(base=test_image))
        (ctx / "page.txt").write_text(f"{ctx.name} 1\n")
        # Unique to the test: the builder's cache never hands it another test's image.
        (ctx / "test.txt").write_text(sc.project)
        (ctx / ".dockerignore").write_text("*.log\n")
    yield a, b
    remove_prefixed_resources(docker_client, sc.project)  # its containers hold the images
    reg.remove_images(docker_client, sc.project)


def _ids(sc: Scenario) -> dict[str, str]:
    return {n: str(sc.container(n).id) for n in ("web", "web2", "api")}


def test_a_context_change_rebuilds_and_recreates_exactly_its_containers(
    sc: Scenario, contexts: tuple[Path, Path]
) -> None:
    a, b = contexts
    sc.write(SET, ctx_a=a, ctx_b=b)
    first = sc.apply()
    assert sorted(s.name for s in first.plan.steps) == sorted(
        f"{sc.project}-{n}" for n in ("web", "web2", "api")
    )
    assert sc.runtime.calls["image.build"] == 2  # one build per image, not per container
    assert sc.exec("web", "cat", "/app/page.txt")[1] == "ctx-a 1\n"
    assert sc.exec("web2", "cat", "/flavour")[1] == "plain\n"
    sc.assert_in_sync()
    before = _ids(sc)

    # Neither an ignored file nor a no-op pass builds or pulls anything.
    (a / "debug.log").write_text("noise\n")
    builds = sc.runtime.calls["image.build"]
    again = sc.apply()
    assert not again.plan.steps
    assert sc.runtime.calls["image.build"] == builds
    assert sc.runtime.calls["image.pull"] == 0
    assert _ids(sc) == before

    (a / "page.txt").write_text("ctx-a 2\n")
    plan = sc.plan()
    steps = {s.name: s for s in plan.steps}
    assert set(steps) == {f"{sc.project}-web", f"{sc.project}-web2"}
    assert {str(s.reason) for s in steps.values()} == {"image-build"}
    assert all(d.path == "image.build" for s in steps.values() for d in s.diffs)
    sc.apply()
    assert sc.runtime.calls["image.build"] == builds + 1
    after = _ids(sc)
    assert after["api"] == before["api"]
    assert after["web"] != before["web"] and after["web2"] != before["web2"]
    assert sc.exec("web2", "cat", "/app/page.txt")[1] == "ctx-a 2\n"
    sc.assert_in_sync()

    # A build arg is part of the build.
    sc.write(SET.replace("FLAVOUR: plain", "FLAVOUR: spicy"), ctx_a=a, ctx_b=b)
    sc.apply()
    assert sc.exec("web", "cat", "/flavour")[1] == "spicy\n"
    assert _ids(sc)["api"] == before["api"]


def test_a_failing_build_names_the_manifest_and_keeps_the_container(
    sc: Scenario, contexts: tuple[Path, Path]
) -> None:
    a, b = contexts
    sc.write(SET, ctx_a=a, ctx_b=b)
    sc.apply()
    before = _ids(sc)
    with (b / "Dockerfile").open("a") as handle:
        handle.write("RUN echo about-to-fail && false\n")
    result = sc.apply(expect_ok=False)
    assert result.outcome is not None
    failed = dict((s.name, m) for s, m in result.outcome.failed)
    message = failed[f"{sc.project}-api"]
    assert "building" in message and "returned a non-zero code" in message
    assert "about-to-fail" in message  # the log's tail
    assert "set.yaml" in message  # the manifest
    assert _ids(sc) == before
    assert sc.container("api").attrs["State"]["Running"]


def test_a_missing_context_is_a_manifest_error_and_changes_nothing(
    sc: Scenario, contexts: tuple[Path, Path], tmp_path: Path
) -> None:
    a, _ = contexts
    sc.write(SET, ctx_a=a, ctx_b=tmp_path / "nowhere")
    with pytest.raises(ManifestError) as caught:
        sc.apply()
    text = str(caught.value)
    assert "set.yaml:" in text and "spec.build.context" in text and "nowhere" in text
    assert sc.container_names() == []


def test_the_policy_judges_a_context_as_a_read_only_bind(sc: Scenario) -> None:
    sc.write(SET, ctx_a="/etc", ctx_b="/etc")
    with pytest.raises(PolicyRefusal) as caught:
        sc.apply(policy=Policy(profile="baseline"))
    assert "build context /etc" in str(caught.value)
    assert sc.container_names() == []


def test_image_cleanup_removes_only_what_nothing_uses(
    sc: Scenario, contexts: tuple[Path, Path], docker_client: DockerClient
) -> None:
    a, b = contexts
    sc.write(SET, ctx_a=a, ctx_b=b)
    sc.apply()
    site_v1 = str(sc.container("web").attrs["Image"])
    api_v1 = str(sc.container("api").attrs["Image"])
    (a / "page.txt").write_text("ctx-a 2\n")
    (b / "page.txt").write_text("ctx-b 2\n")
    sc.apply()
    # Someone else's container runs the old api image; the old site image is unused.
    docker_client.containers.create(api_v1, ["true"], name=f"{sc.project}-theirs")
    with sc.state() as state:
        dry = image_cleanup(sc.runtime, state, sc.project, dry_run=True)
        assert {f.image_id for f in dry} >= {site_v1, api_v1}
        assert docker_client.images.get(site_v1)  # a dry run removes nothing
        removed = image_cleanup(sc.runtime, state, sc.project, dry_run=False)
    found = {f.image_id: f.outcome for f in removed}
    assert found[site_v1] == "removed"
    assert found[api_v1].startswith("kept: used by") and f"{sc.project}-theirs" in found[api_v1]
    in_use = str(sc.container("web").attrs["Image"])
    assert found[in_use].startswith("kept: used by")
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(site_v1)
    assert sc.container("web").attrs["State"]["Running"]
