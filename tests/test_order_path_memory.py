"""A run keeps no per-order or per-fill object once the order is done: memory stays flat.

Every order of these runs is a market order that fills at once and finishes, and every second
one closes a round trip. What the run still holds after it are the strategy's results as
running sums and compact arrays (a few numbers per round trip and per equity sample), never the
orders, the fills or the round trips themselves: those are in the output files.
"""

from __future__ import annotations

import gc
import inspect
import tracemalloc
from decimal import Decimal
from pathlib import Path

from framework import Strategy, Trade
from framework.config import Config, RunConfig
from framework.exchange import ExchangeConfig
from framework.loop import Engine
from framework.report import results
from framework.run import RunSetup, replay_engine
from framework.testing import Scenario

D = Decimal


class FlipFlop(Strategy):
    """Buys 0.01 at market on one trade and sells it on the next: a round trip per two trades."""

    def on_start(self) -> None:
        self.long = False

    def on_trade(self, trade: Trade) -> None:
        if self.long:
            self.sell_market(trade.instrument, D("0.01"))
        else:
            self.buy_market(trade.instrument, quantity=D("0.01"))
        self.long = not self.long


def _run(tmp_path: Path, trades: int, latency_ms: float) -> tuple[Engine, int]:
    """Replay ``trades`` trades 3 s apart: the engine after it, and the bytes the order path
    and the results model still hold."""
    scenario = Scenario()
    for i in range(trades):
        scenario.trade(3 * i, 100 + (i % 7) * 0.01, 1, "buy" if i % 2 else "sell")
    recording = scenario.write(tmp_path / f"walk-{trades}-{latency_ms}.jsonl")
    setup = RunSetup(
        strategies=(FlipFlop,),
        strategy_sources={"FlipFlop": ""},
        config=Config(
            run=RunConfig(equity_interval_s=60.0),
            exchange=ExchangeConfig(latency_ms=latency_ms, balances={"USDT": D(1_000_000)}),
        ),
        seed=1,
    )
    # What the order path and the results model allocate, less the thinned price curve (capped,
    # but not monotonic in its length below the cap).
    lines, first = inspect.getsourcelines(results._Tape.point)
    kept = [
        tracemalloc.Filter(True, "*framework/desk.py"),
        tracemalloc.Filter(True, "*framework/exchange/*"),
        tracemalloc.Filter(True, results.__file__),
        *(tracemalloc.Filter(False, results.__file__, n) for n in range(first, first + len(lines))),
    ]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot().filter_traces(kept)
        summary, engine = replay_engine(setup, recording, tmp_path / f"out-{trades}-{latency_ms}")
        gc.collect()
        after = tracemalloc.take_snapshot().filter_traces(kept)
    finally:
        tracemalloc.stop()
    held = sum(s.size for s in after.statistics("filename")) - sum(
        s.size for s in before.statistics("filename")
    )
    assert summary["fills"] == trades
    assert summary["round_trips"] == trades // 2
    return engine, held


def test_finished_orders_and_fills_are_not_kept(tmp_path: Path) -> None:
    for latency_ms in (0.0, 50.0):
        engine, _ = _run(tmp_path, 400, latency_ms)
        exchange, desk, results = engine.exchange, engine.desk, engine.results
        assert exchange.open_orders() == []
        assert exchange._exec.orders == {} and exchange._exec.deal_orders == {}
        assert desk._owners == {} and desk._submitting is None and desk._finalizing == set()
        assert results.fills == [] and results.trips == []  # they are in the output files
        fills_csv = (tmp_path / f"out-400-{latency_ms}" / "fills.csv").read_text()
        trades_csv = (tmp_path / f"out-400-{latency_ms}" / "trades.csv").read_text()
        assert len(fills_csv.splitlines()) == 1 + 400
        assert len(trades_csv.splitlines()) == 1 + 200


def test_memory_held_after_a_run_grows_by_numbers_not_objects(tmp_path: Path) -> None:
    _, small = _run(tmp_path, 1_000, 0.0)
    _, large = _run(tmp_path, 5_000, 0.0)
    per_trip = (large - small) / 2_000
    # A kept fill (a Struct with four Decimals and five strings) is about 1 KB, a kept round
    # trip as much again; the compact arrays hold four 8-byte numbers per trip, the
    # equity curve 16 bytes per sample (one for every ten round trips here), the traded
    # values 8 bytes per fill.
    assert per_trip < 100, f"{per_trip:.0f} bytes held per round trip"
