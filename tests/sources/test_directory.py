"""DirectorySource: a directory read as one snapshot per pass, keep-last-good per file, a
quiet period for files written moments ago, and a missing directory that is never an empty
one. Real files in tmp_path (their mtimes set with os.utime, the clock injected); no Engine."""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.errors import SourceUnavailable
from reconciler.sources.directory import DirectorySource, Snapshot


def container(name: str, gen: int = 1, extra: str = "") -> str:
    return (
        textwrap.dedent(
            f"""\
        apiVersion: reconcile/v1
        kind: Container
        metadata: {{name: {name}}}
        spec:
          image: busybox:test
          env: {{GENERATION: "{gen}"}}
        """
        )
        + extra
    )


def names(snapshot: Snapshot) -> dict[str, str]:
    """Declared name -> GENERATION."""
    found = {}
    for loaded in snapshot.manifests:
        spec = loaded.manifest.spec
        found[loaded.manifest.metadata.name] = str(getattr(spec, "env", {}).get("GENERATION"))
    return found


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    path = tmp_path / "m"
    path.mkdir()
    return path


def test_a_valid_directory_is_one_snapshot(directory: Path) -> None:
    (directory / "a.yaml").write_text(container("a"))
    (directory / "b.yml").write_text(container("b"))
    (directory / ".a.yaml.swp").write_text("junk: [")
    (directory / "a.yaml~").write_text(container("a", gen=0))
    snapshot = DirectorySource(directory).read()
    assert names(snapshot) == {"a": "1", "b": "1"}
    assert snapshot.problems == ()
    assert snapshot.stale_files == snapshot.unknown_files == ()
    assert snapshot.prune_safe
    assert snapshot.digest


def test_an_invalid_edit_keeps_the_last_good_version_of_that_file(directory: Path) -> None:
    source = DirectorySource(directory)
    a = directory / "a.yaml"
    a.write_text(container("a"))
    (directory / "b.yaml").write_text(container("b"))
    good = source.read()

    a.write_text(container("a", gen=2, extra="  restartPolcy: always\n"))
    snapshot = source.read()
    assert names(snapshot) == {"a": "1", "b": "1"}, "a's last good version stays"
    assert snapshot.stale_files == (str(a),)
    assert snapshot.unknown_files == ()
    assert snapshot.prune_safe, "a's resources are known: pruning b's leftovers stays safe"
    assert [p.location.file for p in snapshot.problems] == [str(a)]
    assert [(p.location.line, p.location.column) for p in snapshot.problems] == [(7, 3)]
    assert snapshot.digest == good.digest, "the effective set did not change"

    (directory / "b.yaml").write_text(container("b", gen=2))
    assert names(source.read()) == {"a": "1", "b": "2"}, "other files still apply"

    a.write_text(container("a", gen=3))
    fixed = source.read()
    assert names(fixed) == {"a": "3", "b": "2"}
    assert fixed.problems == () and fixed.stale_files == ()


def test_a_file_never_valid_contributes_nothing_and_makes_prune_unsafe(directory: Path) -> None:
    source = DirectorySource(directory)
    (directory / "a.yaml").write_text(container("a"))
    bad = directory / "bad.yaml"
    bad.write_text("apiVersion: reconcile/v1\nkind: Container\nspec: [\n")
    snapshot = source.read()
    assert names(snapshot) == {"a": "1"}
    assert snapshot.unknown_files == (str(bad),)
    assert snapshot.stale_files == ()
    assert not snapshot.prune_safe

    bad.write_text(container("c"))
    assert source.read().prune_safe


def test_last_good_is_per_process_and_per_file(directory: Path) -> None:
    a = directory / "a.yaml"
    a.write_text(container("a", extra="  bogus: 1\n"))
    # A new source (a restarted loop) has never seen a valid a.yaml.
    snapshot = DirectorySource(directory).read()
    assert names(snapshot) == {}
    assert snapshot.unknown_files == (str(a),)


def test_a_deleted_file_forgets_its_last_good(directory: Path) -> None:
    source = DirectorySource(directory)
    a = directory / "a.yaml"
    a.write_text(container("a"))
    source.read()
    a.unlink()
    assert names(source.read()) == {}
    a.write_text(container("a", extra="  bogus: 1\n"))
    snapshot = source.read()
    assert names(snapshot) == {}, "the old version died with the deleted file"
    assert snapshot.unknown_files == (str(a),)


def test_a_duplicate_across_files_falls_back_to_the_last_good(directory: Path) -> None:
    source = DirectorySource(directory)
    (directory / "a.yaml").write_text(container("a"))
    b = directory / "b.yaml"
    b.write_text(container("b"))
    source.read()

    b.write_text(container("a", gen=9))  # now declares a second "a"
    snapshot = source.read()
    assert names(snapshot) == {"a": "1", "b": "1"}
    assert str(b) in snapshot.stale_files
    assert snapshot.problems, "the duplicate is reported"


def test_an_empty_directory_is_an_empty_set(directory: Path) -> None:
    snapshot = DirectorySource(directory).read()
    assert snapshot.manifests == () and snapshot.prune_safe


def test_a_missing_directory_is_unavailable_not_empty(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="missing or not a directory"):
        DirectorySource(tmp_path / "nope").read()
    file = tmp_path / "file.yaml"
    file.write_text(container("a"))
    with pytest.raises(SourceUnavailable):
        DirectorySource(file).read()


def test_subdirectories_count_only_when_recursive(directory: Path) -> None:
    (directory / "a.yaml").write_text(container("a"))
    (directory / "sub").mkdir()
    (directory / "sub" / "b.yaml").write_text(container("b"))
    assert names(DirectorySource(directory).read()) == {"a": "1"}
    assert names(DirectorySource(directory, recursive=True).read()) == {"a": "1", "b": "1"}


def test_a_file_name_that_is_not_utf8_is_an_unknown_file_named_escaped(directory: Path) -> None:
    (directory / "a.yaml").write_text(container("a"))
    Path(os.fsdecode(bytes(directory) + b"/bad\xff.yaml")).write_text(container("b"))
    snapshot = DirectorySource(directory).read()
    assert names(snapshot) == {"a": "1"}
    escaped = f"{directory}/bad\\xff.yaml"
    assert snapshot.unknown_files == (escaped,)
    assert [str(p) for p in snapshot.problems] == [
        f"{escaped}: the file name is not valid UTF-8; rename the file"
    ]
    assert not snapshot.prune_safe, "what the file declares is unknown"


# -- the quiet period -------------------------------------------------------------------------

NOW = 1_800_000_000.0
SETTLE = 3.0


@dataclass
class Wall:
    now: float = NOW

    def __call__(self) -> float:
        return self.now


def write(path: Path, text: str, mtime: float) -> None:
    path.write_text(text)
    os.utime(path, (mtime, mtime))


@pytest.fixture
def wall() -> Wall:
    return Wall()


@pytest.fixture
def settling(directory: Path, wall: Wall) -> DirectorySource:
    """A source with a 3 s quiet period whose shop.yaml (a and b) is long written and read."""
    source = DirectorySource(directory, settle=SETTLE, wall=wall)
    write(directory / "shop.yaml", container("a") + "---\n" + container("b"), NOW - 60)
    assert names(source.read()) == {"a": "1", "b": "1"}
    return source


def test_resources_that_vanish_from_a_just_written_file_wait_for_the_quiet_period(
    directory: Path, settling: DirectorySource, wall: Wall
) -> None:
    shop = directory / "shop.yaml"
    # The writer paused at the `---`: the file is valid, but its second half is not there yet.
    write(shop, container("a", gen=2) + "---\n", NOW + 10)
    wall.now = NOW + 10.5
    held = settling.read()
    assert names(held) == {"a": "1", "b": "1"}, "its last good version, whole: a is not changed"
    assert held.settling_files == (str(shop),)
    assert held.settle_until == NOW + 10 + SETTLE
    assert not held.prune_safe
    assert held.problems == () and held.stale_files == held.unknown_files == ()

    wall.now = NOW + 12.9
    assert settling.read().settling_files == (str(shop),), "still within the quiet period"

    # Quiet for the whole period: the file is taken as it is.
    wall.now = NOW + 13
    after = settling.read()
    assert names(after) == {"a": "2"}
    assert after.settling_files == () and after.prune_safe


def test_a_file_completed_within_the_quiet_period_applies_at_once(
    directory: Path, settling: DirectorySource, wall: Wall
) -> None:
    shop = directory / "shop.yaml"
    write(shop, container("a") + "---\n", NOW + 10)
    wall.now = NOW + 10.5
    assert settling.read().settling_files == (str(shop),)
    write(shop, container("a") + "---\n" + container("b", gen=2), NOW + 11.5)
    wall.now = NOW + 12
    done = settling.read()
    assert names(done) == {"a": "1", "b": "2"}
    assert done.settling_files == () and done.prune_safe


def test_an_edit_that_removes_nothing_is_not_held(
    directory: Path, settling: DirectorySource, wall: Wall
) -> None:
    write(directory / "shop.yaml", container("a", gen=2) + "---\n" + container("b"), NOW + 10)
    wall.now = NOW + 10.1
    snapshot = settling.read()
    assert names(snapshot) == {"a": "2", "b": "1"}
    assert snapshot.settling_files == () and snapshot.prune_safe


def test_a_resource_moved_to_another_file_is_not_held_back(
    directory: Path, settling: DirectorySource, wall: Wall
) -> None:
    write(directory / "other.yaml", container("c"), NOW - 60)
    settling.read()
    # b moves from shop.yaml to other.yaml: it vanished from one file, but it is declared.
    write(directory / "shop.yaml", container("a"), NOW + 10)
    write(directory / "other.yaml", container("c") + "---\n" + container("b", gen=2), NOW + 10)
    wall.now = NOW + 10.5
    moved = settling.read()
    assert names(moved) == {"a": "1", "b": "2", "c": "1"}
    assert moved.problems == ()
    assert moved.settling_files == ()


def test_a_held_file_gives_up_what_another_file_now_declares(
    directory: Path, settling: DirectorySource, wall: Wall
) -> None:
    write(directory / "other.yaml", container("c"), NOW - 60)
    settling.read()
    write(directory / "shop.yaml", container("x"), NOW + 10)  # a and b vanished
    write(directory / "other.yaml", container("c") + "---\n" + container("a", gen=2), NOW + 10)
    wall.now = NOW + 10.5
    snapshot = settling.read()
    assert names(snapshot) == {"a": "2", "b": "1", "c": "1"}, "no name declared twice"
    assert snapshot.problems == ()
    assert snapshot.settling_files == (str(directory / "shop.yaml"),)


def test_a_file_time_in_the_future_holds_only_for_the_quiet_period(
    directory: Path, settling: DirectorySource, wall: Wall
) -> None:
    shop = directory / "shop.yaml"
    write(shop, container("a"), NOW + 3600)  # a clock an hour ahead wrote it
    wall.now = NOW + 10
    assert settling.read().settle_until == NOW + 10 + SETTLE
    wall.now = NOW + 10 + SETTLE
    assert names(settling.read()) == {"a": "1"}


def test_without_a_quiet_period_a_file_is_taken_as_it_is(directory: Path) -> None:
    source = DirectorySource(directory)
    shop = directory / "shop.yaml"
    shop.write_text(container("a") + "---\n" + container("b"))
    source.read()
    shop.write_text(container("a"))
    snapshot = source.read()
    assert names(snapshot) == {"a": "1"}
    assert snapshot.settling_files == () and snapshot.prune_safe


def test_a_deleted_file_keeps_its_resources_for_the_quiet_period(
    directory: Path, settling: DirectorySource, wall: Wall
) -> None:
    # `rm -r` (or a checkout) read half-way: shop.yaml is gone, the directory is not yet.
    write(directory / "other.yaml", container("c"), NOW - 60)
    settling.read()
    (directory / "shop.yaml").unlink()
    wall.now = NOW + 10
    held = settling.read()
    assert names(held) == {"a": "1", "b": "1", "c": "1"}
    assert held.settling_files == (str(directory / "shop.yaml"),)
    assert not held.prune_safe
    wall.now = NOW + 10 + SETTLE
    gone = settling.read()
    assert names(gone) == {"c": "1"}, "deleted for the whole period: it goes, and may be pruned"
    assert gone.settling_files == () and gone.prune_safe
