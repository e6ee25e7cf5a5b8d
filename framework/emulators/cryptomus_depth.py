"""The Cryptomus emulator's depth books: one per market and scale, and each subscriber's diffs.

Theory of operation. :class:`DepthBooks` keeps each market's book as the feed last described
it, keyed by (market, scale index). A generated ``BookChange`` replaces the finest book
(scale 0) whole; a recorded ``depth_update`` is applied to the book of its own scale (a full
reload clears it first, a size of ``"0"`` removes a level). A scale with no book of its own
is served by grouping the finest book by ``tick * 10**index``: asks round up and bids down,
so a grouped level never looks better than the real one.

Each subscription remembers the (bids, asks) it was last sent. Its first push is a
``full_reload: true`` with the whole book; later ones carry only the changed levels, ``"0"``
for a removed one, and nothing at all when nothing changed.

This module must not do I/O, read a clock, or know about connections: which subscriber gets
a push is the emulator's business (``framework.emulators.cryptomus``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Final

import msgspec

from framework.emulators.market import BookChange
from framework.emulators.wire import plain
from framework.providers import cryptomus as wire

__all__ = ["DepthBooks", "DepthKey", "Sent", "Side", "depth_key"]

_ENCODER: Final = msgspec.json.Encoder()

Side = dict[Decimal, Decimal]  # price -> quantity
DepthKey = tuple[str, int]  # (market, scale index)
Sent = tuple[Side, Side]  # the (bids, asks) a subscription was last sent


class _Book(msgspec.Struct):
    """One market's book at one scale, as the feed last described it."""

    bids: Side = {}
    asks: Side = {}
    ts: int = 0  # Unix seconds of the last change


class _DepthPush(msgspec.Struct, frozen=True, gc=False):
    # The documented envelope and key order: the codec's tagged Struct writes method first.
    id: int
    method: str
    data: wire.DepthData
    error: None = None


class DepthBooks:
    """The books of the listed markets, at every scale, and the pushes they make.

    Args:
        ticks: each market's price grid by Cryptomus symbol (scale ``i`` groups by
            ``tick * 10**i``); read at each push, so markets added later are grouped too.
    """

    def __init__(self, ticks: Mapping[str, Decimal]) -> None:
        self._ticks = ticks
        self._books: dict[DepthKey, _Book] = {}

    def replace(self, symbol: str, change: BookChange) -> DepthKey:
        """Take a generated book as the market's finest (scale 0); returns the key changed."""
        book = self._books.setdefault((symbol, 0), _Book())
        book.bids, book.asks = dict(change.bids), dict(change.asks)
        book.ts = change.ts_ns // 1_000_000_000
        return (symbol, 0)

    def apply(self, depth: wire.DepthData) -> DepthKey:
        """Apply a recorded depth update to the book of its scale; returns the key changed."""
        key = (depth.symbol, depth.scale_index)
        book = self._books.setdefault(key, _Book())
        if depth.full_reload:
            book.bids, book.asks = {}, {}
        for side, levels in ((book.bids, depth.bids), (book.asks, depth.asks)):
            for price, quantity in levels:
                size = Decimal(quantity)
                if size:
                    side[Decimal(price)] = size
                else:
                    side.pop(Decimal(price), None)
        book.ts = depth.timestamp
        return key

    def push(self, key: DepthKey, last: Sent | None) -> tuple[Sent, str] | None:
        """The ``depth_update`` for a subscription to ``key`` that was last sent ``last``.

        Args:
            key: the subscription's market and scale index.
            last: what it was last sent; None for nothing yet, which makes a full reload.

        Returns:
            What it will then have been sent, and the frame's text; None when there is nothing
            to send (no book yet, or nothing changed).
        """
        view = self._view(key)
        if view is None:
            return None  # no book yet: the first one to arrive goes out as the full reload
        bids, asks, ts = view
        if last is None:
            out_bids, out_asks = bids, asks
        else:
            out_bids, out_asks = _changes(last[0], bids), _changes(last[1], asks)
            if not out_bids and not out_asks:
                return None
        data = wire.DepthData(
            key[0], ts, last is None, key[1],
            _levels(out_asks, reverse=False), _levels(out_bids, reverse=True),
        )  # fmt: skip
        text = _ENCODER.encode(_DepthPush(0, "depth_update", data)).decode("utf-8")
        return (bids, asks), text

    def _view(self, key: DepthKey) -> tuple[Side, Side, int] | None:
        book = self._books.get(key)
        if book is not None:
            return dict(book.bids), dict(book.asks), book.ts
        symbol, index = key
        finest = self._books.get((symbol, 0))
        tick = self._ticks.get(symbol)
        if finest is None or tick is None or index == 0:
            return None
        step = tick.scaleb(index)
        return _group(finest.bids, step, up=False), _group(finest.asks, step, up=True), finest.ts


def depth_key(param: str) -> DepthKey:
    """The key of a depth subscription parameter, ``"BTC_USDT:1"`` (no index: scale 0)."""
    symbol, _, index = param.partition(":")
    return symbol, int(index) if index.isdigit() else 0


def _changes(old: Side, new: Side) -> Side:
    changed = {price: size for price, size in new.items() if old.get(price) != size}
    changed.update({price: Decimal(0) for price in old if price not in new})
    return changed


def _levels(side: Side, *, reverse: bool) -> list[tuple[str, str]]:
    return [(plain(price), plain(side[price])) for price in sorted(side, reverse=reverse)]


def _group(side: Side, step: Decimal, *, up: bool) -> Side:
    # Asks round up and bids down, so a grouped level never looks better than the real one.
    out: Side = {}
    for price, size in side.items():
        units = price / step
        level = (units.to_integral_value("ROUND_CEILING" if up else "ROUND_FLOOR")) * step
        out[level] = out.get(level, Decimal(0)) + size
    return out
