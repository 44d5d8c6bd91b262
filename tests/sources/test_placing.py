"""A fleet's selection: a manifest's own placement, else its directory's placement.yaml,
else every host; what a host needs but is placed elsewhere; a directory source and a git
commit cut down to this host (real files and a local git repository; no Engine)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler.errors import SourceUnavailable
from reconciler.loading import load
from reconciler.manifests.placement import Host
from reconciler.sources.directory import DirectorySource
from reconciler.sources.git import GitSource
from reconciler.sources.placing import select

SHOP = Host("shop-3-a", {"site": "shop-3"})
HQ = Host("hq-1", {"site": "hq"})


def container(name: str, placement: str = "", networks: str = "") -> str:
    meta = f"{{name: {name}, placement: {placement}}}" if placement else f"{{name: {name}}}"
    extra = f"  networks: [{networks}]\n" if networks else ""
    head = f"apiVersion: reconcile/v1\nkind: Container\nmetadata: {meta}\n"
    return head + "spec:\n  image: busybox:test\n" + extra


def network(name: str) -> str:
    return f"apiVersion: reconcile/v1\nkind: Network\nmetadata: {{name: {name}}}\nspec: {{}}\n"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def chosen(root: Path, host: Host) -> tuple[list[str], list[str], list[str]]:
    result = load([root], recursive=True)
    assert result.ok, result.problems
    selection = select(result.manifests, lambda: host, [root])
    return (
        sorted(p.item.name for p in selection.here),
        sorted(p.item.name for p in selection.elsewhere),
        [str(p) for p in selection.problems],
    )


def test_the_nearest_placement_wins(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "everywhere.yaml": container("agent"),
            "shop/placement.yaml": "selector: {matchLabels: {site: shop-3}}\n",
            "shop/web.yaml": container("web"),
            "shop/deep/db.yaml": container("db"),
            "shop/hq.yaml": container("report", "{hosts: [hq-1]}"),
        },
    )
    assert chosen(root, SHOP) == (["agent", "db", "web"], ["report"], [])
    assert chosen(root, HQ) == (["agent", "report"], ["db", "web"], [])


def test_without_any_placement_the_host_is_never_asked(tmp_path: Path) -> None:
    root = write(tmp_path, {"a.yaml": container("a")})
    result = load([root])

    def no_host() -> Host:
        raise AssertionError("the host file was read for a set without placements")

    selection = select(result.manifests, no_host, [root])
    assert [p.item.name for p in selection.here] == ["a"] and not selection.placed


def test_a_container_needing_what_is_placed_elsewhere_is_a_problem(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "web.yaml": container("web", "{hosts: [shop-3-a]}", networks="front"),
            "net.yaml": network("front").replace(
                "{name: front}", "{name: front, placement: {hosts: [hq-1]}}"
            ),
        },
    )
    _, _, problems = chosen(root, SHOP)
    assert problems == [
        f"{root}/web.yaml:6:14: spec.networks[0]: Network 'front' is not placed on host "
        "shop-3-a (it runs on hosts hq-1 (from metadata.placement)), but Container 'web' is "
        "and needs it; place both alike"
    ]


def test_an_invalid_placement_file_places_its_manifests_nowhere(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "shop/placement.yaml": "selector: {matchLabel: {site: x}}\n",
            "shop/web.yaml": container("web"),
        },
    )
    here, elsewhere, problems = chosen(root, SHOP)
    assert (here, elsewhere) == ([], [])
    assert problems == [
        f"{root}/shop/placement.yaml:1:1: selector: a selector needs matchLabels or "
        "matchExpressions (to run everywhere, leave placement out)",
        f"{root}/shop/placement.yaml:1:12: selector.matchLabel: unknown field 'matchLabel'; "
        "did you mean matchLabels?",
        f"{root}/shop/web.yaml:2:1: the placement.yaml of its directory is invalid",
    ]


def test_a_directory_source_neither_applies_nor_prunes_under_a_broken_placement_yaml(
    tmp_path: Path,
) -> None:
    root = write(tmp_path, {"placement.yaml": "hosts: [shop-3-a]\n", "web.yaml": container("web")})
    source = DirectorySource(root, host=lambda: SHOP)
    assert [m.name for m in source.read().manifests] == ["web"]
    assert not DirectorySource(root, host=lambda: HQ).read().manifests
    (root / "placement.yaml").write_text("hosts: [not valid]\n")
    broken = source.read(force=True)
    # Where web runs is unknown: it is not in the set, and the set may not be pruned.
    assert not broken.manifests and not broken.prune_safe
    assert any("placement.yaml of its directory is invalid" in str(p) for p in broken.problems)


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def commit(clone: Path, files: dict[str, str]) -> str:
    write(clone, files)
    git(clone, "add", "-A")
    git(clone, "commit", "--quiet", "-m", "x")
    git(clone, "push", "--quiet", "origin", "main")
    return git(clone, "rev-parse", "HEAD")


def test_a_commit_that_places_nothing_on_this_host_is_refused(tmp_path: Path) -> None:
    bare, clone = tmp_path / "r.git", tmp_path / "clone"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch", "main", str(bare))
    git(tmp_path, "init", "--quiet", "--initial-branch", "main", str(clone))
    git(clone, "remote", "add", "origin", f"file://{bare}")
    first = commit(
        clone,
        {
            "deploy/placement.yaml": "selector: {matchLabels: {site: shop-3}}\n",
            "deploy/web.yaml": container("web"),
        },
    )
    typo = Host("shop-3-a", {"stie": "shop-3"})  # a typo in the host file's labels
    source = GitSource(f"file://{bare}", "main", "deploy", tmp_path / "work", host=lambda: typo)
    with pytest.raises(SourceUnavailable) as caught:
        source.read()
    assert source.commit is None
    assert str(caught.value) == (
        f"git source file://{bare}: commit {first[:12]}: it places nothing on host shop-3-a "
        "(stie=shop-3) (1 resources under deploy/ are all placed elsewhere); refusing to "
        "remove everything here (check the host file, or pass --allow-empty to allow it)"
    )
    right = GitSource(f"file://{bare}", "main", "deploy", tmp_path / "work2", host=lambda: SHOP)
    assert [m.name for m in right.read().manifests] == ["web"]
