"""Kubernetes quantity parsing and scheduler units."""

from __future__ import annotations

from fractions import Fraction

import pytest

from grove.api.quantity import QuantityError, amount, format_amount, parse_quantity, to_scheduler_units


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Fraction(1, 2)),
        ("2", Fraction(2)),
        ("1.5", Fraction(3, 2)),
        (".5", Fraction(1, 2)),
        ("1.", Fraction(1)),
        ("2Gi", Fraction(2 * 2**30)),
        ("1Ki", Fraction(1024)),
        ("3Ei", Fraction(3 * 2**60)),
        ("1k", Fraction(1000)),
        ("1M", Fraction(10**6)),
        ("1G", Fraction(10**9)),
        ("1E", Fraction(10**18)),
        ("100n", Fraction(1, 10**7)),
        ("5u", Fraction(5, 10**6)),
        ("1e3", Fraction(1000)),
        ("1E3", Fraction(1000)),
        ("2.5e-3", Fraction(1, 400)),
        ("1e+2", Fraction(100)),
        ("-1", Fraction(-1)),
        ("+4", Fraction(4)),
        ("0.1", Fraction(1, 10)),
        (" 8 ", Fraction(8)),
    ],
)
def test_parse(text: str, value: Fraction) -> None:
    assert parse_quantity(text) == value


def test_numbers_are_accepted_like_json_quantities() -> None:
    assert parse_quantity(4) == 4
    assert parse_quantity(0.25) == Fraction(1, 4)


@pytest.mark.parametrize("text", ["", "m", "1.2.3", "1Kb", "1 Gi", "Gi", "1e", "abc", "1i", "--1", "1e99999"])
def test_rejects_malformed(text: str) -> None:
    with pytest.raises(QuantityError, match=r"^spec\.x: "):
        parse_quantity(text, "spec.x")


def test_a_malformed_quantity_names_the_field_and_the_value() -> None:
    with pytest.raises(QuantityError, match=r"^spec\.x: '12 cores' is not a quantity"):
        parse_quantity("12 cores", "spec.x")


def test_rejects_non_string() -> None:
    with pytest.raises(QuantityError, match="must be a string or a number"):
        parse_quantity(True, "f")
    with pytest.raises(QuantityError, match="must be a string or a number"):
        parse_quantity([1], "f")


def test_scheduler_units_round_up() -> None:
    assert to_scheduler_units("cpu", parse_quantity("500m")) == 500
    assert to_scheduler_units("cpu", parse_quantity("0.0001")) == 1
    assert to_scheduler_units("cpu", parse_quantity("2")) == 2000
    assert to_scheduler_units("memory", parse_quantity("2Gi")) == 2 * 2**30
    assert to_scheduler_units("memory", parse_quantity("500m")) == 1
    assert to_scheduler_units("nvidia.com/gpu", parse_quantity("8")) == 8


def test_amount_parses_and_rounds_and_names_the_field() -> None:
    assert amount("cpu", "100m") == 100
    assert amount("cpu", "0.0001") == 1
    assert amount("memory", "1Gi") == 2**30
    assert amount("memory", "0.5") == 1
    assert amount("memory", 3) == 3
    with pytest.raises(QuantityError, match=r"^spec\.x: 'lots' is not a quantity"):
        amount("cpu", "lots", "spec.x")


def test_format_amount() -> None:
    assert format_amount("cpu", 10_000) == "10 cpu"
    assert format_amount("cpu", 1_500) == "1.5 cpu"
    assert format_amount("cpu", 250) == "250m cpu"
    assert format_amount("memory", 20 * 2**30) == "20Gi"
    assert format_amount("memory", 1536 * 2**20) == "1.5Gi"
    assert format_amount("memory", 100) == "100 bytes"
    assert format_amount("nvidia.com/gpu", 8) == "8 nvidia.com/gpu"
