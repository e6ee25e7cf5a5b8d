"""The results model: round trips from fills, per-strategy positions, trades.csv."""

from __future__ import annotations

import csv
from decimal import Decimal as D
from pathlib import Path

from framework import events as ev
from framework.exchange import DEFAULT_MARKETS
from framework.report.results import Fill, Results, thin
from framework.strategy import Strategy
from framework.testing import Scenario, run_strategy

T0 = 1_750_953_600  # 2025-06-26T16:00:00Z


def fill(at: int, side: str, qty: str, price: str, fee: str, strategy: str = "A") -> Fill:
    quantity, px = D(qty), D(price)
    return Fill(
        ts_ns=(T0 + at) * 1_000_000_000, strategy=strategy, instrument="BTC/USDT",
        symbol="BTC_USDT", order_id=f"o{at}", deal_id=f"d{at}", transaction_id=f"t{at}",
        side=side, role="taker", price=px, quantity=quantity, value=quantity * px,  # type: ignore[arg-type]
        fee=D(fee), fee_currency="USDT",
    )  # fmt: skip


def results(*fills: Fill) -> Results:
    model = Results("USDT", DEFAULT_MARKETS)
    for f in fills:
        model.add_fill(f)
    return model


def test_a_long_built_in_two_buys_and_closed_in_one_sell_is_one_round_trip() -> None:
    model = results(
        fill(0, "buy", "2", "100", "0.2"),
        fill(60, "buy", "1", "103", "0.103"),
        fill(600, "sell", "3", "110", "0.33"),
    )
    (trip,) = model.trips
    # entry (2 x 100 + 1 x 103) / 3 = 101; gross 330 - 303 = 27; fees 0.633; net 26.367
    assert (trip.side, trip.status, trip.quantity) == ("long", "closed", D(3))
    assert (trip.entry_price, trip.exit_price) == (D("101"), D("110"))
    assert (trip.gross_pnl, trip.fees, trip.net_pnl) == (D("27"), D("0.633"), D("26.367"))
    assert trip.net_return == float(D("26.367") / D("303"))
    assert (trip.entry_ns, trip.duration_s) == (T0 * 1_000_000_000, 600.0)


def test_a_fill_that_reverses_the_position_closes_one_trip_and_opens_the_next() -> None:
    model = results(
        fill(0, "buy", "1", "100", "0.3"),
        fill(10, "sell", "3", "90", "0.9"),  # 1 closes the long, 2 open a short
        fill(20, "buy", "2", "80", "0.16"),
    )
    long, short = model.trips
    # the reversing fill's fee is split by quantity: 0.3 to the long, 0.6 to the short
    assert (long.side, long.gross_pnl, long.fees, long.net_pnl) == (
        "long", D("-10"), D("0.6"), D("-10.6"),
    )  # fmt: skip
    assert (short.side, short.quantity, short.entry_price, short.exit_price) == (
        "short", D(2), D("90"), D("80"),
    )  # fmt: skip
    assert (short.gross_pnl, short.fees, short.net_pnl) == (D("20"), D("0.76"), D("19.24"))
    assert model.position("A", "BTC/USDT") == 0


def test_a_position_open_at_the_end_is_a_trip_marked_at_the_last_price() -> None:
    model = results(fill(0, "buy", "0.5", "100", "0.05"))
    model.on_trade(ev.Trade("cryptomus", "BTC/USDT", "BTC_USDT", (T0 + 5) * 10**9, (T0 + 5) * 10**9, 120.0, 1.0, "buy"))  # fmt: skip
    stats = model.finish(T0 * 10**9, (T0 + 100) * 10**9, ["A"])
    (trip,) = model.trips
    assert (trip.status, trip.exit_price, trip.gross_pnl, trip.net_pnl) == (
        "open", D("120"), D("10"), D("9.95"),
    )  # fmt: skip
    assert (stats.round_trips, stats.open_trips) == (0, 1)
    assert stats.per_strategy["A"]["positions"] == {"BTC/USDT": "0.5"}


def test_each_strategy_has_its_own_round_trips_in_one_instrument() -> None:
    model = results(
        fill(0, "buy", "1", "100", "0", strategy="A"),
        fill(1, "buy", "2", "100", "0", strategy="B"),
        fill(2, "sell", "1", "105", "0", strategy="A"),
    )
    assert [(t.strategy, t.net_pnl) for t in model.trips] == [("A", D("5"))]
    assert (model.position("A", "BTC/USDT"), model.position("B", "BTC/USDT")) == (0, 2)


class BuysOnce(Strategy):
    def on_trade(self, trade: ev.Trade) -> None:
        if not self.open_orders() and self.position(trade.instrument) == 0:
            self.buy_market(trade.instrument, quantity="0.01")


class Watches(Strategy):
    def on_start(self) -> None:
        self.seen: list[D] = []

    def on_trade(self, trade: ev.Trade) -> None:
        self.seen.append(self.position(trade.instrument))


SCENARIO = (
    Scenario("BTC/USDT")
    .book(0, [(100.0, 1.0)], [(101.0, 1.0)])
    .trade(1, 100.5, 0.1)
    .trade(2, 100.5, 0.1)
    .trade(3, 100.5, 0.1)
)


def test_two_strategies_in_one_run_each_see_only_their_own_position(tmp_path: Path) -> None:
    result = run_strategy([BuysOnce, Watches], SCENARIO, tmp_path=tmp_path)
    buyer, watcher = result.strategies
    assert buyer.position("BTC/USDT") == D("0.01")
    assert watcher.seen == [0, 0, 0]  # type: ignore[attr-defined]
    assert [f.strategy for f in result.fills] == ["BuysOnce"]
    rows = list(csv.DictReader((tmp_path / "out" / "fills.csv").read_text().splitlines()))
    assert [(r["strategy"], r["price"], r["quantity"]) for r in rows] == [
        ("BuysOnce", "101.000000", "0.01000000")
    ]
    per = result.summary["per_strategy"]
    assert per["BuysOnce"]["positions"] == {"BTC/USDT": "0.01"}
    assert per["Watches"] == {
        "fills": 0, "round_trips": 0, "open_trips": 0, "net_pnl": 0.0, "realised_pnl": 0.0,
        "fees": 0.0, "win_rate": None, "positions": {},
    }  # fmt: skip


def test_trades_csv_lists_the_open_trip_at_market_precision(tmp_path: Path) -> None:
    result = run_strategy(BuysOnce, SCENARIO, tmp_path=tmp_path)
    (trip,) = result.round_trips
    rows = list(csv.DictReader((tmp_path / "out" / "trades.csv").read_text().splitlines()))
    # bought 0.01 at 101 (fee 0.00101); the last trade printed at 100.5: gross -0.005
    assert rows == [
        {
            "strategy": "BuysOnce", "instrument": "BTC/USDT", "side": "long", "status": "open",
            "entry_time": "2025-06-26T16:00:01.000Z", "exit_time": "", "entry_price": "101.000000",
            "exit_price": "100.500000", "quantity": "0.01000000", "gross_pnl": "-0.005000",
            "fees": "0.001010", "net_pnl": "-0.006010", "quote": "USDT", "return_pct": "-0.5950",
            "duration_s": "2.000", "bars_held": "0", "trades_held": "2", "finalizing": "false",
        }
    ]  # fmt: skip
    assert trip.net_pnl == D("-0.00601")


def test_a_long_curve_is_thinned_to_the_limit_keeping_both_ends() -> None:
    series = thin(list(range(10_001)), [float(i) for i in range(10_001)], limit=1000)
    assert len(series.ts_ns) <= 1000
    assert (series.ts_ns[0], series.ts_ns[-1], series.values[-1]) == (0, 10_000, 10_000.0)
    assert thin([1, 2], [3.0, 4.0]).ts_ns == [1, 2]
