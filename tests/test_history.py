"""Ring buffers give the last n rows as read-only numpy views."""

from __future__ import annotations

import numpy as np
import pytest

from framework.history import BarHistory, TradeHistory


def test_last_n_trades_oldest_first_after_wrapping() -> None:
    hist = TradeHistory(3)
    for i in range(10):  # wraps the 2x buffer more than once
        hist.append(1_750_000_000_000_000_000 + i, 100.0 + i, 0.5, "sell" if i % 2 else "buy")
    last = hist.last()
    assert last.price.tolist() == [107.0, 108.0, 109.0]
    assert last.ts_ns.tolist() == [
        1_750_000_000_000_000_007,
        1_750_000_000_000_000_008,
        1_750_000_000_000_000_009,
    ]
    assert last.side.tolist() == [-1.0, 1.0, -1.0]
    assert hist.last(2).price.tolist() == [108.0, 109.0]


def test_nanosecond_stamps_are_exact_integers() -> None:
    hist = TradeHistory(2)
    hist.append(1_750_953_177_123_456_789, 1.0, 1.0, "")
    assert hist.last().ts_ns.dtype == np.int64
    assert int(hist.last().ts_ns[0]) == 1_750_953_177_123_456_789


def test_views_are_read_only_and_not_copies() -> None:
    hist = BarHistory(4)
    hist.append(60, 1.0, 2.0, 0.5, 1.5, 10.0)
    bars = hist.last()
    with pytest.raises(ValueError):
        bars.close[0] = 3.0
    assert bars.close.base is not None  # a view into the ring, not a fresh array


def test_fewer_rows_than_asked_gives_what_there_is() -> None:
    hist = BarHistory(5)
    hist.append(60, 1.0, 2.0, 0.5, 1.5, 10.0)
    assert len(hist.last(100).close) == 1
    assert len(hist.last(0).close) == 0
