"""Build contexts: which files are sent (``.dockerignore`` as docker reads it), what the
digest covers, and the cache that spares a command reading an unchanged context."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from reconciler.converge import buildcontext
from reconciler.values.configs import ImageBuild


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "src" / "deep").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    (root / "src" / "app.py").write_text("print('hi')\n")
    (root / "src" / "deep" / "debug.log").write_text("noise\n")
    (root / "src" / "keep.log").write_text("kept\n")
    (root / "secret.env").write_text("TOKEN=1\n")
    (root / ".dockerignore").write_text("# comment\n**/*.log\n!src/keep.log\nsecret.env\n")
    buildcontext._lists.clear()
    buildcontext._cache.clear()
    return root


def test_dockerignore_decides_what_is_sent(ctx: Path) -> None:
    assert buildcontext.files(str(ctx), "Dockerfile") == [
        ".dockerignore",
        "Dockerfile",
        "src",
        "src/app.py",
        "src/deep",
        "src/keep.log",
    ]
    with tarfile.open(fileobj=io.BytesIO(buildcontext.archive(ImageBuild(str(ctx))))) as tar:
        names = sorted(tar.getnames())
        owners = {(m.uid, m.gid, m.mtime) for m in tar.getmembers()}
    assert names == [".dockerignore", "Dockerfile", "src", "src/app.py", "src/deep", "src/keep.log"]
    assert owners == {(0, 0, 0)}


def test_the_digest_moves_with_what_is_sent_and_nothing_else(ctx: Path) -> None:
    build = ImageBuild(str(ctx), args=(("A", "1"),))
    first = buildcontext.digest(build)
    (ctx / "src" / "deep" / "debug.log").write_text("more noise\n")  # ignored
    (ctx / "secret.env").touch()
    assert buildcontext.digest(build) == first
    (ctx / "src" / "app.py").write_text("print('changed')\n")
    second = buildcontext.digest(build)
    assert second != first
    assert buildcontext.digest(ImageBuild(str(ctx), args=(("A", "2"),))) != second
    (ctx / "src" / "app.py").chmod(0o755)
    assert buildcontext.digest(build) != second


def test_a_later_command_uses_the_remembered_list_and_hashes(
    ctx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "state" / "build-contexts.cache"
    cache.parent.mkdir(mode=0o700)
    build = ImageBuild(str(ctx))
    first = buildcontext.Remembered(cache)
    expected = buildcontext.digest(build, first)
    first.save([str(ctx)])
    assert cache.exists()

    # A new process: empty in-memory caches, and no way to list the tree or read files.
    buildcontext._lists.clear()
    buildcontext._cache.clear()

    def no_listing(context: str, dockerfile: str) -> list[str]:
        raise AssertionError("the remembered list should have been used")

    monkeypatch.setattr(buildcontext, "_files", no_listing)
    assert buildcontext.digest(build, buildcontext.Remembered(cache)) == expected

    # A new file changes the tree's shape: the list is made again.
    monkeypatch.undo()
    (ctx / "src" / "new.py").write_text("x = 1\n")
    assert buildcontext.digest(build, buildcontext.Remembered(cache)) != expected


def test_a_context_without_its_dockerfile_is_an_error(ctx: Path) -> None:
    with pytest.raises(buildcontext.ContextError, match="has no Containerfile"):
        buildcontext.digest(ImageBuild(str(ctx), dockerfile="Containerfile"))
    with pytest.raises(buildcontext.ContextError, match="is not a directory"):
        buildcontext.digest(ImageBuild(str(ctx / "nowhere")))
