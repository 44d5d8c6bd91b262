"""Env files read as docker compose reads ``env_file`` (and ``--env-file``): compose v2's dotenv
parser (compose-go ``dotenv/parser.go``), not the docker CLI's ``docker run --env-file``.

Why compose's: people bring their env files from compose, where quotes are quotes (the docker
CLI would keep them in the value), and sops's dotenv format is written for it. The syntax, as
compose-go reads it:

- statements start after any whitespace; ``#`` starts a comment line; a UTF-8 BOM is ignored;
- ``KEY=VALUE``, ``export KEY=VALUE``, and ``KEY: VALUE`` (compose's YAML-style spelling);
  blanks around the name and after ``=`` are ignored;
- an unquoted value runs to the end of the line, cut at the first `` #`` (a space, then
  ``#``), trailing blanks removed; backslashes are kept as they are;
- a single-quoted value is literal (only ``\\'`` is read as ``'``) and may span lines;
- a double-quoted value may span lines and reads the escapes ``\\a \\b \\f \\n \\r \\t \\v
  \\\\ \\" \\$`` and ``\\0NNN`` (octal); any other backslash is kept;
- a name defined twice: the later value wins.

Where compose would give a value that depends on the environment reconcile runs in, or that
the text does not show, this parser refuses rather than guess (the line is named, never
shown; it may hold a secret):

- ``KEY`` alone (compose takes the value from its own environment, or drops the variable):
  refused, a daemon's environment is no place for a container's configuration. ``KEY=`` is an
  empty value;
- interpolation, ``$NAME`` or ``${...}`` in an unquoted or double-quoted value (compose
  substitutes its environment and earlier variables): refused; ``$$`` (and ``\\$`` in double
  quotes) is a literal ``$``, as in compose, and single quotes keep everything literal. Any other
  ``$`` (``cost$5``) is literal in both;
- text after a closing quote other than a comment (compose reads it as another statement);
- a name that is not ``[A-Za-z_][A-Za-z0-9_.-]*`` (compose also takes other letters, leading
  digits, ``[`` and ``]``), a NUL anything, text that is not UTF-8, a file over 1 MiB.
"""

from __future__ import annotations

import bisect
import re
from pathlib import Path

from reconciler.errors import Location
from reconciler.secrets.errors import EnvFileError, SecretError

MAX_ENV_FILE_BYTES = 1024 * 1024
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")

_BOM = "\ufeff"
# compose-go's isSpace: blanks that are not a line break.
_BLANKS = frozenset("\t\v\f\r \x85\xa0")
_EXPORT = re.compile(r"export[\t\n\f\r ]+")  # Go's \s
_NAME_PUNCTUATION = frozenset("_.-[]")
_ESCAPE = re.compile(r"\\(?:[abcfnrtv$\"\\]|0[0-9]{0,3})")
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "$": "$$",  # compose's own escape of a literal $, read back below
}
# compose's interpolation: $$ is a $, $NAME and ${...} substitute (case-insensitive names).
_DOLLAR = re.compile(r"\$(\$|\{|[_A-Za-z])?")


def read_env_file(path: Path, source: str | None = None) -> dict[str, str]:
    """The variables of the env file at ``path``, in file order; errors name ``source`` (the
    path by default) and the line."""
    name = str(path) if source is None else source
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_ENV_FILE_BYTES + 1)
    except OSError as exc:
        raise SecretError(f"cannot read the env file {name}: {exc.strerror}", path) from exc
    return parse_env_bytes(data, name)


def parse_env_bytes(data: bytes, source: str = "") -> dict[str, str]:
    """``parse_env`` of an env file's bytes (a decrypted one, say): at most 1 MiB of UTF-8."""
    if len(data) > MAX_ENV_FILE_BYTES:
        raise EnvFileError(
            f"over {MAX_ENV_FILE_BYTES} bytes: too big for an env file", Location(source)
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise EnvFileError("not UTF-8 text", Location(source, line)) from None
    return parse_env(text, source)


def parse_env(text: str, source: str = "") -> dict[str, str]:
    """The variables ``text`` defines, in order (see the module docstring for the syntax and
    what is refused); ``source`` names the file in errors, with the line."""
    return _Parser(text.removeprefix(_BOM), source).parse()


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.newlines = [i for i, char in enumerate(text) if char == "\n"]

    def line(self, pos: int) -> int:
        return bisect.bisect_left(self.newlines, pos) + 1

    def fail(self, pos: int, message: str) -> EnvFileError:
        return EnvFileError(message, Location(self.source, self.line(pos)))

    def parse(self) -> dict[str, str]:
        if (nul := self.text.find("\0")) >= 0:
            raise self.fail(nul, "a NUL character (an environment variable cannot hold one)")
        out: dict[str, str] = {}
        pos = self._statement_start(0)
        while pos < len(self.text):
            key, pos = self._key(pos)
            value, pos = self._value(pos, key)
            out[key] = value
            pos = self._statement_start(pos)
        return out

    def _statement_start(self, pos: int) -> int:
        """The next statement's first character: whitespace and comment lines skipped."""
        text = self.text
        while pos < len(text):
            if text[pos].isspace():
                pos += 1
            elif text[pos] == "#":
                end = text.find("\n", pos)
                pos = len(text) if end < 0 else end
            else:
                break
        return pos

    def _key(self, start: int) -> tuple[str, int]:
        """The name of the statement at ``start``, and where its value starts."""
        text = self.text
        pos = start
        if _EXPORT.match(text, pos):
            pos += len("export")
            while pos < len(text) and text[pos] in _BLANKS:
                pos += 1
        name_start = pos
        while pos < len(text):
            char = text[pos]
            if char in "=:\n":
                break
            if not (
                char in _BLANKS or char in _NAME_PUNCTUATION or char.isalpha() or char.isnumeric()
            ):
                raise self.fail(start, "the variable name has a character names may not hold")
            pos += 1
        if pos >= len(text) or text[pos] == "\n":
            raise self.fail(
                start,
                "a name without '=': compose would take its value from the environment it runs "
                "in, which reconcile does not do; write NAME= for an empty value",
            )
        key = text[name_start:pos].rstrip()
        if not key:
            raise self.fail(start, f"no variable name before '{text[pos]}'")
        if any(char in _BLANKS for char in key):
            raise self.fail(start, "a variable name cannot hold a space")
        if not NAME.fullmatch(key):
            raise self.fail(
                start,
                "not a variable name (letters, digits, '_', '.' and '-', not starting with "
                "a digit, '.' or '-')",
            )
        pos += 1
        while pos < len(text) and text[pos] in _BLANKS:
            pos += 1
        return key, pos

    def _value(self, start: int, key: str) -> tuple[str, int]:
        """The value starting at ``start``, and where the text after it starts."""
        text = self.text
        quote = text[start] if start < len(text) and text[start] in "'\"" else ""
        if not quote:
            end = text.find("\n", start)
            end = len(text) if end < 0 else end
            value = text[start:end].split(" #", 1)[0].rstrip()
            return _interpolated(value, self, start, key), min(end + 1, len(text))
        chars: list[str] = []
        escaped = False
        pos = start + 1
        while pos < len(text):
            char = text[pos]
            pos += 1
            if char != quote:
                if not escaped and char == "\\":
                    escaped = True
                    continue
                if escaped:
                    escaped = False
                    chars.append("\\")
                chars.append(char)
                continue
            if escaped:
                escaped = False
                chars.append(char)
                continue
            value = "".join(chars)
            if quote == '"':
                value = _interpolated(_unescaped(value), self, start, key)
            return value, self._after_quote(pos)
        raise self.fail(start, f"the value of {key} opens a quote ({quote}) that is never closed")

    def _after_quote(self, pos: int) -> int:
        """Where the next statement may start after a closing quote: only blanks and a comment
        may follow it on its line."""
        text = self.text
        while pos < len(text) and text[pos] in _BLANKS:
            pos += 1
        if pos < len(text) and text[pos] not in "\n#":
            raise self.fail(pos, "text after the closing quote (only a # comment may follow)")
        return pos


def _unescaped(value: str) -> str:
    """compose's escapes in a double-quoted value (compose-go ``expandEscapes``)."""

    def one(match: re.Match[str]) -> str:
        sequence = match.group()
        if sequence[1] != "0":
            return _SIMPLE_ESCAPES.get(sequence[1], sequence)  # \c: Go cannot read it either
        digits = sequence[2:]
        # compose rewrites \0NNN to Go's \NNN: exactly three octal digits, at most 0o377.
        # Anything else stays as rewritten: \01 reads \1, \0 a lone backslash.
        if len(digits) == 3 and all(d in "01234567" for d in digits) and int(digits, 8) <= 0o377:
            return chr(int(digits, 8))
        return "\\" + digits

    return _ESCAPE.sub(one, value)


def _interpolated(value: str, parser: _Parser, start: int, key: str) -> str:
    """``value`` after compose's interpolation when it has nothing to substitute: ``$$`` read
    as ``$``; a substitution (``$NAME``, ``${...}``) is refused."""

    def one(match: re.Match[str]) -> str:
        follower = match.group(1)
        if follower is None:
            return "$"
        if follower == "$":
            return "$"
        raise parser.fail(
            start,
            f"the value of {key} substitutes a variable ($NAME or ${{...}}), which reconcile "
            "does not do: write $$ for a literal $, or single-quote the value",
        )

    result = _DOLLAR.sub(one, value)
    if "\0" in result:
        raise parser.fail(start, f"the value of {key} holds a NUL character (\\0000)")
    return result
