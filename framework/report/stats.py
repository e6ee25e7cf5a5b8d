"""Run statistics from the equity curve and the fills: pure functions, deterministic.

Everything is computed in plain Python with ``math.fsum`` in a fixed order, so the same inputs
give the same bits on every machine (no vectorised sums whose rounding depends on the CPU).

Definitions:
* **return**: last equity / first equity - 1.
* **max drawdown**: the largest fall from a running peak of equity, as a fraction of that peak.
* **Sharpe**: mean / standard deviation (sample) of the per-interval equity returns, annualised
  with sqrt(intervals per 365-day year); 0 when there are fewer than two returns or no variation.
* **win rate**: the share of closed round trips (a position opened from flat and brought back to
  flat) whose quote-currency cash flow, fees included, is positive.
* **exposure**: the share of the run's simulated time during which some position was open.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Final

import msgspec

__all__ = ["FillRecord", "RoundTrips", "Summary", "exposure", "max_drawdown", "sharpe"]

_YEAR_S: Final = 365 * 24 * 3600


class FillRecord(msgspec.Struct, frozen=True):
    """One fill as the statistics need it."""

    ts_ns: int
    instrument: str
    direction: str  # "buy" | "sell"
    quantity: Decimal
    value: Decimal  # quote value of the fill
    fee: Decimal
    fee_currency: str
    quote: str  # the market's quote currency


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    """The numbers a run ends with (written to summary.json with the fingerprint)."""

    currency: str
    initial_equity: float
    final_equity: float
    total_return: float
    max_drawdown: float
    sharpe: float
    fees_paid: dict[str, str]
    orders: int
    fills: int
    rejections: int
    round_trips: int
    win_rate: float
    exposure: float
    first_time: str
    last_time: str


def max_drawdown(equity: Sequence[float]) -> float:
    """Largest peak-to-trough fall as a fraction of the peak (0.0 for a rising curve)."""
    peak = -math.inf
    worst = 0.0
    for value in equity:
        if value > peak:
            peak = value
        elif peak > 0:
            worst = max(worst, (peak - value) / peak)
    return worst


def sharpe(equity: Sequence[float], interval_s: float) -> float:
    """Annualised Sharpe ratio of per-interval returns (risk-free rate 0)."""
    returns = [b / a - 1.0 for a, b in itertools.pairwise(equity) if a > 0]
    if len(returns) < 2 or interval_s <= 0:
        return 0.0
    mean = math.fsum(returns) / len(returns)
    var = math.fsum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    if var <= 0:
        return 0.0
    return mean / math.sqrt(var) * math.sqrt(_YEAR_S / interval_s)


class RoundTrips:
    """Follows each instrument's position through fills and scores closed round trips."""

    def __init__(self) -> None:
        self._position: dict[str, Decimal] = {}
        self._flow: dict[str, Decimal] = {}
        self._opened_at: dict[str, int] = {}
        self.wins = 0
        self.closed = 0
        self.exposed_ns = 0

    def add(self, fill: FillRecord) -> None:
        inst = fill.instrument
        before = self._position.get(inst, Decimal(0))
        signed = fill.quantity if fill.direction == "buy" else -fill.quantity
        after = before + signed
        flow = -fill.value if fill.direction == "buy" else fill.value
        if fill.fee_currency == fill.quote:
            flow -= fill.fee
        if before == 0:
            self._opened_at[inst] = fill.ts_ns
            self._flow[inst] = Decimal(0)
        self._flow[inst] = self._flow.get(inst, Decimal(0)) + flow
        self._position[inst] = after
        if after == 0 and before != 0:
            self.closed += 1
            self.wins += self._flow[inst] > 0
            self.exposed_ns += fill.ts_ns - self._opened_at.pop(inst)

    def exposure_ns(self, end_ns: int) -> int:
        """Time with an open position, counting positions still open at ``end_ns``."""
        return self.exposed_ns + sum(end_ns - t for t in self._opened_at.values())

    @property
    def win_rate(self) -> float:
        return self.wins / self.closed if self.closed else 0.0


def exposure(trips: RoundTrips, first_ns: int, last_ns: int) -> float:
    """Share of [first_ns, last_ns] with a position open."""
    span = last_ns - first_ns
    return min(1.0, trips.exposure_ns(last_ns) / span) if span > 0 else 0.0
