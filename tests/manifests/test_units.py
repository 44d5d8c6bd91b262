"""Units manifests use: literal tables of accepted and refused inputs, with exact messages."""

from __future__ import annotations

import pytest

from reconciler.manifests.units import (
    format_duration,
    format_size,
    parse_duration_ns,
    parse_nano_cpus,
    parse_size,
)

Ki, Mi, Gi, Ti = 1024, 1024**2, 1024**3, 1024**4
S = 1_000_000_000  # nanoseconds


@pytest.mark.parametrize(
    ("text", "size"),
    [
        (0, 0),
        (1048576, Mi),
        ("0", 0),
        ("512", 512),
        ("512b", 512),
        ("1Ki", Ki),
        ("1KiB", Ki),
        ("256Mi", 256 * Mi),
        ("256mib", 256 * Mi),
        ("2Gi", 2 * Gi),
        ("1Ti", Ti),
        ("1.5Ki", 1536),
        ("1.5Gi", 3 * Gi // 2),
        (" 10 Mi ", 10 * Mi),
    ],
)
def test_parse_size_accepts(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "expected a size such as 256Mi or 1Gi, not a boolean"),
        (1.5, "expected a size such as 256Mi or 1Gi"),
        (None, "expected a size such as 256Mi or 1Gi"),
        ("", "'' is not a size; write a number with a unit such as 256Mi"),
        ("-1", "'-1' is not a size; write a number with a unit such as 256Mi"),
        ("1e3", "'1e3' is not a size; write a number with a unit such as 256Mi"),
        ("Mi", "'Mi' is not a size; write a number with a unit such as 256Mi"),
        (
            "1x",
            "'1x' has an unknown unit 'x'; use Ki, Mi, Gi, Ti (powers of 1024) or a plain "
            "number of bytes",
        ),
        (
            "1Pi",
            "'1Pi' has an unknown unit 'Pi'; use Ki, Mi, Gi, Ti (powers of 1024) or a plain "
            "number of bytes",
        ),
        (
            "512m",
            "'512m' is ambiguous: Docker reads it as 512MiB (536870912 bytes), SI as 512MB "
            "(512000000 bytes); write 512Mi for the first, or the number of bytes",
        ),
        (
            "1G",
            "'1G' is ambiguous: Docker reads it as 1GiB (1073741824 bytes), SI as 1GB "
            "(1000000000 bytes); write 1Gi for the first, or the number of bytes",
        ),
        (
            "1kb",
            "'1kb' is ambiguous: Docker reads it as 1KiB (1024 bytes), SI as 1kB (1000 "
            "bytes); write 1Ki for the first, or the number of bytes",
        ),
        (
            "2T",
            "'2T' is ambiguous: Docker reads it as 2TiB (2199023255552 bytes), SI as 2TB "
            "(2000000000000 bytes); write 2Ti for the first, or the number of bytes",
        ),
        ("0.5", "'0.5' is not a whole number of bytes"),
        ("0.3Ki", "'0.3Ki' is not a whole number of bytes"),
        (str(2**63), f"'{2**63}' is too large"),
        ("4194305Ti", "'4194305Ti' is too large"),
    ],
)
def test_parse_size_refuses(value: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_size(value)
    assert str(caught.value) == message


@pytest.mark.parametrize(("text", "size"), [("0.25Ki", 256), ("2.5Gi", 2_684_354_560)])
def test_parse_size_is_exact_for_decimal_fractions(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_parse_size_keeps_large_integers_exact() -> None:
    assert parse_size(2**53 + 1) == 2**53 + 1


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("0s", 0),
        ("1ns", 1),
        ("2us", 2_000),
        ("2µs", 2_000),
        ("500ms", 500_000_000),
        ("10s", 10 * S),
        ("1.5s", 1_500_000_000),
        ("1m", 60 * S),
        ("1m30s", 90 * S),
        ("1.5h", 5400 * S),
        ("1h2m3s4ms", 3723 * S + 4_000_000),
        ("1s1s", 2 * S),
        (" 1m30s ", 90 * S),
    ],
)
def test_parse_duration_accepts(text: str, ns: int) -> None:
    assert parse_duration_ns(text) == ns


NOT_A_DURATION = "is not a duration; write e.g. 10s, 500ms or 1m30s"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (10, "expected a duration with a unit, such as 10s, 500ms or 1m30s"),
        (True, "expected a duration with a unit, such as 10s, 500ms or 1m30s"),
        (None, "expected a duration with a unit, such as 10s, 500ms or 1m30s"),
        ("", f"'' {NOT_A_DURATION}"),
        ("10", f"'10' {NOT_A_DURATION}"),
        ("0.0", f"'0.0' {NOT_A_DURATION}"),
        ("1d", f"'1d' {NOT_A_DURATION}"),
        ("-1s", f"'-1s' {NOT_A_DURATION}"),
        ("1 s", f"'1 s' {NOT_A_DURATION}"),
        ("s", f"'s' {NOT_A_DURATION}"),
        ("1s garbage", f"'1s garbage' {NOT_A_DURATION}"),
        ("100000000h", "'100000000h' is too long"),
    ],
)
def test_parse_duration_refuses(value: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration_ns(value)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "ns"), [("4.1s", 4_100_000_000), ("2.3h", 8280 * S), ("0.57m", 34_200_000_000)]
)
def test_parse_duration_is_exact_for_decimal_fractions(text: str, ns: int) -> None:
    assert parse_duration_ns(text) == ns


@pytest.mark.parametrize(
    ("value", "nano"),
    [
        (1, 1_000_000_000),
        (2, 2_000_000_000),
        (0.5, 500_000_000),
        ("0.5", 500_000_000),
        (" 1.5 ", 1_500_000_000),
        ("500m", 500_000_000),
        ("1m", 1_000_000),
        (0.001, 1_000_000),
        (4096, 4096 * 1_000_000_000),
    ],
)
def test_parse_nano_cpus_accepts(value: object, nano: int) -> None:
    assert parse_nano_cpus(value) == nano


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, 'expected a number of CPUs such as 0.5 or "1.5"'),
        (None, "expected a number of CPUs such as 0.5"),
        ("abc", "'abc' is not a number of CPUs; write e.g. \"0.5\""),
        ("m", "'m' is not a number of CPUs; write e.g. \"0.5\""),
        ("", "'' is not a number of CPUs; write e.g. \"0.5\""),
        ("0", "'0' must be a number of CPUs above 0"),
        (-1, "-1 must be a number of CPUs above 0"),
        ("nan", "'nan' must be a number of CPUs above 0"),
        ("0.0001", "'0.0001' is below the Engine's minimum of 0.001 CPUs"),
    ],
)
def test_parse_nano_cpus_refuses(value: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_nano_cpus(value)
    assert str(caught.value) == message


def test_too_many_cpus_names_the_limit() -> None:
    with pytest.raises(ValueError, match="4096"):
        parse_nano_cpus("5000")


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1us500ns"),
        (500_000_000, "500ms"),
        (10 * S, "10s"),
        (90 * S, "1m30s"),
        (3600 * S + 1, "1h1ns"),
        (25 * 3600 * S, "25h"),
    ],
)
def test_format_duration(ns: int, text: str) -> None:
    assert format_duration(ns) == text
    assert parse_duration_ns(text) == ns


@pytest.mark.parametrize(
    ("num", "text"),
    [
        (0, "0"),
        (1, "1"),
        (1000, "1000"),
        (1536, "1536"),
        (Ki, "1Ki"),
        (2048, "2Ki"),
        (256 * Mi, "256Mi"),
        (Gi, "1Gi"),
        (1536 * Mi, "1536Mi"),
        (3 * Ti, "3Ti"),
    ],
)
def test_format_size(num: int, text: str) -> None:
    assert format_size(num) == text
    assert parse_size(text) == num
