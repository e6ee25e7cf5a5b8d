"""The run database: real SQLite files written by real replays, read back with plain SQL."""

from __future__ import annotations

import contextlib
import csv
import sqlite3
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.config import load_config
from framework.errors import ConfigError, StrategyError
from framework.events import Trade
from framework.run import RunSetup, load_strategy, replay
from framework.rundb import connect
from framework.rundb.listing import list_runs
from framework.strategy import Strategy, param
from framework.testing import Scenario

REPO = Path(__file__).resolve().parents[2]
BARS = REPO / "replays" / "finazon-btc-usdt-bars.jsonl.gz"


class BuyOnce(Strategy):
    size = param(Decimal("0.01"), help="BTC to buy on the first trade")

    def on_trade(self, trade: Trade) -> None:
        if not self.open_orders() and self.position(trade.instrument) == 0:
            self.buy_market(trade.instrument, quantity=self.size)


class Fails(Strategy):
    def on_trade(self, trade: Trade) -> None:
        raise RuntimeError("boom")


def scenario(tmp_path: Path) -> Path:
    return (
        Scenario("BTC/USDT")
        .book(0, bids=[(100.0, 1.0)], asks=[(101.0, 1.0)])
        .trade(1, 100.5, 0.1, "buy")
        .trade(2, 100.5, 0.1, "buy")
        .write(tmp_path / "scenario.jsonl")
    )


def setup_of(*classes: type[Strategy], **params: object) -> RunSetup:
    config = load_config(None, {k: str(v) for k, v in params.items()})
    # positions stay open at the end: the fills below are the strategy's own
    config = msgspec.structs.replace(
        config, run=msgspec.structs.replace(config.run, finalize=False)
    )
    return RunSetup(
        strategies=classes,
        strategy_sources={c.__name__: "0" * 64 for c in classes},
        config=config,
        seed=7,
    )


def query(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def test_a_replay_writes_its_fill_order_and_balances_exactly(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    replay(setup_of(BuyOnce), scenario(tmp_path), tmp_path / "out", db=db)
    # 0.01 BTC at the 101 ask, taker fee 0.1 %: 1.01 USDT spent, 0.00101 USDT fee
    assert query(
        db, "SELECT strategy, symbol, direction, role, price, quantity, value, fee, fee_currency "
        "FROM fills WHERE run_id = 1",
    ) == [
        ("BuyOnce", "BTC_USDT", "buy", "taker", "101.0000000000000000", "0.0100000000000000",
         "1.0100000000000000", "0.0010100000000000", "USDT"),
    ]  # fmt: skip
    assert query(
        db, "SELECT strategy, order_type, direction, filled_quantity, state, finished_ns > 0 "
        "FROM orders",
    ) == [("BuyOnce", "market", "buy", "0.0100000000000000", "completed", 1)]  # fmt: skip
    final = query(
        db, "SELECT currency, new_balance FROM balances b WHERE seq = "
        "(SELECT max(seq) FROM balances c WHERE c.currency = b.currency) ORDER BY currency",
    )  # fmt: skip
    assert [(c, Decimal(v)) for c, v in final] == [
        ("BTC", Decimal("0.01")), ("USDT", Decimal("9998.98899")),
    ]  # fmt: skip


def test_the_run_row_holds_status_fingerprint_and_statistics(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    summary = replay(setup_of(BuyOnce, size="0.02"), scenario(tmp_path), tmp_path / "out", db=db)
    [(mode, status, seed, strategies, events_sha, ended)] = query(
        db, "SELECT mode, status, seed, strategies, events_sha256, ended_at IS NOT NULL FROM runs"
    )
    assert (mode, status, seed, ended) == ("replay", "finished", 7, 1)
    assert strategies == '{"BuyOnce":{"size":"0.02"}}'
    assert events_sha == summary["fingerprint"]["events_sha256"]
    stats = dict(query(db, "SELECT name, value FROM statistics WHERE run_id = 1"))
    assert stats["fills"] == 1.0 and stats["orders"] == 1.0
    assert stats["final_equity"] == pytest.approx(summary["final_equity"])
    assert query(db, "SELECT strategy, params FROM run_strategies") == [
        ("BuyOnce", '{"size":"0.02"}')
    ]


def test_round_trips_are_the_rows_of_trades_csv(tmp_path: Path) -> None:
    db, out = tmp_path / "runs.db", tmp_path / "out"
    SmaCrossover, _ = load_strategy(str(REPO / "strategies" / "sma_crossover.py"))
    replay(setup_of(SmaCrossover), BARS, out, db=db)
    with open(out / "trades.csv", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    stored = query(db, f"SELECT {', '.join(header)} FROM round_trips WHERE run_id = 1 ORDER BY seq")
    assert len(stored) == len(rows) > 5
    numeric = {"return_pct", "duration_s", "bars_held", "trades_held"}
    for row, got in zip(rows, stored, strict=True):
        for name, text, value in zip(header, row, got, strict=True):
            if name in numeric:
                assert float(text) == value, name
            elif name == "finalizing":
                assert value == (text == "true")
            elif name == "exit_time" and text == "":
                assert value is None  # an open trip
            else:
                assert text == value, name
    # finalize is off: the position held at the end is one open trip, marked to the last price
    assert [r[0] for r in query(db, "SELECT status FROM round_trips ORDER BY seq")][-1] == "open"
    plan = query(db, "EXPLAIN QUERY PLAN SELECT * FROM round_trips WHERE strategy = 'X'")
    assert "round_trips_by_strategy" in str(plan)


def test_equity_rows_are_the_equity_csv_samples(tmp_path: Path) -> None:
    db, out = tmp_path / "runs.db", tmp_path / "out"
    replay(setup_of(BuyOnce), BARS, out, db=db)
    csv_rows = [line.split(",") for line in (out / "equity.csv").read_text().splitlines()[1:]]
    rows = query(db, "SELECT time, ts_ns, equity FROM equity ORDER BY seq")
    assert len(rows) == len(csv_rows) > 100
    assert [(t, str(ts), f"{e:.8f}") for t, ts, e in rows] == [tuple(r) for r in csv_rows]


def test_many_runs_share_one_file_with_identical_rows_apart_from_wall_clock(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.db"
    SmaCrossover, _ = load_strategy(str(REPO / "strategies" / "sma_crossover.py"))
    for i in range(2):
        replay(setup_of(SmaCrossover), BARS, tmp_path / f"out{i}", db=db)
    for table, cols in [
        ("fills", "seq, ts_ns, order_id, deal_id, price, quantity, fee"),
        ("orders", "order_id, created_ns, finished_ns, filled_value"),
        ("balances", "seq, ts_ns, currency, new_balance"),
        ("statistics", "name, value"),
    ]:
        first = query(db, f"SELECT {cols} FROM {table} WHERE run_id = 1 ORDER BY 1")
        second = query(db, f"SELECT {cols} FROM {table} WHERE run_id = 2 ORDER BY 1")
        assert first == second and len(first) > 1, table
    assert [r[0] for r in list_runs(db)] == [2, 1]


def test_a_failing_run_is_marked_failed_with_its_error(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with pytest.raises(StrategyError):
        replay(setup_of(Fails), scenario(tmp_path), tmp_path / "out", db=db)
    [(status, error)] = query(db, "SELECT status, error FROM runs")
    assert status == "failed"
    assert "Fails" in error and "boom" in error


def test_the_file_is_in_wal_mode_and_marked_as_a_run_database(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    connect(db).close()
    assert query(db, "PRAGMA journal_mode") == [("wal",)]
    assert query(db, "PRAGMA application_id") == [(0x50545244,)]
    assert query(db, "PRAGMA user_version") == [(2,)]


def test_a_version_1_file_gains_the_round_trips_table_and_keeps_its_runs(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    replay(setup_of(BuyOnce), scenario(tmp_path), tmp_path / "out", db=db)
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE round_trips")
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    replay(setup_of(BuyOnce), scenario(tmp_path), tmp_path / "out2", db=db)
    assert query(db, "SELECT run_id, status FROM runs") == [(1, "finished"), (2, "finished")]
    # 0.01 BTC bought at the 101 ask (fee 0.00101 USDT), marked at the last trade, 100.5:
    # gross (100.5 - 101) x 0.01 = -0.005, net -0.00601 (USDT at 6 places, BTC at 8)
    assert query(
        db, "SELECT run_id, side, status, entry_price, exit_price, quantity, gross_pnl, fees, "
        "net_pnl, exit_time FROM round_trips",
    ) == [
        (2, "long", "open", "101.000000", "100.500000", "0.01000000", "-0.005000", "0.001010",
         "-0.006010", None)
    ]  # fmt: skip
    assert query(db, "PRAGMA user_version") == [(2,)]


def test_another_applications_database_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(ConfigError, match="an SQLite database, but not a papertrade run database"):
        connect(other)


def test_a_newer_schema_is_refused_with_advice(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    connect(db).close()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(ConfigError, match=r"schema version 99.*upgrade papertrade"):
        connect(db)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.binary(max_size=4096))
def test_any_file_opens_as_a_run_database_or_gives_a_config_error(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "fuzz.db"
    path.write_bytes(content)
    for leftover in tmp_path.glob("fuzz.db-*"):
        leftover.unlink()
    with contextlib.suppress(ConfigError):
        connect(path).close()


def test_sqlite_header_with_garbage_pages_gives_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    with pytest.raises(ConfigError, match="not a papertrade run database"):
        connect(path)
