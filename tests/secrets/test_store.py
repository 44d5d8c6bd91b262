"""Secret files on the host: 0400 files in 0700 directories, a new path for a new value, and a
prune that removes only stale secret files and never leaves the store."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.secrets.errors import StoreError
from reconciler.secrets.store import KEY_NAME, SecretStore
from tests.secrets.conftest import PLAINTEXT

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chowns a file: needs root")
VALUE = PLAINTEXT.encode()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def store(tmp_path: Path) -> SecretStore:
    return SecretStore(tmp_path / "state" / "secrets")


def test_a_secret_is_a_0400_file_in_0700_directories(store: SecretStore) -> None:
    old = os.umask(0)
    try:
        path = store.write("shop", "db", "password", VALUE)
    finally:
        os.umask(old)
    assert path.read_bytes() == VALUE
    assert path.parent == store.root / "shop" / "db"
    assert path.name.startswith("password.") and len(path.name) == len("password.") + 32
    assert mode(path) == 0o400
    assert path.stat().st_uid == os.geteuid()
    for directory in (store.root, store.root / "shop", store.root / "shop" / "db"):
        assert mode(directory) == 0o700
    assert mode(store.root / KEY_NAME) == 0o400
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_the_path_is_stable_and_changes_with_the_value(store: SecretStore) -> None:
    first = store.write("shop", "db", "password", VALUE)
    assert store.write("shop", "db", "password", VALUE) == first
    assert store.path_for("shop", "db", "password", VALUE) == first
    changed = store.write("shop", "db", "password", VALUE + b"2")
    assert changed != first and changed.parent == first.parent
    assert first.read_bytes() == VALUE  # the old file stays until pruned
    others = {
        store.path_for("shop", "web", "password", VALUE),
        store.path_for("other", "db", "password", VALUE),
        store.path_for("shop", "db", "token", VALUE),
        store.path_for("shop", "db", "password", VALUE, mode=0o440),
        store.path_for("shop", "db", "password", VALUE, owner=(999, 999)),
    }
    assert first not in others and len(others) == 5


def test_the_path_says_nothing_of_the_value(store: SecretStore, tmp_path: Path) -> None:
    import hashlib

    path = store.path_for("shop", "db", "password", b"1234")
    assert hashlib.sha256(b"1234").hexdigest()[:32] not in str(path)
    # Another store (another host) names the same secret differently: the name is keyed.
    assert SecretStore(tmp_path / "other").path_for("shop", "db", "password", b"1234") != path


def test_a_new_store_object_on_the_same_root_names_alike(store: SecretStore) -> None:
    path = store.write("shop", "db", "password", VALUE)
    assert SecretStore(store.root).path_for("shop", "db", "password", VALUE) == path


def test_a_tampered_file_is_written_again(store: SecretStore) -> None:
    path = store.write("shop", "db", "password", VALUE)
    path.chmod(0o600)
    path.write_bytes(b"tampered")
    assert store.write("shop", "db", "password", VALUE) == path
    assert path.read_bytes() == VALUE and mode(path) == 0o400


@needs_root
def test_an_owner_is_set_when_asked(store: SecretStore) -> None:
    path = store.write("shop", "db", "password", VALUE, owner=(999, 998), mode=0o440)
    info = path.stat()
    assert (info.st_uid, info.st_gid, mode(path)) == (999, 998, 0o440)
    assert store.write("shop", "db", "password", VALUE, owner=(999, 998), mode=0o440) == path


def test_a_writable_mode_is_refused(store: SecretStore) -> None:
    with pytest.raises(StoreError, match=r"a secret file is read-only: mode 0600 is not"):
        store.write("shop", "db", "password", VALUE, mode=0o600)


@pytest.mark.parametrize(
    ("project", "container", "name"),
    [("..", "db", "pw"), ("shop", "a/b", "pw"), ("shop", "db", ".hidden"), ("", "db", "pw")],
)
def test_names_that_are_not_path_parts_are_refused(
    store: SecretStore, project: str, container: str, name: str
) -> None:
    with pytest.raises(StoreError, match=r"cannot name a secret file"):
        store.path_for(project, container, name, VALUE)


# The root must be this user's alone.


def test_a_root_others_may_open_is_refused(store: SecretStore) -> None:
    store.root.mkdir(parents=True)
    store.root.chmod(0o755)
    with pytest.raises(StoreError) as refused:
        store.write("shop", "db", "password", VALUE)
    assert str(refused.value) == (
        f"cannot use the secret store {store.root}: other users may open it (mode 0755); "
        f"chmod 700 {store.root}"
    )


def test_a_root_that_is_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(StoreError) as refused:
        SecretStore(tmp_path / "link").write("shop", "db", "password", VALUE)
    assert str(refused.value) == (
        f"cannot use the secret store {tmp_path}/link: it is a symbolic link"
    )
    assert list(real.iterdir()) == []


@needs_root
def test_a_root_of_another_user_is_refused(store: SecretStore) -> None:
    store.root.mkdir(parents=True, mode=0o700)
    os.chown(store.root, 65534, 65534)
    with pytest.raises(StoreError, match=r"belongs to uid 65534, not to this user"):
        store.write("shop", "db", "password", VALUE)


def test_a_project_directory_that_is_a_link_is_not_followed(
    store: SecretStore, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    store.write("shop", "db", "password", VALUE)
    (store.root / "evil").symlink_to(outside)
    with pytest.raises(StoreError, match=r"evil: it is a symbolic link"):
        store.write("evil", "db", "password", VALUE)
    assert list(outside.iterdir()) == []


# Prune.


def test_prune_removes_stale_files_and_empty_directories(store: SecretStore) -> None:
    old = store.write("shop", "db", "password", VALUE)
    new = store.write("shop", "db", "password", VALUE + b"2")
    token = store.write("shop", "web", "token", VALUE)
    gone = store.write("old", "app", "key", VALUE)
    removed = store.prune({new, token})
    assert sorted(removed) == sorted([old, gone])
    assert new.exists() and token.exists()
    assert not old.exists() and not gone.exists()
    assert not (store.root / "old").exists()  # its directories too
    assert (store.root / KEY_NAME).exists()  # never the naming key
    assert store.prune({new, token}) == []


def test_prune_of_nothing_kept_empties_the_store(store: SecretStore) -> None:
    store.write("shop", "db", "password", VALUE)
    store.prune(set())
    assert [p.name for p in store.root.iterdir()] == [KEY_NAME]


def test_prune_never_leaves_the_root(store: SecretStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "db").mkdir(parents=True)
    bait = outside / "db" / f"password.{'a' * 32}"
    bait.write_text("not the store's")
    sibling = tmp_path / f"password.{'b' * 32}"
    sibling.write_text("not the store's")
    store.write("shop", "db", "password", VALUE)
    (store.root / "linked").symlink_to(outside)  # a link to a directory elsewhere
    (store.root / "shop" / "web").symlink_to(outside / "db")
    (store.root / "shop" / "db" / f"x.{'c' * 32}").symlink_to(sibling)  # a link to a file
    removed = store.prune(set())
    assert bait.exists() and sibling.exists()
    assert (store.root / "linked").is_symlink()  # left alone: not the store's
    assert (store.root / "shop" / "web").is_symlink()
    assert store.root / "shop" / "db" / f"x.{'c' * 32}" in removed  # the link itself, not its file


def test_prune_leaves_what_is_not_a_secret_file(store: SecretStore) -> None:
    path = store.write("shop", "db", "password", VALUE)
    note = path.parent / "README"
    note.write_text("mine")
    stray = path.parent / ".tmp-0123456789abcdef"
    stray.write_bytes(VALUE)
    key_stray = store.root / ".tmp-fedcba9876543210"
    key_stray.write_bytes(b"k")
    assert sorted(store.prune(set())) == sorted([path, stray, key_stray])
    assert note.exists()


def test_prune_compares_paths_as_written(
    store: SecretStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = store.write("shop", "db", "password", VALUE)
    monkeypatch.chdir(tmp_path)
    relative = Path(os.path.relpath(path, tmp_path))
    assert store.prune({relative}) == []


def test_the_value_is_never_in_a_message_or_repr(store: SecretStore) -> None:
    assert "secrets" in repr(store) and PLAINTEXT not in repr(store)
    messages = []
    for project, mode in (("shop", 0o644), ("a/b", 0o400)):
        with pytest.raises(StoreError) as refused:
            store.write(project, "db", "pw", VALUE, mode=mode)
        messages += [str(refused.value), repr(refused.value)]
    assert [m for m in messages if "hunter2" in m] == []


def test_two_processes_make_one_naming_key(tmp_path: Path) -> None:
    root = tmp_path / "secrets"
    script = (
        "import sys; from pathlib import Path; from reconciler.secrets.store import SecretStore;"
        "print(SecretStore(Path(sys.argv[1])).path_for('p', 'c', 'n', b'v'))"
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", script, str(root)], stdout=subprocess.PIPE)
        for _ in range(4)
    ]
    paths = {run.communicate()[0] for run in runs}
    assert len(paths) == 1
