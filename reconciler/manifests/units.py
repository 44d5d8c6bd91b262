"""Explicit parsing of the units manifests use: sizes (``256Mi``), durations (``10s``), cpus.

Each parser takes what YAML gives (a string, or a plain integer where that is unambiguous) and
returns an integer in the Engine's unit, or raises ``ValueError`` with a sentence for the user.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

_SIZE_FACTORS = {
    "": 1,
    "b": 1,
    "ki": 1024,
    "mi": 1024**2,
    "gi": 1024**3,
    "ti": 1024**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
# k, m, g, t (with or without b): powers of 1024 to Docker and compose (``512m`` is 512 MiB),
# of 1000 to Kubernetes and SI. Read either way, a value would mean other bytes to someone:
# they are refused with both readings and the spelling to use (docs/decisions/sizes.md).
_AMBIGUOUS = {"k": 1, "m": 2, "g": 3, "t": 4}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
MAX_SIZE = 2**62
MAX_DURATION_NS = 2**62


def parse_size(value: object) -> int:
    """Bytes from ``256Mi``, ``512MiB`` or a plain integer count of bytes (``512m``, read one
    way by Docker and another by SI, is refused with both readings)."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 256Mi or 1Gi, not a boolean")
    if isinstance(value, int):
        number, factor = Fraction(value), 1
    elif isinstance(value, str):
        match = _SIZE_RE.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a size; write a number with a unit such as 256Mi")
        unit = match.group(2).lower()
        if unit.removesuffix("b") in _AMBIGUOUS:
            raise ValueError(_ambiguous(value, match.group(1), unit.removesuffix("b")))
        if unit not in _SIZE_FACTORS:
            raise ValueError(
                f"{value!r} has an unknown unit {match.group(2)!r}; use Ki, Mi, Gi, Ti "
                "(powers of 1024) or a plain number of bytes"
            )
        # Exact decimal arithmetic: 4.1M is 4100000 bytes, not 4099999.9999999995.
        number, factor = Fraction(match.group(1)), _SIZE_FACTORS[unit]
    else:
        raise ValueError("expected a size such as 256Mi or 1Gi")
    result = number * factor
    if result > MAX_SIZE:
        raise ValueError(f"{value!r} is too large")
    if result.denominator != 1:
        raise ValueError(f"{value!r} is not a whole number of bytes")
    return int(result)


def _ambiguous(value: str, number: str, unit: str) -> str:
    power = _AMBIGUOUS[unit]
    binary, decimal = Fraction(number) * 1024**power, Fraction(number) * 1000**power
    upper = unit.upper()
    si_unit = "kB" if unit == "k" else f"{upper}B"
    docker = f"{int(binary)} bytes" if binary.denominator == 1 else "a fraction of a byte"
    si = f"{int(decimal)} bytes" if decimal.denominator == 1 else "a fraction of a byte"
    return (
        f"{value!r} is ambiguous: Docker reads it as {number}{upper}iB ({docker}), SI as "
        f"{number}{si_unit} ({si}); write {number}{upper}i for the first, or the number of bytes"
    )


def parse_duration_ns(value: object) -> int:
    """Nanoseconds from ``10s``, ``1m30s``, ``500ms`` or ``2h``. Plain numbers are refused."""
    if not isinstance(value, str) or isinstance(value, bool):
        raise ValueError("expected a duration with a unit, such as 10s, 500ms or 1m30s")
    text = value.strip()
    if text == "0":
        return 0
    pos, total = 0, Fraction(0)
    for match in _DURATION_RE.finditer(text):
        if match.start() != pos:
            break
        total += Fraction(match.group(1)) * _DURATION_NS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(text):
        raise ValueError(f"{value!r} is not a duration; write e.g. 10s, 500ms or 1m30s")
    if total > MAX_DURATION_NS:
        raise ValueError(f"{value!r} is too long")
    return int(total)


def parse_nano_cpus(value: object) -> int:
    """Nano-CPUs (the Engine's unit) from ``"0.5"``, ``0.5``, ``2`` or ``"500m"`` (millicpus)."""
    if isinstance(value, bool):
        raise ValueError('expected a number of CPUs such as 0.5 or "1.5"')
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
        except ValueError:
            raise ValueError(f'{value!r} is not a number of CPUs; write e.g. "0.5"') from None
    else:
        raise ValueError("expected a number of CPUs such as 0.5")
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{value!r} must be a number of CPUs above 0")
    if number > 4096:
        raise ValueError(f"{value!r} is more than the 4096 CPUs the Engine accepts")
    nano = round(number * 1e9)
    if nano < 1_000_000:
        raise ValueError(f"{value!r} is below the Engine's minimum of 0.001 CPUs")
    return nano


def format_duration(ns: int) -> str:
    """The shortest readable form of a duration in nanoseconds (``1m30s``, ``500ms``)."""
    if ns == 0:
        return "0s"
    parts: list[str] = []
    for unit in ("h", "m", "s", "ms", "us", "ns"):
        size = _DURATION_NS[unit]
        if ns >= size:
            parts.append(f"{ns // size}{unit}")
            ns %= size
    return "".join(parts)


def format_size(num: int) -> str:
    """A size in bytes as the largest exact binary unit (``256Mi``), else plain bytes."""
    for unit, size in (("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if num and num % size == 0:
            return f"{num // size}{unit}"
    return str(num)
