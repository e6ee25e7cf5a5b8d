"""The results model: fills, round trips, equity samples and statistics of one run, computed once.

Every view of a run's results is rendered from a :class:`Results`: ``fills.csv``,
``trades.csv``, ``summary.json``, the HTML report and the console table (and anything else that
wants the numbers: the test kit, the run database, sweeps). No view parses another view's text.

What goes in, as the run happens:

* each fill, attributed to the strategy whose order it was (:meth:`Results.add_fill`, from the
  loop's one attribution point);
* each equity sample (:meth:`Results.add_equity`);
* the market data's calendar and prices: the day of every bar and trade received, each
  instrument's first and last price, and how many bars and trades it has printed
  (:meth:`Results.on_bar`, :meth:`Results.on_trade`), for daily returns, buy-and-hold and the
  bars or trades a round trip was held for;
* each rejection's reason (:meth:`Results.add_rejection`).

What comes out, at the end (:meth:`Results.finish`): the round trips (a position of one strategy
in one instrument, from flat back to flat; one still open at the end is marked to the last
price) and the statistics, a flat mapping written to ``summary.json``. Definitions are in
``framework.report.stats`` and ``docs/statistics.md``.

Memory stays flat over a run of any length: fills and closed round trips go to listeners (the
run's files) as they happen and are kept only when asked (``keep``, for a model used in
memory); the statistics over them are running sums, and what is needed only at the end (the
equity samples, the closed trips' P&L, the held intervals) is appended to spilled series
(``framework.report.spill``: a chunk in memory, the rest in an anonymous temporary file) and
read back in order, one chunk at a time, so every sum sees the same floats in the same order
and comes out to the same bits. What remains grows by one number per active day.

A run's fills may be booked in batches (:attr:`Results.batch`): :meth:`Results.deal` then keeps
a compact record of each (the venue's record, its strategy, and the instrument's bar and trade
counts at that moment) and books the waiting ones together, in order, when ``batch`` of them
wait and before anything reads the model (a position, the statistics, the kept lists; the
run's files ask with :meth:`Results.settle`). Booking, round trips and the views' rows then
each run for many fills at a stretch instead of between market events; what they compute is
the same. A model with listeners that must see each fill or trip as it happens keeps
``batch`` at 1, the default.

Money stays Decimal through the round trips; statistics are floats computed in a fixed order.
Nothing here reads the clock or iterates an unordered container into the output.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import msgspec

from framework import events as ev
from framework.errors import ConfigError
from framework.exchange import MarketRules
from framework.money import CONTEXT, ZERO, from_float, step
from framework.report import stats
from framework.report.spill import Numbers, Pairs, Spill

if TYPE_CHECKING:
    from framework.exchange import DealRecord

__all__ = [
    "MAX_POINTS",
    "MIN_DAILY_RETURNS",
    "Fill",
    "Results",
    "RoundTrip",
    "Saved",
    "Series",
    "Statistics",
    "load_saved",
    "thin",
]

# Annualised figures from fewer daily returns than this are noise: they are reported as null.
MIN_DAILY_RETURNS: Final = 20
MAX_POINTS: Final = 4000  # points kept of a curve for plotting
_PRICE_STEP_NS: Final = 1_000_000_000  # at first, one price point a second at most
_NS: Final = 1_000_000_000
_RATIO_DIGITS: Final = 10
_ONE: Final = Decimal(1)
_HELD_CHUNK: Final = 512  # held intervals kept in memory per (strategy, instrument)
_NO_COUNTS: Final = (0, 0)  # the bar and trade counts of an instrument with no tape yet
# framework.money.quantize's context, for quantizing with a market's quanta kept at hand
QUANTIZE: Final = CONTEXT


class Fill(msgspec.Struct, frozen=True, kw_only=True):
    """One fill of one strategy's order, money exact.

    Fields are declared in name order: ``results.json`` keeps its keys sorted, and a Struct
    whose fields are in that order is encoded so without sorting each one (see
    ``report.output``; ``tests/report/test_output.py`` checks that both agree).
    """

    deal_id: str
    fee: Decimal
    fee_currency: str
    finalizing: bool = False  # placed by the framework to close the position at the end
    instrument: str  # canonical id, "BTC/USDT"
    order_id: str
    price: Decimal
    quantity: Decimal  # base
    role: str  # "maker" | "taker"
    side: Literal["buy", "sell"]
    strategy: str  # the strategy whose order filled
    symbol: str  # Cryptomus spelling, "BTC_USDT"
    transaction_id: str
    ts_ns: int  # simulated time of the fill (whole seconds, as Cryptomus stamps deals)
    value: Decimal  # quote


class RoundTrip(msgspec.Struct, frozen=True, kw_only=True):
    """A position of one strategy in one instrument, from flat back to flat (or still open).

    Prices are volume-weighted averages at the market's price precision. P&L is in the
    market's quote currency; ``fees`` are the fees of its fills (a fill that reverses the
    position is split by quantity). An open trip is valued at ``exit_price``, the last price.
    """

    # Declared in name order, as Fill is (results.json's order).
    bars_held: int  # bars of the instrument received while it was held
    entry_ns: int
    entry_price: Decimal
    exit_ns: int  # the closing fill, or the end of the run for an open trip
    exit_price: Decimal
    fees: Decimal
    finalizing: bool  # closed by the framework's finalizing order
    gross_pnl: Decimal
    instrument: str
    net_pnl: Decimal
    net_return: float  # net_pnl / entry value
    quantity: Decimal  # the base quantity entered
    quote: str
    side: Literal["long", "short"]
    status: Literal["closed", "open"]
    strategy: str
    trades_held: int  # trades of the instrument received while it was held

    @property
    def duration_s(self) -> float:
        """Seconds from entry to exit."""
        return (self.exit_ns - self.entry_ns) / _NS


class Statistics(msgspec.Struct, frozen=True, kw_only=True):
    """The run's statistics: the flat part of ``summary.json`` (see docs/statistics.md)."""

    currency: str
    first_time_ns: int
    last_time_ns: int
    duration_s: float
    initial_equity: float
    final_equity: float
    total_return: float
    buy_and_hold_return: float | None
    buy_and_hold: dict[str, float]
    periods_per_year: int
    daily_returns: int
    annualised_note: str | None
    cagr: float | None
    volatility: float | None
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    max_drawdown: float
    max_drawdown_duration_s: float
    avg_drawdown: float
    exposure: float
    round_trips: int
    open_trips: int
    win_rate: float | None
    best_trade: float | None
    worst_trade: float | None
    avg_trade: float | None
    profit_factor: float | None
    expectancy: float | None
    sqn: float | None
    fees_paid: dict[str, str]
    fees_total: float
    traded_value: float
    turnover: float
    orders: int
    fills: int
    rejections: int
    rejection_reasons: list[dict[str, Any]]
    per_strategy: dict[str, dict[str, Any]]


class _Open:
    """The open round trip of one (strategy, instrument)."""

    __slots__ = (
        "bars_at", "entry_cost", "entry_ns", "entry_qty", "entry_value", "exit_cost", "exit_qty",
        "exit_value", "fees", "finalizing", "position", "trades_at",
    )  # fmt: skip

    def __init__(self, ts_ns: int, bars_at: int, trades_at: int) -> None:
        # bars_at, trades_at: the instrument's bar and trade counts when the trip opened
        self.entry_ns = ts_ns
        self.position = ZERO  # signed base quantity
        self.entry_qty = self.entry_value = self.exit_qty = self.exit_value = self.fees = ZERO
        self.entry_cost = self.exit_cost = ZERO  # sums of price x quantity, for average prices
        self.bars_at, self.trades_at = bars_at, trades_at
        self.finalizing = False


class Quanta:
    """What booking a fill needs of its market: its quote currency and the steps of its
    precision (16 decimals for a market with no rules), looked up once per instrument."""

    __slots__ = ("base", "base_prec", "quote", "quote_currency", "quote_prec")

    def __init__(self, rules: MarketRules | None) -> None:
        self.quote_currency = rules.quote_currency if rules is not None else ""
        self.base_prec = rules.base_prec if rules is not None else 16
        self.quote_prec = rules.quote_prec if rules is not None else 16
        self.base = step(self.base_prec)  # quantize(x, base_prec), with QUANTIZE
        self.quote = step(self.quote_prec)


class _Tally:
    """One strategy's running totals, in fill and closing order."""

    __slots__ = ("closed", "fees", "fills", "net", "open", "realised", "wins")

    def __init__(self) -> None:
        self.fills = self.closed = self.open = self.wins = 0
        self.fees = self.realised = self.net = ZERO  # fees and P&L in the report currency


class Series(msgspec.Struct, frozen=True):
    """A curve for plotting: times (ns) and values, at most a few thousand points."""

    ts_ns: list[int]
    values: list[float]


class Saved(msgspec.Struct, frozen=True, kw_only=True):
    """The results model as ``results.json`` keeps it, for views made after the run
    (``papertrade report OUTDIR``). Curves are thinned to at most :data:`MAX_POINTS` points."""

    format: int = 1
    summary: dict[str, Any]  # summary.json's content
    fills: list[Fill]
    round_trips: list[RoundTrip]
    equity: Series
    prices: dict[str, Series]  # traded instruments' prices: bar closes or trade prices


class _Tape:
    """What the market data said about one instrument, with a thinned price curve."""

    __slots__ = ("bars", "first", "last", "next_ns", "prices", "step_ns", "times", "trades")

    def __init__(self, price: float) -> None:
        self.first = self.last = price
        self.bars = self.trades = 0
        self.times: list[int] = []
        self.prices: list[float] = []
        self.next_ns = 0  # no point is kept before this time
        self.step_ns = _PRICE_STEP_NS

    def point(self, ts_ns: int, price: float) -> None:
        """Keep a price point; past MAX_POINTS, drop every other one and keep half as many."""
        self.times.append(ts_ns)
        self.prices.append(price)
        if len(self.times) > MAX_POINTS:
            del self.times[1::2], self.prices[1::2]
            self.step_ns *= 2
        self.next_ns = ts_ns + self.step_ns


class Results:
    """Collects a run's fills and equity samples; computes round trips and statistics once.

    Args:
        currency: the report currency equity is valued in.
        markets: every market's rules (precision, quote currency), by instrument.
    """

    def __init__(
        self, currency: str, markets: Mapping[str, MarketRules], *, keep: bool = True
    ) -> None:
        self.currency = currency
        self._markets = dict(markets)
        self._quanta: dict[str, Quanta] = {}  # by instrument, as fills need them
        self.keep = keep
        self._fills: list[Fill] = []  # every fill, when kept
        self._trips: list[RoundTrip] = []  # closed trips as they close (when kept), then open ones
        # Fills booked together once this many wait (see the module doc); 1: each at once.
        self.batch = 1
        # (record, strategy, finalizing, bars, trades) of each fill not booked yet, in order
        self._pending: list[tuple[DealRecord, str, bool, int, int]] = []
        self._equity = Pairs("qd")  # (time, value) of every equity sample
        self.orders = 0
        self.rejection_counts: dict[tuple[int, str], int] = {}  # (code, message) -> count
        self.active_days: list[int] = []  # UTC day numbers on which bars or trades arrived
        self.listeners: list[Callable[[Fill], None]] = []  # views written as fills happen
        self.trip_listeners: list[Callable[[RoundTrip], None]] = []  # as trips close (or end)
        # Views that take the fills, and the round trips, of each batch at once, in order
        # (before the one-at-a-time listeners): the run's files.
        self.fill_views: list[Callable[[list[Fill]], None]] = []
        self.trip_views: list[Callable[[list[RoundTrip]], None]] = []
        self._open: dict[tuple[str, str], _Open] = {}
        self._tapes: dict[str, _Tape] = {}
        self._next_day_ns = 0
        self._finished: Statistics | None = None
        # running statistics of the fills and the closed trips
        self._fill_count = 0
        self._fees: dict[str, Decimal] = {}  # fee currency -> fees paid
        self._traded = stats.ExactSum()  # float(value) of the fills in the currency
        self._instruments: set[str] = set()  # membership only; sorted where it is read
        self._tallies: dict[str, _Tally] = {}
        self._closed = self._wins = 0
        self._returns = stats.ExactSum()  # net returns of the closed trips
        self._best = self._worst = 0.0  # their highest and lowest
        self._pnls = Numbers("d")  # net P&L of each closed trip in the currency, in order
        # (entry, exit) of every trip, for the exposure, by (strategy, instrument); the last ones
        self._held: dict[tuple[str, str], Pairs] = {}
        self._held_last: dict[tuple[str, str], tuple[int, int]] = {}
        self._held_ordered = True  # whether every (strategy, instrument)'s came in order
        self._trip_count = 0

    # --- in, as the run happens ---------------------------------------------------------------

    def deal(self, record: DealRecord, strategy: str, finalizing: bool) -> None:
        """Book one fill the venue made, of an order of ``strategy`` (``finalizing``: placed
        to close its position at the end): at once, or with the next batch (see
        :attr:`batch`)."""
        tape = self._tapes.get(record.instrument)
        pending = self._pending
        if tape is None:
            pending.append((record, strategy, finalizing, 0, 0))
        else:
            pending.append((record, strategy, finalizing, tape.bars, tape.trades))
        if len(pending) >= self.batch:
            self.settle()

    def settle(self) -> None:
        """Book the fills still waiting (see :attr:`batch`), in the order they were made.

        Each step is taken for the whole batch before the next (the fills made, handed to the
        views, booked, the round trips they closed made, counted and handed on), so that each
        runs as one stretch of the same code."""
        pending = self._pending
        if not pending:
            return
        self._pending = []
        fills = [
            Fill(
                ts_ns=record.ts_ns,
                strategy=strategy,
                instrument=record.instrument,
                symbol=record.symbol,
                order_id=record.order_id,
                deal_id=record.deal_id,
                transaction_id=record.transaction_id,
                side=record.side,
                role=record.role,
                price=record.price,
                quantity=record.quantity,
                value=record.value,
                fee=record.fee,
                fee_currency=record.fee_currency,
                finalizing=finalizing,
            )
            for record, strategy, finalizing, _, _ in pending
        ]
        self._take(fills, [(bars, trades) for _, _, _, bars, trades in pending])

    def add_fill(self, fill: Fill) -> None:
        """Record one fill and move its strategy's round trip in that instrument."""
        self.settle()
        tape = self._tapes.get(fill.instrument)
        self._take([fill], [(tape.bars, tape.trades) if tape is not None else _NO_COUNTS])

    def _take(self, fills: list[Fill], counts: list[tuple[int, int]]) -> None:
        """Book fills in order, each with the instrument's bar and trade counts when it was
        made; then the round trips they closed."""
        if self.keep:
            self._fills.extend(fills)
        for view in self.fill_views:
            view(fills)
        for listener in self.listeners:
            for fill in fills:
                listener(fill)
        closed: list[tuple[str, str, _Open, int, int, int]] = []
        book = self._book
        for fill, (bars, trades) in zip(fills, counts, strict=True):
            book(fill, bars, trades, closed)
        if closed:
            close = self._close
            self._add_trips([close(*trip[:4], None, *trip[4:]) for trip in closed])

    def _book(
        self,
        fill: Fill,
        bars: int,
        trades: int,
        closed: list[tuple[str, str, _Open, int, int, int]],
    ) -> None:
        """Count one fill and move its round trip; a trip it closes is appended to ``closed``
        (strategy, instrument, the trip, the time, and the bar and trade counts then)."""
        strategy, instrument, fee, fee_currency = (
            fill.strategy, fill.instrument, fill.fee, fill.fee_currency
        )  # fmt: skip
        quote = (self._quanta.get(instrument) or self.quanta(instrument)).quote_currency
        # the running counts
        self._fill_count += 1
        fees = self._fees
        fees[fee_currency] = fees.get(fee_currency, ZERO) + fee
        self._instruments.add(instrument)
        if quote == self.currency:
            self._traded.add(float(fill.value))
        tally = self._tallies.get(strategy) or self._tally(strategy)
        tally.fills += 1
        if fee_currency == self.currency:
            tally.fees += fee
        # the round trip
        key = (strategy, instrument)
        quantity = fill.quantity
        signed = quantity if fill.side == "buy" else -quantity
        if fee_currency != quote:
            fee = ZERO
        trip = self._open.get(key)
        if trip is None:
            trip = self._open[key] = _Open(fill.ts_ns, bars, trades)
        if trip.position == 0 or (trip.position > 0) == (signed > 0):
            _enter(trip, signed, fill.price, fill.value, fee)
            return
        closing = min(abs(signed), abs(trip.position))
        # closing / quantity, which is Decimal 1 when the fill only closes (closing is then
        # abs(signed): quantity's own digits and exponent)
        share = _ONE if closing == quantity else closing / quantity
        trip.exit_qty += closing
        trip.exit_cost += closing * fill.price
        trip.exit_value += fill.value * share
        trip.fees += fee * share
        trip.position += closing if signed > 0 else -closing
        trip.finalizing = trip.finalizing or fill.finalizing
        if trip.position != 0:
            return
        # made into its RoundTrip after the batch: the closed trip changes no more
        closed.append((strategy, instrument, trip, fill.ts_ns, bars, trades))
        rest = fill.quantity - closing
        del self._open[key]
        if rest > 0:  # the fill reversed the position: the rest opens the next trip
            trip = self._open[key] = _Open(fill.ts_ns, bars, trades)
            direction = rest if signed > 0 else -rest
            value, fee = fill.value - fill.value * share, fee - fee * share
            _enter(trip, direction, fill.price, value, fee)

    def quanta(self, instrument: str) -> Quanta:
        """The quote currency and precision steps of ``instrument``'s market."""
        quanta = self._quanta.get(instrument)
        if quanta is None:
            quanta = self._quanta[instrument] = Quanta(self._markets.get(instrument))
        return quanta

    def _tally(self, strategy: str) -> _Tally:
        tally = self._tallies.get(strategy)
        if tally is None:
            tally = self._tallies[strategy] = _Tally()
        return tally

    def _add_trips(self, trips: list[RoundTrip]) -> None:
        """Hand round trips on (closed as they close, open at the end) and count them."""
        if self.keep:
            self._trips.extend(trips)
        for view in self.trip_views:
            view(trips)
        for listener in self.trip_listeners:
            for trip in trips:
                listener(trip)
        for trip in trips:
            self._count(trip)

    def _count(self, trip: RoundTrip) -> None:
        """Count one round trip in the statistics."""
        self._trip_count += 1
        self._hold(trip)
        tally = self._tallies.get(trip.strategy) or self._tally(trip.strategy)
        in_currency = trip.quote == self.currency
        if in_currency:
            tally.net += trip.net_pnl
        if trip.status != "closed":
            tally.open += 1
            return
        self._closed += 1
        tally.closed += 1
        if trip.net_pnl > 0:
            self._wins += 1
            tally.wins += 1
        if not self._returns.count or trip.net_return > self._best:
            self._best = trip.net_return
        if not self._returns.count or trip.net_return < self._worst:
            self._worst = trip.net_return
        self._returns.add(trip.net_return)
        if in_currency:
            self._pnls.append(float(trip.net_pnl))
            tally.realised += trip.net_pnl

    def add_equity(self, ts_ns: int, value: float) -> None:
        """Record the account's value in the report currency at ``ts_ns`` (ascending)."""
        self._equity.append(ts_ns, value)

    def add_order(self) -> None:
        """An order was accepted by the exchange (its ``created`` update)."""
        self.orders += 1

    def add_rejection(self, info: ev.OrderRejectedInfo) -> None:
        """Count a refused order or cancel by its reason."""
        key = (info.code, info.message)
        self.rejection_counts[key] = self.rejection_counts.get(key, 0) + 1

    def on_bar(self, bar: ev.Bar) -> None:
        """A closed bar was received (a bus subscriber)."""
        if bar.ts_recv_ns >= self._next_day_ns:
            self._new_day(bar.ts_recv_ns)
        tape = self._tapes.get(bar.instrument) or self._new_tape(bar.instrument, bar.close)
        tape.last = bar.close
        tape.bars += 1
        if bar.ts_recv_ns >= tape.next_ns:
            tape.point(bar.ts_recv_ns, bar.close)

    def on_trade(self, trade: ev.Trade) -> None:
        """A trade was received (a bus subscriber, on the hot path: kept to a few lookups)."""
        if trade.ts_recv_ns >= self._next_day_ns:
            self._new_day(trade.ts_recv_ns)
        tape = self._tapes.get(trade.instrument) or self._new_tape(trade.instrument, trade.price)
        tape.last = trade.price
        tape.trades += 1
        if trade.ts_recv_ns >= tape.next_ns:
            tape.point(trade.ts_recv_ns, trade.price)

    def tape(self, instrument: str, price: float) -> _Tape:
        """The tape of ``instrument``, started at ``price`` if it has none: what
        :meth:`on_trade` updates, for the market state's fused trade handler
        (``MarketState.trade_handler``), which keeps it."""
        return self._tapes.get(instrument) or self._new_tape(instrument, price)

    def day_end(self, ts_ns: int) -> int:
        """Count the day of ``ts_ns`` as active if it is new (as :meth:`on_trade` does); the
        time its day ends, before which no trade needs this call."""
        if ts_ns >= self._next_day_ns:
            self._new_day(ts_ns)
        return self._next_day_ns

    # --- out, at the end ---------------------------------------------------------------------

    def position(self, strategy: str, instrument: str) -> Decimal:
        """One strategy's net position in one instrument, from its own fills."""
        if self._pending:
            self.settle()
        trip = self._open.get((strategy, instrument))
        return trip.position if trip is not None else ZERO

    def positions(self, strategy: str) -> dict[str, Decimal]:
        """One strategy's non-zero positions, by instrument, sorted."""
        self.settle()
        return {
            inst: trip.position
            for (name, inst), trip in sorted(self._open.items())
            if name == strategy and trip.position != 0
        }

    def last_price(self, instrument: str) -> float | None:
        """The last bar close or trade price received for an instrument."""
        tape = self._tapes.get(instrument)
        return tape.last if tape is not None else None

    def open_trips(self, end_ns: int) -> list[RoundTrip]:
        """The round trips still open, marked at the last price, in (strategy, instrument) order."""
        self.settle()
        out = []
        for (strategy, instrument), trip in sorted(self._open.items()):
            if trip.position != 0:
                tape = self._tapes.get(instrument)
                bars, trades = (tape.bars, tape.trades) if tape is not None else _NO_COUNTS
                mark = tape.last if tape is not None else None
                out.append(self._close(strategy, instrument, trip, end_ns, mark, bars, trades))
        return out

    def finish(
        self, first_ns: int, last_ns: int, strategies: list[str] | None = None
    ) -> Statistics:
        """Compute the statistics (once); the open trips are handed on (and kept) first."""
        if self._finished is None:
            self.settle()
            self._add_trips(self.open_trips(last_ns))
            self._finished = self._statistics(first_ns, last_ns, strategies or [])
        return self._finished

    def curves(self) -> tuple[Series, dict[str, Series]]:
        """The thinned equity curve and the traded instruments' price curves, for plotting."""
        self.settle()
        prices = {}
        for instrument in sorted(self._instruments):
            tape = self._tapes.get(instrument)
            if tape is not None:
                prices[instrument] = thin(tape.times, tape.prices)
        return _thin_spilled(self._equity), prices

    def saved(self, summary: dict[str, Any]) -> Saved:
        """The model as ``results.json`` keeps it (a kept model, after :meth:`finish`)."""
        equity, prices = self.curves()
        return Saved(
            summary=summary, fills=self.fills, round_trips=self.trips, equity=equity, prices=prices
        )

    @property
    def fills(self) -> list[Fill]:
        """Every fill, in order (a kept model; else none)."""
        self.settle()
        return self._fills

    @property
    def trips(self) -> list[RoundTrip]:
        """The round trips as they closed, then (after :meth:`finish`) the open ones (a kept
        model; else none)."""
        self.settle()
        return self._trips

    @property
    def closed_trips(self) -> list[RoundTrip]:
        """The kept round trips that ended flat."""
        return [t for t in self.trips if t.status == "closed"]

    # --- internals ---------------------------------------------------------------------------

    def _hold(self, trip: RoundTrip) -> None:
        """Keep a trip's (entry, exit), noting whether its strategy and instrument's trips still
        come in (entry, exit) order (they do when fills come in time order)."""
        key = (trip.strategy, trip.instrument)
        held = (trip.entry_ns, trip.exit_ns)
        last = self._held_last.get(key)
        if last is None:
            self._held[key] = Pairs("qq", _HELD_CHUNK)
        elif self._held_ordered:
            self._held_ordered = last <= held
        self._held_last[key] = held
        self._held[key].append(*held)

    def _held_intervals(self) -> Iterator[tuple[int, int]]:
        """Every trip's (entry, exit): sorted (a merge of sorted runs) when each strategy and
        instrument's trips came in order, else as they come (to be sorted whole)."""
        pairs = [zip(s.column(0), s.column(1), strict=True) for _, s in sorted(self._held.items())]
        return heapq.merge(*pairs) if self._held_ordered else itertools.chain(*pairs)

    def _new_day(self, ts_ns: int) -> None:
        day = ts_ns // stats.DAY_NS
        self.active_days.append(day)
        self._next_day_ns = (day + 1) * stats.DAY_NS

    def _new_tape(self, instrument: str, price: float) -> _Tape:
        tape = self._tapes[instrument] = _Tape(price)
        return tape

    def _close(
        self,
        strategy: str,
        instrument: str,
        trip: _Open,
        end_ns: int,
        mark: float | None,
        bars: int,
        trades: int,
    ) -> RoundTrip:
        """The round trip ``trip`` as it ends at ``end_ns`` (open: marked at ``mark``), with the
        instrument's bar and trade counts then."""
        quanta = self._quanta.get(instrument) or self.quanta(instrument)
        in_quote = quanta.quote
        long = trip.entry_qty > 0
        qty = abs(trip.entry_qty)
        exit_value, exit_cost = trip.exit_value, trip.exit_cost
        status: Literal["closed", "open"] = "closed"
        if trip.position != 0:  # open: what is left is valued at the last price
            status = "open"
            price = from_float(mark) if mark is not None else ZERO
            exit_value += abs(trip.position) * price
            exit_cost += abs(trip.position) * price
        gross = exit_value - trip.entry_value if long else trip.entry_value - exit_value
        gross = gross.quantize(in_quote, ROUND_HALF_EVEN, QUANTIZE)
        fees = trip.fees.quantize(in_quote, ROUND_HALF_EVEN, QUANTIZE)
        net = gross - fees
        return RoundTrip(
            strategy=strategy,
            instrument=instrument,
            quote=quanta.quote_currency,
            side="long" if long else "short",
            status=status,
            entry_ns=trip.entry_ns,
            exit_ns=end_ns,
            entry_price=(trip.entry_cost / qty).quantize(in_quote, ROUND_HALF_EVEN, QUANTIZE),
            exit_price=(exit_cost / qty).quantize(in_quote, ROUND_HALF_EVEN, QUANTIZE),
            quantity=qty.quantize(quanta.base, ROUND_HALF_EVEN, QUANTIZE),
            gross_pnl=gross,
            fees=fees,
            net_pnl=net,
            net_return=float(net / trip.entry_value) if trip.entry_value else 0.0,
            bars_held=bars - trip.bars_at,
            trades_held=trades - trip.trades_at,
            finalizing=trip.finalizing,
        )

    def _statistics(self, first_ns: int, last_ns: int, strategies: list[str]) -> Statistics:
        samples = self._equity
        times, equity = samples.column(0), samples.column(1)
        initial = samples.at(0, 1) if samples else 0.0
        final = samples.at(len(samples) - 1, 1) if samples else 0.0
        closes = stats.daily_closes(times, equity, self.active_days)
        returns = stats.returns_of(closes)
        per_year = stats.periods_per_year(self.active_days)
        dd = stats.drawdowns(times, equity) if samples else stats.Drawdowns(0.0, 0, 0.0)
        note = None
        growth = vol = sharpe = sortino = calmar = None
        if len(returns) < MIN_DAILY_RETURNS:
            note = (
                f"annualised figures need at least {MIN_DAILY_RETURNS} daily returns; "
                f"this run has {len(returns)}"
            )
        else:
            growth = stats.cagr(initial, final, len(returns), per_year)
            vol = stats.annual_volatility(returns, per_year)
            sharpe = stats.sharpe(returns, per_year)
            sortino = stats.sortino(returns, per_year)
            calmar = stats.calmar(growth, dd.maximum)
        closed = self._closed
        in_currency = self._pnls.column(0)
        returns_ = self._returns
        traded = self._traded.value
        holds = self._buy_and_hold()
        held = self._held_intervals()
        fees = self._fees
        return Statistics(
            currency=self.currency,
            first_time_ns=first_ns,
            last_time_ns=last_ns,
            duration_s=(last_ns - first_ns) / _NS,
            initial_equity=round(initial, 8),
            final_equity=round(final, 8),
            total_return=(_r(final / initial - 1.0) or 0.0) if initial else 0.0,
            buy_and_hold_return=_r(stats.mean(list(holds.values()))),
            buy_and_hold={k: round(v, 10) for k, v in holds.items()},
            periods_per_year=per_year,
            daily_returns=len(returns),
            annualised_note=note,
            cagr=_r(growth),
            volatility=_r(vol),
            sharpe=_r(sharpe),
            sortino=_r(sortino),
            calmar=_r(calmar),
            max_drawdown=_r(dd.maximum) or 0.0,
            max_drawdown_duration_s=dd.longest_ns / _NS,
            avg_drawdown=_r(dd.average) or 0.0,
            exposure=_r(stats.exposure(held, first_ns, last_ns, ordered=self._held_ordered)) or 0.0,
            round_trips=closed,
            open_trips=self._trip_count - closed,
            win_rate=_r(self._wins / closed) if closed else None,
            best_trade=_r(self._best) if returns_.count else None,
            worst_trade=_r(self._worst) if returns_.count else None,
            avg_trade=_r(returns_.value / returns_.count) if returns_.count else None,
            profit_factor=_r(stats.profit_factor(in_currency)),
            expectancy=_r(stats.mean(in_currency)),
            sqn=_r(stats.sqn(in_currency)),
            fees_paid={k: format(v.normalize(), "f") for k, v in sorted(fees.items())},
            fees_total=float(fees.get(self.currency, ZERO)),
            traded_value=round(traded, 8),
            turnover=(_r(traded / initial) or 0.0) if initial > 0 else 0.0,
            orders=self.orders,
            fills=self._fill_count,
            rejections=sum(self.rejection_counts.values()),
            rejection_reasons=[
                {"code": code, "message": message, "count": count}
                for (code, message), count in sorted(
                    self.rejection_counts.items(), key=lambda kv: (-kv[1], kv[0])
                )
            ],
            per_strategy={name: self._per_strategy(name) for name in strategies},
        )

    def _buy_and_hold(self) -> dict[str, float]:
        """first-to-last price return of each instrument the run traded, by instrument."""
        out = {}
        for instrument in sorted(self._instruments):
            tape = self._tapes.get(instrument)
            if tape is not None and tape.first > 0:
                out[instrument] = tape.last / tape.first - 1.0
        return out

    def _per_strategy(self, name: str) -> dict[str, Any]:
        self.settle()
        tally = self._tallies.get(name) or _Tally()
        positions = {
            inst: format(trip.position.normalize(), "f")
            for (strategy, inst), trip in sorted(self._open.items())
            if strategy == name and trip.position != 0
        }
        return {
            "fills": tally.fills,
            "round_trips": tally.closed,
            "open_trips": tally.open,
            "net_pnl": float(tally.net),
            "realised_pnl": float(tally.realised),
            "fees": float(tally.fees),
            "win_rate": _r(tally.wins / tally.closed) if tally.closed else None,
            "positions": positions,
        }


def load_saved(out_dir: str | Path) -> Saved:
    """The results model a finished run left in ``out_dir/results.json``.

    Raises:
        ConfigError: the folder has no results.json, or it is not one papertrade wrote.
    """
    path = Path(out_dir) / "results.json"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{out_dir}: no results.json here; write a run there first "
            "(papertrade run ... --out DIR)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return _SAVED.decode(data)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ConfigError(f"{path} is not a papertrade results file: {exc}") from None


def thin(times: Sequence[int], values: Sequence[float], limit: int = MAX_POINTS) -> Series:
    """At most ``limit`` points of a curve: evenly strided, always keeping the last point."""
    n = len(times)
    if n <= limit:
        return Series(list(times), list(values))
    stride = -(-n // (limit - 1))
    keep = [*range(0, n - 1, stride), n - 1]
    return Series([times[i] for i in keep], [values[i] for i in keep])


def _thin_spilled(series: Spill, limit: int = MAX_POINTS) -> Series:
    """:func:`thin` of a spilled (time, value) series: the same points, read a chunk at a time."""
    n = len(series)
    if n <= limit:
        return Series(list(series.column(0)), list(series.column(1)))
    stride = -(-n // (limit - 1))
    before_last = -(-(n - 1) // stride)  # rows 0, stride, 2 * stride, ... below n - 1
    points: list[list[Any]] = []
    for index in (0, 1):
        kept: list[Any] = []
        offset = 0
        for chunk in series.chunks(index):
            kept.extend(chunk[-offset % stride :: stride])
            offset += len(chunk)
        del kept[before_last:]
        kept.append(series.at(n - 1, index))
        points.append(kept)
    return Series(*points)


def _enter(trip: _Open, signed: Decimal, price: Decimal, value: Decimal, fee: Decimal) -> None:
    trip.position += signed
    trip.entry_qty += signed
    trip.entry_cost += abs(signed) * price
    trip.entry_value += value
    trip.fees += fee


def _r(value: float | None) -> float | None:
    """Round a ratio for the summary (fewer digits than a double carries, same on every CPU)."""
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return round(value, _RATIO_DIGITS)


_SAVED: Final = msgspec.json.Decoder(Saved)
