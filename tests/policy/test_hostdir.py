"""The manifests directory: group/world-writable or foreign-owned files and directories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.policy import Policy, check_manifest_dir
from tests.policy.support import policy


def layout(tmp_path: Path) -> Path:
    root = tmp_path / "manifests"
    (root / "sub").mkdir(parents=True)
    (root / ".git").mkdir()
    for path in (
        root / "web.yaml",
        root / "sub" / "db.yml",
        root / "notes.txt",
        root / ".git" / "x.yaml",
    ):
        path.write_text("x")
        path.chmod(0o644)
    root.chmod(0o755)
    (root / "sub").chmod(0o755)
    return root


def test_a_tidy_directory_passes(tmp_path: Path) -> None:
    assert check_manifest_dir(layout(tmp_path), Policy()) == []


def test_writable_by_group_or_others(tmp_path: Path) -> None:
    root = layout(tmp_path)
    root.chmod(0o777)
    (root / "sub" / "db.yml").chmod(0o664)
    (root / "notes.txt").chmod(0o666)  # not a manifest: not judged
    (root / ".git" / "x.yaml").chmod(0o666)  # hidden directory: not read, not judged
    found = check_manifest_dir(root, Policy())
    assert [str(v) for v in found] == [
        f'[baseline/manifest-permissions] directory "{root}": is writable by group and others '
        f"(mode 0777): they can change what runs on this host; chmod go-w {root} ({root})",
        f'[baseline/manifest-permissions] file "{root}/sub/db.yml": is writable by group (mode '
        f"0664): they can change what runs on this host; chmod go-w {root}/sub/db.yml "
        f"({root}/sub/db.yml)",
    ]
    assert {v.mode for v in found} == {"warn"}
    strict = policy("rules:\n  baseline/manifest-permissions: {mode: enforce}\n")
    assert {v.mode for v in check_manifest_dir(root, strict)} == {"enforce"}
    assert check_manifest_dir(root, policy("profile: privileged\n")) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_owned_by_another_user(tmp_path: Path) -> None:
    root = layout(tmp_path)
    os.chown(root / "web.yaml", 12345, 12345)
    found = check_manifest_dir(root, Policy())
    assert [v.message for v in found] == [
        f"is owned by uid 12345, not by root or the reconciler's user (uid {os.geteuid()}): that "
        "user can change what runs on this host; chown it"
    ]
    # Running as that user, the file is fine (root-owned ones are always fine).
    assert check_manifest_dir(root, Policy(), uid=12345) == []
