"""Money: exact Decimal, rendered as Cryptomus renders it."""

from __future__ import annotations

from decimal import Decimal

from framework import money


def test_render_is_sixteen_decimals_without_exponent() -> None:
    assert money.render(Decimal("0.22")) == "0.2200000000000000"
    assert money.render(Decimal(0)) == "0.0000000000000000"  # str() would say 0E-16
    assert money.render(Decimal("10000000000")) == "10000000000.0000000000000000"


def test_render8_matches_the_documented_new_balance() -> None:
    assert money.render8(Decimal("39950")) == "39950.00000000"


def test_from_float_uses_the_shortest_repr() -> None:
    assert money.from_float(0.1) == Decimal("0.1")
    assert money.from_float(107100.01) == Decimal("107100.01")


def test_quantize_half_even_and_down() -> None:
    assert money.quantize(Decimal("1.23455"), 4) == Decimal("1.2346")
    assert money.quantize(Decimal("1.23445"), 4) == Decimal("1.2344")
    assert money.quantize(Decimal("1.23459"), 4, down=True) == Decimal("1.2345")


def test_render_agrees_with_quantize_for_every_scale() -> None:
    values = [
        "0",
        "-0",
        "1",
        "-2.5",
        "0.1",
        "123456789012.1234567890123456",
        "1E+3",
        "1E-16",
        "5E-17",
    ]
    values += [f"3.{'1' * n}" for n in range(0, 20)]
    for text in values:
        value = Decimal(text)
        expected = format(value.quantize(Decimal("1e-16")), "f")
        assert money.render(value) == expected, text


def test_render8_agrees_with_quantize_for_every_scale() -> None:
    values = ["0", "1", "39950", "0.1", "2.123456789", "1E+3", "1E-9", "7.00000000000"]
    for text in values:
        value = Decimal(text)
        assert money.render8(value) == format(value.quantize(Decimal("1e-8")), "f"), text
