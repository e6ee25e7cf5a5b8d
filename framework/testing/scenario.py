"""A scripted market for strategy tests, written in the providers' own wire formats.

:class:`Scenario` turns trades and books into Cryptomus ``trade_update`` and ``depth_update``
frames and bars into Finazon bar frames, then writes them as a recording that
``framework.testing.run_strategy`` replays through the real codecs.

This module must not read the wall clock or use unseeded randomness, and it writes only the
recording file it is asked to write.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeVar

import msgspec

from framework.errors import ConfigError
from framework.importcsv import BarRow, bar_frames, finazon_names, parse_interval
from framework.instruments import to_cryptomus
from framework.providers.base import Channel, Subscription
from framework.providers.cryptomus import NAME as CRYPTOMUS
from framework.providers.finazon import PROVIDER as FINAZON
from framework.recording import (
    FORMAT,
    VERSION,
    ConnectedLine,
    DisconnectedLine,
    Frame,
    Header,
    Line,
    ProviderSpec,
    RecordingWriter,
    Tick,
)

__all__ = ["DEFAULT_START_S", "Levels", "Number", "Scenario"]

DEFAULT_START_S: Final = 1_750_953_600  # 2025-06-26 16:00:00 UTC, as the bundled recordings
_NS: Final = 1_000_000_000
_ENCODER: Final = msgspec.json.Encoder()

Number = float | int | str | Decimal
Levels = Sequence[tuple[Number, Number]]
_M = TypeVar("_M", bound=Callable[..., Any])


def _recorded(method: _M) -> _M:
    """Note a public builder call (not the ones it makes itself), so repr() can replay it."""

    @functools.wraps(method)
    def call(self: Scenario, *args: Any, **kwargs: Any) -> Any:
        outer = not self._nesting
        if outer:
            self._calls.append((method.__name__, args, kwargs))
        self._nesting += 1
        try:
            return method(self, *args, **kwargs)
        finally:
            self._nesting -= 1

    return call  # type: ignore[return-value]


class Scenario:
    """A short scripted market, written in the providers' own wire formats.

    Trades and books become Cryptomus ``trade_update`` and ``depth_update`` frames; bars become
    Finazon bar frames that close when the bar ends (as ``papertrade import-csv`` writes them).
    Items are delivered in time order, items at the same time in the order they were added.
    ``repr()`` is Python that builds the same scenario, to paste a generated one into a test.

    Args:
        instrument: the canonical id the items are about unless one names another.
        start_s: Unix seconds of time 0.
        bar_interval: the length of the bars :meth:`bar` adds.
    """

    def __init__(
        self,
        instrument: str = "BTC/USDT",
        *,
        start_s: int = DEFAULT_START_S,
        bar_interval: str = "1m",
    ) -> None:
        self.instrument = instrument
        self.start_ns = start_s * _NS
        self.bar_interval, self._bar_s = parse_interval(bar_interval)
        self._items: list[tuple[int, Line]] = []  # (seq, line) of everything but bars
        self._bars: dict[str, list[tuple[int, BarRow]]] = {}  # instrument -> (seq, bar)
        self._channels: dict[str, dict[Channel, None]] = {}  # cryptomus symbol -> channels used
        self._seq = 0  # order of adding: breaks ties between items at the same time
        self._init = (instrument, start_s, bar_interval)
        self._calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []  # for repr()
        self._nesting = 0

    def __repr__(self) -> str:
        instrument, start_s, interval = self._init
        extra = "" if start_s == DEFAULT_START_S else f", start_s={start_s}"
        extra += "" if interval == "1m" else f", bar_interval={interval!r}"
        head = f"Scenario({instrument!r}{extra})"
        if not self._calls:
            return head
        calls = [f"    .{name}({_arguments(args, kwargs)})" for name, args, kwargs in self._calls]
        return "(\n    " + head + "\n" + "\n".join(calls) + "\n)"

    # --- market data ------------------------------------------------------------------------------

    @_recorded
    def trade(
        self, at: float, price: Number, size: Number, side: str = "buy", *, instrument: str = ""
    ) -> Scenario:
        """A trade printed at ``at`` seconds; ``side`` is the aggressor (``buy`` or ``sell``)."""
        return self.trades(at, [(price, size, side)], instrument=instrument)

    @_recorded
    def trades(
        self, at: float, trades: Sequence[tuple[Number, Number, str]], *, instrument: str = ""
    ) -> Scenario:
        """Several trades (price, size, side) in one ``trade_update`` frame, oldest first."""
        ts_ns, symbol = self._at(at), self._symbol(instrument, "trades")
        sec = ts_ns // _NS
        items = [{"price": float(p), "quantity": float(q), "timestamp": sec, "direction": side}
                 for p, q, side in trades]  # fmt: skip
        data = {"symbol": symbol, "timestamp": sec, "trades": items}
        return self._frame(ts_ns, "trade_update", data)

    @_recorded
    def book(self, at: float, bids: Levels, asks: Levels, *, instrument: str = "") -> Scenario:
        """The whole L2 book at ``at`` (a ``full_reload`` depth update): (price, size) levels."""
        return self._depth(at, bids, asks, instrument, full=True)

    @_recorded
    def book_update(
        self, at: float, bids: Levels = (), asks: Levels = (), *, instrument: str = ""
    ) -> Scenario:
        """Changed book levels at ``at``; a size of 0 removes the level."""
        return self._depth(at, bids, asks, instrument, full=False)

    @_recorded
    def bar(
        self,
        at: float,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float = 0.0,
        *,
        instrument: str = "",
    ) -> Scenario:
        """A bar opening at ``at`` (whole seconds); strategies get it when it closes.

        Raises:
            ConfigError: ``at`` is not a whole second, or the bar starts before the previous
                bar of its instrument ends.
        """
        ts_ns = self._at(at)
        if ts_ns % _NS:
            raise ConfigError(f"scenario bar at {at}: bars open on whole seconds")
        bars = self._bars.setdefault(instrument or self.instrument, [])
        row = BarRow(
            ts_ns // _NS, float(open), float(high), float(low), float(close), float(volume)
        )
        if bars and row.t < bars[-1][1].t + self._bar_s:
            raise ConfigError(f"scenario bar at {at} starts before the previous bar ends")
        bars.append((self._next_seq(), row))
        return self

    # --- connection and clock ---------------------------------------------------------------------

    @_recorded
    def disconnect(
        self, at: float, provider: str = CRYPTOMUS, reason: str = "scripted"
    ) -> Scenario:
        """The provider's connection drops at ``at`` (books become untrusted)."""
        return self._line(DisconnectedLine(self._at(at), provider, 1, reason))

    @_recorded
    def connect(self, at: float, provider: str = CRYPTOMUS) -> Scenario:
        """The provider's connection (re)opens at ``at``."""
        return self._line(ConnectedLine(self._at(at), provider, 1, f"wss://{provider}/scenario"))

    @_recorded
    def tick(self, at: float) -> Scenario:
        """Move the clock to ``at`` with no market data, so timers due by then fire."""
        return self._line(Tick(self._at(at)))

    # --- output -----------------------------------------------------------------------------------

    def lines(self) -> list[Line]:
        """Every line of the recording after its header, in delivery order."""
        keyed: list[tuple[int, int, int, Line]] = [(ln.t, seq, 0, ln) for seq, ln in self._items]
        for instrument, bars in self._bars.items():
            ticker, dataset = finazon_names(instrument)
            rows = [row for _, row in bars]
            frames = list(bar_frames(rows, ticker, dataset, self.bar_interval, self._bar_s))
            for i, frame in enumerate(frames):
                keyed.append((frame.t, bars[i // 2][0], i % 2, frame))
        keyed.sort(key=lambda item: item[:3])
        return [line for *_, line in keyed]

    def header(self) -> Header:
        """The recording header: the providers the scenario's frames come from."""
        providers = []
        if self._channels:
            subs = tuple(Subscription(c, sym) for sym, chs in self._channels.items() for c in chs)
            providers.append(ProviderSpec(CRYPTOMUS, subs))
        for instrument in self._bars:
            ticker, dataset = finazon_names(instrument)
            sub = Subscription("bars", ticker, interval=self.bar_interval)
            providers.append(ProviderSpec(FINAZON, (sub,), {"dataset": dataset}))
        return Header(FORMAT, VERSION, tuple(providers), {"generator": "papertrade.testing"})

    def write(self, path: str | Path) -> Path:
        """Write the scenario as a recording; returns the path."""
        with RecordingWriter(path, self.header()) as writer:
            writer.write(self.lines())
        return Path(path)

    # --- plumbing ---------------------------------------------------------------------------------

    def _at(self, at: float) -> int:
        if at < 0:
            raise ConfigError(f"scenario time {at} is before the start (0)")
        return self.start_ns + round(at * _NS)

    def _symbol(self, instrument: str, channel: Channel) -> str:
        symbol = to_cryptomus(instrument or self.instrument)
        self._channels.setdefault(symbol, {})[channel] = None
        return symbol

    def _depth(
        self, at: float, bids: Levels, asks: Levels, instrument: str, full: bool
    ) -> Scenario:
        ts_ns, symbol = self._at(at), self._symbol(instrument, "book")
        data = {
            "symbol": symbol, "timestamp": ts_ns // _NS, "full_reload": full, "scale_index": 0,
            "asks": [[_text(p), _text(q)] for p, q in asks],
            "bids": [[_text(p), _text(q)] for p, q in bids],
        }  # fmt: skip
        return self._frame(ts_ns, "depth_update", data)

    def _frame(self, ts_ns: int, method: str, data: dict[str, Any]) -> Scenario:
        # Keys in the documented order: id, method, data, error.
        body = _ENCODER.encode({"id": 0, "method": method, "data": data, "error": None})
        return self._line(Frame(ts_ns, CRYPTOMUS, 1, f=msgspec.Raw(body)))

    def _line(self, line: Line) -> Scenario:
        self._items.append((self._next_seq(), line))
        return self

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq


def _arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [_code(a) for a in args] + [f"{k}={_code(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


def _code(value: Any) -> str:
    """Python source for a builder argument: Decimals as exact strings, sequences as lists."""
    if isinstance(value, Decimal):
        return repr(format(value, "f"))
    if isinstance(value, tuple):
        inner = ", ".join(_code(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(_code(v) for v in value) + "]"
    return repr(value)


def _text(value: Number) -> str:
    """A decimal string as Cryptomus writes book levels (``"107043.93"``)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    return value if isinstance(value, str) else repr(value)
