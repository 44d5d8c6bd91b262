"""``reconcile sync --once`` against a local bare repository: each new commit is applied whole,
and every kind of bad head (invalid manifest, force-push, deleted path, empty set, remote gone)
is refused with exit 1 and its SHA, while the last applied commit keeps running untouched."""

from __future__ import annotations

from docker import DockerClient

from tests.e2e.git_helpers import SyncRig


def test_commit_sync_change_sync(sync: SyncRig, docker_client: DockerClient) -> None:
    first = sync.push("a and b", a=1, b=1)
    done = sync.once()
    assert done.returncode == 0, done.stderr
    before = sync.engine_state()
    assert {n: gen for n, (_, gen) in before.items()} == {"a": "1", "b": "1"}
    assert all(sync.rig.running(n) for n in "ab")

    second = sync.push("b to generation 2, add c", b=2, c=1)
    done = sync.once()
    assert done.returncode == 0, done.stderr
    after = sync.engine_state()
    assert {n: gen for n, (_, gen) in after.items()} == {"a": "1", "b": "2", "c": "1"}
    assert after["a"] == before["a"], "a was not touched"
    assert after["b"][0] != before["b"][0], "b was recreated"

    # Nothing new upstream: nothing changes, no new revision.
    done = sync.once()
    assert done.returncode == 0, done.stderr
    assert sync.engine_state() == after

    image_id = docker_client.images.get(sync.rig.image).id
    revisions = sync.history()
    assert [(r["number"], r["source"], r["outcome"], r["resources"]) for r in revisions] == [
        (2, sync.source_of(second), "ok", 3),
        (1, sync.source_of(first), "ok", 2),
    ]
    assert revisions[0]["images"] == {sync.rig.image: image_id}
    status = sync.status()
    assert status["revision"] == 2
    assert status["pinnedTo"] is None

    # A commit that drops c, with --prune, removes it (and only it).
    sync.push("drop c", c=None)
    done = sync.once("--prune")
    assert done.returncode == 0, done.stderr
    assert set(sync.engine_state()) == {"a", "b"}
    assert sync.engine_state()["a"] == before["a"]


def test_a_commit_with_an_invalid_manifest_keeps_the_last_applied_running(
    sync: SyncRig,
) -> None:
    sync.push("a", a=1)
    assert sync.once().returncode == 0
    before = sync.engine_state()

    bad_yaml = sync.container_yaml("a", 2).replace("restartPolicy", "restartPolcy")
    bad = sync.remote.commit(
        {"deploy/a.yaml": bad_yaml, "deploy/b.yaml": sync.container_yaml("b")}, "typo in a, add b"
    )
    done = sync.once("--prune")

    assert done.returncode == 1, done.stdout + done.stderr
    assert f"commit {bad[:12]}: its manifests do not validate" in done.stderr
    assert "a.yaml:8:3: spec.restartPolcy: unknown field" in done.stderr
    assert "did you mean restartPolicy?" in done.stderr
    assert sync.engine_state() == before, "taken whole or not at all: b is not created either"
    assert [r["number"] for r in sync.history()] == [1]

    fixed = sync.push("fix a", a=2)
    done = sync.once()
    assert done.returncode == 0, done.stderr
    assert {n: gen for n, (_, gen) in sync.engine_state().items()} == {"a": "2", "b": "1"}
    assert sync.history()[0]["source"] == sync.source_of(fixed)


def test_the_first_commit_invalid_creates_nothing_and_exits_1(sync: SyncRig) -> None:
    text = sync.container_yaml("a").replace("image:", "imagee:")
    sha = sync.remote.commit({"deploy/a.yaml": text}, "broken from the start")
    done = sync.once()
    assert done.returncode == 1
    assert f"commit {sha[:12]}: its manifests do not validate" in done.stderr, done.stderr
    assert "spec.imagee: unknown field 'imagee'; did you mean image?" in done.stderr
    assert "Traceback" not in done.stderr
    assert sync.engine_state() == {}
    assert sync.history() == []


def test_a_force_push_is_refused_naming_both_shas_unless_allowed(sync: SyncRig) -> None:
    old = sync.push("generation 1", a=1)
    assert sync.once().returncode == 0
    new = sync.push("generation 2", a=2)
    assert sync.once().returncode == 0
    running = sync.engine_state()
    assert running["a"][1] == "2"

    sync.remote.force_push(old)
    done = sync.once()
    assert done.returncode == 1, done.stderr
    assert f"force-pushed from {new[:12]} to {old[:12]}" in done.stderr
    assert "--allow-force-push" in done.stderr
    assert sync.engine_state() == running

    done = sync.once("--allow-force-push")
    assert done.returncode == 0, done.stderr
    assert sync.engine_state()["a"][1] == "1"
    newest = sync.history()[0]
    assert (newest["number"], newest["source"]) == (3, sync.source_of(old))

    # Having followed it, the branch goes on from there without the flag.
    sync.push("generation 3 on the rewritten branch", a=3)
    assert sync.once().returncode == 0
    assert sync.engine_state()["a"][1] == "3"


def test_a_commit_that_deletes_the_path_is_refused(sync: SyncRig) -> None:
    sync.push("a", a=1)
    assert sync.once().returncode == 0
    running = sync.engine_state()

    sha = sync.remote.commit({"deploy": None, "README.md": "moved away\n"}, "remove deploy/")
    # Neither flag makes a missing path mean "remove everything".
    done = sync.once("--prune", "--allow-empty")
    assert done.returncode == 1, done.stderr
    assert f"commit {sha[:12]}: path deploy/ does not exist at commit {sha[:12]}" in done.stderr
    assert sync.engine_state() == running
    assert [r["number"] for r in sync.history()] == [1]


def test_a_commit_that_declares_nothing_needs_allow_empty(sync: SyncRig) -> None:
    sync.push("a", a=1)
    assert sync.once().returncode == 0
    running = sync.engine_state()

    # Git keeps no empty directories: the path stays with a file that declares nothing.
    sha = sync.remote.commit(
        {"deploy/a.yaml": None, "deploy/README.md": "empty on purpose\n"},
        "remove everything",
    )
    done = sync.once("--prune")
    assert done.returncode == 1, done.stderr
    assert f"commit {sha[:12]}: it declares nothing under deploy/" in done.stderr
    assert "--allow-empty" in done.stderr
    assert sync.engine_state() == running
    assert [r["number"] for r in sync.history()] == [1]

    # --allow-empty says the commit means it: with --prune everything goes, and the prune
    # guard (no more than half of the set at once) does not stand in the way.
    done = sync.once("--prune", "--allow-empty")
    assert done.returncode == 0, done.stderr
    assert sync.engine_state() == {}
    newest = sync.history()[0]
    assert (newest["number"], newest["source"], newest["resources"], newest["outcome"]) == (
        2,
        sync.source_of(sha),
        0,
        "ok",
    )


def test_a_removed_remote_keeps_the_last_applied_and_prunes_nothing(sync: SyncRig) -> None:
    sync.push("a", a=1)
    assert sync.once().returncode == 0
    running = sync.engine_state()

    aside = sync.remote.remove()
    done = sync.once("--prune")
    assert done.returncode == 1, done.stderr
    assert "fetch failed" in done.stderr
    assert sync.remote.url in done.stderr
    assert "does not appear to be a git repository" in done.stderr, "git's fatal line"
    assert "nothing is changed or pruned" in done.stderr
    assert sync.engine_state() == running

    sync.remote.restore(aside)
    sync.push("add b", b=1)
    done = sync.once("--prune")
    assert done.returncode == 0, done.stderr
    assert {n: gen for n, (_, gen) in sync.engine_state().items()} == {"a": "1", "b": "1"}
    assert sync.engine_state()["a"] == running["a"]
