"""``papertrade import`` as a user runs it: a real process, then the recording replayed."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from framework.events import Trade
from framework.importers.convert import import_files
from framework.strategy import Strategy
from framework.testing import run_strategy

from .helpers import write

ROOT = Path(__file__).resolve().parents[2]


def papertrade(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "framework", *map(str, args)],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
    )  # fmt: skip


def trades_csv(path: Path, rows: int) -> Path:
    """Binance trades, one every 100 ms: buyers take for the first half (price up a cent each),
    sellers for the second (down a cent each)."""
    t0 = 1735689600000  # 2025-01-01T00:00:00Z in ms
    lines = []
    for i in range(rows):
        price = Decimal("93000") + Decimal("0.01") * (i if i < rows // 2 else rows - i)
        lines.append(f"{i},{price:.8f},0.01000000,0,{t0 + 100 * i},{i >= rows // 2},True\n")
    return write(path, "".join(lines), "zip")


def test_import_then_run_a_strategy_on_the_recording(tmp_path: Path) -> None:
    source = trades_csv(tmp_path / "BTCUSDT-trades-2025-01-01.zip", 400)
    rec = tmp_path / "btc.jsonl.gz"
    result = papertrade("import", "binance-trades", source, "--symbol", "BTC/USDT", "--out", rec)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("imported 400 trades of BTC/USDT from BTCUSDT-trades")
    run = papertrade(
        "run", "strategies/trade_momentum.py", "--replay", rec, "--out", tmp_path / "out"
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["counts"]["frames"] == 400 and summary["counts"]["decode_errors"] == 0
    assert summary["fills"] > 0


def test_a_user_mistake_is_one_line_without_a_traceback(tmp_path: Path) -> None:
    result = papertrade(
        "import", "tardis-trades", tmp_path / "missing.csv.gz", "--symbol", "BTC/USDT",
        "--out", tmp_path / "x.jsonl",
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == f"Error: file not found: {tmp_path / 'missing.csv.gz'}\n"
    result = papertrade("import", "csv", "a.csv", "--symbol", "X/Y", "--out", "x.jsonl")
    assert result.returncode == 2 and "'csv' is not one of 'binance-aggtrades'" in result.stderr


class BuyOnce(Strategy):
    def on_trade(self, trade: Trade) -> None:
        if self.position(trade.instrument) == 0 and not self.open_orders():
            self.buy_market(trade.instrument, quantity="0.01")


def test_imported_book_and_trades_replay_through_the_paper_exchange(tmp_path: Path) -> None:
    t = 1735689600000000
    book = write(
        tmp_path / "book.csv",
        "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"
        f"binance,BTCUSDT,{t},{t},true,bid,93000.5,1\n"
        f"binance,BTCUSDT,{t},{t},true,ask,93001.5,2\n",
    )
    rec = tmp_path / "book.jsonl"
    result = papertrade(
        "import", "tardis-incremental-book-l2", book, "--symbol", "BTC/USDT", "--out", rec
    )
    assert result.returncode == 0, result.stderr
    trades = write(
        tmp_path / "trades.csv",
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
        f"binance,BTCUSDT,{t + 5},{t + 10},1,buy,93001.5,0.5\n",
    )
    assert papertrade("import", "tardis-trades", trades, "--symbol", "BTC/USDT",
                      "--out", tmp_path / "trades.jsonl").returncode == 0  # fmt: skip
    book_only = run_strategy(BuyOnce, rec, tmp_path=tmp_path / "a")
    assert book_only.fills == []  # a book alone prints no trade
    traded = run_strategy(BuyOnce, tmp_path / "trades.jsonl", tmp_path=tmp_path / "b")
    assert [(f.direction, f.price) for f in traded.fills] == [("buy", Decimal("93001.5"))]


def test_an_unknown_market_is_defined_from_the_trades_and_the_run_trades_it(
    tmp_path: Path,
) -> None:
    rows = "".join(
        f"{i},0.{31000 + i:06d}00,{100 + i}.50000000,0,{1735689600000 + 1000 * i},False,True\n"
        for i in range(30)
    )
    source = write(tmp_path / "DOGEUSDT-trades.csv", rows)
    rec = tmp_path / "doge.jsonl"
    result = papertrade("import", "binance-trades", source, "--symbol", "DOGE/USDT", "--out", rec)
    assert result.returncode == 0, result.stderr
    assert (
        "market DOGE/USDT written into the recording: price step 0.000001, size step 0.1 "
        "(30 rows give 6 price decimals, the sizes seen give 1 size decimals)"
    ) in result.stderr
    traded = run_strategy(BuyTenDoge, rec, tmp_path=tmp_path / "run")  # no config given
    assert not traded.rejections
    assert [(f.direction, f.quantity, f.price) for f in traded.fills] == [
        ("buy", Decimal("10"), Decimal("0.031"))
    ]


class BuyTenDoge(Strategy):
    def on_trade(self, trade: Trade) -> None:
        if self.position(trade.instrument) == 0 and not self.open_orders():
            self.buy_market(trade.instrument, quantity="10")


def test_the_header_names_each_source_with_its_digest_and_size(tmp_path: Path) -> None:
    """The digests are computed while converting: each is still its own file's, in order."""
    first = trades_csv(tmp_path / "BTCUSDT-trades-2025-01-01.zip", 400)
    day = "".join(f"{i},93000.5,0.25,0,{1735776000000 + i},True,True\n" for i in range(300))
    second = write(tmp_path / "BTCUSDT-trades-2025-01-02.csv", day)
    out = tmp_path / "btc.jsonl"
    import_files("binance-trades", [first, second], "BTC/USDT", out)
    header = json.loads(out.read_bytes().split(b"\n", 1)[0])
    assert header["meta"]["sources"] == [
        {"name": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
         "bytes": path.stat().st_size}
        for path in (first, second)
    ]  # fmt: skip
