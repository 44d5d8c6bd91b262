"""``reconcile validate`` and ``reconcile schema`` through click's test runner."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli.app import cli
from reconciler.manifests import schema

TESTS = Path(__file__).parents[1]
VALID, INVALID = TESTS / "loading" / "valid", TESTS / "loading" / "invalid"
# These tests are about loading; the valid fixtures use devices and capabilities that the
# default (baseline) host-access policy refuses, which tests/policy covers.
NO_POLICY = str(TESTS / "fixtures" / "privileged-policy.yaml")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_valid_set_prints_counts_by_kind() -> None:
    code, out, err = run("validate", "--policy", NO_POLICY, "-R", "-f", str(VALID))
    assert (code, err) == (0, "")
    assert out == "OK: 4 files, 3 Containers, 1 Network, 2 Volumes\n"


def test_problems_go_to_stderr_with_a_summary_and_exit_1() -> None:
    bad = INVALID / "image-float.yaml"
    code, out, err = run("validate", "--policy", NO_POLICY, "-R", "-f", str(VALID), "-f", str(bad))
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f'{bad}:5:10: spec.image: must be a string; YAML read 3.10 as a number, quote it: "3.10"',
        "1 problem in 1 of 5 files",
    ]


def test_positional_paths_work_too() -> None:
    code, out, _ = run("validate", str(VALID / "bom.yaml"))
    assert (code, out) == (0, "OK: 1 file, 1 Volume\n")


def test_json_output_for_ci() -> None:
    bad = INVALID / "kind-typo.yaml"
    code, out, _ = run("validate", "-o", "json", "-f", str(bad))
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    assert report["problems"] == [
        {
            "file": str(bad),
            "line": 2,
            "column": 7,
            "field": "kind",
            "message": "'Contaner' is not a known kind; did you mean Container?",
        }
    ]


def test_a_missing_path_is_an_error_without_traceback(tmp_path: Path) -> None:
    code, _, err = run("validate", "-f", str(tmp_path / "gone"))
    assert (code, err) == (1, f"error: {tmp_path / 'gone'} does not exist\n")


def test_no_manifest_files_is_an_error(tmp_path: Path) -> None:
    code, _, err = run("validate", "-f", str(tmp_path))
    assert (code, err) == (1, f"error: {tmp_path}: no manifest files (*.yaml, *.yml) found\n")


def test_no_path_at_all_is_a_usage_error() -> None:
    code, _, err = run("validate")
    assert code == 2 and "give at least one manifest file" in err


def test_schema_command_prints_the_schema() -> None:
    code, out, _ = run("schema")
    assert code == 0
    document = json.loads(out)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    spec = document["$defs"]["ContainerSpec"]
    assert spec["additionalProperties"] is False
    # Free-form maps keep their value schema rather than being closed.
    assert spec["properties"]["env"]["additionalProperties"] is not False


def test_shipped_schema_is_up_to_date() -> None:
    shipped = (Path(schema.__file__).parent / schema.SHIPPED_PATH).read_text(encoding="utf-8")
    assert shipped == schema.render(), (
        "reconciler/manifests/manifest.schema.json is stale; regenerate it with "
        "`reconcile schema > reconciler/manifests/manifest.schema.json`"
    )


def test_schema_accepts_the_short_forms_the_models_accept() -> None:
    spec = schema.manifest_schema()["$defs"]["ContainerSpec"]["properties"]
    assert {"type": "string"} in spec["networks"]["items"]["anyOf"]
    assert {"type": "string"} in spec["dependsOn"]["items"]["anyOf"]
