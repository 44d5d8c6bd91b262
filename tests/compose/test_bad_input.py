"""Bad compose files: ``reconcile validate -f compose.yaml`` (run in the file's directory, as a
user runs it) exits 1 with one clear message at file:line:col, and ``reconcile apply`` of the
same file changes nothing on the Engine.

The expected messages are golden strings: what a user should read. Where today's message is
poor or points at the wrong place the test says what it should be and is a strict xfail, with
the reason (the code is not changed here).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from docker import DockerClient

from tests.compose.conftest import IMAGE, Reconcile


@dataclass(frozen=True)
class Bad:
    """A bad compose file, the problems ``validate`` must print (``{dir}``: the file's
    directory, absolute) and, when today's output is known to fall short, why."""

    id: str
    compose: str
    problems: tuple[str, ...]
    xfail: str = ""
    files: tuple[tuple[str, str], ...] = ()  # other files beside compose.yaml


CASES = [
    Bad(
        "unknown-service-key",
        """\
        services:
          web:
            image: ${IMAGE}
            restart: always
            comand: ["sleep", "1"]
        """,
        ("compose.yaml:5:5: services.web: additional properties 'comand' not allowed",),
    ),
    Bad(
        "ports-scalar",
        """\
        services:
          web:
            image: ${IMAGE}
            ports: 80
        """,
        ("compose.yaml:4:5: services.web.ports: must be a array",),
    ),
    Bad(
        "restart-sometimes",
        """\
        services:
          web:
            image: ${IMAGE}
            restart: sometimes
        """,
        (
            "compose.yaml:4:5: services.web.restart: 'sometimes' must be no, always, "
            "unless-stopped, on-failure or on-failure:N",
        ),
    ),
    Bad(
        "unset-required-variable",
        """\
        services:
          web:
            image: ${IMAGE}
            environment:
              API_TOKEN: ${API_TOKEN:?must be set}
        """,
        (
            "compose.yaml:5:7: services.web.environment.API_TOKEN: required variable "
            "API_TOKEN is missing a value: must be set",
        ),
    ),
    Bad(
        "extends-missing-file",
        """\
        services:
          web:
            extends:
              file: missing.yaml
              service: base
            image: ${IMAGE}
        """,
        (
            "compose.yaml:4:7: services.web.extends.file: open {dir}/missing.yaml: "
            "no such file or directory",
        ),
    ),
    Bad(
        "depends-on-cycle",
        """\
        services:
          a:
            image: ${IMAGE}
            depends_on: [b]
          b:
            image: ${IMAGE}
            depends_on: [c]
          c:
            image: ${IMAGE}
            depends_on: [a]
        """,
        ("compose.yaml:4:5: services.a.depends_on: dependency cycle detected: a -> b -> c -> a",),
    ),
    Bad(
        "build-option-not-passed-on",
        """\
        services:
          db:
            image: ${IMAGE}
          web:
            build:
              context: .
              cache_from: [web:cache]
            depends_on: [db]
        """,
        (
            "compose.yaml:7:7: services.web.build.cache_from: build.cache_from: not supported "
            "(reconcile passes on context, dockerfile, args, target, labels)",
        ),
    ),
    Bad(
        "refused-links",
        """\
        services:
          db:
            image: ${IMAGE}
          web:
            image: ${IMAGE}
            links:
              - db
        """,
        (
            "compose.yaml:6:5: services.web.links: links: legacy links: containers of a "
            "project reach each other by service name",
        ),
    ),
    Bad(
        "port-without-published-port",
        """\
        services:
          web:
            image: ${IMAGE}
            ports:
              - "8080:80"
              - "443"
        """,
        (
            "compose.yaml:6:9: services.web.ports[1]: port 443 has no published port: "
            "reconcile publishes on a port you choose, never on a random one (write "
            "HOST:CONTAINER, or use expose to only expose it)",
        ),
    ),
    Bad(
        "unset-variable-in-image",
        """\
        services:
          db:
            image: ${DB_IMAGE}
        """,
        (
            'compose.yaml:3:5: services.db.image: service "db" has no image: the variable '
            '"DB_IMAGE" is not set',
        ),
    ),
]


def _write(case: Bad, root: Path) -> Path:
    directory = root / case.id
    directory.mkdir()
    (directory / "compose.yaml").write_text(textwrap.dedent(case.compose))
    for name, text in case.files:
        (directory / name).write_text(textwrap.dedent(text))
    return directory


def _params() -> list[object]:
    return [
        pytest.param(
            case,
            id=case.id,
            marks=[pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else [],
        )
        for case in CASES
    ]


@pytest.mark.parametrize("case", _params())
def test_validate_explains_at_file_line_col(
    case: Bad, reconcile: Reconcile, tmp_path: Path
) -> None:
    directory = _write(case, tmp_path)
    done = reconcile("validate", "-f", "compose.yaml", cwd=directory, env={"IMAGE": IMAGE})
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    expected = [p.format(dir=directory) for p in case.problems]
    count = len(expected)
    expected.append(f"{count} problem{'s' if count > 1 else ''} in 1 of 1 file")
    assert done.stderr.splitlines() == expected


def test_wrong_type_with_an_absolute_path(reconcile: Reconcile, tmp_path: Path) -> None:
    """compose's own schema message, placed at the key, when the file is named absolutely."""
    case = next(c for c in CASES if c.id == "ports-scalar")
    directory = _write(case, tmp_path)
    done = reconcile("validate", "-f", directory / "compose.yaml", env={"IMAGE": IMAGE})
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"{directory}/compose.yaml:4:5: services.web.ports: must be a array",
        "1 problem in 1 of 1 file",
    ]


@pytest.mark.docker
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_apply_of_a_bad_file_changes_nothing(
    case: Bad,
    reconcile: Reconcile,
    docker_client: DockerClient,
    test_image: str,
    unique_prefix: str,
    state_dir: Path,
    tmp_path: Path,
) -> None:
    """Refused as a whole: not even the valid services, the network or the volumes of the
    project are made."""
    directory = _write(case, tmp_path)
    done = reconcile(
        "apply",
        "-f",
        "compose.yaml",
        "-p",
        unique_prefix,
        "--state-dir",
        state_dir,
        cwd=directory,
        env={"IMAGE": IMAGE},
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: compose.yaml"), done.stderr
    named = {"name": unique_prefix}
    assert docker_client.api.containers(all=True, filters=named) == []
    assert docker_client.api.networks(filters=named) == []
    assert (docker_client.api.volumes(filters=named) or {}).get("Volumes") in (None, [])
