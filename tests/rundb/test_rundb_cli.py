"""``--db`` and ``papertrade runs`` as real processes: replays, and live runs read while they
run and after a SIGKILL."""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BARS = REPO / "replays" / "finazon-btc-usdt-bars.jsonl.gz"
SMA = REPO / "strategies" / "sma_crossover.py"
LIMIT_S = 60
STRATEGY = """
from framework.strategy import Strategy


class Churn(Strategy):
    def on_book(self, book, event):
        if self.position(event.instrument) > 0:
            self.sell_market(event.instrument, "0.0001")
        else:
            self.buy_market(event.instrument, quantity="0.0001")
"""


def papertrade(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "framework", *map(str, args)]


def clean_env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("CRYPTOMUS", "ALLTICK", "FINAZON"))
    }


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        papertrade(*args), cwd=REPO, env=clean_env(), capture_output=True, text=True,
        timeout=LIMIT_S,
    )  # fmt: skip


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def wait_for(db: Path, sql: str) -> list[tuple[object, ...]]:
    """Poll (wall clock: the child is live) until ``sql`` returns a row."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if db.exists():
            try:
                rows = query(db, sql)
            except sqlite3.OperationalError:  # the schema is not there yet
                rows = []
            if rows:
                return rows
        time.sleep(0.2)
    raise AssertionError(f"{sql!r} returned nothing within 30 s")


def test_runs_lists_every_replay_and_ranks_them_by_a_statistic(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    for fast in (5, 8):
        done = run("run", SMA, "--replay", BARS, "--set", f"fast={fast}",
                   "--out", tmp_path / f"out{fast}", "--db", db)  # fmt: skip
        assert done.returncode == 0, done.stderr
    listed = run("runs", db)
    assert listed.returncode == 0, listed.stderr
    lines = [line for line in listed.stdout.splitlines() if "finished" in line]
    assert [line.split("│")[1].strip() for line in lines] == ["2", "1"]  # newest first
    assert all("SmaCrossover" in line and "finazon-btc-usdt-bars" in line for line in lines)
    sharpe = dict(query(db, "SELECT run_id, value FROM statistics WHERE name = 'sharpe'"))
    best = run("runs", db, "--best", "sharpe")
    order = [line.split("│")[1].strip() for line in best.stdout.splitlines() if "finished" in line]
    assert order == [str(k) for k, _ in sorted(sharpe.items(), key=lambda kv: -float(kv[1]))]
    assert "no runs of strategy Other" in run("runs", db, "--strategy", "Other").stdout


def test_runs_on_a_missing_or_foreign_file_is_one_clean_line(tmp_path: Path) -> None:
    missing = run("runs", tmp_path / "nope.db")
    assert (missing.returncode, missing.stderr) == (
        1,
        f"Error: run database not found: {tmp_path / 'nope.db'}\n",
    )
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 200)
    foreign = run("run", SMA, "--replay", BARS, "--out", tmp_path / "out", "--db", text)
    assert foreign.returncode == 1
    assert (
        foreign.stderr
        == f"Error: {text} is not a papertrade run database: file is not a database\n"
    )


def test_a_replay_with_an_empty_window_is_recorded_as_failed_with_its_reason(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.db"
    done = run("run", SMA, "--replay", BARS, "--out", tmp_path / "out", "--db", db,
               "--from", "2001-01-01", "--to", "2001-01-02")  # fmt: skip
    assert done.returncode == 1
    assert (
        done.stderr.startswith("Error: nothing in finazon-btc-usdt-bars.jsonl.gz was received")
        and done.stderr.count("\n") == 1
    )
    ((status, error, ended),) = query(db, "SELECT status, error, ended_at FROM runs")
    assert (status, error) == (
        "failed",
        "ConfigError: " + done.stderr.removeprefix("Error: ").strip(),
    )
    assert ended is not None


def test_a_live_run_is_in_the_database_while_it_runs_and_finished_after(tmp_path: Path) -> None:
    (tmp_path / "churn.py").write_text(STRATEGY)
    db, out = tmp_path / "runs.db", tmp_path / "out"
    child = subprocess.Popen(
        papertrade("run", tmp_path / "churn.py", "--live", "--out", out, "--db", db),
        cwd=REPO, env=clean_env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        # rows arrive while the run goes on: the first fill, then more of them
        wait_for(db, "SELECT 1 FROM fills")
        first = query(db, "SELECT count(*) FROM fills")[0][0]
        assert query(db, "SELECT mode, status FROM runs") == [("live", "running")]
        wait_for(db, f"SELECT 1 WHERE (SELECT count(*) FROM fills) > {first}")
        # round trips too, as they close
        wait_for(db, "SELECT 1 FROM round_trips WHERE status = 'closed'")
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=LIMIT_S)
    finally:
        child.kill()
    assert child.returncode == 0, stderr
    assert query(db, "SELECT status FROM runs") == [("finished",)]
    with open(out / "fills.csv", newline="") as fh:
        deal_ids = [row["deal_id"] for row in csv.DictReader(fh)]
    assert [r[0] for r in query(db, "SELECT deal_id FROM fills ORDER BY seq")] == deal_ids
    with open(out / "trades.csv", newline="") as fh:
        header, *trips = list(csv.reader(fh))
    stored = query(db, "SELECT strategy, side, status, entry_time, coalesce(exit_time, ''), "
                       "entry_price, exit_price, quantity, net_pnl FROM round_trips ORDER BY seq")  # fmt: skip
    columns = [header.index(name) for name in ("strategy", "side", "status", "entry_time",
               "exit_time", "entry_price", "exit_price", "quantity", "net_pnl")]  # fmt: skip
    assert stored == [tuple(row[i] for i in columns) for row in trips]
    assert len(trips) >= 1


def test_a_sigkilled_live_run_leaves_a_consistent_database(tmp_path: Path) -> None:
    (tmp_path / "churn.py").write_text(STRATEGY)
    db = tmp_path / "runs.db"
    child = subprocess.Popen(
        papertrade("run", tmp_path / "churn.py", "--live", "--out", tmp_path / "out",
                   "--db", db),
        cwd=REPO, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(db, "SELECT 1 WHERE (SELECT count(*) FROM fills) >= 3")
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=LIMIT_S)
    finally:
        child.kill()
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert query(db, "SELECT status, ended_at FROM runs") == [("running", None)]
    # every committed fill has its order, and its balance changes: transactions are whole
    assert query(db, "SELECT count(*) FROM fills f LEFT JOIN orders o USING (run_id, order_id) "
                     "WHERE o.order_id IS NULL") == [(0,)]  # fmt: skip
    fills = query(db, "SELECT count(*) FROM fills")[0][0]
    assert isinstance(fills, int) and fills >= 3
    assert query(db, "SELECT count(*) >= 2 * ? FROM balances".replace("?", str(fills))) == [(1,)]
    # the committed round trips are exactly the committed fills' returns to flat
    position, flat = Decimal(0), 0
    for direction, quantity in query(db, "SELECT direction, quantity FROM fills ORDER BY seq"):
        assert isinstance(quantity, str)
        position += Decimal(quantity) if direction == "buy" else -Decimal(quantity)
        flat += position == 0
    assert query(db, "SELECT count(*) FROM round_trips") == [(flat,)]
