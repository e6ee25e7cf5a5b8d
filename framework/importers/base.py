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

Speed comes from treating a block (about 64 kB, some 800 rows) as columns: :func:`columns`
splits it once, whole columns are checked at a time (:func:`plain_numbers`, lengths, order),
and :func:`render` writes every row's line from the template's constant pieces and the
columns with one ``join``. A block where any check fails is converted again as halves, each
as columns when it passes, down to a few dozen rows converted row by row (the converter's
``feed_lines``), which says what is wrong with which line: both paths write the same bytes
for the same rows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import ClassVar, Final, NamedTuple

from framework.errors import ConfigError
from framework.exchange.rules import MarketRules
from framework.providers.cryptomus import NAME as CRYPTOMUS
from framework.recording import ProviderSpec

__all__ = [
    "DECIMAL",
    "HALVES_FROM",
    "LEVEL",
    "MARKET_SAMPLE",
    "POSITIVE",
    "TRADE",
    "BlockSummary",
    "Converter",
    "Problems",
    "RowError",
    "TradeLines",
    "columns",
    "depth_frame",
    "depth_line",
    "digits",
    "first_time",
    "levels",
    "market_from_sample",
    "number",
    "numbers",
    "plain_numbers",
    "render",
    "split_instrument",
    "step",
    "trade_frame",
    "trade_pieces",
    "update_pieces",
]

MARKET_SAMPLE: Final = 10_000  # rows whose prices and sizes define an unknown market
HALVES_FROM: Final = 4096  # bytes: a refused block shorter than this goes row by row
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
LEVEL: Final = b'["%s","%s"]'
"""One book level of a depth_update: (price, quantity)."""
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


class BlockSummary(NamedTuple):
    """What converting a run of blocks apart (on a fresh converter) found, besides its lines:
    what :meth:`Converter.merge` adds to the converter that holds the whole file set's state."""

    rows: int
    written: int
    first_ns: int  # as the converter's: the first receive time written that is not 0
    last_ns: int
    first_t: int  # the receive time of the first line written, -1 when none was
    problems: int
    listed: list[tuple[str, int, str]]
    sample: list[tuple[bytes, bytes]] | None


class Converter:
    """Base of the format converters: rows in, recording lines out.

    A subclass sets :attr:`noun`, builds :attr:`provider` and implements :meth:`feed` (and
    :meth:`finish` if it holds a message back). ``sample`` collects the price and size texts of
    the first :data:`MARKET_SAMPLE` rows when the market has to be defined from the data.
    """

    noun = "row"  # what one written unit is called in the report: "trade", "book update"
    blockwise: ClassVar[bool] = False
    """Whether a run of blocks can be converted apart, on another process: by a fresh
    converter given :meth:`context`, its result then merged (:meth:`merge`) in file order. True for
    converters whose only state carried from block to block, besides :meth:`context`, is the
    counts, the sample, the problems and the last receive time (whose order check
    :meth:`merge` makes); false for those that gather a message or a bar across rows."""

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
        self._refused = False  # the last block went mostly row by row

    def feed(self, source: str, first_line: int, block: bytes, out: bytearray) -> None:
        """Convert one block of whole lines (joined by ``\\n``, none at the end) into ``out``.

        The block is converted as columns (:meth:`_as_columns`) when every row allows it. A
        block refused is converted as halves (:meth:`_halves`), so that a row that is not as
        the column path wants it (a ``1e-05``, a bad row) sends its neighbours row by row, not
        its whole block; after a block that went mostly row by row, the next one goes row by
        row at once when refused (a file whose every row is unusual pays no halving).
        """
        if self._as_columns(block, out):
            self._refused = False
        elif self._refused:
            self._by_rows(source, first_line, block, out)
        else:
            self._refused = 2 * self._halves(source, first_line, block, out) > len(block)

    def _as_columns(self, block: bytes, out: bytearray) -> bool:
        """Convert a block as columns when every row allows it; False (nothing done) if not."""
        return False

    def _halves(self, source: str, first_line: int, block: bytes, out: bytearray) -> int:
        """Convert a refused block as two halves, each as columns when it can be and halved
        again when not, down to :data:`HALVES_FROM` bytes, converted row by row.

        Returns:
            How many of the block's bytes were converted row by row.
        """
        cut = block.find(b"\n", len(block) // 2)
        if len(block) < HALVES_FROM or cut < 0:
            self._by_rows(source, first_line, block, out)
            return len(block)
        slow = 0
        for line, half in (
            (first_line, block[:cut]),
            (first_line + block.count(b"\n", 0, cut) + 1, block[cut + 1 :]),
        ):
            if not self._as_columns(half, out):
                slow += self._halves(source, line, half, out)
        return slow

    def _by_rows(self, source: str, first_line: int, block: bytes, out: bytearray) -> None:
        """Convert a block row by row (:meth:`feed_lines`)."""
        self.feed_lines(source, first_line, block.split(b"\n"), out)

    def feed_lines(self, source: str, first_line: int, lines: list[bytes], out: bytearray) -> None:
        """Convert lines one by one, reporting each bad row with its line number."""
        raise NotImplementedError

    def finish(self, out: bytearray) -> None:
        """The file set has ended: write what is held back."""

    def context(self) -> tuple[bytes, ...] | None:
        """What converting the current file's next blocks apart needs to know of the blocks
        before them, besides times (a Tardis file's header and symbol); None while it is not
        known yet (the blocks are then converted here, in order)."""
        return ()

    def resume(self, source: str, context: tuple[bytes, ...]) -> None:
        """Take up a file at a later block, a fresh converter given another's :meth:`context`."""

    def summary(self, out: bytearray) -> BlockSummary:
        """What this fresh converter found in the blocks it converted into ``out`` (all of it)."""
        return BlockSummary(
            self.rows, self.written, self.first_ns, self.last_ns,
            first_time(out) if self.written else -1,
            self.problems.count, self.problems.listed, self.sample,
        )  # fmt: skip

    def merge(self, summary: BlockSummary) -> bool:
        """Count in blocks converted apart, that come next in the file; False (nothing done)
        when their first line written goes back before the last one here: converted in order,
        it would have been refused, and the blocks must be converted again, here."""
        if 0 <= summary.first_t < self.last_ns:
            return False
        self.rows += summary.rows
        if summary.written:
            self.written += summary.written
            self.first_ns = self.first_ns or summary.first_ns
            self.last_ns = summary.last_ns
        problems = self.problems
        problems.count += summary.problems
        problems.listed += summary.listed[: _MAX_LISTED - len(problems.listed)]
        if summary.sample and self.sample is not None:
            self.sample += summary.sample[: MARKET_SAMPLE - len(self.sample)]
        return True

    def _sampled(self, price: bytes, size: bytes) -> None:
        sample = self.sample
        if sample is not None and len(sample) < MARKET_SAMPLE:
            sample.append((price, size))

    def _sampled_columns(self, prices: list[bytes], sizes: list[bytes]) -> None:
        """A block's prices and sizes, sampled in row order as :meth:`_sampled` does."""
        sample = self.sample
        if sample is not None and len(sample) < MARKET_SAMPLE:
            room = MARKET_SAMPLE - len(sample)
            sample.extend(zip(prices[:room], sizes[:room], strict=True))


def first_time(out: bytearray) -> int:
    """The receive time of the first frame written into ``out``."""
    start = out.index(b'"t":') + 4
    return int(out[start : out.index(b",", start)])


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


_MARK: Final = b"\x00"
_DOT_AS_COMMA: Final = bytes.maketrans(b".", b",")
_RENDERED: Final = 512
_ONE_BY_ONE: Final = 32  # texts of a column that numbers() converts one by one, at most


def columns(block: bytes, width: int) -> list[bytes] | None:
    """The fields of a block whose every line has ``width`` fields, row after row, or None.

    Column ``c`` is ``fields[c :: width + 1]`` (a line end is a field of its own). None when
    any line has another number of fields (or the block holds a NUL byte, used as the mark).
    """
    if _MARK in block:
        return None
    marked = block.replace(b"\n", b",\x00,")
    rows = (len(marked) - len(block)) // 2 + 1  # each line end grew by two bytes
    fields = marked.split(b",")
    if len(fields) != (width + 1) * rows - 1:
        return None
    # No NUL in the block: the rows - 1 marks are line ends (counted by the replace, which
    # made each two bytes longer), all where a width-wide row ends (a mark is Python's one
    # cached b"\x00", found by identity, not compared with every field).
    if fields[width :: width + 1].count(_MARK) != rows - 1:
        return None
    return fields


def digits(texts: list[bytes], size: int) -> bool:
    """Whether every text of a column is ``size`` digits, the first not a zero.

    The texts are fields of comma-separated rows (no comma in any): joined by commas, they
    are all ``size`` long when the commas fall every ``size + 1`` bytes (and their first
    digits are then every ``size + 1`` bytes from the first); the commas taken out again (one
    ``replace``, not a second ``join``), what is left must be digits.
    """
    joined = b",".join(texts)
    commas = len(texts) - 1
    return (
        len(joined) == (size + 1) * commas + size
        and joined[size :: size + 1] == b"," * commas
        and joined.replace(b",", b"").isdigit()
        and b"0" not in joined[:: size + 1]
    )


def plain_numbers(texts: Sequence[bytes], *, positive: bool) -> bool:
    """Whether :func:`number` returns every text of ``texts`` as it is (and none is refused).

    A few passes of byte-string methods over the column joined, instead of one per text.
    """
    joined = b",".join([b"", *texts, b""])
    marks = joined.translate(None, b"0123456789")  # what is not a digit: commas and dots
    if (
        marks.translate(None, b",.")  # anything else
        or b".." in marks  # two dots in one text
        # an empty text, a dot first or last: with dots read as commas, two commas in a row
        # (one pass for the three, a search for two bytes costing more than a translate)
        or b",," in joined.translate(_DOT_AS_COMMA)
    ):
        return False
    if b",0" not in joined:  # every text starts with a digit from 1 to 9: plain, positive
        return True
    # A leading zero is only allowed before the dot, or alone (zero, where zero is allowed).
    zeros = joined.count(b",0.") + (0 if positive else texts.count(b"0"))
    if joined.count(b",0") != zeros:
        return False
    return not positive or b",," not in joined.translate(None, b"0.")


def numbers(texts: list[bytes], what: str, *, positive: bool = True) -> list[bytes] | None:
    """A column of texts as :func:`number` writes each, or None when it refuses any.

    The same list when every text is already a plain JSON number (one check of the whole
    column, :func:`plain_numbers`); else the column's halves, each checked whole again, down
    to :data:`_ONE_BY_ONE` texts that go through :func:`number` one by one: a column with a
    ``1e-05`` in it is still converted as a column, at the price of a few dozen texts.
    """
    if plain_numbers(texts, positive=positive):
        return texts
    try:
        return _numbers(texts, what, positive)
    except RowError:
        return None


def _numbers(texts: list[bytes], what: str, positive: bool) -> list[bytes]:
    if len(texts) <= _ONE_BY_ONE:
        return [number(text, what, positive=positive) for text in texts]
    half = len(texts) // 2
    first, second = texts[:half], texts[half:]
    if not plain_numbers(first, positive=positive):
        first = _numbers(first, what, positive)
    if not plain_numbers(second, positive=positive):
        second = _numbers(second, what, positive)
    return first + second


def trade_pieces(symbol: bytes, zeros: bytes) -> list[bytes]:
    """The constant pieces of :data:`TRADE` around its values, for :func:`render`.

    The values go in as: the time stamp whose ``zeros`` make it nanoseconds, the whole seconds,
    price, quantity, the whole seconds again, direction.
    """
    parts = re.split(rb"%[ds]", TRADE)
    return [parts[0], zeros + parts[1] + symbol + parts[2], *parts[3:]]


def render(pieces: list[bytes], values: list[list[bytes]], out: bytearray) -> None:
    """Append each row's ``pieces[0] + values[0][i] + pieces[1] + ... + pieces[-1]`` to ``out``.

    ``values`` are columns of equal length, one fewer than ``pieces``. Rows are joined
    :data:`_RENDERED` at a time: ``join`` keeps a record per item, and a few hundred rows' worth
    stays in the processor's cache where a whole block's does not (twice as fast). When
    ``pieces[0]`` and ``pieces[-1]`` are empty (the last column's values carry a row's end and
    the next row's start, as :class:`TradeLines` makes them), a row is two items fewer.
    """
    rows = len(values[0])
    joint = pieces[-1] + pieces[0]  # a row's end and the next one's start
    last = len(values) - 1
    width = 2 * last + (2 if joint else 1)  # items per row
    out += pieces[0]
    for start in range(0, rows, _RENDERED):
        end = min(rows, start + _RENDERED)
        count = end - start
        flat = [joint] * (width * count)
        for k, column in enumerate(values):
            flat[2 * k :: width] = column if count == rows else column[start:end]
            if k < last:
                flat[2 * k + 1 :: width] = [pieces[k + 1]] * count
        if end == rows and joint:
            flat[-1] = pieces[-1]
        out += b"".join(flat)


class TradeLines:
    """Trade lines (:data:`TRADE`) written from columns by :func:`render`, a row's end and the
    next row's start carried by its direction's text: two items fewer to join per row.

    Args:
        symbol: the Cryptomus symbol.
        zeros: the digits that make the time column's stamps nanoseconds.
        directions: the direction column's texts as read -> the direction written.
    """

    def __init__(self, symbol: bytes, zeros: bytes, directions: Mapping[bytes, bytes]) -> None:
        pieces = trade_pieces(symbol, zeros)
        self._start = pieces[0]
        self._pieces = [b"", *pieces[1:-1], b""]
        self.tails = {text: side + pieces[-1] + pieces[0] for text, side in directions.items()}
        """The direction column's texts as read -> the last value of :meth:`render`'s rows."""

    def render(self, values: list[list[bytes]], out: bytearray) -> None:
        """Append the lines of columns: time, whole seconds, price, quantity, whole seconds,
        and the direction's :attr:`tails`."""
        start = self._start
        out += start
        render(self._pieces, values, out)
        del out[len(out) - len(start) :]  # the start of a row after the last


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
    return depth_line(
        t_ns,
        symbol,
        seconds,
        full,
        b",".join([LEVEL % level for level in asks]),
        b",".join([LEVEL % level for level in bids]),
    )


def depth_line(
    t_ns: int, symbol: bytes, seconds: int, full: bool, asks: bytes, bids: bytes
) -> bytes:
    """:func:`depth_frame` of levels already written as :data:`LEVEL`, joined by commas."""
    return _DEPTH % (t_ns, symbol, seconds, b"true" if full else b"false", asks, bids)


def update_pieces(symbol: bytes) -> list[bytes]:
    """The constant pieces of a partial ``depth_update`` line, for :func:`render`.

    The values go in as: the receive time in microseconds, the exchange's whole seconds, the
    asks and the bids (levels written as :data:`LEVEL`, joined by commas).
    """
    parts = re.split(rb"%[ds]", _DEPTH)
    return [
        parts[0],
        b"000" + parts[1] + symbol + parts[2],
        parts[3] + b"false" + parts[4],
        *parts[5:],
    ]


def levels(prices: list[bytes], amounts: list[bytes]) -> list[bytes]:
    """Each row's :data:`LEVEL` text, for a column of prices and one of amounts."""
    text = bytearray()
    render([b'["', b'","', b'"]\n'], [prices, amounts], text)
    return bytes(text[:-1]).split(b"\n")


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
