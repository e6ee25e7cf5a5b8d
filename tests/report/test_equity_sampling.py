"""Equity sampling: on change, at most once per interval, first sample only once priced.

Each test replays a scenario through ``framework.testing.run_strategy`` (the real codecs, loop,
exchange and output) and reads the equity.csv the run wrote.
"""

from __future__ import annotations

import csv
import time
from decimal import Decimal
from pathlib import Path

from framework import events as ev
from framework.strategy import Strategy
from framework.testing import Scenario, run_strategy

YEAR_S = 365 * 86_400


class DoNothing(Strategy):
    pass


class BuyOnceOnABar(Strategy):
    done = False

    def on_bar(self, bar: ev.Bar) -> None:
        if not self.done:
            self.done = True
            self.buy_market(bar.instrument, quantity=Decimal(1))


def equity_rows(out: Path | None) -> list[tuple[int, str]]:
    assert out is not None
    with open(out / "equity.csv", newline="") as fh:
        return [(int(row["ts_ns"]), row["equity"]) for row in csv.DictReader(fh)]


def test_a_ten_year_gap_writes_no_rows(tmp_path: Path) -> None:
    scenario = Scenario("BTC/USDT").trade(0, 100.0, 1.0).trade(10 * YEAR_S, 101.0, 1.0)
    started = time.perf_counter()
    result = run_strategy(DoNothing, scenario, tmp_path=tmp_path)
    assert time.perf_counter() - started < 30  # it took minutes when every minute was sampled
    start_ns = scenario.start_ns
    # the first line, its trade, the trade ten years on, and the end: nothing in between
    assert [ts for ts, _ in equity_rows(result.out_dir)] == [
        start_ns,
        start_ns + 10 * YEAR_S * 1_000_000_000,
        start_ns + 10 * YEAR_S * 1_000_000_000,
    ]
    assert result.summary["total_return"] == 0.0


def test_daily_bars_write_about_one_row_a_day(tmp_path: Path) -> None:
    scenario = Scenario("BTC/USDT", bar_interval="1d")
    for day in range(30):
        price = 100.0 + day
        scenario.bar(day * 86_400, price, price + 2, price - 2, price + 1, 5.0)
    result = run_strategy(BuyOnceOnABar, scenario, tmp_path=tmp_path)
    rows = equity_rows(result.out_dir)
    assert 30 <= len(rows) <= 33  # one a bar, plus the start and the end
    days = [ts // 86_400_000_000_000 for ts, _ in rows]
    assert len(set(days)) >= 29


def test_the_first_sample_waits_for_a_price_of_every_held_currency(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[exchange.balances]\nUSDT = "10000"\nBTC = "0.5"\n')
    scenario = Scenario("BTC/USDT").tick(0).trade(5, 100.0, 1.0).trade(600, 100.0, 1.0)
    result = run_strategy(DoNothing, scenario, config=config, tmp_path=tmp_path)
    rows = equity_rows(result.out_dir)
    assert rows[0] == (scenario.start_ns + 5_000_000_000, "10050.00000000")
    assert {value for _, value in rows} == {"10050.00000000"}
    summary = result.summary
    # a run this short has no annualised figures (results.MIN_DAILY_RETURNS)
    assert (summary["initial_equity"], summary["total_return"], summary["sharpe"]) == (
        10050.0,
        0.0,
        None,
    )
    assert summary["unpriced_currencies"] == []


def test_a_currency_never_priced_is_reported_and_sampled_at_the_end(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[exchange.balances]\nUSDT = "10000"\nETH = "2"\n')
    scenario = Scenario("BTC/USDT").trade(0, 100.0, 1.0).trade(600, 100.0, 1.0)
    result = run_strategy(DoNothing, scenario, config=config, tmp_path=tmp_path)
    assert [value for _, value in equity_rows(result.out_dir)] == ["10000.00000000"]
    assert result.summary["unpriced_currencies"] == ["ETH"]


def test_an_explicit_interval_caps_the_rate(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[run]\nequity_interval_s = 100\n")
    scenario = Scenario("BTC/USDT")
    for second in range(0, 1000, 7):
        scenario.trade(second, 100.0 + second % 3, 1.0)
    result = run_strategy(DoNothing, scenario, config=config, tmp_path=tmp_path)
    stamps = [ts for ts, _ in equity_rows(result.out_dir)]
    buckets = [(ts - scenario.start_ns) // 100_000_000_000 for ts in stamps[:-1]]
    assert buckets == list(range(10))  # one row per 100 s of the grid, plus the end's
