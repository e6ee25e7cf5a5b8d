"""The L2 book of one instrument as the feed shows it, for strategies to read.

Built from ``BookSnapshot`` (replaces everything) and ``BookDelta`` (size 0 removes a level).
After a disconnect the book is marked untrusted until the next snapshot: a delta stream with a
gap in it describes a book that no longer exists. Sorting happens only when levels are read.
This is the market's view; the paper exchange keeps its own, which also remembers liquidity
that paper orders consumed.
"""

from __future__ import annotations

from framework import events as ev

__all__ = ["MarketBook"]


class MarketBook:
    """Bids and asks of one instrument: price -> size, floats as the feed sent them."""

    __slots__ = ("asks", "bids", "instrument", "trusted", "ts_ns")

    def __init__(self, instrument: str) -> None:
        self.instrument = instrument
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.trusted = False
        self.ts_ns = 0

    def apply_snapshot(self, snap: ev.BookSnapshot) -> None:
        self.bids = dict(snap.bids)
        self.asks = dict(snap.asks)
        self.trusted = True
        self.ts_ns = snap.ts_recv_ns

    def apply_delta(self, delta: ev.BookDelta) -> None:
        for levels, side in ((delta.bids, self.bids), (delta.asks, self.asks)):
            for price, size in levels:
                if size == 0.0:
                    side.pop(price, None)
                else:
                    side[price] = size
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
