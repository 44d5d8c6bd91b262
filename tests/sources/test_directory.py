"""DirectorySource: a directory read as one snapshot per pass, keep-last-good per file, and a
missing directory that is never an empty one. Real files in tmp_path; no Engine."""

from __future__ import annotations

import textwrap
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
