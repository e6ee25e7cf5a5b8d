"""[run] finalize: at the end of the data every strategy's position is closed through the exchange."""

from __future__ import annotations

import csv
from decimal import Decimal as D
from pathlib import Path

from framework import events as ev
from framework.config import Config, RunConfig
from framework.exchange import ExchangeConfig
from framework.run import load_strategy
from framework.strategy import Strategy
from framework.testing import Scenario, run_strategy

ROOT = Path(__file__).resolve().parents[1]
BARS = ROOT / "replays" / "finazon-btc-usdt-bars.jsonl.gz"
SmaCrossover, _ = load_strategy(str(ROOT / "strategies" / "sma_crossover.py"))
FINALIZE = Config(run=RunConfig(finalize=True))


def test_bars_the_last_position_is_sold_at_the_last_close_and_marked(tmp_path: Path) -> None:
    result = run_strategy(SmaCrossover, BARS, config=FINALIZE, tmp_path=tmp_path)
    last = result.round_trips[-1]
    # the bundled recording's last 1-minute bar closes at 105917.27
    assert (last.status, last.finalizing, last.exit_price) == ("closed", True, D("105917.27"))
    assert [t.finalizing for t in result.round_trips] == [False] * 7 + [True]
    assert result.strategy.position("BTC/USDT") == 0
    assert result.summary["open_trips"] == 0 and result.summary["round_trips"] == 8
    # through the exchange: the usual events, ending with the closing order's finished update
    final = result.events[-1]
    assert isinstance(final, ev.OrderUpdate) and final.data.type == "finished"
    assert (final.data.info.orderType, final.data.info.direction) == ("market", "sell")
    assert result.fills[-1].price == D("105917.27")
    with (tmp_path / "out" / "trades.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["finalizing"] for r in rows][-2:] == ["false", "true"]


def test_without_finalize_the_last_position_stays_open(tmp_path: Path) -> None:
    result = run_strategy(SmaCrossover, BARS, tmp_path=tmp_path)
    assert (result.round_trips[-1].status, result.summary["open_trips"]) == ("open", 1)
    assert result.strategy.position("BTC/USDT") == D("0.00944923")


class Longs(Strategy):
    def on_trade(self, trade: ev.Trade) -> None:
        if self.position(trade.instrument) == 0 and not self.open_orders():
            self.buy_market(trade.instrument, quantity="0.02")
            self.buy_limit(trade.instrument, "0.01", "90")  # rests below the market


class Shorts(Strategy):
    def on_trade(self, trade: ev.Trade) -> None:
        if self.position(trade.instrument) == 0:
            self.sell_market(trade.instrument, "0.01")  # the account's own BTC


def test_each_strategy_is_closed_on_its_own_and_resting_orders_are_cancelled(
    tmp_path: Path,
) -> None:
    scenario = Scenario("BTC/USDT").book(0, [(100.0, 1.0)], [(101.0, 1.0)]).trade(1, 100.5, 0.1)
    config = Config(
        run=RunConfig(finalize=True),
        exchange=ExchangeConfig(balances={"USDT": D(10000), "BTC": D("0.05")}),
    )
    result = run_strategy([Longs, Shorts], scenario, config=config, tmp_path=tmp_path)
    longs, shorts = result.strategies
    assert (longs.position("BTC/USDT"), shorts.position("BTC/USDT")) == (0, 0)
    closing = [(f.strategy, f.direction, f.quantity, f.price) for f in result.fills[2:]]
    # Longs sells its 0.02 into the bid, Shorts buys back its 0.01 from the ask
    assert closing == [
        ("Longs", "sell", D("0.02"), D("100")),
        ("Shorts", "buy", D("0.01"), D("101")),
    ]
    assert [o.state for o in result.orders if o.orderType == "limit"] == ["cancelled"]
    assert [(t.strategy, t.side, t.finalizing) for t in result.round_trips] == [
        ("Longs", "long", True),
        ("Shorts", "short", True),
    ]
    assert result.balances["BTC"] == D("0.05")
