"""import-csv: OHLCV files in the formats people have, bars out that close when they end.

Every CSV is written in the test; every expected bar is worked out by hand from it. Times:
2024-01-02T00:00:00Z is 1704153600 s, so its minutes are 1704153600 + 60 k.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import events as ev
from framework.cli import main
from framework.errors import ConfigError
from framework.importcsv import BarRow, bar_frames, import_csv, parse_interval
from framework.providers.finazon import FinazonCodec
from framework.recording import Frame, RecordingReader

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_704_153_600  # 2024-01-02T00:00:00Z, Unix seconds
NS = 1_000_000_000
MIN_NS = 60 * NS
GOOD_HEADER = "Date,Open,High,Low,Close,Volume\n"


def write(tmp_path: Path, text: str, name: str = "data.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def replayed_bars(recording: Path) -> list[ev.Bar]:
    """The closed bars the real Finazon codec makes of a recording's frames."""
    with RecordingReader(recording) as reader:
        codec = FinazonCodec(reader.header.providers[0].options["dataset"])
        out: list[ev.Bar] = []
        for line in reader:
            assert isinstance(line, Frame)
            out += [e for e in codec.decode(line.payload(), line.t) if isinstance(e, ev.Bar)]
    return out


def bar(minute: int, o: float, h: float, low: float, c: float, v: float) -> ev.Bar:
    """BTC/USDT 1-minute bar opening at T0 + minute, closed when the minute ends."""
    return ev.Bar(
        venue="finazon",
        instrument="BTC/USDT",
        symbol="BTC/USDT",
        ts_event_ns=(T0 + 60 * minute) * NS,
        ts_recv_ns=(T0 + 60 * minute + 60) * NS,
        interval_ns=MIN_NS,
        open=o,
        high=h,
        low=low,
        close=c,
        volume=v,
    )


def run(tmp_path: Path, text: str, interval: str = "1m", symbol: str = "BTC/USDT") -> str:
    return import_csv(write(tmp_path, text), symbol, interval, tmp_path / "out.jsonl")


# --- formats --------------------------------------------------------------------------------------


def test_yahoo_rows_become_bars_stamped_with_their_close_time(tmp_path: Path) -> None:
    run(
        tmp_path,
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2024-01-02 00:00:00,100,110,90,105,104.5,1000\n"
        "2024-01-02 00:01:00,105,106,99,100,99.5,500\n",
    )
    assert replayed_bars(tmp_path / "out.jsonl") == [
        bar(0, 100.0, 110.0, 90.0, 105.0, 1000.0),
        bar(1, 105.0, 106.0, 99.0, 100.0, 500.0),
    ]


def test_backtesting_py_unnamed_index_column_is_the_time(tmp_path: Path) -> None:
    run(tmp_path, ",Open,High,Low,Close,Volume\n2024-01-02 00:00:00,1.5,2.5,1.25,2,7\n")
    assert replayed_bars(tmp_path / "out.jsonl") == [bar(0, 1.5, 2.5, 1.25, 2.0, 7.0)]


def test_lower_case_unix_seconds_export(tmp_path: Path) -> None:
    run(tmp_path, "timestamp,open,high,low,close,volume\n1704153660,3,4,2,3.5,9\n")
    assert replayed_bars(tmp_path / "out.jsonl") == [bar(1, 3.0, 4.0, 2.0, 3.5, 9.0)]


def test_unix_milliseconds_are_recognised_by_their_length(tmp_path: Path) -> None:
    run(tmp_path, "time,open,high,low,close,volume\n1704153720000,3,4,2,3.5,9\n")
    assert replayed_bars(tmp_path / "out.jsonl") == [bar(2, 3.0, 4.0, 2.0, 3.5, 9.0)]


def test_iso_time_with_an_offset_is_converted_to_utc(tmp_path: Path) -> None:
    # 02:03 at +02:00 is 00:03Z
    run(tmp_path, "datetime,open,high,low,close,volume\n2024-01-02T02:03:00+02:00,3,4,2,3.5,9\n")
    assert replayed_bars(tmp_path / "out.jsonl") == [bar(3, 3.0, 4.0, 2.0, 3.5, 9.0)]


def test_header_names_match_in_any_case(tmp_path: Path) -> None:
    run(tmp_path, "DATE,OPEN,HIGH,LOW,CLOSE,VOLUME\n2024-01-02T00:00:00Z,3,4,2,3.5,9\n")
    assert replayed_bars(tmp_path / "out.jsonl") == [bar(0, 3.0, 4.0, 2.0, 3.5, 9.0)]


def test_semicolons_with_decimal_commas_and_a_byte_order_mark(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Date;Open;High;Low;Close;Volume\n2024-01-02 00:00;1,5;2,5;1,25;2;7\n",
        encoding="utf-8-sig",
    )
    import_csv(path, "BTC/USDT", "1m", tmp_path / "out.jsonl")
    assert replayed_bars(tmp_path / "out.jsonl") == [bar(0, 1.5, 2.5, 1.25, 2.0, 7.0)]


def test_metatrader_date_and_time_columns_are_joined(tmp_path: Path) -> None:
    run(
        tmp_path,
        "<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>\n2024.01.02,00:04,3,4,2,3.5,9\n",
    )
    assert replayed_bars(tmp_path / "out.jsonl") == [bar(4, 3.0, 4.0, 2.0, 3.5, 9.0)]


def test_missing_volume_column_gives_zero_volume_and_says_so(tmp_path: Path) -> None:
    report = run(tmp_path, "Date,Open,High,Low,Close\n2024-01-02 00:00,3,4,2,3.5\n")
    assert replayed_bars(tmp_path / "out.jsonl") == [bar(0, 3.0, 4.0, 2.0, 3.5, 0.0)]
    assert "no volume column: volumes are 0" in report


def test_us_stock_decodes_as_its_canonical_id(tmp_path: Path) -> None:
    run(
        tmp_path,
        "Date,Open,High,Low,Close,Volume\n2024-01-02 00:00,3,4,2,3.5,9\n",
        symbol="AAPL.US",
    )
    [only] = replayed_bars(tmp_path / "out.jsonl")
    assert (only.instrument, only.symbol) == ("AAPL.US", "AAPL")


# --- how bars are framed --------------------------------------------------------------------------


def test_each_bar_is_its_final_values_then_the_next_bars_opening_push() -> None:
    rows = [BarRow(T0, 100.0, 110.0, 90.0, 105.0, 1000.0), BarRow(T0 + 86_400, 1, 2, 1, 2, 3)]
    frames = list(bar_frames(rows, "BTC/USDT", "csv", "1d", 86_400))
    assert [(f.t, msgspec.json.decode(f.payload())) for f in frames[:2]] == [
        (
            (T0 + 86_400) * NS,
            {"d": "csv", "p": "csv", "ch": "bars", "f": "1d", "aggr": "1d", "s": "BTC/USDT",
             "t": T0, "o": 100.0, "h": 110.0, "l": 90.0, "c": 105.0, "v": 1000.0},
        ),
        (
            (T0 + 86_400) * NS,
            {"d": "csv", "p": "csv", "ch": "bars", "f": "1d", "aggr": "1d", "s": "BTC/USDT",
             "t": T0 + 86_400, "o": 105.0, "h": 105.0, "l": 105.0, "c": 105.0, "v": 0.0},
        ),
    ]  # fmt: skip


def test_a_gap_between_rows_adds_no_bar(tmp_path: Path) -> None:
    # minute 0, then minute 5: the opening push after minute 0 names minute 5, not minute 1
    run(
        tmp_path,
        GOOD_HEADER
        + "2024-01-02 00:00,3,4,2,3.5,9\n2024-01-02 00:05,5,6,4,5,1\n2024-01-02 00:06,5,5,5,5,1\n",
    )
    assert replayed_bars(tmp_path / "out.jsonl") == [
        bar(0, 3.0, 4.0, 2.0, 3.5, 9.0),
        bar(5, 5.0, 6.0, 4.0, 5.0, 1.0),
        bar(6, 5.0, 5.0, 5.0, 5.0, 1.0),
    ]


def test_minute_bars_decode_so_the_report_has_no_warning(tmp_path: Path) -> None:
    report = run(tmp_path, GOOD_HEADER + "2024-01-02 00:00,3,4,2,3,1\n")
    assert report == (
        "imported 1 bar of BTC/USDT (1m) from data.csv into " + str(tmp_path / "out.jsonl") + "\n"
        "  columns: time=Date, open=Open, high=High, low=Low, close=Close, volume=Volume\n"
        "  period: bars opening 2024-01-02T00:00:00Z .. 2024-01-02T00:00:00Z (UTC)"
    )


# --- bad rows -------------------------------------------------------------------------------------


def test_bad_rows_are_skipped_and_reported_with_their_line_numbers(tmp_path: Path) -> None:
    report = run(
        tmp_path,
        GOOD_HEADER
        + "2024-01-02 00:00,3,4,2,3.5,9\n"  # line 2: good
        + "2024-01-02 00:01,abc,4,2,3.5,9\n"  # line 3: not a number
        + "2024-01-02 00:02,3,2,4,3,9\n"  # line 4: high below low
        + "2024-01-02 00:03,3,4,2\n"  # line 5: close missing
        + "2024-01-02 00:00,3,4,2,3.5,9\n"  # line 6: repeats line 2
        + "2024-01-02 00:04,3,4,2,3.5,9\n"  # line 7: good
        + "2024-01-02 00:05,3,4,2,3.5,9\n",  # line 8: good
    )
    assert report.splitlines()[3:] == [
        "  skipped 4 bad rows:",
        "    line 3: open 'abc' is not a number",
        "    line 4: high 2 is below low 4",
        "    line 5: missing field 'close'",
        "    line 6: time 2024-01-02T00:00:00Z is a duplicate of line 2 (the same bar); "
        "line 2 is kept",
    ]
    assert [b.ts_event_ns for b in replayed_bars(tmp_path / "out.jsonl")] == [
        T0 * NS,
        (T0 + 240) * NS,
        (T0 + 300) * NS,
    ]


def test_newest_first_rows_are_sorted_and_all_imported(tmp_path: Path) -> None:
    rows = "".join(f"2024-01-0{d},{d},{d + 1},{d},{d},5\n" for d in (5, 4, 3, 2))
    report = run(tmp_path, GOOD_HEADER + rows, "1d")
    assert report.startswith("imported 4 bars of BTC/USDT (1d)")
    assert [b.ts_event_ns // NS - T0 for b in replayed_bars(tmp_path / "out.jsonl")] == [
        0, 86_400, 172_800, 259_200,
    ]  # fmt: skip


def test_a_duplicate_with_other_values_is_reported_and_the_first_line_kept(
    tmp_path: Path,
) -> None:
    rows = "2024-01-03,5,6,4,5,1\n2024-01-02,1,2,1,2,1\n2024-01-03,9,9,9,9,9\n"
    report = run(tmp_path, GOOD_HEADER + rows, "1d")
    assert (
        "line 4: time 2024-01-03T00:00:00Z is a duplicate of line 2 (a different bar); "
        "line 2 is kept"
    ) in report
    assert [b.close for b in replayed_bars(tmp_path / "out.jsonl")] == [2.0, 5.0]


def test_a_row_inside_the_previous_bar_is_reported(tmp_path: Path) -> None:
    rows = "2024-01-02 00:00,3,4,2,3,1\n2024-01-02 01:00,3,4,2,3,1\n2024-01-02 00:30,3,4,2,3,1\n"
    report = run(tmp_path, GOOD_HEADER + rows, "1h")
    assert (
        "line 4: time 2024-01-02T00:30:00Z is inside the bar of line 2, which ends at "
        "2024-01-02T01:00:00Z"
    ) in report


def test_daily_rows_imported_as_hourly_bars_are_refused(tmp_path: Path) -> None:
    rows = "".join(f"2024-01-0{d},1,2,1,2,5\n" for d in (2, 3, 4, 5))
    with pytest.raises(ConfigError, match=r"rows are mostly 1d apart \(3 of 3 gaps\), but "
                       r"--interval is 1h; give --interval 1d"):  # fmt: skip
        run(tmp_path, GOOD_HEADER + rows, "1h")


def test_a_date_format_reads_us_dates(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD_HEADER + "01/03/2024,5,6,4,5,1\n01/02/2024,1,2,1,2,1\nx,1,1,1,1,1\n"
    )
    report = import_csv(path, "BTC/USDT", "1d", tmp_path / "out.jsonl", date_format="%m/%d/%Y")
    assert "line 4: time 'x' does not match --date-format '%m/%d/%Y'" in report
    assert [b.ts_event_ns // NS for b in replayed_bars(tmp_path / "out.jsonl")] == [
        T0, T0 + 86_400,
    ]  # fmt: skip


def test_columns_name_a_headerless_binance_kline_file(tmp_path: Path) -> None:
    kline = (
        "1601510340000,4.15070000,4.15870000,4.15060000,4.15540000,539.23000000,1601510399999,"
        "2240.39860900,13,401.82000000,1669.98121300,0\n"
    )
    path = write(tmp_path, kline)
    names = "time,open,high,low,close,volume,close_time,quote_volume,trades,buy_base,buy_quote,-"
    report = import_csv(path, "BTC/USDT", "1m", tmp_path / "out.jsonl", columns=names)
    assert "imported 1 bar" in report
    assert "ignored: close_time, quote_volume, trades, buy_base, buy_quote, -" in report
    bars = replayed_bars(tmp_path / "out.jsonl")
    assert [(b.ts_event_ns // NS, b.open, b.close, b.volume) for b in bars] == [
        (1601510340, 4.1507, 4.1554, 539.23)
    ]


def test_columns_without_a_time_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "1,2,1,2\n")
    with pytest.raises(ConfigError, match="--columns 'open,high,low,close' names no time column"):
        import_csv(path, "BTC/USDT", "1m", tmp_path / "o.jsonl", columns="open,high,low,close")


def test_close_outside_the_bars_range_is_a_bad_row(tmp_path: Path) -> None:
    report = run(tmp_path, GOOD_HEADER + "2024-01-02 00:00,3,4,2,3,1\n2024-01-02 00:01,3,4,2,5,1\n")
    assert "line 3: close 5 is outside low..high 2..4" in report


def test_blank_lines_are_not_bad_rows(tmp_path: Path) -> None:
    report = run(tmp_path, GOOD_HEADER + "\n2024-01-02 00:00,3,4,2,3,1\n\n")
    assert "skipped" not in report


def test_only_the_first_twenty_bad_rows_are_listed(tmp_path: Path) -> None:
    rows = "".join(f"2024-01-02 00:{m:02d},x,4,2,3,1\n" for m in range(25))
    report = run(tmp_path, GOOD_HEADER + "2024-01-01 00:00,3,4,2,3,1\n" + rows)
    assert "  skipped 25 bad rows:" in report
    assert report.count("is not a number") == 20
    assert report.endswith("    line 22: open 'x' is not a number\n    ... and 5 more")


# --- files that cannot be imported ----------------------------------------------------------------


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"CSV file not found: .*nope\.csv"):
        import_csv(tmp_path / "nope.csv", "BTC/USDT", "1m", tmp_path / "out.jsonl")


def test_an_empty_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is empty"):
        run(tmp_path, "\n\n")


def test_a_file_without_an_ohlc_header_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no recognisable OHLCV header \\(missing high, low\\)"):
        run(tmp_path, "Date,Open,Close\n2024-01-02,1,2\n")


def test_data_without_a_header_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no recognisable OHLCV header"):
        run(tmp_path, "2024-01-02,1,2,1,2,5\n")


def test_a_file_with_no_valid_row_is_a_config_error_naming_the_first_problem(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="no valid OHLCV rows; first problem: line 2: high 1 "):
        run(tmp_path, GOOD_HEADER + "2024-01-02,1,1,2,1,5\n")
    assert not (tmp_path / "out.jsonl").exists()


# --- intervals and symbols ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1m", ("1m", 60)), ("5m", ("5m", 300)), ("15min", ("15m", 900)), ("1H", ("1h", 3600)),
     ("4h", ("4h", 14_400)), ("1d", ("1d", 86_400)), ("1w", ("1w", 604_800)), ("30s", ("30s", 30))],
)  # fmt: skip
def test_intervals_parse_to_finazon_spelling_and_seconds(
    text: str, expected: tuple[str, int]
) -> None:
    assert parse_interval(text) == expected


@pytest.mark.parametrize("text", ["1mo", "0m", "m", "1.5h", "", "1 fortnight"])
def test_intervals_that_are_not_fixed_lengths_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="is not a bar length"):
        parse_interval(text)


def test_a_symbol_with_spaces_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--symbol 'BTC USDT' is not an instrument id"):
        run(tmp_path, GOOD_HEADER + "2024-01-02,1,2,1,2,5\n", symbol="BTC USDT")


def test_an_unknown_market_is_defined_from_the_prices_and_written_into_the_header(
    tmp_path: Path,
) -> None:
    rows = "2024-01-02,0.0812,0.0815,0.08,0.0813,1500.5\n2024-01-03,0.0813,0.09,0.081,0.0899,7\n"
    report = run(tmp_path, GOOD_HEADER + rows, "1d", symbol="DOGE/USDT")
    assert (
        "market DOGE/USDT written into the recording: price step 0.0001, size step 0.00000001"
        in report
    )
    with RecordingReader(tmp_path / "out.jsonl") as reader:
        rules = reader.header.meta["markets"]["DOGE/USDT"]
    assert (rules["base_currency"], rules["quote_currency"]) == ("DOGE", "USDT")
    assert (rules["quote_prec"], rules["base_prec"], rules["base_min_size"]) == (4, 8, "1E-8")


def test_tick_and_lot_sizes_override_what_the_data_shows(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_HEADER + "2024-01-02,1,2,1,2,5\n")
    report = import_csv(path, "XYZ.US", "1d", tmp_path / "out.jsonl",
                        tick_size=Decimal("0.01"), lot_size=Decimal("1"))  # fmt: skip
    assert "market XYZ.US written into the recording: price step 0.01, size step 1" in report
    with RecordingReader(tmp_path / "out.jsonl") as reader:
        assert reader.header.meta["markets"]["XYZ.US"]["quote_currency"] == "USD"


# --- the command ----------------------------------------------------------------------------------


def test_the_command_reports_a_missing_file_in_one_line_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(SystemExit) as exit_info:
        main(["import-csv", str(missing), "--symbol", "BTC/USDT", "--interval", "1m",
              "--out", str(tmp_path / "out.jsonl")])  # fmt: skip
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == f"Error: CSV file not found: {missing}\n"


def test_the_command_writes_the_report_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, GOOD_HEADER + "2024-01-02 00:00,3,4,2,3,1\n2024-01-02 00:01,3,x,2,3,1\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["import-csv", str(path), "--symbol", "BTC/USDT", "--interval", "1m",
              "--out", str(tmp_path / "out.jsonl")])  # fmt: skip
    assert exit_info.value.code == 0
    assert "    line 3: high 'x' is not a number\n" in capsys.readouterr().err


def test_a_run_on_an_imported_unknown_market_needs_no_config(tmp_path: Path) -> None:
    # 40 daily DOGE/USDT bars: down for 20 days, then up, so the 5/10 SMA crossover buys.
    closes = [Decimal("0.1") - Decimal("0.001") * d for d in range(20)]
    closes += [closes[-1] + Decimal("0.002") * d for d in range(1, 21)]
    rows = "".join(
        f"{1704153600 + 86_400 * d},{c},{c + Decimal('0.0005')},{c - Decimal('0.0005')},{c},1000\n"
        for d, c in enumerate(closes)
    )
    path = write(tmp_path, rows)
    rec = tmp_path / "doge.jsonl"
    imported = subprocess.run(
        [sys.executable, "-m", "framework", "import-csv", str(path), "--symbol", "DOGE/USDT",
         "--interval", "1d", "--columns", "timestamp,open,high,low,close,volume",
         "--out", str(rec)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert "market DOGE/USDT written into the recording: price step 0.0001" in imported.stderr
    ran = subprocess.run(
        [sys.executable, "-m", "framework", "run", "strategies/sma_crossover.py",
         "--replay", str(rec), "--set", "instrument=DOGE/USDT", "--set", "fast=5",
         "--set", "slow=10", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["fills"] >= 1 and summary["rejections"] == 0
    assert summary["currency"] == "USDT"


_CSV_CELL = st.one_of(
    st.sampled_from(["2024-01-02", "01/02/2024", "1704153600", "1", "2.5", "-1", "nan", "",
                     "x", "1e3", "2024-01-02 00:01", '"', ";"]),
    st.text(max_size=5),
)  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(st.lists(_CSV_CELL, max_size=7), max_size=8),
    header=st.booleans(),
    date_format=st.sampled_from([None, "%m/%d/%Y", "%Y"]),
)
def test_fuzzed_csv_gives_a_recording_or_a_config_error(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[list[str]],
    header: bool,
    date_format: str | None,
) -> None:
    tmp = tmp_path_factory.mktemp("fuzz")
    text = (GOOD_HEADER if header else "") + "".join(",".join(r) + "\n" for r in rows)
    path = tmp / "data.csv"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    columns = None if header else "time,open,high,low,close,volume"
    try:
        import_csv(path, "DOGE/USDT", "1d", tmp / "out.jsonl", date_format=date_format,
                   columns=columns)  # fmt: skip
    except ConfigError:
        return
    replayed_bars(tmp / "out.jsonl")  # every frame written decodes (it raises otherwise)
