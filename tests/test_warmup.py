"""[run] warmup: strategies see the data, orders are refused, statistics start after it."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from framework import events as ev
from framework.config import Config, load_config
from framework.errors import ConfigError
from framework.strategy import Strategy
from framework.testing import Scenario, run_strategy
from framework.testing.scenario import DEFAULT_START_S
from framework.warmup import Warmup

S = 1_000_000_000
T0 = DEFAULT_START_S * S


def config(warmup: str) -> Config:
    base = load_config(None)
    return msgspec.structs.replace(base, run=msgspec.structs.replace(base.run, warmup=warmup))


class Trader(Strategy):
    """Buys on a trade when flat, sells on the next; subscribes to minute bars."""

    seen = 0

    def on_start(self) -> None:
        self.subscribe_bars("BTC/USDT", "1m")

    def on_trade(self, trade: ev.Trade) -> None:
        Trader.seen += 1
        if self.open_orders():
            return
        if self.position(trade.instrument) == 0:
            self.buy_market(trade.instrument, quantity="0.01")
        else:
            self.sell_market(trade.instrument, self.position(trade.instrument))


def trades_every_10s(minutes: int) -> Scenario:
    scenario = Scenario("BTC/USDT").book(0, bids=[(99.0, 100.0)], asks=[(101.0, 100.0)])
    for i in range(1, minutes * 6):
        scenario.trade(i * 10, 100, 0.1, "buy")
    return scenario


def test_a_duration_refuses_orders_until_it_ends_and_statistics_start_then(
    tmp_path: Path,
) -> None:
    Trader.seen = 0
    result = run_strategy(Trader, trades_every_10s(3), config=config("1m"), tmp_path=tmp_path)
    assert Trader.seen == 17  # the strategy saw every trade, warm-up included
    refused = result.rejections
    assert len(refused) == 5  # trades at 10..50 s
    assert {r.message for r in refused} == {
        "warm-up: orders are refused for the first 1m of the run ([run] warmup)"
    }
    assert {r.code for r in refused} == {0}
    assert result.fills and min(f.ts_ns for f in result.fills) >= T0 + 60 * S
    assert result.summary["first_time"] == "2025-06-26T16:01:00.000Z"
    assert result.summary["warmup"] == {"setting": "1m", "ended_ns": T0 + 60 * S}
    assert result.out_dir is not None
    equity = (result.out_dir / "equity.csv").read_text().splitlines()
    assert equity[1].startswith("2025-06-26T16:01:00")


class BarTrader(Strategy):
    def on_start(self) -> None:
        self.subscribe_bars("BTC/USDT", "1m")

    def on_bar(self, bar: ev.Bar) -> None:
        self.buy_market(bar.instrument, quantity="0.01")


def test_a_bar_count_ends_with_the_last_bar_counted(tmp_path: Path) -> None:
    result = run_strategy(BarTrader, trades_every_10s(4), config=config("2 bars"),
                          tmp_path=tmp_path)  # fmt: skip
    # bars close at 60, 120, 180 s: the order on the first is refused, on the second it is not
    assert [r.message for r in result.rejections] == [
        "warm-up: orders are refused until 2 bars have closed ([run] warmup)"
    ]
    assert len(result.fills) == 2


@pytest.mark.parametrize("text", ["soon", "5 candles", "-1m"])
def test_a_warmup_that_is_neither_a_duration_nor_a_bar_count_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match=r"is neither a duration .* nor a bar count"):
        Warmup(text)
