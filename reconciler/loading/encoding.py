"""Bytes -> text: manifests are UTF-8 (a UTF-8 byte-order mark is tolerated), nothing else.

UTF-16 and UTF-32 are refused even though YAML allows them: editors on Windows produce them by
accident, and a clear message beats a file that silently reads as garbage.
"""

from __future__ import annotations

import codecs

from reconciler.errors import Location, Problem

_WIDE_BOMS = (
    # UTF-32 first: its little-endian BOM starts with the UTF-16 one.
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def decode(raw: bytes, filename: str) -> str | Problem:
    """The text of a manifest file, or the problem that makes it unreadable."""
    for bom, name in _WIDE_BOMS:
        if raw.startswith(bom):
            return Problem(
                Location(filename, 1, 1),
                "",
                f"file is encoded as {name}; manifests must be UTF-8 (save it as UTF-8)",
            )
    nul = raw.find(b"\0")
    if nul >= 0:
        line, col = _line_col(raw, nul)
        return Problem(
            Location(filename, line, col),
            "",
            "file contains NUL bytes: it is binary, or UTF-16/UTF-32 without a byte-order "
            "mark; manifests must be UTF-8",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(raw, exc.start)
        return Problem(
            Location(filename, line, col),
            "",
            f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02X}); save it as UTF-8",
        )
    return text.removeprefix("\ufeff")


def _line_col(raw: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of a byte offset."""
    start = raw.rfind(b"\n", 0, offset) + 1
    column = len(raw[start:offset].decode("utf-8", errors="replace")) + 1
    return raw.count(b"\n", 0, offset) + 1, column
