"""Ring buffers give the last n rows as read-only numpy views."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


_REPLAY_WITHOUT_READS = """
import sys
from framework.bundled import resolve_recording
from framework.config import Config
from framework.run import RunSetup, replay
from framework.strategy import Strategy

class Counts(Strategy):
    def on_trade(self, trade):
        self.n = getattr(self, "n", 0) + 1

class Reads(Counts):
    def on_stop(self):
        assert len(self.trades("BTC/USDT").price) == 1000

strategy = Reads if sys.argv[1] == "reads" else Counts
setup = RunSetup(strategies=(strategy,), strategy_sources={}, config=Config(), seed=1)
for out in ("a", "b"):  # the first replay builds the decoded cache, the second reads it
    summary = replay(setup, resolve_recording("cryptomus-btc-usdt"), sys.argv[2] + "/" + out)
print(summary["counts"]["frames"], "numpy" in sys.modules)
"""


@pytest.mark.parametrize(("strategy", "imported"), [("counts", "False"), ("reads", "True")])
def test_numpy_is_imported_only_when_a_trade_history_is_read(
    tmp_path: Path, strategy: str, imported: str
) -> None:
    env = {**os.environ, "PAPERTRADE_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", _REPLAY_WITHOUT_READS, strategy, str(tmp_path)],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    frames, numpy_imported = done.stdout.split()
    assert int(frames) > 1000
    assert numpy_imported == imported
    assert list((tmp_path / "cache" / "replay").glob("*.ptdc"))  # the second replay was cached
