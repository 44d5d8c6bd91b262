"""Loader rules beyond single bad files: valid sets, YAML 1.2 reading, positions, discovery."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.errors import Location, ManifestError, SourceUnavailable
from reconciler.loading import discover, load, load_text
from reconciler.manifests import ContainerManifest

VALID = Path(__file__).parent / "valid"
VOLUME = "apiVersion: reconcile/v1\nkind: Volume\nmetadata: {name: data}\n"


def container(spec: str, name: str = "web") -> str:
    return f"apiVersion: reconcile/v1\nkind: Container\nmetadata: {{name: {name}}}\nspec:\n{spec}"


def test_the_valid_fixtures_load_as_one_set_including_subdirectories() -> None:
    result = load([VALID], recursive=True)
    assert result.problems == ()
    assert [p.relative_to(VALID).as_posix() for p in result.files] == [
        "bom.yaml",
        "db.yml",
        "hardware/serial.yaml",
        "web.yaml",
    ]
    assert sorted((m.kind, m.name) for m in result.manifests) == [
        ("Container", "db"),
        ("Container", "modem"),
        ("Container", "web"),
        ("Network", "frontend"),
        ("Volume", "cache"),
        ("Volume", "web-data"),
    ]


def test_yaml_12_reads_yes_and_no_as_strings() -> None:
    result = load_text(container("  image: nginx\n  env: {A: yes, B: off, C: 0644}\n"), "m.yaml")
    assert result.problems == ()
    manifest = result.manifests[0].manifest
    assert isinstance(manifest, ContainerManifest)
    assert manifest.spec.env == {"A": "yes", "B": "off", "C": "644"}


def test_positions_give_key_locations_and_locate_falls_back_to_ancestors() -> None:
    text = (
        container(
            "  image: nginx\n  mounts:\n    - type: volume\n      source: data\n"
            "      target: /data\n"
        )
        + "---\n"
        + VOLUME
    )
    loaded = load_text(text, "m.yaml").manifests[0]
    assert loaded.location == Location("m.yaml", 2, 1)
    assert loaded.positions[("spec", "mounts", 0)] == Location("m.yaml", 7, 7)
    assert loaded.locate("spec", "mounts", 0, "source") == Location("m.yaml", 8, 7)
    assert loaded.locate("spec", "mounts", 0, "readOnly") == Location("m.yaml", 7, 7)
    assert loaded.locate("nowhere") == loaded.location


def test_empty_documents_between_separators_are_skipped() -> None:
    result = load_text("---\n# nothing here\n---\n" + VOLUME + "---\n", "m.yaml")
    assert result.problems == ()
    assert [m.name for m in result.manifests] == ["data"]


def test_a_yaml_problem_makes_the_whole_file_unusable() -> None:
    # Acting on the first half of a broken file would read as "the second half was deleted".
    result = load_text(VOLUME + "---\nkind: [\n", "m.yaml")
    assert result.manifests == ()
    assert len(result.problems) == 1


def test_load_text_accepts_bytes_and_a_utf8_bom() -> None:
    result = load_text(b"\xef\xbb\xbf" + VOLUME.encode(), "m.yaml")
    assert result.problems == ()


def test_raise_for_problems_and_grouping_by_file() -> None:
    result = load_text("kind: Volume\n", "m.yaml")
    assert list(result.problems_by_file()) == ["m.yaml"]
    with pytest.raises(ManifestError) as raised:
        result.raise_for_problems()
    assert "m.yaml:1:1: apiVersion: is required" in str(raised.value)
    load_text(VOLUME, "ok.yaml").raise_for_problems()


def test_union_errors_are_one_sentence() -> None:
    result = load_text(container("  image: nginx\n  gpus: {count: two}\n"), "m.yaml")
    assert [str(p) for p in result.problems] == [
        "m.yaml:6:17: spec.gpus.count: must be a whole number or 'all'"
    ]


def test_an_empty_value_says_so() -> None:
    result = load_text(container("  image:\n"), "m.yaml")
    assert [p.message for p in result.problems] == ["must be a string; the value is empty (null)"]


def test_a_reference_to_an_invalid_document_is_not_reported_as_dangling() -> None:
    text = container("  image: nginx\n  mounts: [{type: volume, source: data, target: /d}]\n")
    text += "---\n" + VOLUME + "spec: {driver: ''}\n"
    assert [p.field for p in load_text(text, "m.yaml").problems] == ["spec.driver"]


def test_discover_skips_hidden_and_editor_files_and_recurses_only_when_asked(
    tmp_path: Path,
) -> None:
    for name in (
        "a.yaml",
        "b.yml",
        "sub/c.yaml",
        "notes.txt",
        ".hidden.yaml",
        ".git/x.yaml",
        ".a.yaml.swp",
        "a.yaml.swx",
        "a.yaml~",
        ".#a.yaml",
        "#a.yaml#",
        "4913",
        ".goutputstream-XYZ",
        "a.yaml.bak",
        "a.yaml.orig",
        "a.yaml.tmp",
        "x.bak.yaml",
    ):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(VOLUME)
    found = [p.relative_to(tmp_path).as_posix() for p in discover([tmp_path], recursive=True)]
    assert found == ["a.yaml", "b.yml", "sub/c.yaml", "x.bak.yaml"]
    top = [p.relative_to(tmp_path).as_posix() for p in discover([tmp_path])]
    assert top == ["a.yaml", "b.yml", "x.bak.yaml"]


def test_discover_reads_a_named_file_whatever_its_name_and_only_once(tmp_path: Path) -> None:
    named = tmp_path / "manifest.txt"
    named.write_text(VOLUME)
    (tmp_path / "a.yaml").write_text(VOLUME)
    assert discover([named, tmp_path, tmp_path / "a.yaml"]) == [tmp_path / "a.yaml", named]


def test_discover_reads_a_file_once_whatever_the_names_that_lead_to_it(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(VOLUME)
    (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
    os.link(tmp_path / "a.yaml", tmp_path / "c.yaml")
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "nowhere")  # kept: reading it says why
    stats: dict[Path, os.stat_result] = {}
    found = discover([tmp_path], stats=stats)
    assert found == [tmp_path / "a.yaml", tmp_path / "gone.yaml"]
    assert stats[tmp_path / "a.yaml"].st_ino == os.stat(tmp_path / "a.yaml").st_ino
    assert tmp_path / "gone.yaml" not in stats


def test_a_missing_path_is_unavailable_not_empty(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="does not exist"):
        load([tmp_path / "gone"])


def test_an_empty_directory_is_an_empty_set(tmp_path: Path) -> None:
    result = load([tmp_path])
    assert (result.files, result.manifests, result.problems) == ((), (), ())
