"""What a compose project's load depends on (``compose.dependencies``), on literal files and
environments: the variables its files name, compose's and docker's own settings, and every
file it reads; the whole environment when that cannot be told."""

from __future__ import annotations

from pathlib import Path

from reconciler.loading.compose.binary import Options
from reconciler.loading.compose.dependencies import digest, files_read, used_names

BASE_ENV = {"HOME": "/root", "PATH": "/usr/bin", "TAG": "1"}


def project(tmp_path: Path, text: str, others: dict[str, str] | None = None) -> Path:
    for name, body in (others or {}).items():
        (tmp_path / name).write_text(body)
    path = tmp_path / "compose.yaml"
    path.write_text(text)
    return path


def key(path: Path, env: dict[str, str], options: Options | None = None) -> str:
    return digest([path], options or Options(), env)


def test_only_the_variables_the_files_name_count(tmp_path: Path) -> None:
    path = project(tmp_path, "services:\n  web:\n    image: nginx:${TAG}\n    command: $ARGS\n")
    before = key(path, BASE_ENV)
    for unrelated in ("RECONCILE_NO_SERVER", "OLDPWD", "SHLVL", "CI_JOB_ID", "PATH"):
        assert key(path, BASE_ENV | {unrelated: "x"}) == before, unrelated
    assert key(path, BASE_ENV | {"TAG": "2"}) != before
    assert key(path, BASE_ENV | {"ARGS": "-v"}) != before
    assert key(path, {k: v for k, v in BASE_ENV.items() if k != "TAG"}) != before


def test_compose_and_docker_settings_and_home_always_count(tmp_path: Path) -> None:
    path = project(tmp_path, "services:\n  web:\n    image: nginx\n")
    before = key(path, BASE_ENV)
    for setting in ("COMPOSE_PROFILES", "COMPOSE_ENV_FILES", "DOCKER_DEFAULT_PLATFORM"):
        assert key(path, BASE_ENV | {setting: "x"}) != before, setting
    assert key(path, BASE_ENV | {"HOME": "/home/u"}) != before


def test_bare_environment_entries_take_their_value_from_the_environment(tmp_path: Path) -> None:
    """``environment: [TOKEN]`` (no ``$``) is read from the process environment too."""
    path = project(tmp_path, "services:\n  web:\n    image: x\n    environment: [TOKEN]\n")
    assert key(path, BASE_ENV | {"TOKEN": "a"}) != key(path, BASE_ENV | {"TOKEN": "b"})


def test_env_files_and_dot_env_are_read_and_their_names_count(tmp_path: Path) -> None:
    path = project(
        tmp_path,
        "services:\n  web:\n    image: x\n    env_file: [app.env]\n",
        {"app.env": "A=${FROM_HOST}\nBARE\n", ".env": "TAG=3\n"},
    )
    assert set(files_read([path], [tmp_path / ".env"])) == {
        path,
        tmp_path / ".env",
        tmp_path / "app.env",
    }
    before = key(path, BASE_ENV)
    assert key(path, BASE_ENV | {"FROM_HOST": "x"}) != before
    assert key(path, BASE_ENV | {"BARE": "x"}) != before
    assert key(path, BASE_ENV | {"TAG": "9"}) != before  # named in .env
    # A changed env file is a changed project (compose merges its values).
    (tmp_path / "app.env").write_text("A=2\n")
    assert key(path, BASE_ENV) != before


def test_included_and_extended_files_are_followed(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "db.yaml").write_text("services:\n  db:\n    image: db:${DB_TAG}\n")
    (tmp_path / "base.yaml").write_text("services:\n  b:\n    image: x\n    user: $RUN_AS\n")
    path = project(
        tmp_path,
        "include: [lib/db.yaml]\nservices:\n  web:\n    extends: {file: base.yaml, service: b}\n",
    )
    read = files_read([path], [])
    assert {tmp_path / "lib" / "db.yaml", tmp_path / "base.yaml"} <= set(read)
    assert {"DB_TAG", "RUN_AS"} <= used_names(read.values())
    before = key(path, BASE_ENV)
    assert key(path, BASE_ENV | {"DB_TAG": "2"}) != before
    assert key(path, BASE_ENV | {"RUN_AS": "2"}) != before
    (tmp_path / "lib" / "db.yaml").write_text("services:\n  db:\n    image: db:2\n")
    assert key(path, BASE_ENV) != before


def test_the_whole_environment_counts_when_the_files_read_cannot_be_told(
    tmp_path: Path,
) -> None:
    cases = {
        "interpolated": "services:\n  web:\n    image: x\n    env_file: ${DIR}/a.env\n",
        "remote": "include: [oci://registry/app:1]\nservices: {}\n",
        "unparsable": "services:\n  web: [\n  env_file: x\n",
    }
    for name, text in cases.items():
        path = project(tmp_path, text)
        assert key(path, BASE_ENV | {"ANYTHING": "1"}) != key(path, BASE_ENV), name


def test_options_count(tmp_path: Path) -> None:
    path = project(tmp_path, "services:\n  web:\n    image: x\n")
    env_file = tmp_path / "given.env"
    env_file.write_text("X=1\n")
    plain = key(path, BASE_ENV)
    assert key(path, BASE_ENV, Options(profiles=("debug",))) != plain
    assert key(path, BASE_ENV, Options(project_name="other")) != plain
    with_file = key(path, BASE_ENV, Options(env_files=(env_file,)))
    assert with_file != plain
    assert key(path, BASE_ENV | {"X": "2"}, Options(env_files=(env_file,))) != with_file
