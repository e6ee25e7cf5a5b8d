"""Hypothesis strategies that generate market scenarios: property tests of trading strategies.

Needs Hypothesis (``pip install 'papertrade[testing]'``); nothing else in papertrade imports
this module. Each strategy draws a :class:`~framework.testing.Scenario`: valid market data
as the providers send it (books never crossed, positive prices and sizes, time never going
back), with the situations that break strategies live::

    from hypothesis import given, settings
    from framework.testing.markets import trade_markets

    @settings(max_examples=50, deadline=None)
    @given(trade_markets())
    def test_never_holds_more_than_one_entry(papertrade, scenario):
        result = papertrade.run(MyStrategy, scenario)
        assert result.max_position <= Decimal("0.01")
        assert not result.unfinished_orders

* :func:`trade_markets`: Cryptomus trades and L2 books on a random walk whose volatility
  changes by regime, with gaps in time, 30 % crashes within a second, disconnects followed by a
  resubscription's fresh book, empty and one-sided books, and bursts of trades;
* :func:`bar_markets`: Finazon bars on such a walk, with missing bars, opening gaps, crashes
  and long wicks.

Examples shrink towards a short, calm market (fewer steps, smaller moves, the plain kind of
step first), and a failing one prints as Python that rebuilds it, ready to paste into a
regular test. Prices have two decimals and sizes four, as the default BTC/USDT market takes.
This module draws only from Hypothesis: no other randomness, no clock.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final, NamedTuple

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the user's install
    raise ImportError(
        "framework.testing.markets needs Hypothesis: pip install 'papertrade[testing]'"
    ) from exc

from framework.testing.scenario import Scenario

__all__ = ["TRADE_STEPS", "bar_markets", "trade_markets"]

TRADE_STEPS: Final = ("trade", "gap", "crash", "disconnect", "empty_book", "one_sided", "burst")
BAR_STEPS: Final = ("bar", "missing", "open_gap", "crash", "long_wick")
_CENT: Final = Decimal("0.01")
_LOT: Final = Decimal("0.0001")
_VOLATILITY_BP: Final = (2, 20, 200)  # per-step move unit of each regime, in basis points
_CRASH: Final = Decimal("0.7")  # a crash takes 30 % off the price


class _BookPlan(NamedTuple):
    spread: int  # cents from the mid to the best bid and the best ask
    bids: int  # levels on each side, a cent apart
    asks: int
    lots: int  # size of every level, in lots


class _TradeStep(NamedTuple):
    kind: str
    dt_ms: int  # after the previous step
    move: int  # price move, in units of the regime's volatility
    pause_s: int  # a gap, an outage or how long a thin book lasts
    keep_bids: bool  # which side a one-sided book keeps
    book: _BookPlan
    lots: int  # size of the step's trade(s), in lots
    side: str  # aggressor of the step's trade; a burst alternates from it
    times: int  # trades in a burst, price levels of a crash


class _BarStep(NamedTuple):
    kind: str
    move: int
    skip: int  # minutes without a bar before it
    gap: int  # opening gap, in tens of volatility units
    wick: int  # wick length, in basis points of the body's edge
    wick_up: bool
    lots: int


_lots: Final = st.integers(1, 20_000)
_side: Final = st.sampled_from(("buy", "sell"))
_book_plans: Final = st.builds(
    _BookPlan, st.integers(1, 20), st.integers(1, 5), st.integers(1, 5), _lots
)
_PAUSE_S: Final = {"gap": (60, 3_600), "disconnect": (1, 120), "empty_book": (1, 10),
                   "one_sided": (1, 10)}  # fmt: skip
_COUNT: Final = {"burst": (2, 40), "crash": (2, 8)}


_DT_MS: Final = st.integers(1, 2_000)
_MOVE: Final = st.integers(-3, 3)
_PAUSES: Final = {kind: st.integers(low, high) for kind, (low, high) in _PAUSE_S.items()}
_COUNTS: Final = {kind: st.integers(low, high) for kind, (low, high) in _COUNT.items()}


def _trade_step(kinds: tuple[str, ...]) -> st.SearchStrategy[_TradeStep]:
    # Strategies are built once here, not per draw: building one costs more than drawing.
    kind_of = st.sampled_from(kinds)

    @st.composite
    def step(draw: st.DrawFn) -> _TradeStep:
        kind = draw(kind_of)
        return _TradeStep(
            kind,
            draw(_DT_MS),
            draw(_MOVE),
            draw(_PAUSES[kind]) if kind in _PAUSES else 0,
            draw(st.booleans()) if kind == "one_sided" else True,
            draw(_book_plans),
            draw(_lots),
            draw(_side),
            draw(_COUNTS[kind]) if kind in _COUNTS else 1,
        )

    return step()


_SKIP: Final = st.integers(1, 30)
_GAP: Final = st.integers(-5, 5)
_WICK: Final = st.integers(1, 1_000)


def _bar_step(kinds: tuple[str, ...]) -> st.SearchStrategy[_BarStep]:
    kind_of = st.sampled_from(kinds)

    @st.composite
    def step(draw: st.DrawFn) -> _BarStep:
        kind = draw(kind_of)
        return _BarStep(
            kind,
            draw(_MOVE),
            draw(_SKIP) if kind == "missing" else 0,
            draw(_GAP) if kind == "open_gap" else 0,
            draw(_WICK) if kind == "long_wick" else 0,
            draw(st.booleans()),
            draw(_lots),
        )

    return step()


def _regimes(step: st.SearchStrategy[Any], max_steps: int) -> st.SearchStrategy[list[Any]]:
    """(volatility in bp, step) pairs: a regime lasts until a step starts another.

    One flat list, so shrinking deletes steps one by one down to the one that matters; a step's
    regime mark shrinks to "as before" (0).
    """
    marked = st.tuples(st.sampled_from((0, *_VOLATILITY_BP)), step)
    return st.lists(marked, min_size=1, max_size=max_steps).map(_carry_regimes)


def _carry_regimes(marked: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    vol, out = _VOLATILITY_BP[0], []
    for mark, step in marked:
        vol = mark or vol
        out.append((vol, step))
    return out


def trade_markets(
    instrument: str = "BTC/USDT",
    *,
    start_price: Decimal | str = "100000",
    max_steps: int = 30,
    steps: tuple[str, ...] = TRADE_STEPS,
) -> st.SearchStrategy[Scenario]:
    """Scenarios of trades and L2 books (Cryptomus frames) for ``instrument``.

    Args:
        instrument: the canonical id (a Cryptomus market, as ``BTC/USDT``).
        start_price: the first mid price.
        max_steps: at most this many steps (a step is a book and a trade, a crash, a burst...).
        steps: the kinds of step to draw from (a subset of :data:`TRADE_STEPS`); ``trade``
            first, as the one shrinking goes to.
    """
    unknown = set(steps) - set(TRADE_STEPS)
    if unknown or not steps:
        raise ValueError(f"steps must be among {TRADE_STEPS}, got {steps}")
    return _trade_market(instrument, Decimal(start_price), _regimes(_trade_step(steps), max_steps))


def bar_markets(
    instrument: str = "BTC/USDT",
    *,
    start_price: Decimal | str = "100000",
    min_bars: int = 1,
    max_bars: int = 60,
    steps: tuple[str, ...] = BAR_STEPS,
) -> st.SearchStrategy[Scenario]:
    """Scenarios of one-minute bars (Finazon frames) for ``instrument``.

    Args:
        min_bars: at least this many bars (a strategy with a 30-bar window needs 30 to act).
        max_bars: at most this many.
        steps: kinds of bar drawn (a subset of ``("bar", "missing", "open_gap", "crash",
            "long_wick")``): a missing bar is a minute with none; an opening gap opens away
            from the last close; a crash closes 30 % below its open; a long wick reaches
            up to 10 % beyond the body.
    """
    unknown = set(steps) - set(BAR_STEPS)
    if unknown or not steps:
        raise ValueError(f"steps must be among {BAR_STEPS}, got {steps}")
    return _bar_market(
        instrument,
        Decimal(start_price),
        min_bars,
        _regimes(_bar_step(steps), max_bars),
        _bar_step(steps),
    )


# --- trades and books -------------------------------------------------------------------------


@st.composite
def _trade_market(
    draw: st.DrawFn,
    instrument: str,
    start: Decimal,
    plans: st.SearchStrategy[list[tuple[int, _TradeStep]]],
) -> Scenario:
    scenario = Scenario(instrument)
    price = start.quantize(_CENT)
    ms = 0  # time in whole milliseconds, so that times print as short decimals
    steps = draw(plans)
    _book(scenario, ms, price, steps[0][1].book)
    for vol, step in steps:
        ms += step.dt_ms
        unit = max(_CENT, (price * vol / 10_000).quantize(_CENT))
        price = max(_CENT * 100, price + unit * step.move)
        kind, lots, side = step.kind, step.lots, step.side
        if kind == "gap":
            ms += 1_000 * step.pause_s
        elif kind == "crash":
            price, ms = _crash(scenario, ms, price, step)
        elif kind == "disconnect":
            scenario.disconnect(ms / 1_000)
            ms += 1_000 * step.pause_s
            scenario.connect(ms / 1_000)  # resubscribed: the provider sends a fresh full book
        elif kind in ("empty_book", "one_sided"):
            bids, asks = _levels(price, step.book)
            if kind == "empty_book" or step.keep_bids is False:
                bids = []
            if kind == "empty_book" or step.keep_bids is True:
                asks = []
            scenario.book(ms / 1_000, bids=bids, asks=asks)
            scenario.trade(ms / 1_000, price, lots * _LOT, side)  # trading on a thin book
            ms += 1_000 * step.pause_s
        elif kind == "burst":
            other = "sell" if side == "buy" else "buy"
            burst = [(price, lots * _LOT, (side, other)[i % 2]) for i in range(step.times)]
            scenario.trades(ms / 1_000, burst)
        _book(scenario, ms, price, step.book)
        scenario.trade(ms / 1_000, price, lots * _LOT, side)
    return scenario


def _crash(scenario: Scenario, ms: int, price: Decimal, step: _TradeStep) -> tuple[Decimal, int]:
    """Trades falling 30 % within a second, each with the book that goes with it."""
    low = (price * _CRASH).quantize(_CENT)
    n, size = step.times, step.lots * _LOT
    scenario.trade(ms / 1_000, price, size, "sell")  # the last price before the fall
    for i in range(1, n + 1):
        level = (price - (price - low) * i / n).quantize(_CENT)
        at = ms + 900 * i // n
        _book(scenario, at, level, step.book)
        scenario.trade(at / 1_000, level, size, "sell")
    return low, ms + 1_000


def _book(scenario: Scenario, ms: int, mid: Decimal, plan: _BookPlan) -> None:
    bids, asks = _levels(mid, plan)
    scenario.book(ms / 1_000, bids=bids, asks=asks)


def _levels(
    mid: Decimal, plan: _BookPlan
) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
    """Levels a cent apart around ``mid``; the best bid below the best ask, none at or below 0."""
    bid, ask = mid - _CENT * plan.spread, mid + _CENT * plan.spread
    size = plan.lots * _LOT
    bids = [(bid - _CENT * i, size) for i in range(plan.bids) if bid - _CENT * i > 0]
    asks = [(ask + _CENT * i, size) for i in range(plan.asks)]
    return bids, asks


# --- bars -------------------------------------------------------------------------------------


@st.composite
def _bar_market(
    draw: st.DrawFn,
    instrument: str,
    start: Decimal,
    min_bars: int,
    plans: st.SearchStrategy[list[tuple[int, _BarStep]]],
    one: st.SearchStrategy[_BarStep],
) -> Scenario:
    scenario = Scenario(instrument)
    close = start.quantize(_CENT)
    minute = 0
    steps = draw(plans)
    if len(steps) < min_bars:
        more = min_bars - len(steps)
        extra = draw(st.lists(one, min_size=more, max_size=more))
        steps += [(steps[-1][0], step) for step in extra]
    for vol, step in steps:
        unit = max(_CENT, (close * vol / 10_000).quantize(_CENT))
        minute += step.skip
        open_ = max(_CENT * 100, close + unit * 10 * step.gap)
        new_close = max(_CENT * 100, open_ + unit * step.move)
        if step.kind == "crash":
            new_close = (open_ * _CRASH).quantize(_CENT)
        high, low = max(open_, new_close), min(open_, new_close)
        wick = (high * step.wick / 10_000).quantize(_CENT)
        if step.wick_up:
            high += wick
        else:
            low = max(_CENT, low - wick)
        volume = step.lots * _LOT * 100
        scenario.bar(
            minute * 60, float(open_), float(high), float(low), float(new_close), float(volume)
        )
        close = new_close
        minute += 1
    return scenario
