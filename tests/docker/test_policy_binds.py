"""Bind admission against real containers: the Engine mounts the resolved path, and the
post-create check catches a path component swapped for a symlink after admission."""

from __future__ import annotations

import os
from pathlib import Path

from docker import DockerClient
from docker.models.containers import Container
from docker.types import Mount

from reconciler.manifests import ContainerManifest
from reconciler.manifests.container import BindMount
from reconciler.policy import Policy, admit, check_created
from tests.policy.support import container, manifests


def host_tree(tmp_path: Path) -> tuple[Path, Policy]:
    """/…/srv/app/conf holding a file, allowlisted read-only, and a symlink /…/srv/current."""
    app = tmp_path / "srv" / "app"
    (app / "conf").mkdir(parents=True)
    (app / "conf" / "site.conf").write_text("ok\n")
    (tmp_path / "srv" / "current").symlink_to(app)
    return app, Policy(binds=((os.path.realpath(app), False),))


def admitted_bind(source: Path, pol: Policy) -> tuple[str, list[str]]:
    doc = container(
        f"  image: x\n  mounts: [{{type: bind, source: {source}, target: /conf, readOnly: true}}]\n"
    )
    admission = admit(manifests(doc), pol)
    manifest = admission.manifests[0].manifest
    assert isinstance(manifest, ContainerManifest)
    mount = manifest.spec.mounts[0]
    assert isinstance(mount, BindMount)
    return mount.source, [str(v) for v in admission.denied]


def start(client: DockerClient, image: str, name: str, source: str) -> Container:
    made = client.containers.run(
        image,
        ["sleep", "300"],
        name=name,
        detach=True,
        network_mode="none",  # no network needed; keeps the test off the default bridge
        mounts=[Mount("/conf", source, type="bind", read_only=True)],
    )
    made.reload()
    return made


def engine_binds(made: Container) -> list[tuple[str, str]]:
    """The created container's bind mounts as the Engine reports them."""
    return [(m["Source"], m["Destination"]) for m in made.attrs["Mounts"] if m["Type"] == "bind"]


def test_the_engine_mounts_the_resolved_source(
    docker_client: DockerClient, test_image: str, unique_prefix: str, tmp_path: Path
) -> None:
    app, pol = host_tree(tmp_path)
    source, refused = admitted_bind(tmp_path / "srv" / "current" / "conf", pol)
    assert refused == []
    assert source == os.path.realpath(app / "conf")
    made = start(docker_client, test_image, f"{unique_prefix}-web", source)
    assert engine_binds(made) == [(source, "/conf")]
    assert made.exec_run(["cat", "/conf/site.conf"]).output == b"ok\n"
    assert check_created(made.name or "", engine_binds(made), pol) == []


def test_a_symlink_swapped_in_after_admission_is_caught_and_the_container_removed(
    docker_client: DockerClient, test_image: str, unique_prefix: str, tmp_path: Path
) -> None:
    app, pol = host_tree(tmp_path)
    source, refused = admitted_bind(app / "conf", pol)
    assert refused == []
    # The race, by hand: between admission and create, conf becomes a symlink to /etc.
    (app / "conf").rename(app / "conf.old")
    (app / "conf").symlink_to("/etc")
    made = start(docker_client, test_image, f"{unique_prefix}-web", source)
    found = check_created("web", engine_binds(made), pol)
    assert [str(v) for v in found] == [
        f'[baseline/bind-mounts] container "web": bind source {source} now resolves to /etc: a '
        "path component was replaced by a symlink after admission",
        f'[baseline/bind-mounts] container "web": bind source {source} (resolves to /etc) is '
        "always denied (a policy bind entry naming a subdirectory of /etc can re-allow it, "
        "read-only)",
    ]
    # What the reconciler does with enforce-mode findings: remove the container.
    assert {v.mode for v in found} == {"enforce"}
    made.remove(force=True)
    assert docker_client.containers.list(all=True, filters={"id": made.id or "?"}) == []
