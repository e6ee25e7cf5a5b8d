"""What every importer shares: the frames it writes, number checks, bad-row reports, markets.

An importer turns rows of someone else's file into recording lines in a provider's own wire
format, so that nothing downstream knows where a recording came from:

* a trade becomes a Cryptomus ``trade_update`` frame with one trade;
* a book change becomes a Cryptomus ``depth_update`` frame (``full_reload`` true for a whole
  book, false for changed levels, where quantity ``"0"`` removes a level);
* a bar becomes Finazon bar frames (see ``framework.importcsv``).

Each frame's receive time ``t`` is the row's own time (Tardis ``local_timestamp``, Binance's
trade time); the provider's ``timestamp`` is the exchange's time in whole seconds, as Cryptomus
sends it. Frames are written as bytes straight from the row's text: a price is copied as
written when it is already a plain JSON number, and rewritten from its float value otherwise
(``1e-7``), so the text read back is the number the file holds.

Converters are plain classes fed blocks of lines (see :class:`Converter`); they keep no more
than one book message or one bar in memory, whatever the file's size.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Final

from framework.errors import ConfigError
from framework.exchange.rules import MarketRules
from framework.providers.cryptomus import NAME as CRYPTOMUS
from framework.recording import ProviderSpec

__all__ = [
    "DECIMAL",
    "MARKET_SAMPLE",
    "POSITIVE",
    "TRADE",
    "Converter",
    "Problems",
    "RowError",
    "depth_frame",
    "market_from_sample",
    "number",
    "split_instrument",
    "step",
    "trade_frame",
]

MARKET_SAMPLE: Final = 10_000  # rows whose prices and sizes define an unknown market
_MAX_LISTED: Final = 20
# Regular expressions of the numbers a row's fast path copies as they are (plain JSON numbers,
# no exponent): rows that do not match take the slow path, which explains or converts.
POSITIVE: Final = rb"(?:[1-9][0-9]*(?:\.[0-9]+)?|0\.[0-9]*[1-9][0-9]*)"
DECIMAL: Final = rb"(?:(?:0|[1-9][0-9]*)(?:\.[0-9]+)?)"
_DOT: Final = 46
_ZERO: Final = 48
TRADE: Final = (
    b'{"k":"frame","t":%d,"p":"cryptomus","c":1,"f":{"id":0,"method":"trade_update",'
    b'"data":{"symbol":"%s","timestamp":%d,"trades":[{"price":%s,"quantity":%s,'
    b'"timestamp":%d,"direction":"%s"}]},"error":null}}\n'
)
"""A trade_update line: (t ns, symbol, seconds, price, quantity, seconds, direction)."""
_DEPTH: Final = (
    b'{"k":"frame","t":%d,"p":"cryptomus","c":1,"f":{"id":0,"method":"depth_update",'
    b'"data":{"symbol":"%s","timestamp":%d,"full_reload":%s,"scale_index":0,'
    b'"asks":[%s],"bids":[%s]},"error":null}}\n'
)
_NO_LIMIT: Final = Decimal(10**15)
_QUOTES: Final = {"US": "USD", "HK": "HKD", "SH": "CNY", "SZ": "CNY"}


class RowError(ValueError):
    """A row that cannot be imported; the message says why (the caller adds where)."""


class Problems:
    """Bad rows: the first 20 kept with file and line, all counted."""

    def __init__(self) -> None:
        self.count = 0
        self.listed: list[tuple[str, int, str]] = []

    def add(self, source: str, line: int, reason: str) -> None:
        self.count += 1
        if len(self.listed) < _MAX_LISTED:
            self.listed.append((source, line, reason))


class Converter:
    """Base of the format converters: rows in, recording lines out.

    A subclass sets :attr:`noun`, builds :attr:`provider` and implements :meth:`feed` (and
    :meth:`finish` if it holds a message back). ``sample`` collects the price and size texts of
    the first :data:`MARKET_SAMPLE` rows when the market has to be defined from the data.
    """

    noun = "row"  # what one written unit is called in the report: "trade", "book update"

    def __init__(self, symbol: str, sample: bool) -> None:
        self.symbol = symbol
        self.provider = ProviderSpec(CRYPTOMUS)
        self.rows = 0  # rows read (header and blank lines aside)
        self.written = 0  # frames written
        self.first_ns = 0
        self.last_ns = 0
        self.problems = Problems()
        self.notes: list[str] = []
        self.sample: list[tuple[bytes, bytes]] | None = [] if sample else None

    def feed(self, source: str, first_line: int, lines: list[bytes], out: bytearray) -> None:
        """Convert one block of lines, appending recording lines to ``out``."""
        raise NotImplementedError

    def finish(self, out: bytearray) -> None:
        """The file set has ended: write what is held back."""

    def _sampled(self, price: bytes, size: bytes) -> None:
        sample = self.sample
        if sample is not None and len(sample) < MARKET_SAMPLE:
            sample.append((price, size))


def number(text: bytes, what: str, *, positive: bool = True) -> bytes:
    """``text`` as a JSON number: as written when it already is one, else from its value.

    Raises:
        RowError: not a finite number, negative, or zero when ``positive``.
    """
    if (
        text
        and text.replace(b".", b"", 1).isdigit()
        and text[0] != _DOT
        and text[-1] != _DOT
        and not (text[0] == _ZERO and len(text) > 1 and text[1] != _DOT)
    ):
        if positive and not text.strip(b"0."):
            raise RowError(f"{what} {text.decode()} is not positive")
        return text
    try:
        value = float(text)
    except ValueError:
        raise RowError(f"{what} {text[:40].decode(errors='replace')!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        shown = text[:40].decode(errors="replace")
        raise RowError(f"{what} {shown!r} is not a {'positive' if positive else 'finite'} number")
    return repr(value).encode()


def trade_frame(
    t_ns: int, symbol: bytes, seconds: int, price: bytes, qty: bytes, side: bytes
) -> bytes:
    """One recording line: a Cryptomus ``trade_update`` holding one trade."""
    return TRADE % (t_ns, symbol, seconds, price, qty, seconds, side)


def depth_frame(
    t_ns: int,
    symbol: bytes,
    seconds: int,
    full: bool,
    asks: list[tuple[bytes, bytes]],
    bids: list[tuple[bytes, bytes]],
) -> bytes:
    """One recording line: a Cryptomus ``depth_update`` (a whole book when ``full``)."""
    return _DEPTH % (
        t_ns,
        symbol,
        seconds,
        b"true" if full else b"false",
        b",".join([b'["%s","%s"]' % level for level in asks]),
        b",".join([b'["%s","%s"]' % level for level in bids]),
    )


def split_instrument(instrument: str) -> tuple[str, str]:
    """Base and quote currency of a canonical id: ``BTC/USDT``, ``AAPL.US`` (USD), ``700.HK``.

    Raises:
        ConfigError: the id names no quote currency.
    """
    base, slash, quote = instrument.partition("/")
    if slash and base and quote:
        return base, quote
    stem, dot, venue = instrument.rpartition(".")
    if dot and stem and venue in _QUOTES:
        return stem, _QUOTES[venue]
    raise ConfigError(
        f"cannot tell the quote currency of {instrument!r}: write the symbol as BASE/QUOTE "
        "(BTC/USDT) or as a stock id (AAPL.US)"
    )


def market_from_sample(
    instrument: str,
    sample: list[tuple[bytes, bytes]],
    tick_size: Decimal | None,
    lot_size: Decimal | None,
    size_decimals: int = 0,
) -> tuple[MarketRules, str]:
    """Rules for a market the exchange does not know, and how they were found (for the report).

    The price precision is the most decimals any sampled price has (trailing zeros aside,
    Binance pads every number to 8 decimals), the size precision likewise; ``tick_size`` and
    ``lot_size`` override them. The smallest order is one lot, worth at least one tick; the
    largest is 10^15, so sizes never get in the way of a backtest. ``size_decimals`` is the
    least size precision (bar volumes say little about order sizes).

    Raises:
        ConfigError: a tick or lot size that is not positive.
    """
    base, quote = split_instrument(instrument)
    for name, size in (("--tick-size", tick_size), ("--lot-size", lot_size)):
        if size is not None and not (size.is_finite() and size > 0):
            raise ConfigError(f"{name} must be a positive number, not {size}")
    price_prec = (
        _places(tick_size) if tick_size else max((_decimals(p) for p, _ in sample), default=2)
    )
    size_prec = (
        _places(lot_size)
        if lot_size
        else max(size_decimals, max((_decimals(q) for _, q in sample), default=0))
    )
    price_prec, size_prec = min(price_prec, 16), min(size_prec, 16)
    rules = MarketRules(
        base_currency=base,
        quote_currency=quote,
        base_min_size=step(size_prec),
        base_max_size=_NO_LIMIT,
        quote_min_size=step(price_prec),
        quote_max_size=_NO_LIMIT,
        base_prec=size_prec,
        quote_prec=price_prec,
    )
    how = (
        f"{'--tick-size' if tick_size else f'{len(sample)} rows'} give {price_prec} price "
        f"decimals, {'--lot-size' if lot_size else 'the sizes seen'} give {size_prec} size decimals"
    )
    return rules, how


def step(places: int) -> Decimal:
    """The step of a precision: 2 -> ``Decimal("0.01")``."""
    return Decimal(1).scaleb(-places)


def _decimals(text: bytes) -> int:
    _, dot, fraction = text.partition(b".")
    if b"e" in text or b"E" in text:
        return max(0, -Decimal(text.decode()).normalize().as_tuple().exponent)  # type: ignore[operator]
    return len(fraction.rstrip(b"0")) if dot else 0


def _places(size: Decimal) -> int:
    exponent = size.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0
