"""Which paths can change the manifest set (the rest never wakes the loop)."""

from __future__ import annotations

import pytest

from reconciler.loop.watching import relevant


@pytest.mark.parametrize(
    "path",
    ["/m/web.yaml", "/m/db.yml", "/m/sub/dir/x.yaml", "web.yaml", "/m/a.b.yaml"],
)
def test_manifest_files_are_relevant(path: str) -> None:
    assert relevant(path)


@pytest.mark.parametrize(
    "path",
    [
        "/m/.web.yaml.swp",  # vim swap
        "/m/.web.yaml.swx",
        "/m/web.yaml~",  # vim/emacs backup
        "/m/.#web.yaml",  # emacs lock
        "/m/#web.yaml#",  # emacs autosave
        "/m/4913",  # vim's probe file
        "/m/.goutputstream-ABC123",  # GNOME
        "/m/web.yaml.bak",
        "/m/web.yaml.orig",
        "/m/web.yaml.tmp",
        "/m/.hidden.yaml",
        "/m/README.md",
        "/m/web.json",
        "/m/web.yaml.tmp-1234",
        "/m/",
        "",
    ],
)
def test_editor_leftovers_and_other_files_are_not(path: str) -> None:
    assert not relevant(path)
