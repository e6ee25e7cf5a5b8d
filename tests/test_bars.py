"""Bars built from trades (and from shorter bars), closed by the simulated clock.

Scenario times are seconds after DEFAULT_START_S, which is a whole hour (UTC), so minute and
5-minute bars are aligned on scenario minutes: the bar of minute k covers [60 k, 60 (k + 1)).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from framework import events as ev
from framework.strategy import Strategy, param
from framework.testing import Scenario, run_strategy
from framework.testing.scenario import DEFAULT_START_S

S = 1_000_000_000
T0 = DEFAULT_START_S * S
ROOT = Path(__file__).resolve().parent.parent


class Collect(Strategy):
    """Subscribes to the intervals asked and keeps (clock at delivery, bar) pairs."""

    intervals = param("1m", help="comma-separated intervals")
    got: ClassVar[list[tuple[int, ev.Bar]]] = []
    five: ClassVar[list[float]] = []

    def on_start(self) -> None:
        Collect.got, Collect.five = [], []
        for interval in self.intervals.split(","):
            self.subscribe_bars("BTC/USDT", interval)

    def on_bar(self, bar: ev.Bar) -> None:
        Collect.got.append((self.now_ns, bar))
        if "5m" in self.intervals:
            Collect.five = list(self.bars("BTC/USDT", interval="5m").close)


def test_the_scenario_start_is_a_whole_hour() -> None:
    assert DEFAULT_START_S % 3600 == 0


def test_trades_make_minute_bars_delivered_when_the_clock_reaches_their_end(
    tmp_path: Path,
) -> None:
    scenario = (
        Scenario("BTC/USDT")
        .trade(1, 100, 1, "buy")
        .trade(20, 103, 2, "sell")
        .trade(59.5, 99, 0.5, "buy")
        .trade(60, 101, 1, "buy")  # exactly the end of minute 0: minute 1's first trade
        .trade(200, 110, 1, "sell")  # minutes 2 is empty: no bar for it
        .tick(300)
    )
    run_strategy(Collect, scenario, tmp_path=tmp_path)
    assert [(at - T0, bar.ts_event_ns - T0, bar.ts_recv_ns - T0) for at, bar in Collect.got] == [
        (60 * S, 0, 60 * S),
        (120 * S, 60 * S, 120 * S),
        (240 * S, 180 * S, 240 * S),
    ]
    first = Collect.got[0][1]
    assert (first.open, first.high, first.low, first.close, first.volume) == (100, 103, 99, 99, 3.5)
    assert first.interval_ns == 60 * S and first.instrument == "BTC/USDT"


def test_several_intervals_each_with_its_history(tmp_path: Path) -> None:
    scenario = Scenario("BTC/USDT")
    for minute in range(10):
        scenario.trade(minute * 60 + 1, 100 + minute, 1, "buy")
    scenario.tick(600)
    run_strategy(Collect, scenario, params={"intervals": "1m,5m"}, tmp_path=tmp_path)
    fives = [bar for _, bar in Collect.got if bar.interval_ns == 300 * S]
    assert [(b.open, b.high, b.low, b.close, b.volume) for b in fives] == [
        (100, 104, 100, 104, 5), (105, 109, 105, 109, 5),
    ]  # fmt: skip
    assert sum(1 for _, b in Collect.got if b.interval_ns == 60 * S) == 10
    assert Collect.five == [104.0, 109.0]
    # At 300 s the 1m bar of minute 4 and the 5m bar close together: 1m subscribed first.
    at_300 = [b.interval_ns // S for at, b in Collect.got if at == T0 + 300 * S]
    assert at_300 == [60, 300]


def test_feed_bars_are_resampled_and_the_longer_bar_closes_with_its_last_part(
    tmp_path: Path,
) -> None:
    scenario = Scenario("BTC/USDT", bar_interval="1m")
    for minute in range(6):
        scenario.bar(minute * 60, 10 + minute, 20 + minute, 5, 11 + minute, 2)
    run_strategy(Collect, scenario, params={"intervals": "5m"}, tmp_path=tmp_path)
    # on_bar gets the feed's own 1-minute bars too; the built ones are told by interval_ns
    assert [(at - T0, b.ts_event_ns - T0, b.open, b.high, b.low, b.close, b.volume)
            for at, b in Collect.got if b.interval_ns == 300 * S] == [
        (300 * S, 0, 10, 24, 5, 15, 10)
    ]  # fmt: skip
    assert sum(1 for _, b in Collect.got if b.interval_ns == 60 * S) == 6


class Record(Strategy):
    def on_start(self) -> None:
        self.subscribe_bars("BTC/USDT", "1m")

    def on_bar(self, bar: ev.Bar) -> None:
        self.log.info("bar %s", bar)
        if self.position(bar.instrument) == 0:
            self.buy_market(bar.instrument, quantity="0.01")
        else:
            self.sell_market(bar.instrument, self.position(bar.instrument))


def test_a_bar_goes_on_across_a_disconnect_and_replays_byte_for_byte(tmp_path: Path) -> None:
    scenario = (
        Scenario("BTC/USDT")
        .trade(10, 100, 1, "buy")
        .disconnect(20)
        .trade(40, 104, 1, "sell")  # after the reconnect, still minute 0
        .trade(70, 102, 1, "buy")
        .tick(130)
    )
    runs = [run_strategy(Record, scenario, tmp_path=tmp_path / str(i)) for i in range(2)]
    events = [(run.out_dir / "events.jsonl").read_bytes() for run in runs if run.out_dir]
    assert len(events) == 2 and events[0] == events[1] and events[0]
    assert [f.direction for f in runs[0].fills] == ["buy", "sell"]


@pytest.mark.parametrize(
    ("recording", "instrument"),
    # (alltick-eurusd's book has no sizes, so a market order there finds nothing to fill)
    [("cryptomus-btc-usdt.jsonl.gz", "BTC/USDT"), ("alltick-btcusdt.jsonl.gz", "BTC/USDT")],
)  # fmt: skip
def test_the_sma_crossover_trades_on_bundled_trade_recordings_with_built_bars(
    tmp_path: Path, recording: str, instrument: str
) -> None:
    from framework.run import load_strategy

    cls, _ = load_strategy(str(ROOT / "strategies" / "sma_crossover.py"))
    result = run_strategy(
        cls, ROOT / "replays" / recording,
        params={"bar_interval": "15s", "fast": 3, "slow": 8, "instrument": instrument},
        tmp_path=tmp_path,
    )  # fmt: skip
    assert result.fills and not result.rejections
