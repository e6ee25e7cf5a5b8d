"""The market state: what the feeds say about each instrument, read by strategies and the venue.

There is one :class:`MarketState` per run and one :class:`InstrumentState` per instrument in it:
the L2 book (:class:`MarketBook`), the last price and the last trade, the last ticker, whether
trades or bars were seen, and the trade and bar histories strategies ask for. Strategies read
it (``Strategy.book``, ``Strategy.last_price``, ``Strategy.trades``); the paper venue reads the
very same objects and keeps beside them only what paper orders add (liquidity they consumed,
queue positions: ``exchange.book.Market``). So a strategy never decides on a book the venue
does not match against.

The dispatcher calls the ``on_*`` methods here before any strategy. Each one updates the
state, then hands the event to the paper venue if it trades the instrument
(:class:`VenueHook`): so the venue always sees the state after the event, and a trade in a
market where no paper order rests costs the venue nothing at all.

**The level rule** (one for every codec). A level is ``(price, size)``:

* ``size > 0``: that size is displayed at that price;
* ``size == 0``: there is no level at that price (a delta removes it; a snapshot level of size
  0 is not a level and is dropped);
* ``size`` is :data:`UNKNOWN_SIZE` (NaN): the price is displayed, its size is not (AllTick's
  forex, metals and CFD depth). The level is kept, so strategies see the price; the venue
  matches nothing against it, since nobody showed a size.

**Trust.** A book is trusted from a snapshot until a connection of its venue drops
(:meth:`MarketState.disconnect`): a delta stream with a gap in it describes a book that no
longer exists. A delta is applied only to a trusted book from the same venue
(:meth:`MarketBook.accepts`), so a second provider's deltas never patch the first one's book.
Sorting happens only when levels are read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Protocol

from framework import events as ev
from framework.events import UNKNOWN_SIZE
from framework.history import BarArrays, BarHistory, TradeArrays, TradeHistory

if TYPE_CHECKING:
    from framework.decoded import TradeColumns

__all__ = [
    "UNKNOWN_SIZE",
    "InstrumentState",
    "MarketBook",
    "MarketState",
    "Overlay",
    "Tape",
    "Tapes",
    "VenueHook",
    "size_known",
]

_EMPTY_BARS: Final = BarHistory(1)
_EMPTY_TRADES: Final = TradeHistory(1)


def size_known(size: float) -> bool:
    """False for :data:`UNKNOWN_SIZE`."""
    return size == size  # NaN is the only float not equal to itself


class MarketBook:
    """Bids and asks of one instrument: price -> size, floats as the feed sent them.

    The two dicts are updated in place and never replaced, so a reference to them stays valid.
    """

    __slots__ = ("asks", "bids", "instrument", "trusted", "ts_ns", "venue")

    def __init__(self, instrument: str) -> None:
        self.instrument = instrument
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.trusted = False
        self.venue = ""  # the provider whose snapshot the book holds
        self.ts_ns = 0

    def apply_snapshot(self, snap: ev.BookSnapshot) -> None:
        """Replace every level (size 0 is no level) and trust the book."""
        _replace(self.bids, snap.bids)
        _replace(self.asks, snap.asks)
        self.trusted = True
        self.venue = snap.venue
        self.ts_ns = snap.ts_recv_ns

    def accepts(self, delta: ev.BookDelta) -> bool:
        """True if ``delta`` applies: the book is trusted and from the delta's venue."""
        return self.trusted and self.venue == delta.venue

    def apply_delta(self, delta: ev.BookDelta) -> None:
        """Apply changed levels (size 0 removes one); the caller checked :meth:`accepts`."""
        _update(self.bids, delta.bids)
        _update(self.asks, delta.asks)
        self.ts_ns = delta.ts_recv_ns

    def best_bid(self) -> float | None:
        """Highest bid price, or None if the bid side is empty."""
        return max(self.bids) if self.bids else None

    def best_ask(self) -> float | None:
        """Lowest ask price, or None if the ask side is empty."""
        return min(self.asks) if self.asks else None

    def mid(self) -> float | None:
        """Midpoint of the best bid and ask, or None if a side is empty."""
        bid, ask = self.best_bid(), self.best_ask()
        return None if bid is None or ask is None else (bid + ask) / 2

    def top(self, n: int = 5) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """The best ``n`` levels per side: (bids best first, asks best first)."""
        bids = sorted(self.bids.items(), reverse=True)[:n]
        asks = sorted(self.asks.items())[:n]
        return bids, asks


class Overlay(Protocol):
    """What the venue keeps beside an instrument's state (``exchange.book.Market``)."""

    active: bool  # a paper order rests or waits in this market


class VenueHook(Protocol):
    """The paper venue, told of every event of an instrument it trades, after the state."""

    def on_trade(self, event: ev.Trade) -> None: ...
    def on_bar(self, event: ev.Bar) -> None: ...
    def on_ticker(self, event: ev.Ticker) -> None: ...
    def on_last_price(self, event: ev.LastPrice) -> None: ...
    def on_book_snapshot(self, event: ev.BookSnapshot) -> None: ...
    def on_book_delta(self, event: ev.BookDelta) -> None: ...


class Tape(Protocol):
    """The results' record of an instrument's trades (``report.results``), updated with the
    state by :meth:`MarketState.trade_handler`."""

    last: float
    trades: int
    next_ns: int  # a price point is kept from this receive time on

    def point(self, ts_ns: int, price: float) -> None: ...


class Tapes(Protocol):
    """Where the tapes are kept (``report.results.Results``)."""

    def tape(self, instrument: str, price: float) -> Tape: ...
    def day_end(self, ts_ns: int) -> int: ...


class InstrumentState:
    """Everything the feeds said about one instrument. Attributes are read, never written,
    outside :class:`MarketState`."""

    __slots__ = (
        "bar_close_ns",
        "book",
        "has_bars",
        "has_book",
        "has_trades",
        "instrument",
        "last",
        "last_trade",
        "overlay",
        "ticker",
        "trade_log",
        "venue",
    )

    def __init__(self, instrument: str) -> None:
        self.instrument = instrument
        self.book = MarketBook(instrument)
        self.has_book = False  # a snapshot was seen
        self.last: float | None = None  # last trade, last price, ticker, else last bar close
        self.last_trade: ev.Trade | None = None
        self.ticker: ev.Ticker | None = None
        self.has_trades = False  # a trade, last price or ticker was seen
        self.has_bars = False  # a closed bar was seen
        self.bar_close_ns: int | None = None  # when the last closed bar seen ended
        self.venue: VenueHook | None = None  # the paper venue, if it trades the instrument
        self.overlay: Overlay | None = None  # and what it keeps beside this state
        self.trade_log: TradeHistory | None = None  # its trade history, if trades are kept


class MarketState:
    """One :class:`InstrumentState` per instrument, updated by the dispatcher from market events.

    Args:
        trade_history: trades kept per instrument for ``trades()`` (0 keeps none).
        bar_history: closed bars kept per instrument for ``bars()`` (0 keeps none).
    """

    def __init__(self, trade_history: int = 0, bar_history: int = 0) -> None:
        self.instruments: dict[str, InstrumentState] = {}
        self.trade_history = trade_history
        self.bar_history = bar_history
        self._trades: dict[str, TradeHistory] = {}
        self._bars: dict[str, BarHistory] = {}
        # The state and tape of each instrument the handler of trade_handler has seen.
        self.taped: dict[str, tuple[InstrumentState, Tape]] = {}
        # The batch of columns whose instrument's history follows it (see feed).
        self.feeding: TradeColumns | None = None

    def of(self, instrument: str) -> InstrumentState:
        """The state of ``instrument``, created empty on first use."""
        state = self.instruments.get(instrument)
        if state is None:
            state = self.instruments[instrument] = InstrumentState(instrument)
            if self.trade_history:
                hist = state.trade_log = self._trades[instrument] = TradeHistory(self.trade_history)
                if self.feeding is not None and self.feeding.key[1] == instrument:
                    hist.follow(self.feeding)  # made at the batch's first trade applied
        return state

    def feed(self, columns: TradeColumns | None) -> None:
        """The loop applies the trades of ``columns`` (one instrument's) from now until
        ``feed(None)``: their instrument's history follows the columns
        (``TradeHistory.follow``) instead of being handed each trade, by the loop and by
        :meth:`trade_handler`'s handler alike."""
        self.feeding = columns
        if columns is not None:
            hist = self._trades.get(columns.key[1])
            if hist is not None:
                hist.follow(columns)

    # --- read access ---------------------------------------------------------------------------

    def book(self, instrument: str) -> MarketBook | None:
        """The instrument's L2 book, or None if no snapshot of it was ever seen."""
        state = self.instruments.get(instrument)
        return state.book if state is not None and state.has_book else None

    def last_price(self, instrument: str) -> float | None:
        """The last trade (or last price, ticker, bar close) price seen, or None."""
        state = self.instruments.get(instrument)
        return state.last if state is not None else None

    def trades(self, instrument: str, n: int | None) -> TradeArrays:
        """The last ``n`` trades kept (all kept for None)."""
        return self._trades.get(instrument, _EMPTY_TRADES).last(0 if n == 0 else n)

    def bars(self, instrument: str, n: int | None) -> BarArrays:
        """The last ``n`` closed bars kept (all kept for None)."""
        return self._bars.get(instrument, _EMPTY_BARS).last(0 if n == 0 else n)

    # --- updates, in the dispatcher's order ------------------------------------------------------

    def on_trade(self, trade: ev.Trade) -> None:
        state = self.instruments.get(trade.instrument) or self.of(trade.instrument)
        state.last = trade.price
        state.last_trade = trade
        state.has_trades = True
        log = state.trade_log
        if log is not None:
            log.pending.append(trade)  # TradeHistory.add, inlined
        overlay = state.overlay
        if overlay is not None and overlay.active:
            state.venue.on_trade(trade)  # type: ignore[union-attr]

    def trade_handler(self, tapes: Tapes) -> Callable[[ev.Trade], None]:
        """:meth:`on_trade`, then ``tapes.on_trade``, fused in one handler: the same effects
        in the same order, with one call and one lookup per trade (the hot path of a trade
        feed, which makes the dispatcher call every handler once per trade).

        Each instrument's state and tape, once made, are never replaced, so the handler keeps
        them together by instrument, in :attr:`taped` (``loop.Engine`` has this handler inlined
        for batches of lone trades, with the pair of each instrument it has made: change both
        together).
        """
        kept = self.taped
        next_day_ns = 0  # no trade before it starts a new day (Results.day_end)

        def on_trade(trade: ev.Trade) -> None:
            nonlocal next_day_ns
            pair = kept.get(trade.instrument)
            if pair is None:
                state = self.instruments.get(trade.instrument) or self.of(trade.instrument)
                tape = None
            else:
                state, tape = pair
            price = trade.price
            # MarketState.on_trade
            state.last = price
            state.last_trade = trade
            state.has_trades = True
            log = state.trade_log
            if log is not None and self.feeding is None:
                log.pending.append(trade)
            overlay = state.overlay
            if overlay is not None and overlay.active:
                state.venue.on_trade(trade)  # type: ignore[union-attr]
            # Results.on_trade
            ts = trade.ts_recv_ns
            if ts >= next_day_ns:
                next_day_ns = tapes.day_end(ts)
            if tape is None:
                tape = tapes.tape(trade.instrument, price)
                kept[trade.instrument] = (state, tape)
            tape.last = price
            tape.trades += 1
            if ts >= tape.next_ns:
                tape.point(ts, price)

        return on_trade

    def on_bar(self, bar: ev.Bar) -> None:
        state = self.instruments.get(bar.instrument) or self.of(bar.instrument)
        state.has_bars = True
        state.bar_close_ns = bar.ts_event_ns + bar.interval_ns
        if not state.has_trades:
            state.last = bar.close
        if self.bar_history:
            hist = self._bars.get(bar.instrument)
            if hist is None:
                hist = self._bars[bar.instrument] = BarHistory(self.bar_history)
            hist.append(bar.ts_event_ns, bar.open, bar.high, bar.low, bar.close, bar.volume)
        if state.venue is not None:
            state.venue.on_bar(bar)

    def on_ticker(self, ticker: ev.Ticker) -> None:
        state = self.instruments.get(ticker.instrument) or self.of(ticker.instrument)
        state.last = ticker.price
        state.ticker = ticker
        state.has_trades = True
        if state.venue is not None:
            state.venue.on_ticker(ticker)

    def on_last_price(self, last: ev.LastPrice) -> None:
        state = self.instruments.get(last.instrument) or self.of(last.instrument)
        state.last = last.price
        state.has_trades = True
        if state.venue is not None:
            state.venue.on_last_price(last)

    def on_book_snapshot(self, snap: ev.BookSnapshot) -> None:
        state = self.instruments.get(snap.instrument) or self.of(snap.instrument)
        state.book.apply_snapshot(snap)
        state.has_book = True
        if state.venue is not None:
            state.venue.on_book_snapshot(snap)

    def on_book_delta(self, delta: ev.BookDelta) -> None:
        state = self.instruments.get(delta.instrument)
        if state is not None and state.book.accepts(delta):
            state.book.apply_delta(delta)
            if state.venue is not None:
                state.venue.on_book_delta(delta)

    def trim(self) -> None:
        """Bound the trades the histories keep unread (the loop calls it after each batch)."""
        for hist in self._trades.values():
            hist.trim()

    def disconnect(self, venue: str) -> None:
        """A connection of ``venue`` dropped: its books are untrusted until a new snapshot."""
        for state in self.instruments.values():
            if state.book.venue == venue:
                state.book.trusted = False


def _replace(side: dict[float, float], levels: tuple[ev.Level, ...]) -> None:
    side.clear()
    for price, size in levels:
        if size:  # NaN (size unknown) is truthy: kept
            side[price] = size


def _update(side: dict[float, float], levels: tuple[ev.Level, ...]) -> None:
    for price, size in levels:
        if size:
            side[price] = size
        else:
            side.pop(price, None)
