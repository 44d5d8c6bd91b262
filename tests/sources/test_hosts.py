"""The host file: which one applies, and its mistakes as file:line:col problems (golden)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.manifests.placement import Host
from reconciler.sources.hosts import HOST_FILE_ENV, load_host


def problems(path: Path) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load_host(path, {})
    return [str(p) for p in caught.value.problems]


def test_a_host_file_gives_the_name_and_labels(tmp_path: Path) -> None:
    path = tmp_path / "host.yaml"
    path.write_text("name: shop-3-a\nlabels: {site: shop-3, gpu: 'true', wave: 1}\n")
    host = load_host(path, {})
    assert host == Host("shop-3-a", {"site": "shop-3", "gpu": "true", "wave": "1"}, str(path))


def test_without_a_name_the_host_is_the_machines_hostname(tmp_path: Path) -> None:
    path = tmp_path / "host.yaml"
    path.write_text("labels: {site: hq}\n")
    assert load_host(path, {}, hostname=lambda: "box-7") == Host("box-7", {"site": "hq"}, str(path))


def test_the_variable_names_the_host_file_when_the_option_does_not(tmp_path: Path) -> None:
    path = tmp_path / "h.yaml"
    path.write_text("name: from-env\n")
    assert load_host(None, {HOST_FILE_ENV: str(path)}).name == "from-env"
    other = tmp_path / "o.yaml"
    other.write_text("name: from-option\n")
    assert load_host(other, {HOST_FILE_ENV: str(path)}).name == "from-option"


def test_mistakes_are_reported_with_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "host.yaml"
    path.write_text("name: shop 3\nlabels:\n  site: shop-3\n  gpu: true\nzone: a\n")
    assert problems(path) == [
        f"{path}:1:7: name: 'shop 3' is not a valid name: use letters, digits, '_', '.' and "
        "'-', starting with a letter or digit",
        f'{path}:4:8: labels.gpu: must be a string; YAML read true as a boolean, quote it: "true"',
        f"{path}:5:1: zone: unknown field 'zone'; known fields: labels, name",
    ]


def test_a_bad_label_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "host.yaml"
    path.write_text("labels:\n  -site: x\n")
    assert problems(path) == [
        f"{path}:1:1: labels: '-site' is not a valid label key: letters, digits, '_', '.', '/' "
        "and '-', starting and ending with a letter or digit"
    ]


def test_a_named_host_file_that_is_missing_or_empty_is_an_error_not_no_labels(
    tmp_path: Path,
) -> None:
    # Fewer labels select fewer resources, and a prune would follow.
    missing = tmp_path / "missing.yaml"
    assert problems(missing) == [f"{missing}: host file does not exist (or is not a regular file)"]
    empty = tmp_path / "empty.yaml"
    empty.write_text("\n")
    assert problems(empty) == [
        f"{empty}: host file is empty; give it name: and labels:, or remove it"
    ]
