"""``papertrade import-csv``: an OHLCV CSV file becomes a recording of Finazon bar frames.

Users backtest their own history by importing it once and replaying the recording like any
other. The CSV may come from Yahoo (``Date,Open,High,Low,Close,Adj Close,Volume``),
backtesting.py (an unnamed or ``Date``/``Datetime`` index, ``Open,High,Low,Close,Volume``) or a
common exporter (``timestamp``/``time``/``date``/``datetime`` in Unix seconds, milliseconds or
ISO 8601; MetaTrader's ``<DATE>,<TIME>`` pair). Header names are matched in any case; ``,``,
``;`` and tab delimiters are recognised, a byte-order mark is skipped, and with ``;`` a decimal
comma is accepted. Times without a zone are UTC; a date alone is midnight UTC. A ``volume``
column is optional (0 when absent).

Theory of operation. Each valid row is one bar whose time is its **open** time. Finazon has no
end-of-bar flag: its codec closes a bar when a frame with a later ``t`` arrives. So that each
bar closes exactly when it ends, never earlier (that would leak the future) and never one
interval late, every bar is written as two frames, both received at the bar's close time:

1. the bar's final values (``t`` = its open time), then
2. the opening push of the next bar (``t`` = the next row's open time, or the next interval
   for the last row): open = high = low = close = this bar's close, volume 0, as a live feed
   pushes a bar that has just begun.

The second frame makes the codec emit the closed ``Bar``, stamped with the close time; the paper
exchange then fills an order placed on it at a later bar's open. The recording's last event is
the never-closed opening push after the last row, which only ``on_bar_update`` sees.

Frames name the interval in ``aggr`` (and ``f``): ``1m`` is Finazon's documented aggregation;
any other interval (``5m``, ``1h``, ``1d``...) needs a Finazon codec that accepts it, and the
report warns when the codec refuses the frames written. The header names
provider ``finazon`` with dataset ``us_stocks_essential`` for ``*.US`` stocks (so ``AAPL``
decodes as ``AAPL.US``) and ``csv`` otherwise.

Rows that cannot be a bar (a missing field, a number that does not parse, high below low, open
or close outside the range, a time that does not parse, repeats or goes back, or starts before
the previous bar ends) are skipped and reported with their line number. This module reads one
file and writes one; it must not read the clock or touch the network.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import msgspec

from framework import instruments
from framework.errors import ConfigError, ProviderProtocolError
from framework.exchange.rules import DEFAULT_MARKETS, MarketRules
from framework.importers.base import MARKET_SAMPLE, market_from_sample, step
from framework.providers.base import Subscription
from framework.providers.finazon import PROVIDER as FINAZON
from framework.providers.finazon import CandleUpdate, FinazonCodec
from framework.recording import FORMAT, VERSION, Frame, Header, ProviderSpec, RecordingWriter

__all__ = ["GENERATOR", "BarRow", "bar_frames", "finazon_names", "import_csv", "parse_interval"]

GENERATOR: Final = "papertrade import-csv"
_NS: Final = 1_000_000_000
_UNITS: Final = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86_400,
                 "w": 604_800, "wk": 604_800}  # fmt: skip
_INTERVAL: Final = re.compile(r"^(\d+)\s*([a-z]+)$")
_TIME_NAMES: Final = ("datetime", "date time", "timestamp", "time", "date", "open time", "ts", "")
_FIELD_NAMES: Final = {
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v"),
}
_DOTTED_DATE: Final = re.compile(r"^(\d{4})[./](\d{2})[./](\d{2})")
_COMPACT_DATE: Final = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_NUMERIC_TIME: Final = re.compile(r"^\d+(\.\d+)?$")
_MAX_LISTED: Final = 20  # bad rows listed one by one in the report; the rest are counted
_ENCODER: Final = msgspec.json.Encoder()


class BarRow(msgspec.Struct, frozen=True):
    """One bar as a CSV row gives it: open time in Unix seconds, then OHLCV."""

    t: int  # open time, Unix seconds
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0


class _Columns(msgspec.Struct, frozen=True):
    time: int  # index of the time (or date) column
    clock: int  # index of a separate time-of-day column, or -1
    fields: dict[str, int]  # open/high/low/close[/volume] -> index
    names: dict[str, str]  # role -> the header name as written, for the report
    ignored: tuple[str, ...]  # header names not used


def parse_interval(text: str) -> tuple[str, int]:
    """Parse a bar interval: ``1m``, ``5m``, ``15min``, ``1h``, ``4h``, ``1d``, ``1w``.

    Returns:
        The interval as Finazon writes an aggregation (``"5m"``, ``"1d"``) and its length in
        seconds.

    Raises:
        ConfigError: not a positive count followed by s, m, h, d or w (months are not fixed
            lengths, so ``1mo`` is refused).
    """
    match = _INTERVAL.match(text.strip().lower())
    unit = _UNITS.get(match.group(2)) if match else None
    if match is None or unit is None or int(match.group(1)) <= 0:
        raise ConfigError(f"interval {text!r} is not a bar length such as 1m, 5m, 1h, 1d or 1w")
    count = int(match.group(1))
    letter = {1: "s", 60: "m", 3600: "h", 86_400: "d", 604_800: "w"}[unit]
    return f"{count}{letter}", count * unit


def bar_frames(
    bars: Sequence[BarRow], ticker: str, dataset: str, interval: str, interval_s: int
) -> Iterator[Frame]:
    """The Finazon frames that replay ``bars``, two per bar (see the module docstring).

    Args:
        bars: bars in strictly increasing open time, none starting before the previous ends.
        ticker: Finazon's spelling of the instrument (``BTC/USDT``, ``AAPL``).
        dataset: the dataset code written as ``d`` and ``p``.
        interval: the bar length as written in ``aggr`` and ``f`` (``"1m"``).
        interval_s: the bar length in seconds.
    """
    for i, bar in enumerate(bars):
        close_s = bar.t + interval_s
        next_t = bars[i + 1].t if i + 1 < len(bars) else close_s
        opening = BarRow(next_t, bar.close, bar.close, bar.close, bar.close, 0.0)
        for row in (bar, opening):
            candle = CandleUpdate(
                d=dataset, p=dataset, ch="bars", f=interval, aggr=interval, s=ticker, t=row.t,
                o=row.open, h=row.high, l=row.low, c=row.close, v=row.volume,
            )  # fmt: skip
            yield Frame(close_s * _NS, FINAZON, 1, f=msgspec.Raw(_ENCODER.encode(candle)))


def finazon_names(symbol: str) -> tuple[str, str]:
    """Finazon's ticker for a canonical instrument id, and the dataset code that maps it back.

    ``AAPL.US`` is ticker ``AAPL`` in ``us_stocks_essential``; anything else keeps its id as
    the ticker, in the dataset ``csv``.

    Raises:
        ConfigError: the id is empty, holds white space, or does not map back to itself.
    """
    instrument = symbol.strip()
    if not instrument or any(ch.isspace() for ch in instrument):
        raise ConfigError(
            f"--symbol {symbol!r} is not an instrument id such as BTC/USDT or AAPL.US"
        )
    dataset = "us_stocks_essential" if instrument.endswith(".US") else "csv"
    ticker = instruments.to_finazon(instrument)
    if instruments.from_finazon(ticker, dataset) != instrument:
        raise ConfigError(f"--symbol {symbol!r} cannot be written as a Finazon ticker")
    return ticker, dataset


def import_csv(
    path: str | Path,
    symbol: str,
    interval: str,
    out: str | Path,
    *,
    date_format: str | None = None,
    columns: str | None = None,
    tick_size: Decimal | None = None,
    lot_size: Decimal | None = None,
) -> str:
    """Convert an OHLCV CSV file into a recording of bar frames.

    Args:
        path: the CSV file.
        symbol: the canonical instrument id the bars are of (``BTC/USDT``, ``AAPL.US``).
        interval: the bar length (``1m``, ``1h``, ``1d``...); see :func:`parse_interval`. It
            must be the usual spacing of the rows.
        out: the recording to write (``.jsonl``, or ``.jsonl.gz`` to compress it).
        date_format: a ``strptime`` format for the time column (``%m/%d/%Y``), for dates the
            automatic reading does not know.
        columns: the column names of a file without a header line, comma-separated in file
            order (``time,open,high,low,close,volume``); names other than those are ignored.
        tick_size: the price step of a market the paper exchange does not know.
        lot_size: its quantity step.

    Returns:
        A report for the user: bars written, the columns used, the period, the market defined,
        and every skipped row with its line number (the first 20 listed, all counted).

    Raises:
        ConfigError: the file is missing or unreadable, has no recognisable header, or no valid
            row; the symbol or interval is malformed, or the interval is not the rows' spacing.
        RecordingError: the recording cannot be written.
    """
    path = Path(path)
    aggr, interval_s = parse_interval(interval)
    ticker, dataset = finazon_names(symbol)
    instrument = symbol.strip()
    text, digest = _read(path)
    parsed = _parse(path, text, interval_s, date_format, columns)
    meta: dict[str, Any] = {
        "generator": GENERATOR, "source": path.name, "source_sha256": digest, "symbol": symbol,
        "interval": aggr, "bars": len(parsed.bars), "skipped_rows": len(parsed.bad),
    }  # fmt: skip
    market: tuple[MarketRules, str] | None = None
    if instrument not in DEFAULT_MARKETS or tick_size is not None or lot_size is not None:
        # Bar volumes say little about order sizes: a pair trades in 1e-8, a stock in shares.
        least = 0 if instruments.is_stock(instrument) else 8
        market = market_from_sample(instrument, parsed.sample, tick_size, lot_size, least)
        meta["markets"] = {instrument: msgspec.to_builtins(market[0])}
    header = Header(
        FORMAT,
        VERSION,
        (ProviderSpec(FINAZON, (Subscription("bars", ticker, interval=aggr),),
                      {"dataset": dataset}),),
        meta,
    )  # fmt: skip
    frames = list(bar_frames(parsed.bars, ticker, dataset, aggr, interval_s))
    with RecordingWriter(out, header) as writer:
        writer.write(frames)
    report = _report(path, Path(out), instrument, aggr, parsed, market)
    try:
        FinazonCodec(dataset).decode(frames[0].payload(), frames[0].t)
    except ProviderProtocolError as exc:  # say so now rather than replay undecodable frames
        report += f"\n  warning: this papertrade cannot replay these frames yet: {exc.reason}"
    return report


# --- reading ------------------------------------------------------------------------------------


def _read(path: Path) -> tuple[str, str]:
    """The file's text and the SHA-256 of its bytes."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"CSV file not found: {path}") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{path} is a directory, not a CSV file") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read CSV file {path}: {exc.strerror}") from exc
    # utf-8-sig drops a byte-order mark; names and numbers are ASCII, so a stray byte in some
    # other column is replaced rather than refused.
    return data.decode("utf-8-sig", errors="replace"), hashlib.sha256(data).hexdigest()


class _Parsed(msgspec.Struct):
    columns: _Columns
    bars: list[BarRow]  # sorted by time, one per time
    bad: list[tuple[int, str]]  # (line, reason), in line order
    sample: list[tuple[bytes, bytes]]  # price and volume texts, for an unknown market


def _parse(
    path: Path, text: str, interval_s: int, date_format: str | None, names: str | None
) -> _Parsed:
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise ConfigError(f"{path} is empty: expected a header line and OHLCV rows")
    delimiter = max((",", ";", "\t"), key=lines[first].count)
    reader = csv.reader(lines[first:], delimiter=delimiter)
    if names is None:
        columns = _columns(path, next(reader))
    else:
        columns = _columns(path, [n.strip() for n in names.split(",")], given=True)
        first -= 1  # no header line: the reader's first line is data
    rows: list[tuple[BarRow, int]] = []
    bad: list[tuple[int, str]] = []
    sample: list[tuple[bytes, bytes]] = []
    for row in reader:
        line_no = first + reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        try:
            bar = _bar(row, columns, decimal_comma=delimiter == ";", date_format=date_format)
        except ValueError as exc:
            bad.append((line_no, str(exc)))
            continue
        rows.append((bar, line_no))
        if len(sample) < MARKET_SAMPLE:
            sample += _texts(row, columns)
    bars = _in_order(rows, bad, interval_s)
    if not bars:
        bad.sort()
        detail = f"; first problem: line {bad[0][0]}: {bad[0][1]}" if bad else ""
        raise ConfigError(f"{path}: no valid OHLCV rows{detail}")
    _check_interval(path, bars, interval_s)
    bad.sort()
    return _Parsed(columns, bars, bad, sample)


def _in_order(
    rows: list[tuple[BarRow, int]], bad: list[tuple[int, str]], interval_s: int
) -> list[BarRow]:
    """The bars sorted by time (files may be newest first); repeats and overlaps reported."""
    rows.sort(key=lambda item: (item[0].t, item[1]))
    bars: list[BarRow] = []
    kept_line = 0
    for bar, line_no in rows:
        if bars:
            previous = bars[-1]
            if bar.t == previous.t:
                same = "the same bar" if bar == previous else "a different bar"
                bad.append((line_no, f"time {_iso(bar.t)} is a duplicate of line {kept_line} "
                                     f"({same}); line {kept_line} is kept"))  # fmt: skip
                continue
            if bar.t < previous.t + interval_s:
                bad.append((line_no, f"time {_iso(bar.t)} is inside the bar of line {kept_line}, "
                                     f"which ends at {_iso(previous.t + interval_s)}"))  # fmt: skip
                continue
        bars.append(bar)
        kept_line = line_no
    return bars


def _check_interval(path: Path, bars: list[BarRow], interval_s: int) -> None:
    """The rows' usual spacing must be the interval: daily rows are not 1h bars."""
    gaps = Counter(b.t - a.t for a, b in itertools.pairwise(bars))
    if not gaps:
        return
    usual = min(gaps, key=lambda gap: (-gaps[gap], gap))
    if usual != interval_s:
        raise ConfigError(
            f"{path}: rows are mostly {_span(usual)} apart ({gaps[usual]} of {len(bars) - 1} "
            f"gaps), but --interval is {_span(interval_s)}; give --interval {_span(usual)}"
        )


def _texts(row: list[str], columns: _Columns) -> list[tuple[bytes, bytes]]:
    volume = columns.fields.get("volume", -1)
    size = row[volume].strip().encode() if 0 <= volume < len(row) else b""
    fields = columns.fields
    return [(row[fields[role]].strip().encode(), size) for role in ("open", "high", "low", "close")]


def _span(seconds: int) -> str:
    for size, letter in ((604_800, "w"), (86_400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        if seconds % size == 0:
            return f"{seconds // size}{letter}"
    return f"{seconds}s"  # pragma: no cover - every whole second count has a unit


def _columns(path: Path, header: list[str], *, given: bool = False) -> _Columns:
    names = [_normal(name) for name in header]
    fields = {role: _find(names, aliases) for role, aliases in _FIELD_NAMES.items()}
    missing = [role for role in ("open", "high", "low", "close") if fields[role] < 0]
    time = next((names.index(n) for n in _TIME_NAMES if n in names), -1)
    clock = -1
    if "date" in names and "time" in names:  # MetaTrader: <DATE>,<TIME>
        time, clock = names.index("date"), names.index("time")
    if (missing or time < 0) and given:
        wanted = ", ".join(missing + ([] if time >= 0 else ["time"]))
        raise ConfigError(f"--columns {','.join(header)!r} names no {wanted} column")
    if missing or time < 0:
        wanted = ", ".join(missing + ([] if time >= 0 else ["a date or time column"]))
        raise ConfigError(
            f"{path}: no recognisable OHLCV header (missing {wanted}); the first line is "
            f"{', '.join(header)[:200]!r}; expected e.g. Date,Open,High,Low,Close,Volume "
            "(a file without a header needs --columns)"
        )
    used = {i for i in fields.values() if i >= 0} | {time, clock}
    shown = {"time": header[time] or "(unnamed index)"}
    shown.update({role: header[i] for role, i in fields.items() if i >= 0})
    return _Columns(
        time=time,
        clock=clock,
        fields={role: i for role, i in fields.items() if i >= 0},
        names=shown,
        ignored=tuple(h for i, h in enumerate(header) if i not in used and h.strip()),
    )


def _normal(name: str) -> str:
    return name.strip().strip("\ufeff\"'<>").strip().lower().replace("_", " ")


def _find(names: list[str], aliases: tuple[str, ...]) -> int:
    return next((names.index(a) for a in aliases if a in names), -1)


def _bar(
    row: list[str], columns: _Columns, *, decimal_comma: bool, date_format: str | None = None
) -> BarRow:
    values: dict[str, float] = {}
    for role, index in columns.fields.items():
        values[role] = _number(_cell(row, index, role), role, decimal_comma)
    stamp = _cell(row, columns.time, "time")
    if columns.clock >= 0:
        stamp = f"{stamp} {_cell(row, columns.clock, 'time')}"
    bar = BarRow(_seconds(stamp) if date_format is None else _formatted(stamp, date_format),
                 **values)  # fmt: skip
    if bar.high < bar.low:
        raise ValueError(f"high {bar.high:g} is below low {bar.low:g}")
    for role in ("open", "close"):
        value = values[role]
        if not bar.low <= value <= bar.high:
            raise ValueError(f"{role} {value:g} is outside low..high {bar.low:g}..{bar.high:g}")
    if bar.low <= 0:
        raise ValueError(f"low {bar.low:g} is not a positive price")
    if bar.volume < 0:
        raise ValueError(f"volume {bar.volume:g} is negative")
    return bar


def _cell(row: list[str], index: int, role: str) -> str:
    value = row[index].strip() if index < len(row) else ""
    if not value:
        raise ValueError(f"missing field '{role}'")
    return value


def _number(text: str, role: str, decimal_comma: bool) -> float:
    if decimal_comma and "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{role} {text[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{role} {text[:40]!r} is not a finite number")
    return value


def _seconds(stamp: str) -> int:
    """Unix seconds of a CSV time: epoch s/ms/us/ns, ISO 8601, YYYY.MM.DD or YYYYMMDD."""
    compact = _COMPACT_DATE.match(stamp)
    if compact:  # eight digits are a date: as Unix seconds they would all fall in 1970-73
        stamp = "-".join(compact.groups())
    elif _NUMERIC_TIME.match(stamp):
        return _epoch_seconds(stamp)
    stamp = _DOTTED_DATE.sub(r"\1-\2-\3", stamp)
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except ValueError:
        raise ValueError(f"time {stamp[:40]!r} is not a date, an ISO time or a Unix time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    if moment.microsecond:
        raise ValueError(f"time {stamp[:40]!r} is not on a whole second")
    return int(moment.timestamp())


def _formatted(stamp: str, date_format: str) -> int:
    """Unix seconds of a time written as ``--date-format`` says (UTC unless it has a zone)."""
    try:
        moment = dt.datetime.strptime(stamp, date_format)
    except ValueError:
        raise ValueError(
            f"time {stamp[:40]!r} does not match --date-format {date_format!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    if moment.microsecond:
        raise ValueError(f"time {stamp[:40]!r} is not on a whole second")
    return int(moment.timestamp())


def _epoch_seconds(stamp: str) -> int:
    whole, _, fraction = stamp.partition(".")
    if fraction.strip("0"):
        raise ValueError(f"time {stamp[:40]!r} is not on a whole second")
    # 1e11 s is the year 5138: anything longer is milliseconds, then microseconds, then ns.
    scale = next(
        s for limit, s in ((11, 1), (14, 1000), (17, 10**6), (99, 10**9)) if len(whole) <= limit
    )
    value = int(whole)
    if value % scale:
        raise ValueError(f"time {stamp[:40]!r} is not on a whole second")
    return value // scale


# --- the report ---------------------------------------------------------------------------------


def _report(
    path: Path,
    out: Path,
    symbol: str,
    interval: str,
    parsed: _Parsed,
    market: tuple[MarketRules, str] | None,
) -> str:
    columns, bars, bad = parsed.columns, parsed.bars, parsed.bad
    used = ", ".join(f"{role}={name}" for role, name in columns.names.items())
    bar_count = _plural(len(bars), "bar")
    lines = [
        f"imported {bar_count} of {symbol} ({interval}) from {path.name} into {out}",
        f"  columns: {used}"
        + (f"; ignored: {', '.join(columns.ignored)}" if columns.ignored else ""),
        f"  period: bars opening {_iso(bars[0].t)} .. {_iso(bars[-1].t)} (UTC)",
    ]
    if "volume" not in columns.fields:
        lines.append("  no volume column: volumes are 0")
    if market is not None:
        rules, how = market
        lines.append(
            f"  market {symbol} written into the recording: price step "
            f"{step(rules.quote_prec):f}, size step {step(rules.base_prec):f} ({how})"
        )
    if bad:
        lines.append(f"  skipped {_plural(len(bad), 'bad row')}:")
        lines += [f"    line {n}: {reason}" for n, reason in bad[:_MAX_LISTED]]
        if len(bad) > _MAX_LISTED:
            lines.append(f"    ... and {len(bad) - _MAX_LISTED} more")
    return "\n".join(lines)


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
