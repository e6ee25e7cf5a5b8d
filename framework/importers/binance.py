"""Binance public data files (data.binance.vision): spot klines, aggTrades and trades.

The files have no header line (a header, as newer futures files have, is recognised and
skipped) and are comma-separated, one row per line, zipped as downloaded or unzipped:

* **trades**: trade id, price, qty, quote qty, time, is buyer maker, is best match;
* **aggTrades**: aggregate trade id, price, quantity, first trade id, last trade id, time,
  is buyer maker, is best match (futures files lack the last column; both are read);
* **klines**: open time, open, high, low, close, volume, close time, quote asset volume,
  number of trades, taker buy base volume, taker buy quote volume, ignore.

Times are milliseconds since the epoch, or microseconds in spot files from 2025-01-01 on:
told apart by their length (13 or 16 digits), row by row. "Is buyer maker" ``True`` means the
seller took liquidity, so the trade's aggressor side (Cryptomus ``direction``) is ``sell``.

A trade's time is both its receive time and (in whole seconds) its Cryptomus timestamp. A
kline becomes Finazon bar frames received at its close (``close time`` + 1 unit), as
``framework.importcsv`` writes bars; the interval is the first row's close time minus its open
time plus one unit, and every row must have the same.
"""

from __future__ import annotations

import operator
import re
from typing import TYPE_CHECKING, Final

import msgspec

from framework.errors import ConfigError
from framework.importers.base import (
    POSITIVE,
    TRADE,
    Converter,
    RowError,
    TradeLines,
    columns,
    digits,
    first_time,
    number,
    numbers,
    trade_frame,
)
from framework.instruments import to_cryptomus
from framework.providers.base import Subscription
from framework.providers.cryptomus import NAME as CRYPTOMUS
from framework.recording import ProviderSpec

if TYPE_CHECKING:
    from framework.importcsv import BarRow

__all__ = ["AggTrades", "Klines", "Trades"]

_NS: Final = 1_000_000_000
_SELL: Final = b"sell"
_BUY: Final = b"buy"
_MAKER: Final = {b"True": _SELL, b"true": _SELL, b"False": _BUY, b"false": _BUY}
_UNITS: Final = ((604_800, "w"), (86_400, "d"), (3600, "h"), (60, "m"), (1, "s"))
_ENCODER: Final = msgspec.json.Encoder()
_SECONDS: Final = operator.itemgetter(slice(10))  # a time stamp's whole seconds


class Trades(Converter):
    """Binance ``trades`` rows as Cryptomus trades."""

    noun = "trade"
    blockwise = True
    _widths: tuple[int, ...] = (7,)
    _time = 4
    _maker = 5
    # id, price, qty, quote qty, time, is buyer maker, is best match
    _fast = re.compile(rb"[0-9]+,(%s),(%s),[^,]*,([0-9]{13}|[0-9]{16}),(True|False|true|false),[^,]*"
                       % (POSITIVE, POSITIVE))  # fmt: skip

    def __init__(self, symbol: str, sample: bool) -> None:
        super().__init__(symbol, sample)
        native = to_cryptomus(symbol)
        self.provider = ProviderSpec(CRYPTOMUS, (Subscription("trades", native),))
        self._symbol = native.encode()
        # The constant parts of a trade line, by time stamp length: micro- or milliseconds.
        self._lines = {16: TradeLines(self._symbol, b"000", _MAKER),
                       13: TradeLines(self._symbol, b"000000", _MAKER)}  # fmt: skip

    def _as_columns(self, block: bytes, out: bytearray) -> bool:
        """Convert a block as columns; False (nothing done) unless every row is as Binance
        writes it: all times of one length, in order, plain positive prices and sizes."""
        for width in self._widths:
            fields = columns(block, width)
            if fields is not None:
                break
        else:
            return False
        step = width + 1
        stamps = fields[self._time :: step]
        rows, size = len(stamps), len(stamps[0])
        if (
            size not in self._lines
            or not digits(stamps, size)
            or stamps != sorted(stamps)  # digit strings of one length sort as their numbers
        ):
            return False
        unit = 1000 if size == 16 else 1_000_000
        first_ns = int(stamps[0]) * unit
        if first_ns < self.last_ns:
            return False
        try:
            lines = self._lines[size]
            tails = list(map(lines.tails.__getitem__, fields[self._maker :: step]))
        except KeyError:  # not True or False
            return False
        prices = numbers(fields[1::step], "price")
        qtys = numbers(fields[2::step], "quantity")
        if prices is None or qtys is None:
            return False
        seconds = list(map(_SECONDS, stamps))  # ten digits: 2001-09-09 to 2286
        lines.render([stamps, seconds, prices, qtys, seconds, tails], out)
        self._sampled_columns(prices, qtys)
        self.first_ns = self.first_ns or first_ns
        self.last_ns = int(stamps[-1]) * unit
        self.rows += rows
        self.written += rows
        return True

    def feed_lines(self, source: str, first_line: int, lines: list[bytes], out: bytearray) -> None:
        symbol, widths, ti, mi = self._symbol, self._widths, self._time, self._maker
        fast, sides = self._fast.fullmatch, _MAKER
        first, last = self.first_ns, self.last_ns
        written = 0
        sampling = self.sample is not None
        for offset, line in enumerate(lines):
            # The fast path: a row as Binance writes it, checked by one regular expression.
            match = fast(line)
            if match is not None:
                price, qty, stamp, maker = match.groups()
                ns = int(stamp) * (1000 if len(stamp) == 16 else 1_000_000)
                if ns >= last:
                    last = ns
                    seconds = ns // _NS
                    out += TRADE % (ns, symbol, seconds, price, qty, seconds, sides[maker])
                    written += 1
                    if sampling:
                        self._sampled(price, qty)
                    continue
            if not line:
                continue
            cells = line.split(b",")
            try:
                if len(cells) not in widths:
                    raise RowError(f"{len(cells)} columns, expected {_widths(widths)}")
                stamp = cells[ti]
                ns = _ns(stamp)
                side = _MAKER.get(cells[mi])
                if side is None:
                    raise RowError(f"is buyer maker {cells[mi][:20].decode(errors='replace')!r} "
                                   "is not True or False")  # fmt: skip
                price = number(cells[1], "price")
                qty = number(cells[2], "quantity")
                if ns < last:
                    raise RowError(f"time {stamp.decode()} goes back before the previous row's")
            except RowError as exc:
                if first_line + offset == 1 and not line[:1].isdigit():
                    continue  # a header line
                self.problems.add(source, first_line + offset, str(exc))
                continue
            last = ns
            out += trade_frame(ns, symbol, ns // _NS, price, qty, side)
            written += 1
            if sampling:
                self._sampled(price, qty)
        if written and not first:
            first = first_time(out)
        self.rows += len(lines)
        self.written += written
        self.first_ns, self.last_ns = first, last


class AggTrades(Trades):
    """Binance ``aggTrades`` rows as Cryptomus trades (one per aggregate trade)."""

    _widths = (8, 7)
    _time = 5
    _maker = 6
    # aggregate id, price, quantity, first id, last id, time, is buyer maker[, is best match]
    _fast = re.compile(rb"[0-9]+,(%s),(%s),[0-9]*,[0-9]*,([0-9]{13}|[0-9]{16}),"
                       rb"(True|False|true|false)(?:,[^,]*)?" % (POSITIVE, POSITIVE))  # fmt: skip


class Klines(Converter):
    """Binance ``klines`` rows as Finazon bars of the file's interval.

    The bar writing it shares with ``framework.importcsv`` (and the Finazon provider) is
    loaded when a klines file is imported: an import of trades does not pay for it.
    """

    noun = "bar"

    def __init__(self, symbol: str, sample: bool) -> None:
        from framework.importcsv import finazon_names
        from framework.providers.finazon import PROVIDER as FINAZON

        super().__init__(symbol, sample)
        self._ticker, self._dataset = finazon_names(symbol)
        self.provider = ProviderSpec(FINAZON)  # completed when the interval is known
        self._interval_ns = 0
        self._aggr = ""
        self._held: BarRow | None = None
        self._held_close_ns = 0

    def feed_lines(self, source: str, first_line: int, lines: list[bytes], out: bytearray) -> None:
        for offset, line in enumerate(lines):
            if not line:
                continue
            try:
                bar, close_ns = self._bar(line)
            except RowError as exc:
                if first_line + offset == 1 and not line[:1].isdigit():
                    continue  # a header line
                self.problems.add(source, first_line + offset, str(exc))
                continue
            if self._held is not None:
                self._write(self._held, bar.t, out)
            self._held, self._held_close_ns = bar, close_ns
            self.first_ns = self.first_ns or close_ns
            self.last_ns = close_ns
        self.rows += len(lines)

    def finish(self, out: bytearray) -> None:
        if self._held is not None:
            self._write(self._held, self._held_close_ns // _NS, out)
            self._held = None

    def _bar(self, line: bytes) -> tuple[BarRow, int]:
        from framework.importcsv import BarRow

        cells = line.split(b",")
        if len(cells) < 7:
            raise RowError(f"{len(cells)} columns, expected 12 (at least 7)")
        open_ns, close_ns = _ns(cells[0]), _ns(cells[6])
        unit = 1_000_000 if len(cells[0]) == 13 else 1000
        interval = close_ns + unit - open_ns
        if not self._interval_ns:
            self._set_interval(interval)
        elif interval != self._interval_ns:
            raise RowError(f"lasts {interval / _NS:g} s where the file's bars last "
                           f"{self._interval_ns / _NS:g} s")  # fmt: skip
        if open_ns < self._held_close_ns:
            raise RowError("opens before the previous bar closes")
        o, h, low, c = (float(number(cells[i], name)) for i, name in
                        ((1, "open"), (2, "high"), (3, "low"), (4, "close")))  # fmt: skip
        volume = float(number(cells[5], "volume", positive=False))
        if h < low or not (low <= o <= h and low <= c <= h):
            raise RowError(f"open {o:g} / close {c:g} not within low {low:g} .. high {h:g}")
        if open_ns % _NS:
            raise RowError("open time is not on a whole second")
        if self.sample is not None:
            self._sampled(cells[4], cells[5])
        return BarRow(open_ns // _NS, o, h, low, c, volume), open_ns + interval

    def _set_interval(self, interval_ns: int) -> None:
        from framework.providers.finazon import PROVIDER as FINAZON

        if interval_ns >= 28 * 86_400 * _NS:
            raise ConfigError(
                "these are monthly klines (1mo), whose bars have no fixed length; papertrade's "
                "bars do: import daily (1d), 3-day or weekly (1w) klines instead"
            )
        if interval_ns <= 0 or interval_ns % _NS:
            raise RowError("close time is not open time plus a whole number of seconds less 1 unit")
        seconds = interval_ns // _NS
        size, letter = next((s, u) for s, u in _UNITS if seconds % s == 0)
        self._interval_ns, self._aggr = interval_ns, f"{seconds // size}{letter}"
        sub = Subscription("bars", self._ticker, interval=self._aggr)
        self.provider = ProviderSpec(FINAZON, (sub,), {"dataset": self._dataset})

    def _write(self, bar: BarRow, next_t: int, out: bytearray) -> None:
        from framework.importcsv import BarRow
        from framework.providers.finazon import PROVIDER as FINAZON
        from framework.providers.finazon import CandleUpdate
        from framework.recording import Frame

        close_ns = bar.t * _NS + self._interval_ns
        opening = BarRow(next_t, bar.close, bar.close, bar.close, bar.close, 0.0)
        for row in (bar, opening):
            candle = CandleUpdate(
                d=self._dataset, p=self._dataset, ch="bars", f=self._aggr, aggr=self._aggr,
                s=self._ticker, t=row.t, o=row.open, h=row.high, l=row.low, c=row.close,
                v=row.volume,
            )  # fmt: skip
            frame = Frame(close_ns, FINAZON, 1, f=msgspec.Raw(_ENCODER.encode(candle)))
            _ENCODER.encode_into(frame, out, len(out))
            out += b"\n"
        self.written += 1


def _ns(stamp: bytes) -> int:
    """Nanoseconds of a Binance time: 13 digits are milliseconds, 16 microseconds."""
    if stamp.isdigit():
        if len(stamp) == 13:
            return int(stamp) * 1_000_000
        if len(stamp) == 16:
            return int(stamp) * 1000
    raise RowError(
        f"time {stamp[:30].decode(errors='replace')!r} is not milliseconds (13 digits) or "
        "microseconds (16 digits) since the epoch"
    )


def _widths(widths: tuple[int, ...]) -> str:
    return " or ".join(str(w) for w in widths)
