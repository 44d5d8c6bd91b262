"""A fleet from one repository: ``reconcile sync --once`` for two hosts (each its own host
file, project and state) against one local bare repository and one shared Engine. Each host
converges its own selection and prunes nothing of the other's; a manifest moved from one host
to the other moves its container; a typo in a host file refuses the commit instead of
emptying the host. Container names carry the test's prefix (removed afterwards)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from docker import DockerClient

from tests.e2e.git_helpers import PATH, SyncRig
from tests.e2e.loop_helpers import LoopRig

PROJECT_LABEL = "io.reconcile.project"


@dataclass
class Host:
    """One host of the fleet: its sync rig (project ``<prefix>-<name>``) and host file."""

    sync: SyncRig
    host_file: Path

    def once(self, *extra: str) -> tuple[int, str]:
        done = self.sync.once("-R", "--prune", "--host-file", str(self.host_file), *extra)
        return done.returncode, done.stderr


def make_host(base: SyncRig, name: str, labels: str) -> Host:
    work = base.rig.work / name
    work.mkdir()
    host_file = work / "host.yaml"
    host_file.write_text(f"name: {base.project}-{name}\nlabels: {labels}\n")
    old = base.rig
    rig = LoopRig(
        f"{base.project}-{name}",
        old.image,
        old.directory,
        work / "state",
        old.client,
        old.reconcile_bin,
        work,
    )
    return Host(SyncRig(rig, base.remote), host_file)


def placement(site: str) -> str:
    return f"selector: {{matchLabels: {{site: {site}}}}}\n"


def owners(client: DockerClient, prefix: str) -> dict[str, tuple[str, str]]:
    """Container name (after the prefix) -> (project label, id)."""
    found = client.containers.list(all=True, filters={"name": prefix})
    return {
        (c.name or "").removeprefix(f"{prefix}-"): (c.labels.get(PROJECT_LABEL, ""), str(c.id))
        for c in found
        if (c.name or "").startswith(f"{prefix}-")
    }


def test_each_host_converges_its_selection_and_a_moved_manifest_moves(
    sync: SyncRig, docker_client: DockerClient
) -> None:
    p = sync.project
    a = make_host(sync, "a", "{site: shop-1}")
    b = make_host(sync, "b", "{site: shop-2, gpu: 'true'}")
    trainer = sync.container_yaml("trainer").replace(
        f"name: {p}-trainer", f"name: {p}-trainer, placement: {{hosts: [{p}-b]}}"
    )
    assert "placement" in trainer
    sync.remote.commit(
        {
            f"{PATH}/shop-1/placement.yaml": placement("shop-1"),
            f"{PATH}/shop-1/web.yaml": sync.container_yaml("web"),
            f"{PATH}/shop-1/cache.yaml": sync.container_yaml("cache"),
            f"{PATH}/shop-2/placement.yaml": placement("shop-2"),
            f"{PATH}/shop-2/pos.yaml": sync.container_yaml("pos"),
            f"{PATH}/trainer.yaml": trainer,
        },
        "two shops and a trainer",
    )
    for host in (a, b):
        code, err = host.once()
        assert code == 0, err
    first = owners(docker_client, p)
    assert {n: proj for n, (proj, _) in first.items()} == {
        "web": f"{p}-a",
        "cache": f"{p}-a",
        "pos": f"{p}-b",
        "trainer": f"{p}-b",
    }
    # Again: each host is in sync, and neither pruned the other's containers.
    for host in (a, b):
        code, err = host.once()
        assert code == 0, err
    assert owners(docker_client, p) == first

    # What the move will do, seen before it is applied: diff for host a with its host file.
    sync.remote.commit(
        {
            f"{PATH}/shop-1/cache.yaml": None,
            f"{PATH}/shop-2/cache.yaml": sync.container_yaml("cache"),
        },
        "move the cache to shop 2",
    )
    diff = a.sync.cli(
        "diff",
        "-R",
        "-f",
        str(sync.remote.clone / PATH),
        "--prune",
        "--host-file",
        str(a.host_file),
    )
    assert diff.returncode == 3, diff.stderr
    assert f"- remove   Container/{p}-cache  (not-declared)" in diff.stdout
    assert f"  elsewhere  Container/{p}-cache: labels site=shop-2 (from " in diff.stderr

    code, err = a.once()  # a prunes what moved away (1 of its 2: within the guard)
    assert code == 0, err
    moved = owners(docker_client, p)
    assert "cache" not in moved
    assert moved["web"] == first["web"] and moved["pos"] == first["pos"]
    code, err = b.once()
    assert code == 0, err
    after = owners(docker_client, p)
    assert after["cache"][0] == f"{p}-b"
    assert {n: v for n, v in after.items() if n != "cache"} == {
        n: v for n, v in first.items() if n != "cache"
    }

    # A typo in a's host file selects nothing: the commit is refused, nothing is removed.
    a.host_file.write_text(f"name: {p}-a\nlabels: {{stie: shop-1}}\n")
    sync.push("touch web", web=2)
    code, err = a.once()
    assert code == 1
    assert f"it places nothing on host {p}-a (stie=shop-1)" in err
    assert owners(docker_client, p) == after
