"""Tardis.dev CSV files, written from the column lists and rules of docs.tardis.dev
("Downloadable CSV files", "Data types", and the FAQ on rebuilding books): times in
microseconds since the epoch; local_timestamp is when the message arrived; incremental_book_L2
rows of one message share a local_timestamp; amount 0 removes a level; a snapshot after
updates resets the book; updates before the first snapshot are skipped.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import events as ev
from framework.errors import ConfigError
from framework.importers.tardis import BookSnapshots, IncrementalBook, Trades
from framework.providers.base import Subscription
from framework.recording import Frame
from framework.run import codecs_for

from .helpers import book_after, imported

US = 1000  # ns per microsecond
TRADES = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
L2 = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"
T = 1585699200000000  # 2020-04-01T00:00:00Z in microseconds


def test_trades_take_local_timestamp_as_receive_time(tmp_path: Path) -> None:
    rows = TRADES + (
        f"bitmex,XBTUSD,{T + 920_000},{T + 934_201},a5c5c4d9-7f5b,sell,6488.5,1000\n"
        f"bitmex,XBTUSD,,{T + 2_000_000},,buy,6489,5\n"  # no exchange time, no id
    )
    report, header, events = imported(tmp_path, "tardis-trades", rows, "gzip")
    assert header.providers[0].subscriptions == (Subscription("trades", "BTC_USDT"),)
    assert [(e.ts_recv_ns, e.ts_event_ns, e.price, e.size, e.side) for e in events] == [  # type: ignore[union-attr]
        ((T + 934_201) * US, T // 1_000_000 * 10**9, 6488.5, 1000.0, "sell"),
        ((T + 2_000_000) * US, (T + 2_000_000) // 1_000_000 * 10**9, 6489.0, 5.0, "buy"),
    ]
    assert "bad row" not in report


def test_a_trade_of_unknown_side_is_skipped_and_reported(tmp_path: Path) -> None:
    rows = TRADES + (
        f"okex,BTC-USD,{T},{T + 5},1,unknown,6488.5,1\n"
        f"okex,BTC-USD,{T},{T + 6},2,buy,6488.5,1\n"
        f"okex,ETH-USD,{T},{T + 7},3,buy,150,1\n"
    )
    report, _, events = imported(tmp_path, "tardis-trades", rows)
    assert len(events) == 1
    assert "data.csv line 2: side 'unknown' is not buy or sell" in report
    assert "data.csv line 4: symbol 'ETH-USD' differs from the first row's 'BTC-USD'" in report


@pytest.mark.parametrize(
    ("header", "first", "later"),
    [
        (TRADES, f"okex,BTC-USD,{T},{T + 5},1,buy,6488.5,0", f"okex,,{T},{T + 6},2,buy,6488.5,1"),
        (L2, f"okex,BTC-USD,{T},{T + 5},true,bid,6488.5,x", f"okex,,{T},{T + 6},true,bid,6488,1"),
    ],
)
def test_the_first_row_names_the_symbol_even_when_it_is_bad(
    tmp_path: Path, header: str, first: str, later: str
) -> None:
    """A row with another symbol (here none) after a bad first row is reported, not imported."""
    fmt = "tardis-trades" if header == TRADES else "tardis-incremental-book-l2"
    good = later.replace("okex,,", "okex,BTC-USD,").replace(f"{T + 6}", f"{T + 7}")
    report, _, _ = imported(tmp_path, fmt, header + "\n".join([first, later, good]) + "\n")
    assert "data.csv line 3: symbol '' differs from the first row's 'BTC-USD'" in report


def test_incremental_book_follows_the_documented_rebuild_rules(tmp_path: Path) -> None:
    rows = L2 + (
        # buffered before the first snapshot: skipped, as the documentation says
        f"binance,BTCUSDT,{T},{T + 1},false,bid,100,9\n"
        # the snapshot: one message
        f"binance,BTCUSDT,{T},{T + 10},true,bid,100,1\n"
        f"binance,BTCUSDT,{T},{T + 10},true,bid,99,2\n"
        f"binance,BTCUSDT,{T},{T + 10},true,ask,101,3\n"
        # one message of two levels: 100 removed, 101 changed
        f"binance,BTCUSDT,{T + 15},{T + 20},false,bid,100,0\n"
        f"binance,BTCUSDT,{T + 15},{T + 20},false,ask,101,4\n"
        # the next message
        f"binance,BTCUSDT,{T + 25},{T + 30},false,ask,102,5\n"
    )
    report, header, events = imported(tmp_path, "tardis-incremental-book-l2", rows)
    assert header.providers[0].subscriptions == (Subscription("book", "BTC_USDT"),)
    assert [type(e).__name__ for e in events] == ["BookSnapshot", "BookDelta", "BookDelta"]
    snapshot = events[0]
    assert isinstance(snapshot, ev.BookSnapshot)
    assert snapshot.ts_recv_ns == (T + 10) * US
    assert snapshot.bids == ((100.0, 1.0), (99.0, 2.0)) and snapshot.asks == ((101.0, 3.0),)
    assert events[1].ts_recv_ns == (T + 20) * US  # type: ignore[union-attr]
    book = book_after(events)
    assert book.bids == {99.0: 2.0} and book.asks == {101.0: 4.0, 102.0: 5.0}
    assert "skipped 1 updates before the first snapshot" in report


def test_a_snapshot_after_updates_resets_the_book(tmp_path: Path) -> None:
    rows = L2 + (
        f"deribit,BTC-PERPETUAL,{T},{T + 10},true,bid,100,1\n"
        f"deribit,BTC-PERPETUAL,{T},{T + 10},true,ask,101,1\n"
        f"deribit,BTC-PERPETUAL,{T},{T + 20},false,bid,98,7\n"
        # a reconnect: a fresh snapshot that spans two local_timestamps, one full reload
        f"deribit,BTC-PERPETUAL,{T},{T + 30},true,bid,97,1\n"
        f"deribit,BTC-PERPETUAL,{T},{T + 31},true,ask,103,2\n"
        f"deribit,BTC-PERPETUAL,{T},{T + 31},true,ask,104,0\n"  # an empty level is no level
    )
    _, _, events = imported(tmp_path, "tardis-incremental-book-l2", rows)
    assert [type(e).__name__ for e in events] == ["BookSnapshot", "BookDelta", "BookSnapshot"]
    assert events[2].ts_recv_ns == (T + 31) * US  # type: ignore[union-attr]
    book = book_after(events)
    assert book.bids == {97.0: 1.0} and book.asks == {103.0: 2.0}


def test_book_snapshot_rows_are_full_reloads_and_empty_levels_are_left_out(
    tmp_path: Path,
) -> None:
    header = "exchange,symbol,timestamp,local_timestamp," + ",".join(
        f"asks[{i}].price,asks[{i}].amount,bids[{i}].price,bids[{i}].amount" for i in range(3)
    )
    rows = (
        f"{header}\n"
        f"binance-futures,BTCUSDT,{T},{T + 7},10001,1.5,10000,2,10002,0.5,9999,1,10003,3,,\n"
        f"binance-futures,BTCUSDT,{T + 9},{T + 12},10001,1,10000,2,,,,,,,,\n"
    )
    report, _, events = imported(tmp_path, "tardis-book-snapshot", rows, "gzip")
    assert events == [
        ev.BookSnapshot("cryptomus", "BTC/USDT", "BTC_USDT", T // 10**6 * 10**9, (T + 7) * US,
                        ((10000.0, 2.0), (9999.0, 1.0)),
                        ((10001.0, 1.5), (10002.0, 0.5), (10003.0, 3.0))),
        ev.BookSnapshot("cryptomus", "BTC/USDT", "BTC_USDT", T // 10**6 * 10**9, (T + 12) * US,
                        ((10000.0, 2.0),), ((10001.0, 1.0),)),
    ]  # fmt: skip
    assert "bad row" not in report


def test_a_file_that_is_not_the_format_says_what_its_first_line_is(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"line 1 is not a Tardis trade header \(no side, price"):
        imported(tmp_path, "tardis-trades", "exchange,symbol,timestamp,local_timestamp,id\n")


_CELL = st.one_of(
    st.sampled_from(["binance", "BTCUSDT", "true", "false", "bid", "ask", "buy", "sell",
                     "unknown", str(T), str(T + 1), "0", "1.5", "1e-7", "nan", "", "-2", '"']),
    st.text(max_size=5),
)  # fmt: skip
_HEADERS = {
    Trades: TRADES,
    IncrementalBook: L2,
    BookSnapshots: "exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,"
    "bids[0].price,bids[0].amount\n",
}


@pytest.mark.parametrize("converter", [Trades, IncrementalBook, BookSnapshots])
@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.lists(_CELL, min_size=0, max_size=9), max_size=8))
def test_fuzzed_rows_give_decodable_frames_or_reported_problems(
    converter: type[Trades], rows: list[list[str]]
) -> None:
    conv = converter("BTC/USDT", sample=True)
    lines = [_HEADERS[converter].strip().encode()]
    lines += [",".join(cells).encode("utf-8", "surrogatepass") for cells in rows]
    out = bytearray()
    conv.feed("f.csv", 1, b"\n".join(lines), out)
    conv.finish(out)
    codecs = codecs_for([conv.provider])
    written = bytes(out).splitlines()
    for raw in written:
        frame = msgspec.json.decode(raw, type=Frame)
        codecs[frame.p].decode(frame.payload(), frame.t)  # raises if the frame is bad
    assert conv.written == len(written)
