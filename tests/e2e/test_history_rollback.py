"""``reconcile history`` and ``reconcile rollback`` on the real Engine: every applying command
records what it applied (source, images, outcome); a rollback re-applies an older revision
through the normal plan, records it as a new revision and pins the set until its source moves;
``--dry-run`` changes nothing; retention drops the oldest revisions."""

from __future__ import annotations

import subprocess
from pathlib import Path

from docker import DockerClient

from reconciler.loading import load_text
from reconciler.state import history
from reconciler.state.database import DEFAULT_HISTORY_LIMIT, State
from tests.e2e.git_helpers import SyncRig

BAD_IMAGE = "reconcile.local/busybox:no-such-tag"


def apply(sync: SyncRig, *extra: str) -> subprocess.CompletedProcess[str]:
    """``reconcile apply -f <manifests dir>`` on the rig's project."""
    return sync.cli("apply", "-f", str(sync.rig.directory), *extra)


def generations(sync: SyncRig) -> dict[str, str]:
    return {name: gen for name, (_, gen) in sync.engine_state().items()}


def test_apply_run_and_sync_each_record_source_images_and_outcome(
    sync: SyncRig, docker_client: DockerClient
) -> None:
    image_id = docker_client.images.get(sync.rig.image).id
    sync.rig.declare("a", gen=1)
    done = apply(sync)
    assert done.returncode == 0, done.stderr

    sync.rig.declare("a", gen=2)
    loop = sync.rig.start(prune=False)
    sync.rig.eventually(lambda: sync.rig.running("a", gen=2), "the loop applies generation 2")
    sync.rig.eventually(lambda: len(sync.history()) == 2, "the loop records revision 2")
    assert loop.terminate() == 0

    sha = sync.push("generation 3", a=3)
    done = sync.once()
    assert done.returncode == 0, done.stderr
    assert generations(sync) == {"a": "3"}

    revisions = sync.history()
    assert [(r["number"], r["source"], r["outcome"], r["resources"]) for r in revisions] == [
        (3, sync.source_of(sha), "ok", 1),
        (2, f"dir:{sync.rig.directory}", "ok", 1),
        (1, f"files:{sync.rig.directory}", "ok", 1),
    ]
    assert all(r["images"] == {sync.rig.image: image_id} for r in revisions)
    assert not any(r["pinned"] for r in revisions)

    text = sync.cli("history")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith("#3 ") and lines[0].endswith(
        f"ok       1 resources  {sync.source_of(sha)}"
    )
    assert lines[2].endswith(f"files:{sync.rig.directory}")

    shown = sync.show(2)
    assert (shown["number"], shown["outcome"], shown["source"]) == (
        2,
        "ok",
        f"dir:{sync.rig.directory}",
    )
    assert shown["images"] == {sync.rig.image: image_id}
    [document] = shown["documents"]
    assert document["source"] == f"{sync.rig.directory / 'a.yaml'}:2:1"
    assert document["manifest"]["metadata"]["name"] == f"{sync.project}-a"
    assert document["manifest"]["spec"]["env"] == {"GENERATION": "2"}

    missing = sync.cli_show(7)
    assert missing.returncode == 1
    assert f'revision 7 of project "{sync.project}" does not exist' in missing.stderr


def test_rollback_after_a_bad_image_pins_until_a_new_commit(sync: SyncRig) -> None:
    sync.push("generation 1", a=1)
    assert sync.once().returncode == 0
    sync.push("generation 2", a=2)
    assert sync.once().returncode == 0
    good = sync.engine_state()

    bad_yaml = sync.container_yaml("a", 3).replace(sync.rig.image, BAD_IMAGE)
    bad = sync.remote.commit({"deploy/a.yaml": bad_yaml}, "an image that does not exist")
    done = sync.once()
    assert done.returncode == 1, done.stderr
    assert f"cannot pull image '{BAD_IMAGE}'" in done.stderr
    assert sync.engine_state() == good, "the failed recreate left the old container running"
    newest = sync.history()[0]
    assert (newest["number"], newest["source"], newest["outcome"]) == (
        3,
        sync.source_of(bad),
        "failed",
    )
    assert f"Container/{sync.project}-a: cannot pull image '{BAD_IMAGE}'" in newest["message"]

    # --dry-run shows what would happen and changes nothing, not even the history.
    dry = sync.cli("rollback", "1", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Rolling back to revision #1" in dry.stdout
    assert f"-/+ recreate Container/{sync.project}-a" in dry.stdout
    assert "Recorded as" not in dry.stdout
    assert sync.engine_state() == good
    assert len(sync.history()) == 3
    assert sync.status().get("pinnedTo") is None

    # The default target is the last good revision: #2, which still runs.
    done = sync.cli("rollback")
    assert done.returncode == 0, done.stderr
    assert "Rolling back to revision #2" in done.stdout
    assert "Recorded as revision #4; pinned until the source changes" in done.stdout
    assert sync.engine_state() == good
    revisions = sync.history()
    assert [(r["number"], r["source"], r["outcome"], r["pinned"]) for r in revisions] == [
        (4, "rollback:#2", "ok", True),
        (3, sync.source_of(bad), "failed", False),
        (2, revisions[2]["source"], "ok", False),
        (1, revisions[3]["source"], "ok", False),
    ]
    assert "(pinned)" in sync.cli("history").stdout.splitlines()[0]

    # The source has not moved: sync keeps the pinned revision and says so.
    done = sync.once()
    assert done.returncode == 0, done.stderr
    assert sync.engine_state() == good
    assert sync.status()["pinnedTo"] == 4
    assert len(sync.history()) == 4

    # A new commit lifts the pin.
    fixed = sync.push("generation 5 with the right image", a=5)
    done = sync.once()
    assert done.returncode == 0, done.stderr
    assert generations(sync) == {"a": "5"}
    revisions = sync.history()
    assert (revisions[0]["number"], revisions[0]["source"]) == (5, sync.source_of(fixed))
    assert not any(r["pinned"] for r in revisions)
    assert sync.status()["pinnedTo"] is None

    # An explicit N goes back further, through the normal plan (a recreate).
    done = sync.cli("rollback", "1")
    assert done.returncode == 0, done.stderr
    assert f"{sync.project}-a: recreated" in done.stdout
    assert generations(sync) == {"a": "1"}
    assert sync.history()[0]["source"] == "rollback:#1"
    lifted = sync.cli("rollback", "--unpin")
    assert (lifted.returncode, lifted.stdout.strip()) == (0, "pin lifted")
    assert not any(r["pinned"] for r in sync.history())
    again = sync.cli("rollback", "--unpin")
    assert (again.returncode, again.stdout.strip()) == (0, "no pin to lift")


def test_a_second_rollback_stays_pinned_too(sync: SyncRig) -> None:
    sync.push("generation 1", a=1)
    assert sync.once().returncode == 0
    sync.push("generation 2", a=2)
    assert sync.once().returncode == 0
    bad_yaml = sync.container_yaml("a", 3).replace(sync.rig.image, BAD_IMAGE)
    sync.remote.commit({"deploy/a.yaml": bad_yaml}, "an image that does not exist")
    assert sync.once().returncode == 1

    assert sync.cli("rollback").returncode == 0  # to #2, recorded as #4
    done = sync.cli("rollback", "1")  # further back, recorded as #5
    assert done.returncode == 0, done.stderr
    assert generations(sync) == {"a": "1"}

    done = sync.once()
    assert generations(sync) == {"a": "1"}, done.stderr
    assert done.returncode == 0, done.stderr
    assert sync.history()[0]["pinned"] is True


def test_retention_keeps_the_newest_revisions(sync: SyncRig) -> None:
    # Seed the history up to the limit, then let a real apply push the oldest out.
    state = State.open(sync.rig.state_dir)
    try:
        for gen in range(1, DEFAULT_HISTORY_LIMIT + 1):
            loaded = load_text(sync.container_yaml("a", gen), f"/seeded/{gen}/a.yaml")
            assert not loaded.problems
            history.record(state, sync.project, f"seeded:{gen}", loaded.manifests, {}, "ok")
    finally:
        state.close()
    sync.rig.declare("a", gen=DEFAULT_HISTORY_LIMIT + 1)
    done = apply(sync)
    assert done.returncode == 0, done.stderr

    numbers = [r["number"] for r in sync.history()]
    assert numbers == list(range(DEFAULT_HISTORY_LIMIT + 1, 1, -1))
    gone = sync.cli_show(1)
    assert gone.returncode == 1
    assert "does not exist (or was dropped by retention)" in gone.stderr
    refused = sync.cli("rollback", "1")
    assert refused.returncode == 1
    assert "has no revision 1 to roll back to" in refused.stderr
    assert generations(sync) == {"a": str(DEFAULT_HISTORY_LIMIT + 1)}

    # The oldest revision kept still rolls back, from its stored manifests alone.
    done = sync.cli("rollback", "2")
    assert done.returncode == 0, done.stderr
    assert generations(sync) == {"a": "2"}
    assert sync.history()[0]["number"] == DEFAULT_HISTORY_LIMIT + 2
    assert len(sync.history()) == DEFAULT_HISTORY_LIMIT


def test_a_revision_refused_by_a_conflict_is_not_recorded_as_good(sync: SyncRig) -> None:
    sync.push("generation 1", a=1)
    assert sync.once().returncode == 0
    never = (
        sync.container_yaml("a", 2)
        .replace(sync.rig.image, BAD_IMAGE)
        .replace("restartPolicy:", "pullPolicy: Never\n  restartPolicy:")
    )
    sync.remote.commit({"deploy/a.yaml": never}, "an image that is not here, never pulled")
    done = sync.once()
    assert done.returncode == 1, done.stderr
    assert generations(sync) == {"a": "1"}
    newest = sync.history()[0]
    assert newest["number"] == 2
    assert newest["outcome"] == "failed", newest


PRIVILEGED_POLICY = Path(__file__).parents[1] / "fixtures" / "privileged-policy.yaml"
NET_ADMIN = "  capabilities: {add: [NET_ADMIN]}\n"


def test_rollback_is_judged_by_todays_policy(sync: SyncRig) -> None:
    # Revision 1 adds NET_ADMIN, which only a permissive policy allows; revision 2 does not.
    path = sync.rig.declare("a", gen=1)
    path.write_text(path.read_text() + NET_ADMIN)
    done = apply(sync, "--policy", str(PRIVILEGED_POLICY))
    assert done.returncode == 0, done.stderr
    sync.rig.declare("a", gen=2)
    done = apply(sync)
    assert done.returncode == 0, done.stderr
    before = sync.engine_state()
    assert [r["number"] for r in sync.history()] == [2, 1]

    # Under the baseline (no --policy), the stored manifests are refused: the rule and the
    # manifest line are named, and nothing changes (no container, no revision, no pin).
    refused = sync.cli("rollback", "1")
    assert refused.returncode == 1, refused.stdout
    assert "[baseline/capabilities]" in refused.stderr, refused.stderr
    assert "NET_ADMIN" in refused.stderr
    assert f"{path}:2:1" in refused.stderr, refused.stderr
    assert "Recorded as" not in refused.stdout
    assert sync.engine_state() == before
    assert [r["number"] for r in sync.history()] == [2, 1]
    assert not any(r["pinned"] for r in sync.history())
    dry = sync.cli("rollback", "1", "--dry-run")
    assert dry.returncode == 1 and "[baseline/capabilities]" in dry.stderr, dry.stderr

    # The same rollback under a policy that allows it goes through the normal plan.
    allowed = sync.cli("rollback", "1", "--policy", str(PRIVILEGED_POLICY))
    assert allowed.returncode == 0, allowed.stderr
    assert "Recorded as revision #3" in allowed.stdout
    assert generations(sync) == {"a": "1"}
    [container] = [c for c in sync.rig.names()]
    attrs = sync.rig.container(container)
    assert attrs is not None and attrs.attrs["HostConfig"]["CapAdd"] == ["NET_ADMIN"]
