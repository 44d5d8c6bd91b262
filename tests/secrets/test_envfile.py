"""Env files read as docker compose reads ``env_file``: golden cases, the refusals (each naming
file:line, never the line), and the same cases checked against compose v2 itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.secrets.envfile import (
    MAX_ENV_FILE_BYTES,
    parse_env,
    parse_env_bytes,
    read_env_file,
)
from reconciler.secrets.errors import EnvFileError, SecretError
from tests.secrets.conftest import PLAINTEXT

# (text, what compose reads): every case here was also read by compose v2 (test below).
GOLDEN: list[tuple[str, dict[str, str]]] = [
    ("A=1\n", {"A": "1"}),
    ("A=1", {"A": "1"}),
    ("export B=2\n", {"B": "2"}),
    ("export\tB=2\n", {"B": "2"}),
    ("export=1\n", {"export": "1"}),
    ("C = 3 \n", {"C": "3"}),
    ("D: 4\n", {"D": "4"}),
    ("E=a #c\n", {"E": "a"}),
    ("F=a#c\n", {"F": "a#c"}),
    ("G=   # c\n", {"G": "# c"}),  # compose's quirk: the blanks after = go first
    ('H="a b" # c\n', {"H": "a b"}),
    ('H="a b"#c\n', {"H": "a b"}),
    ("I='x\\ny'\n", {"I": "x\\ny"}),
    ('J="x\\ny"\n', {"J": "x\ny"}),
    ('K="a\\"b"\n', {"K": 'a"b'}),
    ("L='a\\'b'\n", {"L": "a'b"}),
    ('M="tab\\tend\\\\"\n', {"M": "tab\tend\\"}),
    ('N="o\\0101ct"\n', {"N": "oAct"}),
    ('O="\\c\\01\\0999"\n', {"O": "\\c\\1\\999"}),
    ('AN="x\\0"\n', {"AN": "x\\"}),
    ('AP="\\0400"\n', {"AP": "\\400"}),
    ('AF="\\0377"\n', {"AF": "\xff"}),
    ('AK="\\a\\b\\f\\v\\r"\n', {"AK": "\a\b\f\v\r"}),
    ("P=a\\nb\n", {"P": "a\\nb"}),
    ('Q="multi\nline"\nR=2\n', {"Q": "multi\nline", "R": "2"}),
    ("Q='multi\nline'\n", {"Q": "multi\nline"}),
    ("S=$$x\n", {"S": "$x"}),
    ('T="\\$x"\n', {"T": "$x"}),
    ("U='$x ${y}'\n", {"U": "$x ${y}"}),
    ("V=cost$5\n", {"V": "cost$5"}),
    ("AD=a $ b\n", {"AD": "a $ b"}),
    ("AS=a $$ b $$$$\n", {"AS": "a $ b $$"}),
    ('AR="$"\n', {"AR": "$"}),
    ("W=\n", {"W": ""}),
    ("W=\nX=1\n", {"W": "", "X": "1"}),
    ('W=""\n', {"W": ""}),
    ('X=a\r\nY="b"\r\n', {"X": "a", "Y": "b"}),
    ("\ufeffZ=1\n", {"Z": "1"}),
    ("# only\n\n  AA=1\n\t# indented comment\n", {"AA": "1"}),
    ('AB="a\\\\"\n', {"AB": "a\\"}),
    ('AJ="a\\\\\\"b"\n', {"AJ": 'a\\"b'}),
    ("AC.dot-x=1\n", {"AC.dot-x": "1"}),
    ("AE='a\\\\b'\n", {"AE": "a\\\\b"}),
    ("AG=x\tY #c\n", {"AG": "x\tY"}),
    ("AI=\u00e9t\u00e9\n", {"AI": "\u00e9t\u00e9"}),
    ('AL="it\'s"\n', {"AL": "it's"}),
    ("AM='say \"hi\"'\n", {"AM": 'say "hi"'}),
    ("URL=http://x:8080/?a=b\n", {"URL": "http://x:8080/?a=b"}),
    ("A=1\nB=2\nA=3\n", {"A": "3", "B": "2"}),
    ("", {}),
    ("\n\n# nothing\n", {}),
]


@pytest.mark.parametrize(("text", "expected"), GOLDEN)
def test_golden(text: str, expected: dict[str, str]) -> None:
    assert parse_env(text, "f.env") == expected


def test_the_order_is_the_files() -> None:
    assert list(parse_env("Z=1\nA=2\nM=3\n")) == ["Z", "A", "M"]


# Refusals: file:line, and never the text of the line.


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "A=1\nLONELY\n",
            2,
            "a name without '=': compose would take its value from the environment it runs in, "
            "which reconcile does not do; write NAME= for an empty value",
        ),
        (
            "A=1\n\nexport LONELY",
            3,
            "a name without '=': compose would take its value from the environment it runs in, "
            "which reconcile does not do; write NAME= for an empty value",
        ),
        ("A=1\n=x\n", 2, "no variable name before '='"),
        ("A B=1\n", 1, "a variable name cannot hold a space"),
        ("A$B=1\n", 1, "the variable name has a character names may not hold"),
        (
            "1A=1\n",
            1,
            "not a variable name (letters, digits, '_', '.' and '-', not starting with a digit, "
            "'.' or '-')",
        ),
        (
            "\u00e9=1\n",
            1,
            "not a variable name (letters, digits, '_', '.' and '-', not starting with a digit, "
            "'.' or '-')",
        ),
        ('A=1\nB="open\n\nC=2\n', 2, 'the value of B opens a quote (") that is never closed'),
        ("A='open\n", 1, "the value of A opens a quote (') that is never closed"),
        ('A="x" B=y\n', 1, "text after the closing quote (only a # comment may follow)"),
        ('A=1\nB="x\ny"z\n', 3, "text after the closing quote (only a # comment may follow)"),
        (
            "A=1\nB=$HOME/x\n",
            2,
            "the value of B substitutes a variable ($NAME or ${...}), which reconcile does not do:"
            " write $$ for a literal $, or single-quote the value",
        ),
        (
            'A="${X:-d}"\n',
            1,
            "the value of A substitutes a variable ($NAME or ${...}), which reconcile does not do:"
            " write $$ for a literal $, or single-quote the value",
        ),
        (
            'A="\\$$x"\n',
            1,
            "the value of A substitutes a variable ($NAME or ${...}), which reconcile does not do:"
            " write $$ for a literal $, or single-quote the value",
        ),
        ("A=1\nB=x\0y\n", 2, "a NUL character (an environment variable cannot hold one)"),
        ('A="\\0000"\n', 1, "the value of A holds a NUL character (\\0000)"),
    ],
)
def test_refusals_name_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(EnvFileError) as refused:
        parse_env(text, "stack/db.env")
    assert str(refused.value) == f"stack/db.env:{line}: {message}"
    assert refused.value.location.line == line
    assert refused.value.path == Path("stack/db.env")


def test_no_refusal_shows_the_value() -> None:
    bad = [
        f"{PLAINTEXT}\n",
        f"A={PLAINTEXT} ${{X}}\n",
        f'A="{PLAINTEXT}\n',
        f'A="{PLAINTEXT}" {PLAINTEXT}\n',
        f"A B={PLAINTEXT}\n",
        f"A:B:{PLAINTEXT}$x\n",
        f"A={PLAINTEXT}\0\n",
    ]
    messages = []
    for text in bad:
        with pytest.raises(EnvFileError) as refused:
            parse_env(text, "db.env")
        messages += [str(refused.value), repr(refused.value)]
    assert [m for m in messages if "hunter2" in m or "PLAINTEXT" in m] == []


def test_bytes_not_utf8_are_refused_at_their_line() -> None:
    with pytest.raises(EnvFileError) as refused:
        parse_env_bytes(b"A=1\nB=\xff\xfe\n", "db.env")
    assert str(refused.value) == "db.env:2: not UTF-8 text"


def test_a_file_over_the_cap_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.env"
    big.write_bytes(b"A=" + b"x" * MAX_ENV_FILE_BYTES + b"\n")
    with pytest.raises(EnvFileError) as refused:
        read_env_file(big)
    assert str(refused.value) == f"{big}: over 1048576 bytes: too big for an env file"


def test_read_env_file(tmp_path: Path) -> None:
    path = tmp_path / "db.env"
    path.write_bytes(b"\xef\xbb\xbfexport A='1'\nB=2\n")
    assert read_env_file(path) == {"A": "1", "B": "2"}
    with pytest.raises(SecretError) as missing:
        read_env_file(tmp_path / "gone.env", "stack/gone.env")
    assert (
        str(missing.value) == "cannot read the env file stack/gone.env: No such file or directory"
    )


# compose v2 itself, reading the same files: the golden table is compose's behaviour.


def test_the_golden_cases_are_what_compose_reads(tmp_path: Path) -> None:
    from reconciler.loading.compose import binary

    try:
        binary.binary()
    except binary.ComposeUnavailable as exc:
        pytest.skip(str(exc))
    services = []
    for number, (text, _) in enumerate(GOLDEN):
        (tmp_path / f"{number}.env").write_text(text)
        services.append(f"  s{number}:\n    image: x\n    env_file: [{number}.env]\n")
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n" + "".join(services))
    environ = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    model, error = binary.canonical([compose], binary.Options(project_name="p"), environ)
    assert model is not None, error
    theirs = [model["services"][f"s{n}"].get("environment", {}) for n in range(len(GOLDEN))]
    assert theirs == [expected for _, expected in GOLDEN]
