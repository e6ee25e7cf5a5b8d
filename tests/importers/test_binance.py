"""Binance public data files, written from the examples in binance/binance-public-data's README.

Every expected event is worked out by hand from the row: the README's trades example
``51175358,17.80180000,5.69000000,101.29224200,1583709433583,True,True`` is a trade at
2020-03-08T23:17:13.583Z (1583709433583 ms) whose buyer was the maker, so the seller took
liquidity: direction ``sell``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import events as ev
from framework.errors import ConfigError
from framework.importers.base import Problems
from framework.importers.binance import AggTrades, Klines, Trades
from framework.importers.convert import FORMATS, import_files
from framework.providers.base import Subscription
from framework.recording import ProviderSpec

from .helpers import imported, replay, write

README_TRADE = "51175358,17.80180000,5.69000000,101.29224200,1583709433583,True,True\n"
README_AGG = "0,0.20000000,50.00000000,0,0,1608872400000,False,True\n"
README_KLINE = (
    "1601510340000,4.15070000,4.15870000,4.15060000,4.15540000,539.23000000,1601510399999,"
    "2240.39860900,13,401.82000000,1669.98121300,0\n"
)
MS = 1_000_000
S = 1_000_000_000


def test_readme_trade_becomes_a_cryptomus_sell_at_its_time(tmp_path: Path) -> None:
    _, header, events = imported(tmp_path, "binance-trades", README_TRADE)
    assert header.providers == (ProviderSpec("cryptomus", (Subscription("trades", "BTC_USDT"),)),)
    assert events == [
        ev.Trade("cryptomus", "BTC/USDT", "BTC_USDT", 1583709433 * S, 1583709433583 * MS,
                 17.8018, 5.69, "sell"),
    ]  # fmt: skip


@pytest.mark.parametrize("how", ["zip", "plain"])
def test_trades_in_microseconds_as_spot_files_from_2025_give(tmp_path: Path, how: str) -> None:
    rows = (
        "4500000000,93000.01000000,0.00100000,93.00001000,1735689600123456,False,True\n"
        "4500000001,93000.00000000,0.50000000,46500.00000000,1735689600123999,True,True\n"
    )
    _, _, events = imported(tmp_path, "binance-trades", rows, how)
    assert [(e.ts_recv_ns, e.ts_event_ns, e.price, e.size, e.side) for e in events] == [  # type: ignore[union-attr]
        (1735689600123456000, 1735689600 * S, 93000.01, 0.001, "buy"),
        (1735689600123999000, 1735689600 * S, 93000.0, 0.5, "sell"),
    ]


def test_readme_aggtrade_and_a_futures_file_with_a_header(tmp_path: Path) -> None:
    _, _, events = imported(tmp_path, "binance-aggtrades", README_AGG)
    assert [(e.ts_recv_ns, e.price, e.size, e.side) for e in events] == [  # type: ignore[union-attr]
        (1608872400000 * MS, 0.2, 50.0, "buy")
    ]
    futures = (
        "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"
        "26129,0.01633102,4.70443515,27781,27781,1498793709153,true\n"
    )
    report, _, events = imported(tmp_path, "binance-aggtrades", futures)
    assert [(e.price, e.side) for e in events] == [(0.01633102, "sell")]  # type: ignore[union-attr]
    assert "bad row" not in report


def test_readme_kline_becomes_a_one_minute_bar_closing_at_its_close_time(tmp_path: Path) -> None:
    _, header, events = imported(tmp_path, "binance-klines", README_KLINE)
    assert header.providers[0].subscriptions == (Subscription("bars", "BTC/USDT", interval="1m"),)
    bars = [e for e in events if isinstance(e, ev.Bar)]
    assert bars == [
        ev.Bar("finazon", "BTC/USDT", "BTC/USDT", 1601510340 * S, 1601510400 * S, 60 * S, 4.1507,
               4.1587, 4.1506, 4.1554, 539.23),
    ]  # fmt: skip


def test_klines_of_another_length_in_the_same_file_are_reported(tmp_path: Path) -> None:
    rows = (
        "1601510400000,1,2,0.5,1.5,10,1601510459999,0,0,0,0,0\n"
        "1601510460000,1.5,2,1,1,10,1601510759999,0,0,0,0,0\n"  # five minutes
        "1601510520000,1,1,1,1,0,1601510579999,0,0,0,0,0\n"
    )
    report, _, events = imported(tmp_path, "binance-klines", rows)
    assert "data.csv line 2: lasts 300 s where the file's bars last 60 s" in report
    assert [e.ts_event_ns // S for e in events if isinstance(e, ev.Bar)] == [1601510400, 1601510520]


def test_monthly_klines_are_refused_as_having_no_fixed_length(tmp_path: Path) -> None:
    # 2024-01 and 2024-02 monthly klines: 31 and 29 days
    rows = (
        "1704067200000,1,2,0.5,1.5,10,1706745599999,0,0,0,0,0\n"
        "1706745600000,1.5,2,1,1,10,1709251199999,0,0,0,0,0\n"
    )
    with pytest.raises(ConfigError, match=r"monthly klines \(1mo\), whose bars have no fixed"):
        imported(tmp_path, "binance-klines", rows)


def test_bad_rows_are_reported_by_line_and_the_good_ones_kept(tmp_path: Path) -> None:
    rows = (
        README_TRADE
        + "51175359,abc,1.0,1.0,1583709433600,True,True\n"
        + "51175360,17.8,1.0,1.0,158370943360,True,True\n"
        + "51175361,17.8,0,0,1583709433600,False,True\n"
        + "51175362,17.8,1.0,1.0,1583709433600,maybe,True\n"
        + "51175363,17.8,1.0,1.0,1583709433000,False,True\n"
        + "51175364,1.5e-7,1.0,1.0,1583709433700,False,True\n"
    )
    report, _, events = imported(tmp_path, "binance-trades", rows)
    assert "skipped 5 bad rows" in report
    for line, reason in (
        (2, "price 'abc' is not a number"),
        (3, "time '158370943360' is not milliseconds (13 digits) or microseconds (16 digits)"),
        (4, "quantity 0 is not positive"),
        (5, "is buyer maker 'maybe' is not True or False"),
        (6, "time 1583709433000 goes back before the previous row's"),
    ):
        assert f"data.csv line {line}: {reason}" in report
    # An exponent is a number all the same: rewritten as a plain JSON number.
    assert [e.price for e in events] == [17.8018, 1.5e-7]  # type: ignore[union-attr]


def test_daily_files_continue_one_another(tmp_path: Path) -> None:
    day1 = write(tmp_path / "d1.csv", README_TRADE)
    day2 = write(tmp_path / "d2.zip", README_TRADE.replace("1583709433583", "1583795833583"), "zip")
    out = tmp_path / "out.jsonl.gz"
    report = import_files("binance-trades", [day1, day2], "BTC/USDT", out)
    assert "imported 2 trades of BTC/USDT from d1.csv and 1 more" in report
    _, events = replay(out)
    assert [e.ts_recv_ns // MS for e in events] == [1583709433583, 1583795833583]  # type: ignore[union-attr]


def test_a_file_with_no_good_row_is_an_error_naming_the_first_problem(tmp_path: Path) -> None:
    source = write(tmp_path / "x.csv", "1,2,3\n")
    with pytest.raises(ConfigError, match=r"x\.csv line 1: 3 columns, expected 7"):
        import_files("binance-trades", [source], "BTC/USDT", tmp_path / "o.jsonl")
    assert not (tmp_path / "o.jsonl").exists() and not (tmp_path / "o.jsonl.part").exists()


def test_a_zip_holding_two_files_is_refused(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.csv", README_TRADE)
        zf.writestr("b.csv", README_TRADE)
    with pytest.raises(
        ConfigError, match=r"one CSV file inside was expected, found a\.csv, b\.csv"
    ):
        import_files("binance-trades", [path], "BTC/USDT", tmp_path / "o.jsonl")


_CELL = st.one_of(
    st.sampled_from(["True", "False", "true", "1583709433583", "1735689600123456", "0", "1e5",
                     "17.8", "nan", "-1", "", ".5", "5.", "007", "inf", "1_0", '"', "\\"]),
    st.text(max_size=6),
)  # fmt: skip


@pytest.mark.parametrize("converter", [Trades, AggTrades, Klines])
@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.lists(_CELL, min_size=0, max_size=13), max_size=8))
def test_fuzzed_rows_give_decodable_frames_or_reported_problems(
    converter: type[Trades], rows: list[list[str]]
) -> None:
    """Whatever the rows, only RowError is raised inside, and every line written decodes."""
    import msgspec

    from framework.recording import Frame
    from framework.run import codecs_for

    conv = converter("BTC/USDT", sample=True)
    lines = [",".join(cells).encode("utf-8", "surrogatepass") for cells in rows]
    out = bytearray()
    try:
        conv.feed("f.csv", 1, b"\n".join(lines), out)
    except ConfigError:
        return  # a whole-file problem (monthly klines), said as one clear line
    conv.finish(out)
    assert isinstance(conv.problems, Problems)
    codecs = codecs_for([conv.provider]) if conv.provider.subscriptions else {}
    for raw in bytes(out).splitlines():
        frame = msgspec.json.decode(raw, type=Frame)
        codecs[frame.p].decode(frame.payload(), frame.t)  # raises if the frame is bad
    assert conv.written == len(bytes(out).splitlines()) // (2 if converter is Klines else 1)


def test_every_format_is_registered() -> None:
    assert sorted(FORMATS) == [
        "binance-aggtrades", "binance-klines", "binance-trades", "tardis-book-snapshot",
        "tardis-incremental-book-l2", "tardis-trades",
    ]  # fmt: skip
