"""Run statistics: pure functions of an equity curve, a daily return series and round trips.

Each function here is the one definition of its statistic; ``docs/statistics.md`` gives its
formula, and ``framework.report.results`` calls these and nothing else. Everything is computed
in plain Python with ``math.fsum`` in a fixed order, so the same inputs give the same bits on
every machine (no vectorised sums whose rounding depends on the CPU).

A statistic that cannot be computed (no trades, no variation, too short a run) is ``None``,
never a made-up 0 or an infinity.

This module reads no clock and knows nothing about runs, files or the exchange.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Final, Protocol

__all__ = [
    "DAY_NS",
    "Drawdowns",
    "ExactSum",
    "Values",
    "annual_volatility",
    "cagr",
    "calmar",
    "daily_closes",
    "drawdowns",
    "exposure",
    "mean",
    "periods_per_year",
    "profit_factor",
    "returns_of",
    "sharpe",
    "sortino",
    "sqn",
    "stdev",
]

DAY_NS: Final = 86_400 * 1_000_000_000
# A market that trades on at least this share of calendar days is a seven-day market (crypto,
# 365 periods a year); below it, a market with weekends and holidays off (252).
_SEVEN_DAY_SHARE: Final = 0.8
# A standard deviation this small relative to the mean is the rounding of equal values.
_NOISE: Final = 1e-12


class Values(Protocol):
    """Numbers that can be counted and read in order, more than once: a list, an array, or a
    column of a run's spilled series (``framework.report.spill``)."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[float]: ...


class ExactSum:
    """A running sum of floats kept exact: :attr:`value` is ``math.fsum`` of everything added,
    to the bit.

    Every finite float is a whole multiple of 2**-1074, so the sum is kept as that whole
    number, an integer; :attr:`value` divides it by 2**1074, which Python rounds correctly,
    as ``math.fsum`` rounds the exact sum (and an exact zero is +0.0 in both). One integer
    addition a value, where Shewchuk's partials cost a loop over them.
    """

    __slots__ = ("_units", "count")

    def __init__(self) -> None:
        self.count = 0
        self._units = 0  # the sum, in units of 2**-1074

    def add(self, x: float) -> None:
        """Add one finite float."""
        self.count += 1
        numerator, denominator = x.as_integer_ratio()  # the denominator is a power of two
        self._units += numerator << (_UNIT_BITS + 1 - denominator.bit_length())

    @property
    def value(self) -> float:
        """The correctly rounded sum."""
        return self._units / _UNIT


_UNIT_BITS: Final = 1074  # 2**-1074 is the smallest positive float
_UNIT: Final = 1 << _UNIT_BITS


def mean(values: Values) -> float | None:
    """Arithmetic mean; None for no values."""
    return math.fsum(values) / len(values) if values else None


def stdev(values: Values) -> float | None:
    """Sample standard deviation (n - 1 in the denominator); None below two values."""
    if len(values) < 2:
        return None
    m = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / (len(values) - 1))


# --- the equity curve ---------------------------------------------------------------------------


class Drawdowns:
    """Drawdown figures of an equity curve: depths are fractions of the running peak."""

    __slots__ = ("average", "longest_ns", "maximum")

    def __init__(self, maximum: float, longest_ns: int, average: float) -> None:
        self.maximum = maximum  # deepest fall from a running peak
        self.longest_ns = longest_ns  # longest time below a peak (to recovery, or the end)
        self.average = average  # mean of each drawdown episode's deepest point; 0 if none


def drawdowns(times_ns: Iterable[int], equity: Iterable[float]) -> Drawdowns:
    """Maximum, longest and average drawdown of equity sampled at ``times_ns``.

    An episode starts when equity falls below its running peak and ends when equity is back at
    or above that peak; one still open at the end lasts until the last sample. One pass, in
    order, keeping nothing per sample.
    """
    peak, peak_ns = -math.inf, 0
    depth = worst = 0.0
    longest = ts = 0
    episodes = ExactSum()  # each episode's deepest point
    for ts, value in zip(times_ns, equity, strict=True):
        if value >= peak:
            if depth > 0:
                episodes.add(depth)
                longest = max(longest, ts - peak_ns)
            peak, peak_ns, depth = value, ts, 0.0
        elif peak > 0:
            depth = max(depth, (peak - value) / peak)
            worst = max(worst, depth)
    if depth > 0:
        episodes.add(depth)
        longest = max(longest, ts - peak_ns)
    count = episodes.count
    return Drawdowns(worst, longest, episodes.value / count if count else 0.0)


def daily_closes(
    times_ns: Iterable[int], equity: Iterable[float], active_days: Sequence[int]
) -> list[float]:
    """The equity at the end of each active day (a day index: UTC days since the epoch).

    The first value is the curve's first sample (the starting equity); then, for each active
    day in order, the last sample taken before that day ended. ``times_ns`` is ascending.
    One pass over the samples, in order.
    """
    samples = zip(times_ns, equity, strict=True)
    first = next(samples, None)
    if first is None:
        return []
    closes = [first[1]]
    last, ahead = first, next(samples, None)  # the sample to close at, the one after it
    for day in active_days:
        end = (day + 1) * DAY_NS
        while ahead is not None and ahead[0] < end:
            last, ahead = ahead, next(samples, None)
        if last[0] < end:
            closes.append(last[1])
    return closes


def returns_of(closes: Sequence[float]) -> list[float]:
    """Simple returns between consecutive values (a value of 0 or less ends nothing: skipped)."""
    return [b / a - 1.0 for a, b in itertools.pairwise(closes) if a > 0]


def periods_per_year(active_days: Sequence[int]) -> int:
    """365 for data on nearly every calendar day of its span, else 252 (weekends off)."""
    if not active_days:
        return 365
    span = active_days[-1] - active_days[0] + 1
    return 365 if len(active_days) / span >= _SEVEN_DAY_SHARE else 252


def cagr(initial: float, final: float, n_returns: int, per_year: int) -> float | None:
    """Compound annual growth: (final / initial) ** (per_year / n_returns) - 1."""
    if initial <= 0 or final < 0 or n_returns <= 0:
        return None
    return float((final / initial) ** (per_year / n_returns) - 1.0)


def annual_volatility(returns: Sequence[float], per_year: int) -> float | None:
    """Sample standard deviation of the returns times sqrt(per_year)."""
    sd = stdev(returns)
    return None if sd is None else sd * math.sqrt(per_year)


def sharpe(returns: Sequence[float], per_year: int) -> float | None:
    """mean / sample standard deviation of the returns, times sqrt(per_year); risk-free 0.

    None when the returns do not vary (a deviation below rounding noise counts as none).
    """
    sd, m = stdev(returns), mean(returns)
    if sd is None or m is None or sd <= _NOISE * abs(m):
        return None
    return m / sd * math.sqrt(per_year)


def sortino(returns: Sequence[float], per_year: int) -> float | None:
    """mean / downside deviation, times sqrt(per_year); downside deviation is
    sqrt(mean(min(r, 0) ** 2)) over all returns (target 0)."""
    m = mean(returns)
    if m is None:
        return None
    downside = math.sqrt(math.fsum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    if downside == 0:
        return None
    return m / downside * math.sqrt(per_year)


def calmar(growth: float | None, max_drawdown: float) -> float | None:
    """CAGR / maximum drawdown; None without a drawdown."""
    if growth is None or max_drawdown <= 0:
        return None
    return growth / max_drawdown


def exposure(
    intervals: Iterable[tuple[int, int]], start_ns: int, end_ns: int, *, ordered: bool = False
) -> float:
    """Share of [start_ns, end_ns] covered by the union of the (open, close) intervals.

    ``ordered``: the intervals already come sorted, so they need not be gathered and sorted.
    """
    span = end_ns - start_ns
    if span <= 0:
        return 0.0
    covered, reach = 0, start_ns
    for lo, hi in intervals if ordered else sorted(intervals):
        lo, hi = max(lo, reach), min(hi, end_ns)
        if hi > lo:
            covered += hi - lo
            reach = hi
    return covered / span


# --- round trips --------------------------------------------------------------------------------


def profit_factor(pnls: Values) -> float | None:
    """Sum of winning trades' P&L / |sum of losing trades' P&L|; None without a loss."""
    losses = -math.fsum(p for p in pnls if p < 0)
    if losses <= 0:
        return None
    return math.fsum(p for p in pnls if p > 0) / losses


def sqn(pnls: Values) -> float | None:
    """System quality number: sqrt(n) * mean(P&L) / sample stdev(P&L); None below 2 trades."""
    sd, m = stdev(pnls), mean(pnls)
    if sd is None or m is None or sd <= _NOISE * abs(m):
        return None
    return math.sqrt(len(pnls)) * m / sd
