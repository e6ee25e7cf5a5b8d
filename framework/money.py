"""Exact money: Decimal in, quantized to a market's precision, rendered as Cryptomus renders it.

The only place money is converted or formatted. Account-side numbers (order prices and
quantities, fills, fees, balances) are ``decimal.Decimal`` from the moment they enter the
account; market data (floats) is converted with :func:`from_float`, which goes through the
float's shortest ``repr`` so that ``0.1`` becomes ``Decimal("0.1")`` and never
``0.1000000000000000055511151231257827...``.

Rendering uses ``format(d, "f")``: ``str(Decimal(0).quantize(...))`` would give ``"0E-16"``.
"""

from __future__ import annotations

import decimal
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Final

__all__ = [
    "CONTEXT",
    "ZERO",
    "from_float",
    "parse",
    "quantize",
    "render",
    "render8",
    "step",
]

ZERO: Final = Decimal(0)
# Wide enough for 12 integer digits plus 16 decimals and products of two such numbers.
_CTX: Final = decimal.Context(prec=60, rounding=ROUND_HALF_EVEN)
# The context of :func:`quantize`, for the venue's hot path, which quantizes inline
# (``value.quantize(step(places), ROUND_HALF_EVEN, CONTEXT)`` is ``quantize(value, places)``).
CONTEXT: Final = _CTX
_Q16: Final = Decimal("1e-16")
_Q8: Final = Decimal("1e-8")
_ZEROS: Final = tuple("0" * n for n in range(17))
_POINT_ZEROS16: Final = "." + "0" * 16
_POINT_ZEROS8: Final = "." + "0" * 8
_STEPS: Final = tuple(Decimal(1).scaleb(-n) for n in range(0, 19))
_N_STEPS: Final = len(_STEPS)


def step(places: int) -> Decimal:
    """The smallest increment at ``places`` decimals: ``step(4) == Decimal("0.0001")``."""
    return _STEPS[places] if 0 <= places < len(_STEPS) else Decimal(1).scaleb(-places)


def quantize(value: Decimal, places: int, *, down: bool = False) -> Decimal:
    """Round ``value`` to ``places`` decimals (half-even, or toward zero with ``down``)."""
    quantum = _STEPS[places] if 0 <= places < _N_STEPS else Decimal(1).scaleb(-places)
    return value.quantize(quantum, ROUND_DOWN if down else ROUND_HALF_EVEN, _CTX)


def from_float(value: float) -> Decimal:
    """Convert a market-data float to Decimal through its shortest round-trip repr."""
    return Decimal(repr(value))


def parse(text: str) -> Decimal:
    """Parse a decimal string from config or a command; raises ``decimal.InvalidOperation``."""
    value = Decimal(text)
    if not value.is_finite():
        raise decimal.InvalidOperation(text)
    return value


def at16(value: Decimal) -> Decimal:
    """``value`` with exactly 16 decimals: the Decimal that its :func:`render` text denotes."""
    return value.quantize(_Q16, ROUND_HALF_EVEN, _CTX)


def render(value: Decimal) -> str:
    """Cryptomus's money format: exactly 16 decimals, no exponent (``"0.2200000000000000"``)."""
    # Inlined (not a call to a shared helper): up to twenty renders per order.
    text = str(value)  # plain notation unless the exponent is positive or the value tiny
    if "E" not in text:
        dot = text.find(".")
        if dot < 0:
            return text + _POINT_ZEROS16
        pad = 17 + dot - len(text)  # 16 minus the decimals it has
        if pad >= 0:
            # Account values are already quantized to a market's precision: padding the plain
            # text is exact and much cheaper than a quantize and a format.
            return text + _ZEROS[pad]
    return format(value.quantize(_Q16, context=_CTX), "f")


def render8(value: Decimal) -> str:
    """Eight decimals, as Cryptomus renders ``balance_update.newBalance`` (``"39950.00000000"``)."""
    text = str(value)
    if "E" not in text:
        dot = text.find(".")
        if dot < 0:
            return text + _POINT_ZEROS8
        pad = 9 + dot - len(text)
        if pad >= 0:
            return text + _ZEROS[pad]
    return format(value.quantize(_Q8, context=_CTX), "f")
