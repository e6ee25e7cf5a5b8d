"""Several recordings in one run, and a time window (--from / --to) on replay and inspect."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import events as ev
from framework.config import load_config
from framework.errors import ConfigError
from framework.importers.convert import import_files
from framework.marketbook import MarketBook
from framework.providers.cryptomus import CryptomusCodec
from framework.recording import Frame, Header, ProviderSpec, RecordingReader, RecordingWriter
from framework.run import RunSetup, replay_engine
from framework.strategy import Strategy
from framework.testing import run_strategy
from framework.window import Window, merged, parse_time

ROOT = Path(__file__).resolve().parent.parent
CRYPTOMUS = ROOT / "replays" / "cryptomus-btc-usdt.jsonl.gz"
T = 1735689600000000  # 2025-01-01T00:00:00Z in microseconds


def papertrade(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "framework", *map(str, args)],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
    )  # fmt: skip


# --- parsing the window ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ns"),
    [("2025-01-01", T * 1000), ("2025-01-01T00:00:01", T * 1000 + 10**9),
     ("2025-01-01 00:00:00.5", T * 1000 + 5 * 10**8), ("2025-01-01T02:00+02:00", T * 1000),
     ("2025-01-01T00:00Z", T * 1000)],
)  # fmt: skip
def test_times_are_iso_and_utc_unless_a_zone_is_given(text: str, ns: int) -> None:
    assert parse_time(text) == ns


def test_a_window_that_ends_before_it_starts_or_does_not_parse_is_refused() -> None:
    with pytest.raises(ConfigError, match="--to 2025-01-01 is not after --from 2025-01-02"):
        Window.parse("2025-01-02", "2025-01-01")
    with pytest.raises(ConfigError, match="--from 'yesterday' is not an ISO date or time"):
        Window.parse("yesterday", None)


# --- several recordings ---------------------------------------------------------------------------


def _recording(path: Path, times: list[int], conn: int) -> Path:
    """Trades received at ``times`` on connection ``conn`` (which tells the files apart)."""
    header = Header("papertrade-recording", 1, (ProviderSpec("cryptomus"),))
    trade = (
        b'{"id":0,"method":"trade_update","data":{"symbol":"BTC_USDT","timestamp":1,'
        b'"trades":[{"price":1,"quantity":1,"timestamp":1,"direction":"buy"}]},"error":null}'
    )
    with RecordingWriter(path, header) as writer:
        writer.write([Frame(t, "cryptomus", conn, f=msgspec.Raw(trade)) for t in times])
    return path


def test_lines_merge_by_receive_time_and_equal_times_keep_the_files_order(tmp_path: Path) -> None:
    a = _recording(tmp_path / "a.jsonl", [10, 20, 30], 1)
    b = _recording(tmp_path / "b.jsonl", [5, 20, 25], 2)
    with RecordingReader(a) as ra, RecordingReader(b) as rb:
        lines = [line for batch in merged([ra, rb]) for line in batch]
    assert [(line.t, line.c) for line in lines] == [  # type: ignore[union-attr]
        (5, 2), (10, 1), (20, 1), (20, 2), (25, 2), (30, 1),
    ]  # fmt: skip


class BuyOnce(Strategy):
    def on_trade(self, trade: ev.Trade) -> None:
        if self.position(trade.instrument) == 0 and not self.open_orders():
            self.buy_market(trade.instrument, quantity="0.01")


def test_a_book_and_a_trade_recording_replay_together(tmp_path: Path) -> None:
    book = tmp_path / "book.csv"
    book.write_text(
        "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"
        f"binance,BTCUSDT,{T},{T},true,bid,93000.5,1\n"
        f"binance,BTCUSDT,{T},{T},true,ask,93001.5,2\n"
    )
    trades = tmp_path / "trades.csv"
    trades.write_text(f"1,93000.90000000,0.5,0,{T // 1000 + 1},False,True\n")
    import_files("tardis-incremental-book-l2", [book], "BTC/USDT", tmp_path / "book.jsonl")
    import_files("binance-trades", [trades], "BTC/USDT", tmp_path / "trades.jsonl")
    alone = run_strategy(BuyOnce, tmp_path / "trades.jsonl", tmp_path=tmp_path / "a")
    assert [f.price for f in alone.fills] == [Decimal("93000.9")]  # the last trade's price
    out = tmp_path / "both"
    result = papertrade("run", ROOT / "tests/test_window.py:BuyOnce", "--replay",
                        tmp_path / "trades.jsonl", "--replay", tmp_path / "book.jsonl",
                        "--no-finalize", "--out", out)  # fmt: skip
    assert result.returncode == 0, result.stderr
    fills = (out / "fills.csv").read_text().splitlines()
    assert len(fills) == 2 and ",93001.5" in fills[1]  # the book's ask, merged in first
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["fingerprint"]["recordings_sha256"]) == 2


def test_two_recordings_of_one_provider_must_decode_alike(tmp_path: Path) -> None:
    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.jsonl"
    for path, dataset in ((a, "csv"), (b, "us_stocks_essential")):
        header = Header(
            "papertrade-recording", 1, (ProviderSpec("finazon", (), {"dataset": dataset}),)
        )
        RecordingWriter(path, header).close()
    setup = RunSetup(strategies=(BuyOnce,), strategy_sources={}, config=load_config(None), seed=0)
    with pytest.raises(ConfigError, match=r"finazon options .* differ from an earlier recording"):
        replay_engine(setup, [a, b], tmp_path / "out")


def test_record_and_duration_are_refused_with_replay() -> None:
    result = papertrade("run", "strategies/sma_crossover.py", "--replay", CRYPTOMUS,
                        "--record", "x.jsonl")  # fmt: skip
    assert result.returncode == 2 and "--record applies to --live, not to --replay" in result.stderr
    result = papertrade("run", "strategies/sma_crossover.py", "--replay", CRYPTOMUS,
                        "--duration", "5")  # fmt: skip
    assert "--duration applies to --live, not to --replay" in result.stderr


# --- the window -----------------------------------------------------------------------------------


def _book_before(start_ns: int) -> MarketBook:
    """The book every depth frame received before ``start_ns`` makes, worked out directly."""
    codec = CryptomusCodec()
    book = MarketBook("BTC/USDT")
    with RecordingReader(CRYPTOMUS) as reader:
        for line in reader:
            if isinstance(line, Frame) and line.t < start_ns:
                for event in codec.decode(line.payload(), line.t):
                    if isinstance(event, ev.BookSnapshot):
                        book.apply_snapshot(event)
                    elif isinstance(event, ev.BookDelta):
                        book.apply_delta(event)
    return book


class Watch(Strategy):
    seen: ClassVar[list[tuple[int, dict[float, float], dict[float, float]]]] = []

    def on_start(self) -> None:
        book = self.book("BTC/USDT")
        assert book is not None
        Watch.seen.append((self.now_ns, dict(book.bids), dict(book.asks)))

    def on_trade(self, trade: ev.Trade) -> None:
        Watch.seen.append((trade.ts_recv_ns, {}, {}))


def test_a_window_starts_with_the_book_rebuilt_and_stops_at_its_end(tmp_path: Path) -> None:
    start = parse_time("2025-06-26T16:10:00")
    end = parse_time("2025-06-26T16:12:00")
    Watch.seen = []
    setup = RunSetup(strategies=(Watch,), strategy_sources={}, config=load_config(None), seed=0,
                     window=Window(start_ns=start, end_ns=end))  # fmt: skip
    summary, engine = replay_engine(setup, CRYPTOMUS, tmp_path / "out")
    first, bids, asks = Watch.seen[0]
    expected = _book_before(start)
    assert first >= start and bids == expected.bids and asks == expected.asks and bids
    assert all(start <= t < end for t, _, _ in Watch.seen[1:]) and len(Watch.seen) > 10
    assert summary["first_time"].startswith("2025-06-26T16:10:0")
    assert engine.stats.last_ts_ns < end
    assert summary["fingerprint"]["window"] == {"start_ns": start, "end_ns": end}


def test_a_window_outside_the_recording_says_what_the_recording_holds(tmp_path: Path) -> None:
    result = papertrade("run", "strategies/trade_momentum.py", "--replay", CRYPTOMUS,
                        "--from", "2030-01-01", "--out", tmp_path / "out")  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == (
        "Error: nothing in cryptomus-btc-usdt.jsonl.gz was received in the window "
        "2030-01-01T00:00:00.000Z .. open (they hold 2025-06-26T15:59:59.000Z .. "
        "2025-06-26T16:35:00.009Z)\n"  # the first and the last line of the file
    )


def test_run_and_inspect_take_from_and_to(tmp_path: Path) -> None:
    window = ("--from", "2025-06-26T16:10", "--to", "2025-06-26T16:11")
    result = papertrade("inspect", CRYPTOMUS, *window)
    assert result.returncode == 0, result.stderr
    times = [json.loads(line)["ts_recv_ns"] for line in result.stdout.splitlines()]
    assert times and min(times) >= parse_time("2025-06-26T16:10")
    assert max(times) < parse_time("2025-06-26T16:11")
    run = papertrade("run", "strategies/trade_momentum.py", "--replay", CRYPTOMUS, *window,
                     "--out", tmp_path / "out")  # fmt: skip
    assert run.returncode == 0, run.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["first_time"] >= "2025-06-26T16:10" and summary["last_time"] < "2025-06-26T16:11"


@settings(max_examples=200, deadline=None)
@given(start=st.text(max_size=30), end=st.one_of(st.none(), st.text(max_size=30)))
def test_fuzzed_window_texts_give_a_window_or_a_config_error(start: str, end: str | None) -> None:
    try:
        window = Window.parse(start, end)
    except ConfigError:
        return
    assert window.start_ns is not None
