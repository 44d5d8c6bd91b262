"""libyaml's C parser (the fast path) and ruamel's pure parser give the same documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.loading import parsing

HERE = Path(__file__).parent


def _utf8(path: Path) -> bool:
    try:
        path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        return False  # refused before parsing (the encoding fixtures)
    return True


FIXTURES = sorted(p for p in HERE.rglob("*.yaml") if _utf8(p))


def test_the_c_parser_is_in_use() -> None:
    # ruamel.yaml.clib ships wheels for our platforms; without it loading is ~15x slower.
    assert parsing._C_YAML is not None


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(HERE)))
def test_fast_and_pure_parsers_agree(path: Path) -> None:
    text = path.read_bytes().decode("utf-8-sig")
    pure = parsing._parse(parsing._pure_events(text), text, str(path))
    assert parsing.parse_text(text, str(path)) == pure
    if not pure.problems:
        assert parsing._parse(parsing._c_events(text), text, str(path)) == pure
