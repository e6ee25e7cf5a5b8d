"""Recent trades and bars per instrument as numpy arrays, without copying the history.

Each buffer is a column-per-field float64 array twice its capacity. Appends write at the cursor;
when the cursor reaches the end, the newest ``capacity`` rows move to the front (amortised O(1)
per append). Reading the last ``n`` rows is then a contiguous slice: a read-only *view*, not a
copy, valid until the next append (copy it if you keep it).

Trades arrive one at a time on the loop's hot path, where writing four numpy elements per trade
costs more than the rest of the market state's work: :meth:`TradeHistory.add` only keeps the
trade in a list, and the list is written into the arrays, a column at a time, when the history
is read. The loop trims the list to the newest ``capacity`` trades after each batch
(:meth:`TradeHistory.trim`), so a history never read costs a list append per trade.

The arrays are made when a history is first written to or read, and numpy is imported then:
a replay whose strategies never read a trade history, on a feed without bars, does not pay
for importing numpy at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, NamedTuple

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

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

    def _extend(self, ts: list[int], columns: list[list[float]]) -> None:
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


class TradeHistory(_Ring):
    """The last ``capacity`` trades of one instrument."""

    __slots__ = ("pending",)

    def __init__(self, capacity: int) -> None:
        super().__init__(3, capacity)
        self.pending: list[Trade] = []  # added, not yet written to the arrays

    def add(self, trade: Trade) -> None:
        """Keep a trade (the market state's hot path: written to the arrays later)."""
        self.pending.append(trade)

    def trim(self) -> None:
        """Forget kept trades older than the newest ``capacity`` (they could never be read)."""
        if len(self.pending) > self.capacity:
            del self.pending[: -self.capacity]

    def settle(self) -> None:
        """Write the trades added since the last read into the arrays."""
        pending = self.pending
        if not pending:
            return
        recent = pending[-self.capacity :]
        pending.clear()
        side = _SIDE.get
        self._extend(
            [t.ts_event_ns for t in recent],
            [
                [t.price for t in recent],
                [t.size for t in recent],
                [side(t.side, 0.0) for t in recent],
            ],
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
