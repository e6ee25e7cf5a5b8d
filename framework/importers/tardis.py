"""Tardis.dev downloadable CSV files: trades, incremental_book_L2 and book_snapshot_25.

Documented format (docs.tardis.dev, "Downloadable CSV files"): comma-separated with a header
line, ``\\n`` line ends, ``.`` decimal mark, times in microseconds since the epoch (UTC), one
file per exchange, data type, day and symbol, usually gzipped (``.csv.gz``). Every row starts
with ``exchange, symbol, timestamp, local_timestamp``: ``timestamp`` is the exchange's time
(``local_timestamp`` when the exchange gives none), ``local_timestamp`` the message's arrival,
which becomes the frame's receive time. Columns are found by their header names.

* **trades**: ``id`` (may be empty), ``side`` (the aggressor: ``buy``, ``sell`` or
  ``unknown``), ``price``, ``amount``. A trade whose side is ``unknown`` cannot be a Cryptomus
  trade (its direction is buy or sell): it is skipped and reported.
* **incremental_book_L2**: ``is_snapshot``, ``side`` (``bid``/``ask``), ``price``, ``amount``
  (0 removes the level). Rows with the same ``local_timestamp`` came in one message and become
  one ``depth_update``. A run of snapshot rows after non-snapshot rows means the book was
  reset (a new day or a reconnect): the run becomes one full reload, received at its last
  row's time. Rows before the first snapshot are the buffered updates the documentation says
  to skip: they are skipped and counted.
* **book_snapshot_25** (and book_snapshot_5): ``asks[i].price``, ``asks[i].amount``,
  ``bids[i].price``, ``bids[i].amount`` for i from 0; a level is empty when the book is
  shallower. Each row becomes one full reload.

Every row must name the same symbol as the first (a file is one symbol).
"""

from __future__ import annotations

import operator
import re
from typing import Any, Final, Literal

from framework.errors import ConfigError
from framework.importers.base import (
    DECIMAL,
    LEVEL,
    POSITIVE,
    TRADE,
    Converter,
    RowError,
    TradeLines,
    columns,
    depth_frame,
    depth_line,
    digits,
    levels,
    number,
    numbers,
    render,
    trade_frame,
    update_pieces,
)
from framework.instruments import to_cryptomus
from framework.providers.base import Subscription
from framework.providers.cryptomus import NAME as CRYPTOMUS
from framework.recording import ProviderSpec

__all__ = ["BookSnapshots", "IncrementalBook", "Trades"]

_NS: Final = 1_000_000_000
_SECONDS: Final = operator.itemgetter(slice(10))  # a time stamp's whole seconds
_SIDES: Final = {b"buy": b"buy", b"sell": b"sell"}
_COMMON: Final = ("exchange", "symbol", "timestamp", "local_timestamp")


class _Tardis(Converter):
    """Header handling and the common columns."""

    _columns: tuple[str, ...] = _COMMON
    _channel: Literal["trades", "book"] = "trades"

    def __init__(self, symbol: str, sample: bool) -> None:
        super().__init__(symbol, sample)
        native = to_cryptomus(symbol)
        self.provider = ProviderSpec(CRYPTOMUS, (Subscription(self._channel, native),))
        self._symbol = native.encode()
        self._index: dict[str, int] = {}
        self._width = 0
        self._file_symbol = b""
        self._header_line = b""

    def feed(self, source: str, first_line: int, block: bytes, out: bytearray) -> None:
        if first_line == 1:
            header, newline, block = block.partition(b"\n")
            self._header(source, header)
            first_line += 1
            if not newline:
                return
        super().feed(source, first_line, block, out)

    def _by_rows(self, source: str, first_line: int, block: bytes, out: bytearray) -> None:
        lines = block.split(b"\n")
        self._rows(source, first_line, lines, out)
        self.rows += len(lines)

    def feed_lines(self, source: str, first_line: int, lines: list[bytes], out: bytearray) -> None:
        if first_line == 1:
            self._header(source, lines[0])
            lines = lines[1:]
            first_line += 1
        self._rows(source, first_line, lines, out)
        self.rows += len(lines)

    def _rows(self, source: str, first_line: int, lines: list[bytes], out: bytearray) -> None:
        raise NotImplementedError

    def _documented(self, block: bytes) -> list[bytes] | None:
        """The block's fields when its columns are the documented eight, in order, and every
        row has them, its symbol the file's and its times 16 digits with local times in order."""
        if self._width != 8 or list(self._index.values()) != list(range(8)):
            return None
        fields = columns(block, 8)
        if fields is None:
            return None
        symbols, stamps, local = fields[1::9], fields[2::9], fields[3::9]
        symbol = self._file_symbol or symbols[0]
        if (
            symbols.count(symbol) != len(symbols)
            or not digits(stamps, 16)  # microseconds, 2001 to 2286
            or not digits(local, 16)
            or local != sorted(local)  # digit strings of one length sort as their numbers
            or int(local[0]) * 1000 < self.last_ns
        ):
            return None
        self._file_symbol = symbol
        return fields

    def _header(self, source: str, line: bytes) -> None:
        names = [n.strip().decode(errors="replace") for n in line.split(b",")]
        missing = [c for c in self._columns if c not in names]
        if missing:
            raise ConfigError(
                f"{source}: line 1 is not a Tardis {self.noun} header (no {', '.join(missing)}); "
                f"it reads {line[:200].decode(errors='replace')!r}"
            )
        if self._index and [names[i] for i in self._index.values()] != list(self._index):
            raise ConfigError(f"{source}: its columns differ from the first file's")
        self._index = {name: names.index(name) for name in self._columns}
        self._width = len(names)
        self._header_line = line
        self._on_header(names)

    def _on_header(self, names: list[str]) -> None:
        """A subclass reads its own columns here."""

    def context(self) -> tuple[bytes, ...] | None:
        """The current file's header line and the symbol of the first file's first row."""
        if not self._header_line or not self._file_symbol:
            return None
        return self._header_line, self._file_symbol

    def resume(self, source: str, context: tuple[bytes, ...]) -> None:
        header, self._file_symbol = context
        self._header(source, header)

    def _check_symbol(self, cells: list[bytes]) -> None:
        symbol = cells[1]
        if symbol != self._file_symbol:
            if self._file_symbol:
                raise RowError(
                    f"symbol {symbol[:30].decode(errors='replace')!r} differs from the first "
                    f"row's {self._file_symbol.decode(errors='replace')!r}"
                )
            self._file_symbol = symbol

    def _cells(self, line: bytes) -> list[bytes]:
        cells = line.split(b",")
        if len(cells) != self._width:
            raise RowError(f"{len(cells)} columns, the header has {self._width}")
        return cells


class Trades(_Tardis):
    """Tardis ``trades`` rows as Cryptomus trades."""

    noun = "trade"
    blockwise = True
    _columns = (*_COMMON, "id", "side", "price", "amount")
    # The documented column order, checked by one regular expression: the fast path.
    _fast = re.compile(rb"[^,]*,([^,]*),([0-9]{16}),([0-9]{16}),[^,]*,(buy|sell),(%s),(%s)"
                       % (POSITIVE, POSITIVE))  # fmt: skip

    def __init__(self, symbol: str, sample: bool) -> None:
        super().__init__(symbol, sample)
        self._lines = TradeLines(self._symbol, b"000", _SIDES)

    def _as_columns(self, block: bytes, out: bytearray) -> bool:
        fields = self._documented(block)
        if fields is None:
            return False
        stamps, local = fields[2::9], fields[3::9]
        try:
            tails = list(map(self._lines.tails.__getitem__, fields[5::9]))
        except KeyError:  # not buy or sell
            return False
        prices = numbers(fields[6::9], "price")
        amounts = numbers(fields[7::9], "amount")
        if prices is None or amounts is None:
            return False
        seconds = list(map(_SECONDS, stamps))  # ten digits: 2001-09-09 to 2286
        self._lines.render([local, seconds, prices, amounts, seconds, tails], out)
        self._sampled_columns(prices, amounts)
        rows = len(local)
        self.first_ns = self.first_ns or int(local[0]) * 1000
        self.last_ns = int(local[-1]) * 1000
        self.rows += rows
        self.written += rows
        return True

    def _rows(self, source: str, first_line: int, lines: list[bytes], out: bytearray) -> None:
        symbol = self._symbol
        index = self._index
        ts_i, local_i = index["timestamp"], index["local_timestamp"]
        side_i, price_i, amount_i = index["side"], index["price"], index["amount"]
        first, last = self.first_ns, self.last_ns
        written = 0
        sampling = self.sample is not None
        fast = self._fast.fullmatch if list(index.values()) == list(range(8)) else _never
        file_symbol = self._file_symbol
        for offset, line in enumerate(lines):
            match = fast(line)
            if match is not None:
                row_symbol, stamp, local, side, price, qty = match.groups()
                ns = int(local) * 1000
                if ns >= last and row_symbol == file_symbol:
                    last = ns
                    if not first:
                        first = ns
                    seconds = int(stamp) // 1_000_000
                    out += TRADE % (ns, symbol, seconds, price, qty, seconds, side)
                    written += 1
                    if sampling:
                        self._sampled(price, qty)
                    continue
            if not line:
                continue
            try:
                cells = self._cells(line)
                if cells[1] != self._file_symbol:
                    self._check_symbol(cells)
                ns = _ns(cells[local_i], "local_timestamp")
                seconds = _ns(cells[ts_i] or cells[local_i], "timestamp") // _NS
                side = _SIDES.get(cells[side_i])
                if side is None:
                    raise RowError(f"side {cells[side_i][:20].decode(errors='replace')!r} is "
                                   "not buy or sell")  # fmt: skip
                price = number(cells[price_i], "price")
                qty = number(cells[amount_i], "amount")
                if ns < last:
                    raise RowError("local_timestamp goes back before the previous row's")
            except RowError as exc:
                # A bad row still names the file's symbol when it is the first to name one.
                file_symbol = self._file_symbol
                self.problems.add(source, first_line + offset, str(exc))
                continue
            file_symbol = self._file_symbol
            last = ns
            if not first:
                first = ns
            out += trade_frame(ns, symbol, seconds, price, qty, side)
            written += 1
            if sampling:
                self._sampled(price, qty)
        self.written += written
        self.first_ns, self.last_ns = first, last


class IncrementalBook(_Tardis):
    """Tardis ``incremental_book_L2`` rows as Cryptomus depth updates, one per message."""

    noun = "book update"
    _columns = (*_COMMON, "is_snapshot", "side", "price", "amount")
    _channel: Literal["trades", "book"] = "book"
    # The documented column order, checked by one regular expression: the fast path.
    _fast = re.compile(rb"[^,]*,([^,]*),([0-9]{16}),([0-9]{16}),(true|false),(bid|ask),(%s),(%s)"
                       % (POSITIVE, DECIMAL))  # fmt: skip

    def __init__(self, symbol: str, sample: bool) -> None:
        super().__init__(symbol, sample)
        self._synced = False  # a snapshot has been seen: updates before it are skipped
        self._key = -1  # local_timestamp of the message being gathered
        self._snapshot = False  # the message being gathered is (part of) a snapshot
        self._asks: list[bytes] = []  # levels as written (LEVEL)
        self._bids: list[bytes] = []
        self._pieces = update_pieces(self._symbol)
        self._exchange_us = 0
        self.before_snapshot = 0

    def _as_columns(self, block: bytes, out: bytearray) -> bool:
        if not self._synced or self._key < 0:
            return False  # the first snapshot is found row by row
        fields = self._documented(block)
        if fields is None:
            return False
        stamps, local, snaps, sides = fields[2::9], fields[3::9], fields[4::9], fields[5::9]
        if (
            int(local[0]) < self._key
            or snaps.count(b"false") != len(snaps)  # a snapshot (a reset) goes row by row
            or not {b"bid", b"ask"} >= set(sides)
        ):
            return False
        prices = numbers(fields[6::9], "price")
        amounts = numbers(fields[7::9], "amount", positive=False)
        if prices is None or amounts is None:
            return False
        # As in _rows for updates: rows of one local_timestamp are one message. The message
        # held from the block before ends here, or goes on with this block's first rows.
        asks, bids, exchange_us = self._asks, self._bids, self._exchange_us
        if self._snapshot or local[0] != b"%d" % self._key:
            if asks or bids or self._snapshot:
                self._write(out, self._key, exchange_us, self._snapshot, asks, bids)
                asks, bids, exchange_us = [], [], 0
            self._snapshot = False
        # Every message that ends in this block, as columns for render().
        keys: list[bytes] = []
        tops: list[bytes] = []  # each message's latest exchange time
        ask_lists: list[list[bytes]] = []
        bid_lists: list[list[bytes]] = []
        key, top = local[0], b""
        texts = levels(prices, amounts)
        for at, stamp, side, level in zip(local, stamps, sides, texts, strict=True):
            if at != key:
                keys.append(key)
                tops.append(top)
                ask_lists.append(asks)
                bid_lists.append(bids)
                asks, bids, key, top = [], [], at, b""
            if stamp > top:  # 16 digits each
                top = stamp
            (bids if side == b"bid" else asks).append(level)
        if keys:
            seconds = [t[:10] for t in tops]
            if exchange_us > int(tops[0]):  # the first message began in an earlier block
                seconds[0] = b"%d" % (exchange_us // 1_000_000)
            exchange_us = 0
            asks_text = [b",".join(a) for a in ask_lists]
            bids_text = [b",".join(b) for b in bid_lists]
            render(self._pieces, [keys, seconds, asks_text, bids_text], out)
            self.first_ns = self.first_ns or int(keys[0]) * 1000
            self.last_ns = int(keys[-1]) * 1000
            self.written += len(keys)
        self._key, self._asks, self._bids = int(key), asks, bids
        self._exchange_us = max(exchange_us, int(top))
        self._sampled_columns(prices, amounts)
        self.rows += len(local)
        return True

    def _rows(self, source: str, first_line: int, lines: list[bytes], out: bytearray) -> None:
        fast = self._fast.fullmatch if list(self._index.values()) == list(range(8)) else _never
        file_symbol = self._file_symbol
        sampling = self.sample is not None
        # The message being gathered lives in locals while the block is read (the hot loop).
        key, snapshot, synced = self._key, self._snapshot, self._synced
        asks, bids, exchange_us = self._asks, self._bids, self._exchange_us
        for offset, line in enumerate(lines):
            match = fast(line)
            if match is not None and match.group(1) == file_symbol:
                _, stamp_text, local_text, snap, side, price, amount = match.groups()
                local = int(local_text)
                stamp = int(stamp_text)
            else:
                if not line:
                    continue
                try:
                    stamp, local, snap, side, price, amount = self._slow(line)
                except RowError as exc:
                    file_symbol = self._file_symbol  # named by a bad row too, as in Trades
                    self.problems.add(source, first_line + offset, str(exc))
                    continue
                file_symbol = self._file_symbol
            if local < key:
                self.problems.add(source, first_line + offset,
                                  "local_timestamp goes back before the previous row's")  # fmt: skip
                continue
            is_snap = snap == b"true"
            if not synced:
                if not is_snap:
                    self.before_snapshot += 1
                    continue
                synced = True
            # A snapshot goes on over several local_timestamps; an update is one message.
            if is_snap != snapshot or (not is_snap and local != key):
                if key >= 0 and (asks or bids or snapshot):
                    self._write(out, key, exchange_us, snapshot, asks, bids)
                    asks, bids, exchange_us = [], [], 0
                snapshot = is_snap
            key = local
            if stamp > exchange_us:
                exchange_us = stamp
            if is_snap and not amount.strip(b"0."):
                continue  # an empty level in a snapshot is no level
            (bids if side == b"bid" else asks).append(LEVEL % (price, amount))
            if sampling:
                self._sampled(price, amount)
        self._key, self._snapshot, self._synced = key, snapshot, synced
        self._asks, self._bids, self._exchange_us = asks, bids, exchange_us

    def _slow(self, line: bytes) -> tuple[int, int, bytes, bytes, bytes, bytes]:
        """A row in any column order, checked field by field so the error says which."""
        index = self._index
        cells = self._cells(line)
        if cells[1] != self._file_symbol:
            self._check_symbol(cells)
        snap = cells[index["is_snapshot"]]
        if snap != b"false" and snap != b"true":
            raise RowError(f"is_snapshot {snap[:20].decode(errors='replace')!r} is not "
                           "true or false")  # fmt: skip
        local = _us(cells[index["local_timestamp"]], "local_timestamp")
        stamp_text = cells[index["timestamp"]]
        stamp = _us(stamp_text, "timestamp") if stamp_text else local
        side = cells[index["side"]]
        if side != b"bid" and side != b"ask":
            raise RowError(f"side {side[:20].decode(errors='replace')!r} is not bid or ask")
        price = number(cells[index["price"]], "price")
        amount = number(cells[index["amount"]], "amount", positive=False)
        return stamp, local, snap, side, price, amount

    def finish(self, out: bytearray) -> None:
        self._flush(out)
        if self.before_snapshot:
            self.notes.append(
                f"skipped {self.before_snapshot} updates before the first snapshot "
                "(buffered before the exchange sent one, as the Tardis documentation says)"
            )

    def _flush(self, out: bytearray) -> None:
        if self._key >= 0 and (self._asks or self._bids or self._snapshot):
            self._write(out, self._key, self._exchange_us, self._snapshot, self._asks, self._bids)
        self._asks, self._bids, self._exchange_us = [], [], 0

    def _write(
        self,
        out: bytearray,
        local_us: int,
        exchange_us: int,
        full: bool,
        asks: list[bytes],
        bids: list[bytes],
    ) -> None:
        ns = local_us * 1000
        seconds = exchange_us // 1_000_000
        out += depth_line(ns, self._symbol, seconds, full, b",".join(asks), b",".join(bids))
        self.first_ns = self.first_ns or ns
        self.last_ns = ns
        self.written += 1


class BookSnapshots(_Tardis):
    """Tardis ``book_snapshot_25`` (or ``_5``) rows as Cryptomus full reloads."""

    noun = "book snapshot"
    blockwise = True
    _columns = (*_COMMON, "asks[0].price", "asks[0].amount", "bids[0].price", "bids[0].amount")
    _channel: Literal["trades", "book"] = "book"

    def __init__(self, symbol: str, sample: bool) -> None:
        super().__init__(symbol, sample)
        self._asks_at: list[tuple[int, int]] = []
        self._bids_at: list[tuple[int, int]] = []

    def _on_header(self, names: list[str]) -> None:
        for side, into in (("asks", self._asks_at), ("bids", self._bids_at)):
            into.clear()
            level = 0
            while f"{side}[{level}].price" in names and f"{side}[{level}].amount" in names:
                into.append((names.index(f"{side}[{level}].price"),
                             names.index(f"{side}[{level}].amount")))  # fmt: skip
                level += 1

    def _rows(self, source: str, first_line: int, lines: list[bytes], out: bytearray) -> None:
        index = self._index
        ts_i, local_i = index["timestamp"], index["local_timestamp"]
        first, last = self.first_ns, self.last_ns
        for offset, line in enumerate(lines):
            if not line:
                continue
            try:
                cells = self._cells(line)
                if cells[1] != self._file_symbol:
                    self._check_symbol(cells)
                ns = _ns(cells[local_i], "local_timestamp")
                seconds = _ns(cells[ts_i] or cells[local_i], "timestamp") // _NS
                asks = _levels(cells, self._asks_at, "ask")
                bids = _levels(cells, self._bids_at, "bid")
                if ns < last:
                    raise RowError("local_timestamp goes back before the previous row's")
            except RowError as exc:
                self.problems.add(source, first_line + offset, str(exc))
                continue
            last = ns
            if not first:
                first = ns
            out += depth_frame(ns, self._symbol, seconds, True, asks, bids)
            self.written += 1
            if self.sample is not None and (asks or bids):
                self._sampled(*(asks or bids)[0])
        self.first_ns, self.last_ns = first, last


def _levels(cells: list[bytes], at: list[tuple[int, int]], side: str) -> list[tuple[bytes, bytes]]:
    levels = []
    for level, (p, q) in enumerate(at):
        price, amount = cells[p], cells[q]
        if not price and not amount:
            continue  # the book is shallower than the file's levels
        levels.append((number(price, f"{side}s[{level}].price"),
                       number(amount, f"{side}s[{level}].amount")))  # fmt: skip
    return levels


def _us(stamp: bytes, what: str) -> int:
    if stamp.isdigit() and 13 <= len(stamp) <= 17:
        return int(stamp)
    raise RowError(f"{what} {stamp[:30].decode(errors='replace')!r} is not microseconds "
                   "since the epoch")  # fmt: skip


def _ns(stamp: bytes, what: str) -> int:
    return _us(stamp, what) * 1000


def _never(line: bytes) -> Any:
    """The fast path of a file whose columns are not in the documented order: never taken."""
    return None
