"""Search spaces: parameter axes from ``--grid`` text or a ``[sweep]`` table, grids and samples.

An axis is one strategy parameter and the values it takes:

* ``fast=5:30:5``: from 5 to 30 inclusive in steps of 5 (integers, or decimals such as
  ``0.1:0.5:0.1``, stepped exactly so that 0.3 is 0.3 and the last value is not lost to rounding);
* ``slow=20,30,50``: a list; each value is an integer, a decimal number or else a word.

A grid is the product of the axes, in the order they were given (the last axis varies fastest).
Random sampling picks distinct points of that grid with a seeded generator, so the same seed
gives the same points on every machine. Nothing here reads the clock or runs user code.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import msgspec

from framework.errors import ConfigError
from framework.sweeps.where import Where

__all__ = ["Axis", "Value", "grid_points", "parse_axis", "parse_value", "sample_points"]

Value = int | float | str | bool
_MAX_AXIS: Final = 100_000  # values on one axis: a typo such as 1:1e9:1 must not eat memory
_MAX_SAMPLED_GRID: Final = 1_000_000  # points a random sample may be drawn from
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
_INT: Final = re.compile(r"[+-]?\d+")
_DECIMAL: Final = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class Axis(msgspec.Struct, frozen=True):
    """One parameter and its values, with the range it came from (for model-based search).

    ``low``/``high``/``step`` are set for ``a:b:step`` axes; a list axis has ``step`` None.
    """

    name: str
    values: tuple[Value, ...]
    low: int | float | None = None
    high: int | float | None = None
    step: int | float | None = None


def parse_axis(text: str, where: str = "--grid") -> Axis:
    """Parse ``name=a:b:step`` or ``name=v1,v2,...``.

    Raises:
        ConfigError: no ``=``, a bad name, an empty or too long axis, or a malformed range;
            the message quotes the text and names ``where`` it came from.
    """
    name, sep, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not _NAME.fullmatch(name):
        raise ConfigError(f"{where}: expected NAME=a:b:step or NAME=v1,v2,..., got {text!r}")
    if not spec:
        raise ConfigError(f"{where}: parameter {name!r} has no values")
    if ":" in spec:
        return _range_axis(name, spec, where)
    return axis_of(name, [parse_value(part) for part in spec.split(",")], where)


def axis_of(name: str, values: Sequence[Any], where: str = "[sweep] grid") -> Axis:
    """An axis from a list of values (a TOML array, or parsed ``--grid`` text)."""
    if not values:
        raise ConfigError(f"{where}: parameter {name!r} has no values")
    if len(values) > _MAX_AXIS:
        raise ConfigError(f"{where}: parameter {name!r} has more than {_MAX_AXIS} values")
    out: list[Value] = []
    for value in values:
        if isinstance(value, str):
            value = parse_value(value)
        if not isinstance(value, int | float | str) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            raise ConfigError(f"{where}: parameter {name!r} has an unusable value {value!r}")
        if value == "":
            raise ConfigError(f"{where}: parameter {name!r} has an empty value")
        if value not in out:
            out.append(value)
    return Axis(name, tuple(out))


def parse_value(text: str) -> Value:
    """``"5"`` -> 5, ``"0.5"`` -> 0.5, ``"true"``/``"false"`` -> bool, anything else the word."""
    text = text.strip()
    if _INT.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        number = float(text)
        if math.isfinite(number):
            return number
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def grid_points(axes: Sequence[Axis], where: Where | None = None) -> list[dict[str, Value]]:
    """Every point of the grid that satisfies ``where``, the last axis varying fastest."""
    names = [a.name for a in axes]
    points = [dict(zip(names, combo, strict=True)) for combo in _product(axes)]
    return [p for p in points if where is None or where.holds(p)]


def sample_points(
    axes: Sequence[Axis], count: int, seed: int, where: Where | None = None
) -> list[dict[str, Value]]:
    """``count`` distinct points of the grid drawn at random (all of them if it has fewer).

    The draw depends only on ``seed``, the axes and ``where``; the points keep grid order.

    Raises:
        ConfigError: the grid has more than a million points (use model-based search).
    """
    total = math.prod(len(a.values) for a in axes)
    if total > _MAX_SAMPLED_GRID:
        raise ConfigError(
            f"--samples draws from the grid, which has {total:,} points (at most "
            f"{_MAX_SAMPLED_GRID:,}); use coarser steps or --trials"
        )
    feasible = grid_points(axes, where)
    if count >= len(feasible):
        return feasible
    chosen = sorted(random.Random(seed).sample(range(len(feasible)), count))
    return [feasible[i] for i in chosen]


def check_names(axes: Sequence[Axis], known: Mapping[str, object]) -> None:
    """Every axis names a parameter in ``known``; else a ConfigError listing them."""
    for axis in axes:
        if axis.name.rpartition(".")[2] not in known:
            names = ", ".join(sorted(known)) or "none"
            raise ConfigError(
                f"--grid: the strategy has no parameter {axis.name!r} (parameters: {names})"
            )


def _product(axes: Sequence[Axis]) -> itertools.product[tuple[Value, ...]]:
    total = math.prod(len(a.values) for a in axes)
    if total > 10 * _MAX_SAMPLED_GRID:
        raise ConfigError(f"the grid has {total:,} points; narrow it or use --trials")
    return itertools.product(*(a.values for a in axes))


def _range_axis(name: str, spec: str, where: str) -> Axis:
    parts = [p.strip() for p in spec.split(":")]
    if len(parts) != 3 or not all(_DECIMAL.fullmatch(p) for p in parts):
        raise ConfigError(f"{where}: {name}={spec!r} is not a range a:b:step of numbers")
    try:
        low, high, step = (Decimal(p) for p in parts)
        if not all(d.is_finite() for d in (low, high, step)):
            raise InvalidOperation
        count = int((high - low) / step) + 1 if step > 0 and high >= low else 0
    except (InvalidOperation, ArithmeticError, OverflowError, ValueError):
        raise ConfigError(f"{where}: {name}={spec!r} is not a usable range") from None
    if step <= 0:
        raise ConfigError(f"{where}: {name}={spec!r} needs a positive step")
    if high < low:
        raise ConfigError(f"{where}: {name}={spec!r} ends below its start")
    if count > _MAX_AXIS:
        raise ConfigError(f"{where}: {name}={spec!r} has {count:,} values (at most {_MAX_AXIS:,})")
    integral = all(_INT.fullmatch(p) for p in parts)
    values = [low + step * i for i in range(count)]
    if integral:
        return Axis(name, tuple(int(v) for v in values), int(low), int(values[-1]), int(step))
    return Axis(name, tuple(float(v) for v in values), float(low), float(values[-1]), float(step))
