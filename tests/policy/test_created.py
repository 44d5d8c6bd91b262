"""The post-create check: a bind source swapped for a symlink between admission and create."""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.errors import Location
from reconciler.manifests import ContainerManifest
from reconciler.manifests.container import BindMount
from reconciler.policy import Policy, admit, check_created
from tests.policy.support import container, fake_host, manifests, policy


def tree(tmp_path: Path) -> tuple[Path, Policy]:
    app = tmp_path / "srv" / "app"
    (app / "conf").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    return app, Policy(binds=((os.path.realpath(app), False),))


def admitted_source(source: Path, pol: Policy) -> str:
    doc = container(
        f"  image: x\n  mounts: [{{type: bind, source: {source}, target: /m, readOnly: true}}]\n"
    )
    admission = admit(manifests(doc), pol)
    assert admission.violations == ()
    manifest = admission.manifests[0].manifest
    assert isinstance(manifest, ContainerManifest)
    mount = manifest.spec.mounts[0]
    assert isinstance(mount, BindMount)
    return mount.source


def test_an_unchanged_source_passes(tmp_path: Path) -> None:
    app, pol = tree(tmp_path)
    source = admitted_source(app / "conf", pol)
    assert check_created("web", [(source, "/m")], pol) == []


def test_the_last_component_swapped_for_a_symlink_to_etc(tmp_path: Path) -> None:
    app, pol = tree(tmp_path)
    source = admitted_source(app / "conf", pol)
    (app / "conf").rename(app / "conf.old")
    (app / "conf").symlink_to("/etc")
    found = check_created("web", [(source, "/m")], pol, location=Location("m.yaml", 6, 25))
    assert [str(v) for v in found] == [
        f'[baseline/bind-mounts] container "web": bind source {source} now resolves to /etc: a '
        "path component was replaced by a symlink after admission (m.yaml:6:25)",
        f'[baseline/bind-mounts] container "web": bind source {source} (resolves to /etc) is '
        "always denied (a policy bind entry naming a subdirectory of /etc can re-allow it, "
        "read-only) (m.yaml:6:25)",
    ]
    assert {(v.mode, v.field) for v in found} == {("enforce", "mount /m")}


def test_a_middle_component_swapped_is_caught_even_if_the_allowlist_follows_it(
    tmp_path: Path,
) -> None:
    app, pol = tree(tmp_path)
    source = admitted_source(app / "conf", pol)
    # Swap /srv/app itself: the allowlist entry now resolves there too, so only the changed
    # resolution gives it away.
    (tmp_path / "elsewhere" / "conf").mkdir()
    app.rename(tmp_path / "srv" / "app.old")
    app.symlink_to(tmp_path / "elsewhere")
    found = check_created("web", [(source, "/m")], pol)
    real = os.path.realpath(tmp_path / "elsewhere" / "conf")
    assert [str(v) for v in found] == [
        f'[baseline/bind-mounts] container "web": bind source {source} now resolves to {real}: '
        "a path component was replaced by a symlink after admission"
    ]


def test_a_source_now_outside_the_allowlist(tmp_path: Path) -> None:
    _, pol = tree(tmp_path)
    elsewhere = os.path.realpath(tmp_path / "elsewhere")
    found = check_created("web", [(elsewhere, "/m")], pol)
    assert [v.message for v in found] == [
        f"bind source {elsewhere} is not under an allowlisted path (allowed: "
        f"{os.path.realpath(tmp_path / 'srv' / 'app')})"
    ]


def test_the_mode_and_profile_apply_after_create_too() -> None:
    host = fake_host({"/srv/app/conf": "/etc"})
    assert [
        v.mode
        for v in check_created("w", [("/srv/app/conf", "/m")], policy("mode: warn\n"), host=host)
    ] == ["warn", "warn"]
    assert (
        check_created("w", [("/srv/app/conf", "/m")], policy("profile: privileged\n"), host=host)
        == []
    )
    restricted = check_created(
        "w", [("/srv/app/data", "/m")], policy("profile: restricted\n"), host=host
    )
    assert [v.rule_id for v in restricted] == ["restricted/bind-mounts"]
