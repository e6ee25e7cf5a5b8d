"""Bars of any interval, built from trades (or from shorter bars) and closed by the clock.

A strategy asks for bars with ``self.subscribe_bars(instrument, "5m")`` in ``on_start`` (as
many intervals and instruments as it likes) and receives each closed bar in ``on_bar``; the
bar's ``interval_ns`` tells the intervals apart, and ``self.bars(instrument, n,
interval="5m")`` returns the history of one of them.

Theory of operation. Bars are aligned to the epoch: a 5-minute bar covers ``[k * 5m,
(k + 1) * 5m)`` of the simulated clock, which is the frames' receive time. So a bar closes
exactly when the clock reaches its end, in a live run as in its replay:

* **From trades.** A trade received at ``t`` goes into the bar that covers ``t``; the first
  trade of a bar sets a clock timer at the bar's end, and when it fires the bar is delivered
  (a trade received exactly at the end belongs to the next bar). Price is the trade price,
  volume the sum of sizes.
* **From bars** (a feed that has only bars, such as Finazon's 1-minute bars): a bar whose
  interval divides the asked one is folded in by its open time. The longer bar is delivered
  as soon as the bar that ends with it arrives (feeds deliver a bar when it ends), or else,
  when that one is missing, at the first clock time after its end. An instrument whose trades
  are seen is built from trades only; an interval equal to the feed's own is not rebuilt
  (those bars arrive as they are).
* **Empty intervals make no bar.** An interval without a trade delivers nothing, and the next
  bar opens at its first trade, as ``papertrade import-csv`` treats a gap between rows.
* A disconnect does not end a bar: trades after the reconnect go on filling it, and it closes
  by the clock as any other. A bar still forming when the data ends is not delivered.

Several strategies asking for the same bars share one builder; each closed bar is delivered
to them in the order they subscribed, and bars closing at the same time are delivered in the
order their intervals were first subscribed. This module only aggregates and schedules; the loop
decides when callbacks run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from framework import events as ev
from framework.clock import Clock, Timer
from framework.history import BarArrays, BarHistory
from framework.importcsv import parse_interval

__all__ = ["BarService", "interval_ns"]

_NS: Final = 1_000_000_000
_EMPTY: Final = BarHistory(1)

Deliver = Callable[[Any, ev.Bar], None]


def interval_ns(text: str) -> int:
    """The length of a bar interval (``"1m"``, ``"15min"``, ``"4h"``, ``"1d"``) in nanoseconds.

    Raises:
        ConfigError: not a positive count of s, m, h, d or w.
    """
    return parse_interval(text)[1] * _NS


class _Builder:
    """One instrument's bars of one interval, and who receives them."""

    __slots__ = (
        "close", "deadline", "end", "from_bars", "high", "history", "instrument", "interval", "low",
        "open", "start", "subscribers", "symbol", "timer", "venue", "volume",
    )  # fmt: skip

    def __init__(self, instrument: str, interval: int, history: int) -> None:
        self.instrument = instrument
        self.interval = interval
        self.subscribers: list[object] = []
        self.history = BarHistory(max(history, 1))
        self.start = -1  # open time of the forming bar; -1: none forming
        self.end = 0
        self.deadline = 0  # when the clock closes the forming bar
        self.open = self.high = self.low = self.close = self.volume = 0.0
        self.venue = self.symbol = ""
        self.from_bars = False
        self.timer: Timer | None = None

    def add(self, t: int, o: float, h: float, low: float, c: float, volume: float) -> bool:
        """Fold one trade or bar opening at ``t`` in; True if it starts a new bar."""
        if self.start < 0:
            self.start = t - t % self.interval
            self.end = self.start + self.interval
            self.open, self.high, self.low, self.close, self.volume = o, h, low, c, volume
            return True
        if h > self.high:
            self.high = h
        if low < self.low:
            self.low = low
        self.close = c
        self.volume += volume
        return False

    def take(self) -> ev.Bar:
        """The forming bar, closed; the builder is empty after."""
        bar = ev.Bar(
            self.venue, self.instrument, self.symbol, self.start, self.end, self.interval,
            self.open, self.high, self.low, self.close, self.volume,
        )  # fmt: skip
        self.history.append(bar.ts_event_ns, bar.open, bar.high, bar.low, bar.close, bar.volume)
        self.start = -1
        self.timer = None
        return bar


class BarService:
    """The bars strategies subscribed to, for one run.

    Args:
        clock: the loop's clock (timers close bars).
        deliver: called with (strategy, bar) for every subscriber of a closed bar, in order.

    The loop routes trades and bars to :meth:`on_trade` and :meth:`on_bar` when a strategy
    could use bars (it defines ``on_bar``).
    """

    def __init__(self, clock: Clock, deliver: Deliver) -> None:
        self._clock = clock
        self._deliver = deliver
        self._builders: dict[tuple[str, int], _Builder] = {}
        self._by_instrument: dict[str, list[_Builder]] = {}
        self._traded: set[str] = set()
        self.on_close: Callable[[ev.Bar], None] | None = None  # once per closed bar, first

    def subscribe(self, strategy: object, instrument: str, interval: str, history: int) -> None:
        """Deliver ``instrument``'s bars of ``interval`` to ``strategy`` from now on.

        Raises:
            ConfigError: the interval is not a bar length.
        """
        length = interval_ns(interval)
        builder = self._builders.get((instrument, length))
        if builder is None:
            builder = self._builders[(instrument, length)] = _Builder(instrument, length, history)
            self._by_instrument.setdefault(instrument, []).append(builder)
        if strategy not in builder.subscribers:
            builder.subscribers.append(strategy)

    def bars(self, instrument: str, interval: str, n: int | None) -> BarArrays:
        """The last ``n`` closed bars of one subscribed interval (none if not subscribed)."""
        builder = self._builders.get((instrument, interval_ns(interval)))
        return (builder.history if builder is not None else _EMPTY).last(0 if n == 0 else n)

    def first_bars(self, strategy: object, instrument: str, n: int | None) -> BarArrays | None:
        """The bars of the first interval ``strategy`` subscribed for ``instrument``, if any."""
        for builder in self._by_instrument.get(instrument, ()):
            if strategy in builder.subscribers:
                return builder.history.last(0 if n == 0 else n)
        return None

    def on_trade(self, trade: ev.Trade) -> None:
        builders = self._by_instrument.get(trade.instrument)
        if not builders:
            return
        if trade.instrument not in self._traded:
            self._traded.add(trade.instrument)
            for builder in builders:
                if builder.from_bars and builder.start >= 0:
                    builder.start = -1  # trades take over: a bar-built bar is dropped
                builder.from_bars = False
        t = self._clock.now_ns
        price = trade.price
        for builder in builders:
            if builder.start >= 0 and t >= builder.end:
                self._close(builder)  # the timer is due at this very time; close in order
            if builder.add(t, price, price, price, price, trade.size):
                builder.venue, builder.symbol = trade.venue, trade.symbol
                builder.deadline = builder.end
                builder.timer = self._clock.call_at(builder.end, "bar", self._on_timer(builder))

    def on_bar(self, bar: ev.Bar) -> None:
        builders = self._by_instrument.get(bar.instrument)
        if not builders or bar.instrument in self._traded:
            return
        for builder in builders:
            if bar.interval_ns >= builder.interval or builder.interval % bar.interval_ns:
                continue
            builder.from_bars = True
            start = bar.ts_event_ns
            if builder.start >= 0 and start >= builder.end:
                self._close(builder)
            if builder.add(start, bar.open, bar.high, bar.low, bar.close, bar.volume):
                builder.venue, builder.symbol = bar.venue, bar.symbol
                builder.deadline = builder.end + 1  # after the frame that ends with it
                builder.timer = self._clock.call_at(
                    builder.deadline, "bar", self._on_timer(builder)
                )
            if start + bar.interval_ns >= builder.end:
                self._close(builder)

    def _on_timer(self, builder: _Builder) -> Callable[[str, int], None]:
        def fire(_: str, deadline: int) -> None:
            # Every bar due now closes, in the order of subscription (1m before 5m if 1m was
            # asked first), whichever timer happened to be set first.
            for other in self._builders.values():
                if other.start >= 0 and other.deadline <= deadline:
                    self._close(other)

        return fire

    def _close(self, builder: _Builder) -> None:
        timer = builder.timer
        if timer is not None:
            timer.cancel()
        bar = builder.take()
        if self.on_close is not None:
            self.on_close(bar)
        for strategy in builder.subscribers:
            self._deliver(strategy, bar)
