"""The generic YAML reader for non-manifest files."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from reconciler.errors import Location
from reconciler.loading import parse_yaml, read_yaml, validate_yaml
from reconciler.manifests.common import Strict


class Sample(Strict):
    name: str
    count: int = 0


def test_plain_data_with_positions() -> None:
    doc = parse_yaml("name: x\nitems:\n  - {a: 1}\n", "f.yaml")
    assert doc.problems == ()
    assert doc.data == {"name": "x", "items": [{"a": 1}]}
    assert doc.locate("items", 0, "a") == Location("f.yaml", 3, 6)
    assert doc.locate("items", 5) == Location("f.yaml", 2, 1)
    assert doc.locate("nope") == Location("f.yaml", 1, 1)


def test_problems_instead_of_exceptions(tmp_path: Path) -> None:
    assert [str(p) for p in parse_yaml("a: [1\n", "f.yaml").problems] == [
        "f.yaml:2:1: YAML syntax error: expected ',' or ']', but got '<stream end>' (while "
        "parsing a flow sequence started at line 1, column 4)"
    ]
    missing = read_yaml(tmp_path / "none.yaml")
    assert missing.data is None
    assert "cannot read the file" in missing.problems[0].message


def test_validation_reports_every_unknown_key_and_error_located() -> None:
    doc = parse_yaml("nme: x\ncount: many\ncolor: red\n", "f.yaml")
    model, problems = validate_yaml(Sample, doc)
    assert model is None
    assert [str(p) for p in problems] == [
        "f.yaml:1:1: nme: unknown field 'nme'; did you mean name?",
        "f.yaml:2:8: count: must be a whole number",
        "f.yaml:3:1: color: unknown field 'color'; known fields: count, name",
    ]


def test_a_valid_document() -> None:
    model, problems = validate_yaml(Sample, parse_yaml("name: x\ncount: 3\n", "f.yaml"))
    assert problems == []
    assert model == Sample.model_validate({"name": "x", "count": 3})
    assert isinstance(model, BaseModel)
