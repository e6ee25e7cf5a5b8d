"""Recent trades and bars per instrument as numpy arrays, without copying the history.

Each buffer is a column-per-field float64 array twice its capacity. Appends write at the cursor;
when the cursor reaches the end, the newest ``capacity`` rows move to the front (amortised O(1)
per append). Reading the last ``n`` rows is then a contiguous slice: a read-only *view*, not a
copy, valid until the next append (copy it if you keep it).

Trades arrive one at a time on the loop's hot path, where writing four numpy elements per trade
costs more than the rest of the market state's work: :meth:`TradeHistory.add` only keeps the
trade in a list, and the list is written into the arrays, a column at a time, when the history
is read. The loop trims what is kept to the newest ``capacity`` trades after each batch
(:meth:`TradeHistory.trim`), so a history never read costs a list append per trade.

A batch of the decoded cache's lone trades of one instrument (``framework.decoded.TradeColumns``)
costs it nothing per trade: the history follows the batch (:meth:`TradeHistory.follow`), as a
span of its columns that grows as the loop applies its trades, and copies the columns when it
is read. The trades themselves are not kept: they are freed with their batch.

The arrays are made when a history is first written to or read, and numpy is imported then:
a replay whose strategies never read a trade history, on a feed without bars, does not pay
for importing numpy at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, NamedTuple

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from framework.decoded import TradeColumns
    from framework.events import Trade

    Floats = npt.NDArray[np.float64]
    Ints = npt.NDArray[np.int64]

__all__ = ["BarArrays", "BarHistory", "TradeArrays", "TradeHistory"]

_SIDE: Final = {"buy": 1.0, "sell": -1.0, "": 0.0}


class TradeArrays(NamedTuple):
    """The last trades, oldest first. ``side`` is +1 buy, -1 sell, 0 unknown."""

    ts_ns: Ints
    price: Floats
    size: Floats
    side: Floats


class BarArrays(NamedTuple):
    """The last closed bars, oldest first; ``ts_ns`` is each bar's open time."""

    ts_ns: Ints
    open: Floats
    high: Floats
    low: Floats
    close: Floats
    volume: Floats


class _Ring:
    """Integer nanosecond stamps (float64 would round them) plus float value columns."""

    __slots__ = ("_cols", "_data", "_fields", "_ts", "capacity", "count", "cursor")

    _ts: Ints
    _data: Any  # a 2-D float64 array: one row per field
    _cols: list[Floats]

    def __init__(self, fields: int, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"history capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._fields = fields
        self.cursor = 0
        self.count = 0

    def _arrays(self) -> None:
        """Make the arrays (see the module docstring): once, before the first write or read."""
        import numpy as np

        self._ts = np.zeros(2 * self.capacity, dtype=np.int64)
        self._data = np.zeros((self._fields, 2 * self.capacity), dtype=np.float64)
        self._cols = list(self._data)

    def _advance(self) -> None:
        self.cursor += 1
        if self.count < self.capacity:
            self.count += 1
        if self.cursor == 2 * self.capacity:
            cap = self.capacity
            self._data[:, :cap] = self._data[:, cap:]
            self._ts[:cap] = self._ts[cap:]
            self.cursor = cap

    def _extend(self, ts: Any, columns: list[Any]) -> None:
        """Append rows given as columns (at most ``capacity`` of them)."""
        if not hasattr(self, "_ts"):
            self._arrays()
        n, cap = len(ts), self.capacity
        if self.cursor + n > 2 * cap:  # move the newest rows still wanted to the front
            keep = min(self.count, cap - n)
            lo = self.cursor - keep
            self._data[:, :keep] = self._data[:, lo : self.cursor]
            self._ts[:keep] = self._ts[lo : self.cursor]
            self.cursor = keep
        i, j = self.cursor, self.cursor + n
        self._ts[i:j] = ts
        for col, values in zip(self._cols, columns, strict=True):
            col[i:j] = values
        self.cursor = j
        self.count = min(self.count + n, cap)

    def _view(self, n: int | None) -> tuple[Ints, list[Floats]]:
        if not hasattr(self, "_ts"):
            self._arrays()
        n = self.count if n is None else max(0, min(n, self.count))
        lo, hi = self.cursor - n, self.cursor
        ts = self._ts[lo:hi]
        block = self._data[:, lo:hi]
        ts.flags.writeable = False
        block.flags.writeable = False
        return ts, list(block)


class _Span:
    """Trades of a batch of columns kept by a history: from ``start`` to those applied so far."""

    __slots__ = ("columns", "start")

    def __init__(self, columns: TradeColumns, start: int) -> None:
        self.columns = columns
        self.start = start

    def __len__(self) -> int:
        return self.columns.applied() - self.start


class TradeHistory(_Ring):
    """The last ``capacity`` trades of one instrument."""

    __slots__ = ("earlier", "pending")

    def __init__(self, capacity: int) -> None:
        super().__init__(3, capacity)
        self.pending: list[Trade] = []  # added, not yet written to the arrays
        # Kept before ``pending``, oldest first: earlier lists of added trades, and spans of
        # batches followed (see the module docstring).
        self.earlier: list[list[Trade] | _Span] = []

    def add(self, trade: Trade) -> None:
        """Keep a trade (the market state's hot path: written to the arrays later)."""
        self.pending.append(trade)

    def follow(self, columns: TradeColumns) -> None:
        """Keep the trades of ``columns`` as the loop applies them, from its first, until the
        next :meth:`add` or :meth:`follow` (every trade of the batch is this instrument's)."""
        if self.pending:
            self.earlier.append(self.pending)
            self.pending = []
        self.earlier.append(_Span(columns, 0))

    def trim(self) -> None:
        """Forget kept trades older than the newest ``capacity`` (they could never be read)."""
        pending, cap = self.pending, self.capacity
        if len(pending) >= cap:
            del pending[:-cap]
            self.earlier.clear()
            return
        earlier = self.earlier
        kept = len(pending)
        for i in range(len(earlier) - 1, -1, -1):
            kept += len(earlier[i])
            if kept >= cap:
                del earlier[:i]
                return

    def settle(self) -> None:
        """Write the trades kept since the last read into the arrays (the newest ``capacity``)."""
        pending, earlier = self.pending, self.earlier
        if not pending and not earlier:
            return
        pieces: list[list[Trade] | tuple[TradeColumns, int, int]] = []  # newest first
        need = self.capacity
        if pending:
            pieces.append(pending[-need:])
            need -= len(pieces[-1])
        for kept in reversed(earlier):
            if need <= 0:
                break
            if isinstance(kept, _Span):
                end = kept.columns.applied()
                lo = max(kept.start, end - need)
                pieces.append((kept.columns, lo, end))
                need -= end - lo
            else:
                pieces.append(kept[-need:])
                need -= len(pieces[-1])
        last = earlier[-1] if earlier and not pending else None
        self.pending = []
        self.earlier = []
        if isinstance(last, _Span):  # a batch still followed: its next trades are kept too
            self.earlier.append(_Span(last.columns, last.columns.applied()))
        for piece in reversed(pieces):
            if isinstance(piece, list):
                self._extend_trades(piece)
            else:
                self._extend_columns(*piece)

    def _extend_trades(self, recent: list[Trade]) -> None:
        side = _SIDE.get
        self._extend(
            [t.ts_event_ns for t in recent],
            [
                [t.price for t in recent],
                [t.size for t in recent],
                [side(t.side, 0.0) for t in recent],
            ],
        )

    def _extend_columns(self, columns: TradeColumns, lo: int, hi: int) -> None:
        import numpy as np

        from framework.decoded import TRADE_SIDES

        if lo == hi:
            return
        sides = np.array([_SIDE[s] for s in TRADE_SIDES], dtype=np.float64)
        codes = np.frombuffer(columns.side, dtype=np.uint8, count=hi - lo, offset=lo)
        self._extend(
            columns.ts_event[lo:hi], [columns.price[lo:hi], columns.size[lo:hi], sides[codes]]
        )

    def append(self, ts_ns: int, price: float, size: float, side: str) -> None:
        self.settle()
        if not hasattr(self, "_ts"):
            self._arrays()
        px, sz, sd = self._cols
        i = self.cursor
        self._ts[i] = ts_ns
        px[i] = price
        sz[i] = size
        sd[i] = _SIDE.get(side, 0.0)
        self._advance()

    def last(self, n: int | None = None) -> TradeArrays:
        """The last ``n`` trades (all kept, if ``n`` is None) as read-only views."""
        self.settle()
        ts, cols = self._view(n)
        return TradeArrays(ts, *cols)


class BarHistory(_Ring):
    """The last ``capacity`` closed bars of one instrument."""

    __slots__ = ()

    def __init__(self, capacity: int) -> None:
        super().__init__(5, capacity)

    def append(
        self, ts_ns: int, open_: float, high: float, low: float, close: float, volume: float
    ) -> None:
        if not hasattr(self, "_ts"):
            self._arrays()
        i = self.cursor
        self._ts[i] = ts_ns
        for col, value in zip(self._cols, (open_, high, low, close, volume), strict=True):
            col[i] = value
        self._advance()

    def last(self, n: int | None = None) -> BarArrays:
        """The last ``n`` closed bars (all kept, if ``n`` is None) as read-only views."""
        ts, cols = self._view(n)
        return BarArrays(ts, *cols)
