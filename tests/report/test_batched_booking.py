"""Fills booked in batches (``Results.batch``) give what booking each at once gives, read at
any moment: positions, round trips (their bar and trade counts taken when each fill was made),
statistics and every output file."""

from __future__ import annotations

import csv
import random
import sqlite3
import tempfile
from decimal import Decimal as D
from pathlib import Path

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import bundled
from framework import events as ev
from framework.config import load_config
from framework.exchange import DEFAULT_MARKETS, DealRecord, ExchangeConfig, PaperExchange
from framework.report.output import RunOutput
from framework.report.results import Results
from framework.run import RunSetup, load_strategy, replay
from framework.strategy import Strategy
from framework.testing import Scenario, run_strategy

T0 = 1_750_953_600  # 2025-06-26T16:00:00Z
NS = 1_000_000_000


def record(n: int, at: int, side: str, qty: str, price: str, fee: str = "0.0001") -> DealRecord:
    quantity, px = D(qty), D(price)
    return DealRecord(
        ts_ns=(T0 + at) * NS, order_id=f"o{n}", deal_id=f"d{n}", transaction_id=f"t{n}",
        instrument="BTC/USDT", symbol="BTC_USDT", side=side, role="taker",  # type: ignore[arg-type]
        price=px, quantity=quantity, value=quantity * px, fee=D(fee), fee_currency="USDT",
    )  # fmt: skip


def trade(at: int, price: float) -> ev.Trade:
    return ev.Trade(
        venue="cryptomus", instrument="BTC/USDT", symbol="BTC_USDT", ts_event_ns=(T0 + at) * NS,
        ts_recv_ns=(T0 + at) * NS, price=price, size=0.1, side="buy",
    )  # fmt: skip


def test_a_trip_counts_the_trades_up_to_its_closing_fill_not_up_to_its_booking() -> None:
    model = Results("USDT", DEFAULT_MARKETS, keep=True)
    model.batch = 100
    model.on_trade(trade(0, 100.0))
    model.deal(record(1, 1, "buy", "1", "100"), "A", False)  # 1 trade seen when it opened
    for at in range(2, 5):
        model.on_trade(trade(at, 101.0))
    model.deal(record(2, 5, "sell", "1", "102"), "A", False)  # 4 trades seen when it closed
    for at in range(6, 20):
        model.on_trade(trade(at, 103.0))  # after the close, before the batch is booked
    (trip,) = model.trips  # reading the model books the batch
    assert (trip.trades_held, trip.entry_ns, trip.exit_ns) == (3, (T0 + 1) * NS, (T0 + 5) * NS)
    assert (trip.gross_pnl, trip.fees, trip.net_pnl) == (
        D("2.000000"),
        D("0.000200"),
        D("1.999800"),
    )


def test_a_position_read_between_fills_counts_every_fill_made_before_it() -> None:
    model = Results("USDT", DEFAULT_MARKETS, keep=False)
    model.batch = 1000
    model.deal(record(1, 1, "buy", "0.5", "100"), "A", False)
    model.deal(record(2, 2, "buy", "0.25", "100"), "B", False)
    assert model.position("A", "BTC/USDT") == D("0.5")
    model.deal(record(3, 3, "sell", "0.75", "101"), "A", False)  # reverses A: short 0.25
    assert model.positions("A") == {"BTC/USDT": D("-0.25")}
    assert model.position("B", "BTC/USDT") == D("0.25")


def _random_run(seed: int, out: Path, batch: int) -> tuple[Results, list[D], dict[str, object]]:
    """Random fills of two strategies among trades, in a model with the run's files; the
    positions read at random moments, and the statistics at the end."""
    rng = random.Random(seed)
    exchange = PaperExchange(ExchangeConfig(balances={"USDT": D(10**9)}), lambda e: None)
    model = Results("USDT", exchange.markets(), keep=False)
    model.batch = batch
    output = RunOutput(out, exchange, model)
    seen: list[D] = []
    at = 0
    for n in range(600):
        at += rng.randint(0, 3)
        if rng.random() < 0.6:
            model.on_trade(trade(at, 100 + rng.randint(-50, 50) / 100))
            continue
        side = rng.choice(("buy", "sell"))
        qty = D(rng.choice((1, 2, 3))) / 100
        price = D(10_000 + rng.randint(-500, 500)) / 100
        model.deal(record(n, at, side, str(qty), str(price)), rng.choice("AB"), n > 590)
        if rng.random() < 0.1:
            seen.append(model.position(rng.choice("AB"), "BTC/USDT"))
        if rng.random() < 0.05:
            output.sample_equity("equity", (T0 + at) * NS)
    output.close()
    stats = model.finish(T0 * NS, (T0 + at) * NS, ["A", "B"])
    summary = {f: getattr(stats, f) for f in stats.__struct_fields__}
    output.write_summary(summary)
    return model, seen, summary


def test_booking_in_batches_reads_and_writes_what_booking_each_fill_at_once_does(
    tmp_path: Path,
) -> None:
    for seed in range(3):
        _, seen_now, summary_now = _random_run(seed, tmp_path / f"now{seed}", 1)
        _, seen_later, summary_later = _random_run(seed, tmp_path / f"later{seed}", 64)
        assert seen_later == seen_now
        assert summary_later == summary_now
        assert summary_now["fills"] > 200 and summary_now["round_trips"] > 10
        for name in ("fills.csv", "trades.csv", "equity.csv", "results.json", "summary.json"):
            now = (tmp_path / f"now{seed}" / name).read_bytes()
            assert (tmp_path / f"later{seed}" / name).read_bytes() == now, name


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 10**12), st.integers(1, 10**9), st.integers(0, 10**6), st.booleans()
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from(("BTC/USDT", "ETH/USDT", "NOPE/USDT")),
)
def test_a_round_trip_row_written_as_rounded_is_the_row_rounded_again(
    fills: list[tuple[int, int, int, bool]], instrument: str
) -> None:
    exchange = PaperExchange(ExchangeConfig(balances={"USDT": D(1000)}), lambda e: None)
    model = Results("USDT", exchange.markets(), keep=True)
    out = tempfile.TemporaryDirectory()
    output = RunOutput(out.name, exchange, model)
    for n, (price, qty, fee, buy) in enumerate(fills):
        px, q = D(price).scaleb(-8), D(qty).scaleb(-10)
        rec = record(n, n, "buy" if buy else "sell", str(q), str(px), str(D(fee).scaleb(-9)))
        model.deal(
            msgspec.structs.replace(rec, instrument=instrument),
            "A",
            False,
        )
    model.on_trade(trade(99, 1.5e-7))
    model.finish(T0 * NS, (T0 + 99) * NS)
    output.close()
    for trip in model.trips:
        assert output.trade_row(trip, exact=True) == output.trade_row(trip)
    out.cleanup()


class Records(Strategy):
    """Buys on the first trade, sells on the third; notes its position on every trade and
    every deal update."""

    def on_start(self) -> None:
        self.seen: list[tuple[str, D]] = []
        self.trades = 0

    def on_trade(self, trade: ev.Trade) -> None:
        self.trades += 1
        self.seen.append(("trade", self.position(trade.instrument)))
        if self.trades == 1:
            self.buy_market(trade.instrument, quantity="0.01")
        elif self.trades == 3:
            self.sell_market(trade.instrument, "0.01")

    def on_deal(self, deal: ev.DealUpdate) -> None:
        self.seen.append(("deal", self.position("BTC/USDT")))


def test_a_strategy_sees_its_position_move_with_each_fill_as_it_is_made(tmp_path: Path) -> None:
    scenario = Scenario("BTC/USDT").book(0, [(100.0, 1.0)], [(101.0, 1.0)])
    for at in range(1, 6):
        scenario = scenario.trade(at, 100.5, 0.1)
    result = run_strategy(Records, scenario, tmp_path=tmp_path)
    (strategy,) = result.strategies
    zero, held = D(0), D("0.01")
    assert strategy.seen == [  # type: ignore[attr-defined]
        ("trade", zero), ("deal", held), ("trade", held), ("trade", held), ("deal", zero),
        ("trade", zero), ("trade", zero),
    ]  # fmt: skip
    (trip,) = result.round_trips
    assert (trip.status, trip.trades_held, trip.entry_price, trip.exit_price) == (
        "closed", 2, D("101.000000"), D("100.000000")
    )  # fmt: skip


def test_a_run_with_a_database_booking_each_fill_at_once_writes_the_same_files(
    tmp_path: Path,
) -> None:
    cls, source = load_strategy(str(bundled.strategy("trade_momentum")))
    setup = RunSetup(strategies=(cls,), strategy_sources={cls.__name__: source}, config=load_config(bundled.config("backtest")), seed=7)  # fmt: skip
    recording = bundled.recording("cryptomus-btc-usdt")
    replay(setup, recording, tmp_path / "batched")
    replay(setup, recording, tmp_path / "each", db=tmp_path / "runs.db")
    names = sorted(p.name for p in (tmp_path / "batched").iterdir())
    assert "trades.csv" in names and "fills.csv" in names
    for name in names:
        assert (tmp_path / "each" / name).read_bytes() == (tmp_path / "batched" / name).read_bytes()
    with sqlite3.connect(tmp_path / "runs.db") as conn:
        db_trips = conn.execute(
            "SELECT entry_price, net_pnl FROM round_trips ORDER BY seq"
        ).fetchall()
    rows = list(csv.DictReader((tmp_path / "batched" / "trades.csv").read_text().splitlines()))
    assert len(rows) > 20
    assert [(r["entry_price"], r["net_pnl"]) for r in rows] == [
        (str(a), str(b)) for a, b in db_trips
    ]
