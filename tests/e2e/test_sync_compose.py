"""``reconcile sync`` following a repository of compose stacks: each stack directory's
compose.yaml is a compose project, converged, changed by a commit and rolled back like native
manifests."""

from __future__ import annotations

from tests.e2e.git_helpers import PATH, SyncRig

STACK = """\
services:
  web:
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    environment: {{GENERATION: "{gen}"}}
    stop_grace_period: 1s
volumes:
  data: {{}}
"""


def test_a_repository_of_compose_stacks_is_followed(sync: SyncRig) -> None:
    p = sync.project
    image = sync.rig.image
    sync.remote.commit(
        {f"{PATH}/compose.yaml": f"name: {p}\n" + STACK.format(image=image, gen=1)}, "stack 1"
    )
    done = sync.once()
    assert done.returncode == 0, done.stderr
    web = sync.rig.container("web-1")
    assert web is not None and web.status == "running"
    assert "GENERATION=1" in web.attrs["Config"]["Env"]
    first = web.id

    sync.remote.commit(
        {f"{PATH}/compose.yaml": f"name: {p}\n" + STACK.format(image=image, gen=2)}, "stack 2"
    )
    done = sync.once()
    assert done.returncode == 0, done.stderr
    web = sync.rig.container("web-1")
    assert web is not None and web.id != first
    assert "GENERATION=2" in web.attrs["Config"]["Env"]

    # The revision keeps the converted manifests: a rollback needs no compose file.
    revisions = sync.history()
    assert [r["resources"] for r in revisions] == [2, 2]
    rolled = sync.cli("rollback", "1")
    assert rolled.returncode == 0, rolled.stderr
    web = sync.rig.container("web-1")
    assert web is not None and "GENERATION=1" in web.attrs["Config"]["Env"]
