"""Revision records: manifests survive the trip through JSON, the digest ignores where a
manifest was written, ``record`` adds a revision only for a new set, retention drops the
oldest, ``last_good`` picks what a rollback goes back to, and ``pin_images`` keeps old IDs."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import Location, StateError
from reconciler.loading import LoadedManifest, load, load_text
from reconciler.manifests.container import ContainerSpec
from reconciler.sources import revision as revision_source
from reconciler.state import history
from reconciler.state.database import DEFAULT_HISTORY_LIMIT, State
from reconciler.state.records import Revision

VALID = Path(__file__).parents[1] / "loading" / "valid"


@pytest.fixture
def state(tmp_path: Path) -> Iterator[State]:
    db = State.open(tmp_path / "state")
    try:
        yield db
    finally:
        db.close()


def container(name: str, image: str = "reconcile.local/busybox:latest", gen: int = 1) -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: reconcile/v1
        kind: Container
        metadata: {{name: {name}}}
        spec:
          image: {image}
          env: {{GENERATION: "{gen}"}}
          stopGracePeriod: 1s
        """
    )


def manifests(text: str, filename: str = "/srv/m/app.yaml") -> list[LoadedManifest]:
    result = load_text(text, filename)
    assert not result.problems, result.problems
    return list(result.manifests)


def test_every_valid_fixture_survives_the_round_trip_with_its_locations() -> None:
    loaded = load([VALID], recursive=True)
    assert not loaded.problems
    assert len(loaded.manifests) >= 5
    documents = history.documents_of(loaded.manifests)
    revision = _revision(documents)

    back = revision_source.manifests_of(revision)

    def key(m: LoadedManifest) -> tuple[str, str]:
        return (m.manifest.kind, m.manifest.metadata.name)

    assert [(m.manifest, m.location) for m in back] == [
        (m.manifest, m.location) for m in sorted(loaded.manifests, key=key)
    ]
    assert history.digest_of(history.documents_of(back)) == history.digest_of(documents)


def test_documents_are_sorted_by_kind_and_name_and_leave_out_defaults() -> None:
    docs = history.documents_of(
        manifests(
            container("b") + "---\n" + container("a") + "---\n"
            "apiVersion: reconcile/v1\nkind: Network\nmetadata: {name: n}\n"
        )
    )
    assert [(d["manifest"]["kind"], d["manifest"]["metadata"]["name"]) for d in docs] == [
        ("Container", "a"),
        ("Container", "b"),
        ("Network", "n"),
    ]
    assert docs[0]["source"] == "/srv/m/app.yaml:10:1"
    assert docs[2]["manifest"] == {
        "apiVersion": "reconcile/v1",
        "kind": "Network",
        "metadata": {"name": "n"},
    }
    assert "pullPolicy" not in docs[0]["manifest"]["spec"]


def test_the_digest_ignores_files_and_order_but_not_content() -> None:
    one = manifests(container("a") + "---\n" + container("b"), "/x/one.yaml")
    other = manifests(container("b") + "---\n" + container("a"), "/y/two.yaml")
    changed = manifests(container("a", gen=2) + "---\n" + container("b"), "/x/one.yaml")
    digest = history.digest_of(history.documents_of(one))
    assert digest == history.digest_of(history.documents_of(other))
    assert digest != history.digest_of(history.documents_of(changed))
    assert history.digest_of([]) != digest
    assert len(digest) == 16


def test_a_source_location_with_colons_in_the_path_is_read_back_whole() -> None:
    documents = history.documents_of(manifests(container("a"), "/srv/a:b/app.yaml"))
    back = revision_source.manifests_of(_revision(documents))
    assert back[0].location == Location("/srv/a:b/app.yaml", 2, 1)


def test_record_adds_a_revision_only_for_a_new_set_and_updates_the_outcome(
    state: State,
) -> None:
    v1 = manifests(container("a"))
    v2 = manifests(container("a", gen=2))
    images = {"reconcile.local/busybox:latest": "sha256:111"}

    assert history.record(state, "p", "git:u@1:deploy", v1, images, "ok") == 1
    assert history.record(state, "p", "git:u@1:deploy", v1, images, "ok") == 1
    assert history.record(state, "p", "git:u@2:deploy", v2, images, "failed", "a: boom") == 2
    # The same set applied again (a later pass) updates how it went, no new revision.
    assert history.record(state, "p", "git:u@2:deploy", v2, images, "ok") == 2
    # Going back to the first set is a new revision: history is what ran, in order.
    assert history.record(state, "p", "git:u@3:deploy", v1, {}, "ok") == 3

    revisions = state.revisions("p")
    assert [(r.number, r.source, r.outcome, r.message) for r in revisions] == [
        (3, "git:u@3:deploy", "ok", ""),
        (2, "git:u@2:deploy", "ok", ""),
        (1, "git:u@1:deploy", "ok", ""),
    ]
    assert revisions[2].images == images
    assert revisions[0].digest == revisions[2].digest
    assert state.revisions("other") == []
    assert history.latest(state, "p") == revisions[0]
    assert history.latest(state, "other") is None


def test_retention_keeps_the_newest_revisions(state: State) -> None:
    total = DEFAULT_HISTORY_LIMIT + 3
    for gen in range(1, total + 1):
        history.record(state, "p", f"s{gen}", manifests(container("a", gen=gen)), {}, "ok")
    numbers = [r.number for r in state.revisions("p")]
    assert numbers == list(range(total, 3, -1))
    assert state.revision("p", 3) is None
    assert state.revision("p", 4) is not None
    history.record(state, "p", "s", manifests(container("a", gen=99)), {}, "ok", keep=2)
    assert [r.number for r in state.revisions("p")] == [total + 1, total]


def test_last_good_skips_failed_revisions_and_the_running_set(state: State) -> None:
    assert history.last_good(state, "p") is None
    a1, a2, a3 = (manifests(container("a", gen=g)) for g in (1, 2, 3))
    history.record(state, "p", "s1", a1, {}, "ok")  # 1
    assert history.last_good(state, "p") is None, "the only revision is the running one"
    history.record(state, "p", "s2", a2, {}, "ok")  # 2
    history.record(state, "p", "s3", a3, {}, "failed")  # 3
    assert _number(history.last_good(state, "p")) == 2

    # A rollback to #2 is recorded as a new revision with #2's set; the last good one before
    # it is then #1: #2 has the same set as what runs now.
    history.record(state, "p", "rollback:#2", a2, {}, "ok")  # 4
    assert _number(history.last_good(state, "p")) == 1
    assert _number(history.last_good(state, "p", before=4)) == 2
    assert _number(history.last_good(state, "p", before=2)) == 1
    assert history.last_good(state, "p", before=1) is None


def test_last_good_is_none_when_nothing_earlier_went_well(state: State) -> None:
    history.record(state, "p", "s1", manifests(container("a", gen=1)), {}, "failed")
    history.record(state, "p", "s2", manifests(container("a", gen=2)), {}, "ok")
    assert history.last_good(state, "p") is None


def test_pin_images_runs_the_recorded_image_id_when_the_tag_moved() -> None:
    loaded = manifests(
        container("a", image="shop/web:1")
        + "---\n"
        + container("b", image="shop/db:1")
        + "---\napiVersion: reconcile/v1\nkind: Volume\nmetadata: {name: v}\n"
    )
    recorded = {"shop/web:1": "sha256:old-web", "shop/db:1": "sha256:old-db"}
    current = {"shop/web:1": "sha256:new-web", "shop/db:1": "sha256:old-db"}

    pinned = revision_source.pin_images(loaded, recorded, current, {"sha256:old-web"})
    images = {m.manifest.metadata.name: getattr(m.manifest.spec, "image", None) for m in pinned}
    assert images == {"a": "sha256:old-web", "b": "shop/db:1", "v": None}
    assert pinned[0].location == loaded[0].location

    # The old image is gone: the tag is the best there is.
    gone = revision_source.pin_images(loaded, recorded, current, set())
    assert [m.manifest for m in gone] == [m.manifest for m in loaded]


def test_a_rollback_pulls_the_recorded_digest_when_the_old_image_is_gone(
    state: State,
) -> None:
    ref = "127.0.0.1:5055/shop/api:live"
    text = container("a", image=ref) + "  updatePolicy: {mode: apply, interval: 1h}\n"
    history.record(
        state,
        "p",
        "s1",
        manifests(text),
        {ref: "sha256:old"},
        "ok",
        digests={ref: "127.0.0.1:5055/shop/api@sha256:d1"},
    )
    # The same manifests with another image under the tag: a revision of its own.
    second = history.record(state, "p", "s1", manifests(text), {ref: "sha256:new"}, "ok")
    assert second == 2
    revision = state.revision("p", 1)
    assert revision is not None
    assert revision.digests == {ref: "127.0.0.1:5055/shop/api@sha256:d1"}
    here = {ref: "sha256:new", "sha256:new": "sha256:new"}

    [pinned] = revision_source.rollback_manifests(revision, here.get)
    spec = pinned.manifest.spec
    assert isinstance(spec, ContainerSpec)
    assert spec.image == "127.0.0.1:5055/shop/api@sha256:d1"
    assert spec.update_policy.mode == "off"  # pinned: it follows no tag

    # With the old image still here, its ID is used (no pull).
    here["sha256:old"] = "sha256:old"
    [by_id] = revision_source.rollback_manifests(revision, here.get)
    assert isinstance(by_id.manifest.spec, ContainerSpec)
    assert by_id.manifest.spec.image == "sha256:old"


def _revision(documents: list[dict[str, Any]]) -> Revision:
    return Revision("p", 1, 0.0, "test", history.digest_of(documents), documents, {}, "ok")


def _number(revision: Revision | None) -> int | None:
    return None if revision is None else revision.number


SECRET_SET = """\
apiVersion: reconcile/v1
kind: Container
metadata: {name: db}
spec:
  image: reconcile.local/busybox:latest
  env: {DB_PASSWORD: hunter2-in-history, MODE: plain-value}
"""


def test_env_values_are_sealed_in_the_database_and_open_for_a_rollback(
    state: State, tmp_path: Path
) -> None:
    loaded = manifests(SECRET_SET)
    number = history.record(state, "p", "files:/srv/m", loaded, {}, "ok")
    state.close()
    for path in (tmp_path / "state").iterdir():  # state.db, its -wal, the key...
        if path.is_file():
            data = path.read_bytes()
            assert b"hunter2-in-history" not in data and b"plain-value" not in data, path
    key = tmp_path / "state" / "history.key"
    assert key.stat().st_mode & 0o777 == 0o600

    reopened = State.open(tmp_path / "state")
    try:
        revision = reopened.revision("p", number)
        assert revision is not None
        [document] = revision.documents
        assert document["manifest"]["spec"]["env"] == {
            "DB_PASSWORD": "hunter2-in-history",
            "MODE": "plain-value",
        }
        [back] = revision_source.manifests_of(revision)
        assert back.document == loaded[0].document
        # The same set records no new revision: the digest is of the values in clear.
        assert history.record(reopened, "p", "files:/srv/m", loaded, {}, "ok") == number
    finally:
        reopened.close()

    key.unlink()
    without = State.open(tmp_path / "state")
    try:
        with pytest.raises(StateError, match=r"history\.key, which is missing"):
            without.revision("p", number)
    finally:
        without.close()
