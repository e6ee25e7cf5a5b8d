"""A seeded market model stepped forward in simulated time: trades, an L2 book, bars, a ticker.

Theory of operation. Time is cut into fixed internal steps (``step_ns``, 100 ms by default).
Each step ``[t0, t0 + step)`` is generated whole, in a fixed order, from one
``random.Random(seed)``:

1. events due at ``t0``: the closed 1-minute bar, the forming bar, the book's published change
   and the ticker, each reflecting every trade before ``t0``;
2. the step's log return is drawn: a GARCH(1,1) variance whose long-run level switches between a
   calm and a stormy regime, so quiet and busy stretches cluster;
3. trades arrive as a Poisson process whose rate rises with volatility; sizes are log-normal;
   the aggressor side leans toward the step's coming move; a trade walks the book, one print
   per level it takes;
4. the mid moves, and the book is re-anchored around it: levels that would cross vanish, a new
   best level appears, gaps fill, and every few steps some levels resize or vanish.

Prices are integer ticks and sizes integer size steps inside; happenings carry exact
``Decimal`` values. Generation never depends on how callers step :meth:`MarketModel.advance_to`,
and output cadences (book, bars, ticker) draw no randomness, so one seed and one set of market
parameters give one market, whatever is rendered from it.

This module must not read the clock, use unseeded randomness, or know any wire format.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable
from decimal import Context, Decimal
from typing import Final, Literal

import msgspec

from framework.errors import ConfigError

__all__ = [
    "PRESETS",
    "BarState",
    "BookChange",
    "Happening",
    "MarketModel",
    "MarketParams",
    "TickerStats",
    "TradePrint",
    "preset",
]

_NS: Final = 1_000_000_000
_MINUTE_NS: Final = 60 * _NS
_CTX: Final = Context(prec=50)
_CENT: Final = Decimal("0.01")
_ZERO: Final = Decimal(0)
_MAX_POISSON: Final = 500

PriceLevel = tuple[Decimal, Decimal]


class MarketParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a market is like. Rates are per second; volatility is relative, per sqrt(second)."""

    instrument: str  # canonical id, "BTC/USDT"
    tick: Decimal  # price grid, "0.01"
    size_step: Decimal  # quantity grid, "0.000001"
    start_price: Decimal
    vol_per_sqrt_s: float  # long-run relative volatility of the mid
    garch_alpha: float = 0.03  # weight of the last squared return in the next variance
    garch_beta: float = 0.968  # persistence of the variance
    calm_mult: float = 0.7  # long-run volatility multiplier in the calm regime
    storm_mult: float = 2.2  # ... and in the stormy one
    calm_s: float = 240.0  # mean time spent calm before a storm
    storm_s: float = 90.0  # mean storm length
    trade_rate: float = 2.0  # trades per second at long-run volatility
    trade_size_median: float = 0.004
    trade_size_sigma: float = 1.2
    side_bias: float = 0.3  # how far the aggressor side leans toward the coming move
    book_levels: int = 20
    spread_ticks_max: int = 3
    level_gap_ticks: float = 100.0  # mean distance between neighbouring levels
    level_size_median: float = 0.4
    level_size_sigma: float = 0.9
    step_ns: int = 100_000_000
    churn_every: int = 5  # steps between random resizes and removals of book levels
    book_interval_ns: int = 500_000_000  # publish the book this often; 0 = never
    bar_update_ns: int = _NS  # publish the forming bar this often; 0 = closes only
    ticker_interval_ns: int = 5 * _NS  # publish ticker statistics this often; 0 = never


PRESETS: Final[dict[str, MarketParams]] = {
    "BTC/USDT": MarketParams(
        instrument="BTC/USDT", tick=Decimal("0.01"), size_step=Decimal("0.000001"),
        start_price=Decimal("107100.00"), vol_per_sqrt_s=0.6e-4,
    ),
    "ETH/USDT": MarketParams(
        instrument="ETH/USDT", tick=Decimal("0.01"), size_step=Decimal("0.0001"),
        start_price=Decimal("2430.00"), vol_per_sqrt_s=0.8e-4, trade_size_median=0.08,
        level_gap_ticks=10.0, level_size_median=8.0,
    ),
    "EUR/USD": MarketParams(
        instrument="EUR/USD", tick=Decimal("0.00001"), size_step=Decimal("1000"),
        start_price=Decimal("1.07250"), vol_per_sqrt_s=1.5e-5, trade_rate=4.0,
        trade_size_median=100_000.0, side_bias=0.0, book_levels=1, spread_ticks_max=2,
        level_gap_ticks=1.0, level_size_median=2_000_000.0,
    ),
    "AAPL.US": MarketParams(
        instrument="AAPL.US", tick=Decimal("0.01"), size_step=Decimal("1"),
        start_price=Decimal("201.50"), vol_per_sqrt_s=1.0e-4, trade_rate=3.0,
        trade_size_median=60.0, book_levels=10, level_gap_ticks=1.5, level_size_median=400.0,
    ),
}  # fmt: skip
"""Ready-made markets, keyed by canonical instrument id."""


class TradePrint(msgspec.Struct, frozen=True, gc=False):
    """One print. A trade that walks several levels prints once per level, at one time."""

    ts_ns: int
    price: Decimal
    size: Decimal
    side: Literal["buy", "sell"]  # aggressor side


class BookChange(msgspec.Struct, frozen=True, gc=False):
    """The book as published at ``ts_ns``: the full visible book and what changed since the last.

    Bids and asks are best first. In ``changed_*`` a size of 0 means the level was removed.
    """

    ts_ns: int
    bids: tuple[PriceLevel, ...]
    asks: tuple[PriceLevel, ...]
    changed_bids: tuple[PriceLevel, ...]
    changed_asks: tuple[PriceLevel, ...]


class BarState(msgspec.Struct, frozen=True, gc=False):
    """A 1-minute OHLCV bar of the trades in ``[open_ns, open_ns + 60 s)``.

    ``closed`` is False while the minute forms; the closing state is published at the minute's
    end (``ts_ns == open_ns + 60 s``). Minutes without trades have no bar.
    """

    ts_ns: int
    open_ns: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int
    closed: bool


class TickerStats(msgspec.Struct, frozen=True, gc=False):
    """Statistics since the model started (the stand-in for a 24-hour window)."""

    ts_ns: int
    price: Decimal  # last trade (the start price before any trade)
    open: Decimal  # the start price
    high: Decimal
    low: Decimal
    volume: Decimal  # base quantity traded
    quote_volume: Decimal  # sum of price * size, exact
    price_change: Decimal  # percent from open to price, two decimals


Happening = TradePrint | BookChange | BarState | TickerStats


def preset(instrument: str) -> MarketParams:
    """The ready-made parameters for ``instrument``.

    Raises:
        ConfigError: no preset exists for that instrument.
    """
    try:
        return PRESETS[instrument]
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise ConfigError(f"no market preset for {instrument!r}; known: {known}") from None


class MarketModel:
    """The market, advanced step by step from ``start_ns``.

    Args:
        params: what the market is like.
        seed: the only source of randomness.
        start_ns: simulated start time; a multiple of ``params.step_ns``.

    Raises:
        ConfigError: the start time or a cadence is not a multiple of the step.
    """

    def __init__(self, params: MarketParams, seed: int, start_ns: int) -> None:
        _check_cadences(params, start_ns)
        self.params = params
        self._rng = random.Random(seed)
        self._spare: float | None = None  # second Box-Muller normal
        self._step_s = params.step_ns / _NS
        self._base_var = (params.vol_per_sqrt_s**2) * self._step_s
        self._var = self._base_var
        self._storm = False
        self._log_mid = math.log(float(params.start_price))
        self._next_ns = start_ns
        self._steps = 0
        self._pending: deque[Happening] = deque()
        self._book = _Book(params, self._uniform, self._normal)
        self._book.anchor(self._mid_ticks())
        self._bar: list[int] | None = None  # [open_ns, o, h, l, c, volume units, trades]
        start = round(params.start_price / params.tick)
        self._stats = [start, start, start, start, 0, 0]  # open, high, low, last, units, quote

    def advance_to(self, ts_ns: int) -> list[Happening]:
        """Move the market to ``ts_ns`` and return every happening up to it, inclusive, in order."""
        while self._next_ns <= ts_ns:
            self._step(self._next_ns)
            self._next_ns += self.params.step_ns
        out: list[Happening] = []
        pending = self._pending
        while pending and pending[0].ts_ns <= ts_ns:
            out.append(pending.popleft())
        return out

    def price(self, ticks: int) -> Decimal:
        """A price in ticks as an exact Decimal."""
        return _CTX.multiply(Decimal(ticks), self.params.tick)

    def size(self, units: int) -> Decimal:
        """A quantity in size steps as an exact Decimal."""
        return _CTX.multiply(Decimal(units), self.params.size_step)

    # --- one step ----------------------------------------------------------------------------

    def _step(self, t0: int) -> None:
        self._due(t0)
        z = self._normal()
        ret = math.sqrt(self._var) * z
        self._trades(t0, z)
        self._log_mid += ret - self._var / 2
        self._update_variance(ret)
        self._book.anchor(self._mid_ticks())
        self._steps += 1

    def _due(self, t0: int) -> None:
        p = self.params
        if self._bar is not None and t0 % _MINUTE_NS == 0:
            self._pending.append(self._bar_state(t0, closed=True))
            self._bar = None
        elif self._bar is not None and p.bar_update_ns and t0 % p.bar_update_ns == 0:
            self._pending.append(self._bar_state(t0, closed=False))
        if self._steps % p.churn_every == 0:
            self._book.churn()
        if p.book_interval_ns and t0 % p.book_interval_ns == 0:
            change = self._book.publish()
            if change is not None:
                bids, asks, changed_bids, changed_asks = change
                self._pending.append(
                    BookChange(
                        t0, self._levels(bids), self._levels(asks),
                        self._levels(changed_bids), self._levels(changed_asks),
                    )
                )  # fmt: skip
        if p.ticker_interval_ns and t0 % p.ticker_interval_ns == 0:
            self._pending.append(self._ticker(t0))

    def _trades(self, t0: int, z: float) -> None:
        p = self.params
        vol_ratio = min(math.sqrt(self._var / self._base_var), 20.0)
        count = self._poisson(p.trade_rate * vol_ratio * self._step_s)
        if count == 0:
            return
        times = sorted(t0 + int(self._uniform() * p.step_ns) for _ in range(count))
        buy_prob = 0.5 + p.side_bias * math.tanh(z)
        for ts in times:
            side: Literal["buy", "sell"] = "buy" if self._uniform() < buy_prob else "sell"
            units = self._trade_units()
            for ticks, filled in self._book.take(side, units):
                self._record_trade(ts, ticks, filled)
                self._pending.append(TradePrint(ts, self.price(ticks), self.size(filled), side))

    def _record_trade(self, ts_ns: int, ticks: int, units: int) -> None:
        st = self._stats  # open, high, low, last, units, quote
        st[1:] = [max(st[1], ticks), min(st[2], ticks), ticks, st[4] + units, st[5] + ticks * units]
        bar = self._bar  # open_ns, o, h, l, c, units, trades
        if bar is None:
            self._bar = [ts_ns - ts_ns % _MINUTE_NS, ticks, ticks, ticks, ticks, units, 1]
        else:
            bar[2:] = [max(bar[2], ticks), min(bar[3], ticks), ticks, bar[5] + units, bar[6] + 1]

    def _update_variance(self, ret: float) -> None:
        p = self.params
        switch_s = p.storm_s if self._storm else p.calm_s
        if self._uniform() < self._step_s / switch_s:
            self._storm = not self._storm
        mult = p.storm_mult if self._storm else p.calm_mult
        omega = self._base_var * mult * mult * (1.0 - p.garch_alpha - p.garch_beta)
        self._var = omega + p.garch_alpha * ret * ret + p.garch_beta * self._var

    # --- output records ----------------------------------------------------------------------

    def _bar_state(self, ts_ns: int, *, closed: bool) -> BarState:
        open_ns, o, h, low, c, units, trades = self._bar or [0] * 7
        return BarState(
            ts_ns, open_ns, self.price(o), self.price(h), self.price(low), self.price(c),
            self.size(units), trades, closed,
        )  # fmt: skip

    def _ticker(self, ts_ns: int) -> TickerStats:
        o, h, low, last, units, quote = self._stats
        change = _CTX.divide(Decimal(100 * (last - o)), Decimal(o))
        change = _CTX.add(change.quantize(_CENT, context=_CTX), _ZERO)  # adding 0 drops "-0.00"
        quote_step = _CTX.multiply(self.params.tick, self.params.size_step)
        return TickerStats(
            ts_ns, self.price(last), self.price(o), self.price(h), self.price(low),
            self.size(units), _CTX.multiply(Decimal(quote), quote_step), change,
        )  # fmt: skip

    def _levels(self, levels: list[tuple[int, int]]) -> tuple[PriceLevel, ...]:
        return tuple((self.price(t), self.size(u)) for t, u in levels)

    # --- randomness, all from the one seeded generator ----------------------------------------

    def _mid_ticks(self) -> float:
        return math.exp(self._log_mid) / float(self.params.tick)

    def _uniform(self) -> float:
        return self._rng.random()

    def _normal(self) -> float:
        # Box-Muller from random() alone: random() is the one stream CPython keeps stable.
        if self._spare is not None:
            value, self._spare = self._spare, None
            return value
        radius = math.sqrt(-2.0 * math.log(1.0 - self._uniform()))
        angle = 2.0 * math.pi * self._uniform()
        self._spare = radius * math.sin(angle)
        return radius * math.cos(angle)

    def _poisson(self, lam: float) -> int:
        # Inversion with one uniform; lam stays small (a few per step).
        u = self._uniform()
        k, term = 0, math.exp(-lam)
        cumulative = term
        while u > cumulative and k < _MAX_POISSON:
            k += 1
            term *= lam / k
            cumulative += term
        return k

    def _trade_units(self) -> int:
        p = self.params
        size = p.trade_size_median * math.exp(p.trade_size_sigma * self._normal())
        size = min(size, 50.0 * p.trade_size_median)
        return max(1, round(size / float(p.size_step)))


class _Book:
    """Both sides of the visible L2 book as {price ticks: size units}, at most N levels each."""

    def __init__(self, p: MarketParams, uniform: Callable[[], float], normal: Callable[[], float]):
        self._p = p
        self._uniform = uniform
        self._normal = normal
        self._n = max(1, p.book_levels)
        self._max_gap = max(1, math.ceil(3 * p.level_gap_ticks))
        self._unit = float(p.size_step)
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self._spread = 1
        self._best = (0, 0)  # (best bid, best ask) of the last anchoring
        self._dirty = True
        self._shown: tuple[dict[int, int], dict[int, int]] | None = None

    def anchor(self, mid_ticks: float) -> None:
        """Centre the inside on the mid: crossing levels vanish, a new best level appears."""
        bid = max(1, math.floor(mid_ticks - self._spread / 2))
        best = (bid, bid + self._spread)
        if best == self._best and not self._dirty:
            return
        self._best, self._dirty = best, False
        for price in [q for q in self.bids if q > best[0]]:
            del self.bids[price]
        for price in [q for q in self.asks if q < best[1]]:
            del self.asks[price]
        self._refill(self.bids, best[0], -1)
        self._refill(self.asks, best[1], 1)

    def take(self, side: str, units: int) -> list[tuple[int, int]]:
        """Fill an aggressive order of ``units``: (price, units) per level taken."""
        levels = self.asks if side == "buy" else self.bids
        if not levels:  # cannot happen with a refilled book; print at the inside regardless
            return [(self._best[1] if side == "buy" else self._best[0], units)]
        self._dirty = True
        fills: list[tuple[int, int]] = []
        # A big order takes at most three levels: beyond that the sender would have stopped.
        for _ in range(3):
            if not levels or units == 0:
                break
            price = min(levels) if side == "buy" else max(levels)
            taken = min(units, levels[price])
            fills.append((price, taken))
            units -= taken
            if taken == levels[price]:
                del levels[price]
            else:
                levels[price] -= taken
        return fills

    def churn(self) -> None:
        """Resize some levels, remove some, let new ones appear; sometimes change the spread."""
        for levels, sign in ((self.bids, -1), (self.asks, 1)):
            best = (max(levels) if sign < 0 else min(levels)) if levels else None
            for price in sorted(levels):
                u = self._uniform()
                if price == best:
                    continue
                if u < 0.04:
                    del levels[price]
                elif u < 0.2:
                    levels[price] = max(1, round(levels[price] * math.exp(0.5 * self._normal())))
            if best is not None:
                self._refill(levels, best, sign)
        if self._uniform() < 0.1:
            self._spread = 1 + int(self._uniform() * self._p.spread_ticks_max)
        self._dirty = True

    def publish(self) -> tuple[list[tuple[int, int]], ...] | None:
        """(bids, asks, changed bids, changed asks) best first, or None if nothing changed."""
        shown_bids, shown_asks = self._shown or ({}, {})
        changed_bids = _diff(shown_bids, self.bids, reverse=True)
        changed_asks = _diff(shown_asks, self.asks, reverse=False)
        if self._shown is not None and not changed_bids and not changed_asks:
            return None
        self._shown = (dict(self.bids), dict(self.asks))
        bids = [(q, self.bids[q]) for q in sorted(self.bids, reverse=True)]
        asks = [(q, self.asks[q]) for q in sorted(self.asks)]
        return bids, asks, changed_bids, changed_asks

    def _refill(self, levels: dict[int, int], best: int, sign: int) -> None:
        if best not in levels:
            levels[best] = self._level_units()
        prices = sorted(levels, reverse=sign < 0)  # best first
        kept = [best]
        for price in prices[1:]:
            self._fill_gap(levels, kept, price, sign)
            if len(kept) >= self._n:
                break
            kept.append(price)
        while len(kept) < self._n:
            price = kept[-1] + sign * self._gap()
            if price < 1:
                break
            levels[price] = self._level_units()
            kept.append(price)
        keep = dict.fromkeys(kept)
        for price in prices:
            if price not in keep:
                del levels[price]

    def _fill_gap(self, levels: dict[int, int], kept: list[int], until: int, sign: int) -> None:
        prev = kept[-1]
        while len(kept) < self._n and (until - prev) * sign > self._max_gap:
            prev += sign * self._gap()
            if (until - prev) * sign <= 0:
                return
            levels[prev] = self._level_units()
            kept.append(prev)

    def _gap(self) -> int:
        return 1 + int(-(self._p.level_gap_ticks - 1.0) * math.log(1.0 - self._uniform()))

    def _level_units(self) -> int:
        p = self._p
        size = p.level_size_median * math.exp(p.level_size_sigma * self._normal())
        return max(1, round(size / self._unit))


def _diff(old: dict[int, int], new: dict[int, int], *, reverse: bool) -> list[tuple[int, int]]:
    prices = sorted(old.keys() | new.keys(), reverse=reverse)
    return [(q, new.get(q, 0)) for q in prices if old.get(q, 0) != new.get(q, 0)]


def _check_cadences(params: MarketParams, start_ns: int) -> None:
    step = params.step_ns
    if step <= 0 or _MINUTE_NS % step:
        raise ConfigError(f"step_ns {step} must divide one minute")
    if start_ns % step:
        raise ConfigError(f"start time {start_ns} ns is not a multiple of step_ns {step}")
    for name in ("book_interval_ns", "bar_update_ns", "ticker_interval_ns"):
        value = getattr(params, name)
        if value < 0 or value % step:
            raise ConfigError(f"{name} {value} must be 0 or a multiple of step_ns {step}")
