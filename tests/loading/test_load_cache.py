"""The load cache: an unchanged file comes back exactly as validated, anything else is cold."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.loading import LoadCache, load
from reconciler.loading.cache import CACHE_NAME
from reconciler.state.history import documents_of

VALID = Path(__file__).parent / "valid"
BROKEN = "apiVersion: reconcile/v1\nkind: Container\nmetadata: {name: web}\nspec: {imagee: x}\n"


@pytest.fixture
def files(tmp_path: Path) -> Path:
    directory = tmp_path / "manifests"
    shutil.copytree(VALID, directory)
    return directory


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "state"
    directory.mkdir(mode=0o700)
    return directory


def _summary(directory: Path, cache: LoadCache | None) -> tuple[object, ...]:
    result = load([directory], recursive=True, cache=cache)
    return (
        result.files,
        result.problems,
        [(m.manifest, m.location, dict(m.positions)) for m in result.manifests],
        documents_of(result.manifests),
    )


def test_a_second_load_comes_from_the_cache_and_equals_a_cold_load(
    files: Path, cache_dir: Path
) -> None:
    cold = _summary(files, None)
    first = LoadCache.open(cache_dir)
    assert _summary(files, first) == cold
    assert (first.hits, first.misses) == (0, 4)
    assert (cache_dir / CACHE_NAME).stat().st_mode & 0o777 == 0o600

    second = LoadCache.open(cache_dir)
    assert _summary(files, second) == cold
    assert (second.hits, second.misses) == (4, 0)


def test_a_changed_file_is_validated_again_and_only_that_one(files: Path, cache_dir: Path) -> None:
    _summary(files, LoadCache.open(cache_dir))
    web = files / "web.yaml"
    web.write_text(web.read_text().replace("nginx", "caddy"))
    cache = LoadCache.open(cache_dir)
    result = load([files], recursive=True, cache=cache)
    assert (cache.hits, cache.misses) == (3, 1)
    images = {m.name: getattr(m.manifest.spec, "image", None) for m in result.manifests}
    assert images["web"] is not None and "caddy" in images["web"]


def test_a_file_with_problems_is_never_cached_and_reports_the_same(
    files: Path, cache_dir: Path
) -> None:
    (files / "broken.yaml").write_text(BROKEN)
    cold = load([files], recursive=True).problems
    assert cold
    for _ in range(2):
        cache = LoadCache.open(cache_dir)
        assert load([files], recursive=True, cache=cache).problems == cold
    assert cache.misses == 1 and cache.hits == 4


def test_code_changes_invalidate_the_whole_cache(
    files: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _summary(files, LoadCache.open(cache_dir))
    monkeypatch.setattr(
        "reconciler.state.codeversion.running_code_fingerprint", lambda: "other code"
    )
    cache = LoadCache.open(cache_dir)
    assert cache.entries == {}
    _summary(files, cache)
    assert cache.misses == 4


def test_the_same_relative_path_from_another_directory_is_another_entry(
    files: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Relative bind sources resolve against the file's absolute directory.
    monkeypatch.chdir(files.parent)
    _summary(Path("manifests"), LoadCache.open(cache_dir))
    other = tmp_path / "elsewhere"
    shutil.copytree(files, other / "manifests")
    monkeypatch.chdir(other)
    cache = LoadCache.open(cache_dir)
    _summary(Path("manifests"), cache)
    assert (cache.hits, cache.misses) == (0, 4)


@pytest.mark.parametrize("where", ["file", "directory"])
def test_a_cache_others_may_write_is_neither_read_nor_written(
    files: Path, cache_dir: Path, where: str
) -> None:
    _summary(files, LoadCache.open(cache_dir))
    target = cache_dir / CACHE_NAME if where == "file" else cache_dir
    target.chmod(target.stat().st_mode | 0o022)
    before = (cache_dir / CACHE_NAME).read_bytes()
    (files / "web.yaml").write_text((files / "web.yaml").read_text() + "\n# changed\n")
    cache = LoadCache.open(cache_dir)
    assert not cache.trusted and cache.entries == {}
    assert _summary(files, cache) == _summary(files, None)
    assert (cache_dir / CACHE_NAME).read_bytes() == before


def test_a_torn_cache_file_means_a_cold_load_and_is_rewritten(files: Path, cache_dir: Path) -> None:
    (cache_dir / CACHE_NAME).write_bytes(b"\x80\x05not a pickle")
    (cache_dir / CACHE_NAME).chmod(0o600)
    cache = LoadCache.open(cache_dir)
    assert _summary(files, cache) == _summary(files, None)
    assert cache.misses == 4
    assert LoadCache.open(cache_dir).entries


def test_a_cached_load_neither_parses_yaml_nor_builds_validators(
    files: Path, cache_dir: Path
) -> None:
    _summary(files, LoadCache.open(cache_dir))
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from reconciler.loading import LoadCache, load\n"
        "from reconciler.state.history import documents_of\n"
        "from reconciler.manifests import ContainerManifest\n"
        f"cache = LoadCache.open(Path({str(cache_dir)!r}))\n"
        f"result = load([Path({str(files)!r})], recursive=True, cache=cache)\n"
        "documents_of(result.manifests)\n"
        "print(cache.hits, len(result.manifests), 'ruamel' in ' '.join(sys.modules),"
        " ContainerManifest.__pydantic_complete__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    assert out == ["4", "6", "False", "False"]


def test_an_edited_file_replaces_its_entry_so_the_cache_does_not_grow(
    files: Path, cache_dir: Path
) -> None:
    web = files / "web.yaml"
    original = web.read_text()
    for revision in range(5):
        web.write_text(original + f"\n# revision {revision}\n")
        _summary(files, LoadCache.open(cache_dir))
    assert len(LoadCache.open(cache_dir).entries) == 4


def test_a_cache_that_cannot_be_written_never_fails_the_load(
    files: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise TypeError("cannot pickle this")

    monkeypatch.setattr("reconciler.state.privatefiles.pickle.dumps", refuse)
    cache = LoadCache.open(cache_dir)
    assert _summary(files, cache) == _summary(files, None)
    assert not (cache_dir / CACHE_NAME).exists()
    assert list(cache_dir.iterdir()) == []
