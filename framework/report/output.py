"""A run's output directory: the files a person reads, each a view of the results model.

* ``events.jsonl``: every private event as its Cryptomus frame (plus ``order_rejected``), one per
  line, encoded straight to bytes and written in buffered batches; its SHA-256 is computed as it
  is written. It is the exchange's own record, not a view.
* ``fills.csv``: one row per fill, with the strategy whose order it was; prices, quantities and
  amounts at the market's precision.
* ``trades.csv``: one row per round trip (:class:`framework.report.results.RoundTrip`), written
  as each trip closes; the trips still open at the end follow.
* ``equity.csv``: the account's value in the report currency on the simulated clock, sampled
  when the account or the price of a market that values it changes, at most once per interval
  (a sample opens each interval of the time grid that saw a change), and once at the end; a
  quiet stretch of any length writes nothing. The first sample waits until every currency held
  that a market values has a price (the end's sample is taken regardless). A currency is valued
  at the last price of the market that quotes it in the report currency (BTC by BTC/USDT, AAPL
  by AAPL.US in USD); one with no such market, or no price yet, is reported in the summary as
  unpriced. Every sample also goes to the results model, whose statistics are computed from it.
* ``results.json``: the results model itself (fills, round trips, thinned equity and price
  curves, the summary), from which ``papertrade report`` renders ``report.html`` later. Its
  fills and round trips are encoded as they happen into two anonymous temporary files and
  copied into it at the end, so that a long run keeps none of them in memory.
* ``summary.json``: the statistics of :class:`framework.report.results.Results` plus the run's
  fingerprint.

Nothing written here depends on the wall clock, the hash seed or dict order of unordered input.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
import shutil
import tempfile
import weakref
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import msgspec

from framework import events as ev
from framework.errors import ConfigError
from framework.exchange import PaperExchange
from framework.money import ZERO, quantize
from framework.report.results import QUANTIZE, Fill, Quanta, Results, RoundTrip

if TYPE_CHECKING:
    from framework.marketbook import InstrumentState

__all__ = ["FILL_COLUMNS", "TRADE_COLUMNS", "RunOutput", "iso_time"]

_FLUSH_BYTES: Final = 1 << 16
_SPOOL_ITEMS: Final = 256  # fills or round trips encoded together for results.json
_MINUTE_NS: Final = 60_000_000_000
_DAY_NS: Final = 86_400_000_000_000
_EQUITY_ROWS: Final = 256  # equity.csv rows written together
_FILL_ROWS: Final = 256  # fills.csv rows written together
_FILL_TIMES: Final = 4096  # fill times kept rendered
_NO_RULES: Final = Quanta(None)  # a market with no rules: 16 decimals
_EPOCH: Final = dt.date(1970, 1, 1)
_HOURS_MINUTES: Final = tuple(f"{m // 60:02d}:{m % 60:02d}" for m in range(1440))
_SECONDS: Final = tuple(f"{n:02d}" for n in range(60))
_MILLISECONDS: Final = tuple(f"{n:03d}" for n in range(1000))
_SORTED: Final = msgspec.json.Encoder(order="sorted")  # results.json's encoding
# Fills and round trips declare their fields in name order: encoded as declared, they are
# encoded as _SORTED would, without a sort per item.
_ITEMS: Final = msgspec.json.Encoder()
FILL_COLUMNS: Final = (
    "time", "ts_ns", "strategy", "order_id", "deal_id", "transaction_id", "symbol", "direction",
    "role", "price", "quantity", "value", "fee", "fee_currency",
)  # fmt: skip
TRADE_COLUMNS: Final = (
    "strategy", "instrument", "side", "status", "entry_time", "exit_time", "entry_price",
    "exit_price", "quantity", "gross_pnl", "fees", "net_pnl", "quote", "return_pct",
    "duration_s", "bars_held", "trades_held", "finalizing",
)  # fmt: skip


def iso_time(ts_ns: int) -> str:
    """UTC ISO-8601 time of integer ns, to the millisecond: ``2025-06-26T16:00:00.000Z``."""
    seconds, ns = divmod(ts_ns, 1_000_000_000)
    days, second = divmod(seconds, 86_400)
    minute, second = divmod(second, 60)
    # From tables, without a format spec per field (several per fill and round trip).
    clock = f"{_HOURS_MINUTES[minute]}:{_SECONDS[second]}.{_MILLISECONDS[ns // 1_000_000]}"
    return f"{_iso_day(days)}T{clock}Z"


@functools.lru_cache(maxsize=64)
def _iso_day(days: int) -> str:
    return (_EPOCH + dt.timedelta(days=days)).isoformat()


class RunOutput:
    """Receives private events and equity samples; writes the output files from ``results``."""

    def __init__(self, out_dir: str | Path, exchange: PaperExchange, results: Results) -> None:
        self.dir = Path(out_dir)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._events: IO[bytes] = open(self.dir / "events.jsonl", "wb")  # noqa: SIM115
            self._fills_fh = open(self.dir / "fills.csv", "w", newline="", encoding="utf-8")  # noqa: SIM115
            self._equity_fh = open(self.dir / "equity.csv", "w", newline="", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise ConfigError(
                f"cannot write to output directory {self.dir}: {exc.strerror}"
            ) from exc
        self._exchange = exchange
        self.results = results
        self.currency = results.currency
        self._buf = bytearray()
        self._sha = hashlib.sha256()
        self._fills = csv.writer(self._fills_fh, lineterminator="\n")
        self._fills.writerow(FILL_COLUMNS)
        self._fill_lines: list[str] = []  # fills.csv rows not yet written, without newlines
        # iso_time of recent fills' times: a round trip's entry and exit are fills' times
        self._fill_times: dict[int, str] = {}
        results.fill_views.append(self._write_fills_of)
        results.trip_views.append(self._write_trips_of)
        # results.json's fills and round trips, each item encoded as it happens
        self._spools = (tempfile.TemporaryFile(), tempfile.TemporaryFile())  # noqa: SIM115
        self._spooled = [0, 0]  # items in each
        self._unspooled: tuple[list[Fill], list[RoundTrip]] = ([], [])  # encoded by the block
        weakref.finalize(self, _close_all, self._spools)  # also on a run that never finishes
        self._trades_mode = "w"  # trades.csv is started by its first write
        self._trades_buf = io.StringIO()
        self._trades = csv.writer(self._trades_buf, lineterminator="\n")
        self._trades.writerow(TRADE_COLUMNS)
        self._quanta = {name: Quanta(r) for name, r in exchange.markets().items()}
        # by instrument: whether the results model rounds its round trips' amounts to the
        # precisions trades.csv writes (then they are written as they are)
        self._exact: dict[str, bool] = {}
        self._equity_rows = csv.writer(self._equity_fh, lineterminator="\n")
        self._equity_rows.writerow(("time", "ts_ns", "equity"))
        # currency -> the market that prices it in the report currency (AAPL -> AAPL.US in USD)
        self._valued_in: dict[str, str] = {}
        for instrument, rules in sorted(exchange.markets().items()):
            if rules.quote_currency == self.currency:
                self._valued_in.setdefault(rules.base_currency, instrument)
        # The valuation plan, remade from the balances only when the account has changed:
        # (currency, float(available + held), the state whose last price values it, or None
        # for the report currency), in currency order, the held currencies that a market values
        # or the report currency; and the held ones no market values. The balances it was
        # made from are kept (currency, available, held) as the objects the account held then:
        # while the account holds the same objects, it holds the same amounts.
        self._balances = exchange.balance_views()
        self._prices = {c: exchange.state.of(m) for c, m in self._valued_in.items()}
        self._plan: tuple[tuple[str, float, InstrumentState | None], ...] = ()
        self._marketless: tuple[str, ...] = ()
        self._planned: tuple[tuple[str, Decimal, Decimal | None], ...] | None = None
        self._samples: list[tuple[int, float]] = []  # equity.csv rows not yet rendered
        self._day_ns = -_DAY_NS  # the start of the day of the last equity row, and its text
        self._day_text = ""
        self.interval_ns = _MINUTE_NS  # the sampling interval; set_interval changes it
        self.interval_auto = True  # follows the data: one sample per bar of bar data
        self.next_sample_ns = 0  # a change at or after this time is sampled
        self.sampled = False  # whether the first sample (every held currency priced) is taken
        self.equity_ns = 0  # the time of the last sample
        # Called with (time, value) after each sample: the run database follows equity.csv.
        self.equity_listener: Callable[[int, float], None] | None = None
        self.unpriced: set[str] = set()

    # --- private events -------------------------------------------------------------------------

    @property
    def events(self) -> bytearray:
        """events.jsonl's buffer: the venue appends each private event's line to it
        (``framework.exchange.frames``), then calls :meth:`flush_events` once it is full."""
        return self._buf

    def flush_events(self) -> None:
        """Write the buffered lines to events.jsonl."""
        self._flush()

    def _write_fills_of(self, fills: list[Fill]) -> None:
        """A batch of fills, in order: results.json's items and fills.csv's rows."""
        unspooled = self._unspooled[0]  # for results.json, encoded _SPOOL_ITEMS at a time
        unspooled.extend(fills)
        if len(unspooled) >= _SPOOL_ITEMS:
            self._spool_out(0)
        all_quanta, q, even = self._quanta, QUANTIZE, ROUND_HALF_EVEN
        fill_time = self._fill_time
        lines = self._fill_lines
        for fill in fills:
            quanta = all_quanta.get(fill.instrument) or _NO_RULES
            quote = quanta.quote
            # _fixed of the four amounts, inlined: plain text unless one shows an exponent
            amounts = (
                f"{fill.price.quantize(quote, even, q)!s},"
                f"{fill.quantity.quantize(quanta.base, even, q)!s},"
                f"{fill.value.quantize(quote, even, q)!s},"
                f"{fill.fee.quantize(quote, even, q)!s}"
            )
            if "E" in amounts:
                places, base = quanta.quote_prec, quanta.base_prec
                amounts = ",".join((
                    _fixed(fill.price, places), _fixed(fill.quantity, base),
                    _fixed(fill.value, places), _fixed(fill.fee, places),
                ))  # fmt: skip
            ts_ns = fill.ts_ns
            time = fill_time(ts_ns)
            line = (
                f"{time},{ts_ns},{fill.strategy},{fill.order_id},{fill.deal_id},"
                f"{fill.transaction_id},{fill.symbol},{fill.side},{fill.role},{amounts},"
                f"{fill.fee_currency}"
            )
            # _write_row: a row with no field csv would quote is the fields joined by commas
            if line.count(",") == 13 and not ('"' in line or "\n" in line or "\r" in line):
                lines.append(line)
            else:
                self._write_fills()
                row = (
                    time, str(ts_ns), fill.strategy, fill.order_id, fill.deal_id,
                    fill.transaction_id, fill.symbol, fill.side, fill.role,
                    *amounts.split(","), fill.fee_currency,
                )  # fmt: skip
                self._fills.writerow(row)
        if len(lines) >= _FILL_ROWS:
            self._write_fills()

    def _fill_time(self, ts_ns: int) -> str:
        """iso_time of a fill's time, kept for the round trips it opens or closes."""
        times = self._fill_times
        text = times.get(ts_ns)
        if text is None:
            if len(times) >= _FILL_TIMES:
                times.clear()  # a trip held that long renders its entry time again
            text = times[ts_ns] = iso_time(ts_ns)
        return text

    def _write_fills(self) -> None:
        """Write the fills.csv rows kept back."""
        lines = self._fill_lines
        if lines:
            lines.append("")  # the last row's newline
            self._fills_fh.write("\n".join(lines))
            lines.clear()

    # --- equity ---------------------------------------------------------------------------------

    def set_interval(self, interval_ns: int, *, auto: bool = False) -> None:
        """Sample at most once per ``interval_ns``; ``auto`` lets the first bar's length set it."""
        self.interval_ns = interval_ns
        self.interval_auto = auto

    def valued_markets(self) -> frozenset[str]:
        """The instruments whose prices value a currency in the report currency."""
        return frozenset(self._valued_in.values())

    def on_bar(self, bar: ev.Bar) -> None:
        """A closed bar: in automatic mode its length becomes the interval (once)."""
        if self.interval_auto and bar.interval_ns > 0:
            self.interval_auto = False
            self.interval_ns = bar.interval_ns
            if self.sampled:
                self.next_sample_ns = self._grid_after(self.equity_ns)

    def changed(self, ts_ns: int) -> None:
        """The account or a price changed at ``ts_ns``: sample it if due (see the module doc)."""
        if ts_ns < self.next_sample_ns:
            return
        if not self.sampled:
            if not self._all_priced():
                return
            self.sampled = True
        self.sample_equity("equity", ts_ns)
        interval = self.interval_ns  # _grid_after, inlined: a sample is taken every few trades
        self.next_sample_ns = (ts_ns // interval + 1) * interval

    def _grid_after(self, ts_ns: int) -> int:
        return (ts_ns // self.interval_ns + 1) * self.interval_ns

    def _all_priced(self) -> bool:
        if not self._plan_current():
            self._replan()
        # a currency with a market will have a price; one with no market is only reported
        return all(state is None or state.last is not None for _, _, state in self._plan)

    def _plan_current(self) -> bool:
        """Whether the account still holds the balances the plan was made from."""
        planned, (available, held) = self._planned, self._balances
        if planned is None or len(planned) != len(available):
            return False
        for currency, was, in_orders in planned:
            if available.get(currency) is not was or held.get(currency) is not in_orders:
                return False
        return True

    def _replan(self) -> None:
        """Remake the valuation plan from the account's balances (see ``__init__``)."""
        plan: list[tuple[str, float, InstrumentState | None]] = []
        marketless: list[str] = []
        balances, held_balances = self._balances
        planned = []
        for currency in sorted(balances):  # PaperExchange.balances(), without its dict
            available, held = balances[currency], held_balances.get(currency)
            planned.append((currency, available, held))
            amount = available + (ZERO if held is None else held)
            if currency == self.currency:
                plan.append((currency, float(amount), None))
            elif amount != 0:
                state = self._prices.get(currency)
                if state is None:
                    marketless.append(currency)
                else:
                    plan.append((currency, float(amount), state))
        self._plan, self._marketless = tuple(plan), tuple(marketless)
        self._planned = tuple(planned)

    def sample_equity(self, _name: str, ts_ns: int) -> None:
        """Value the account now and append a row to equity.csv (a clock-timer callback).

        The value is the sum, in currency order, of each held currency's float amount (times
        the last price of the market that values it, but for the report currency); the float
        amounts are made again only when the account has changed since the last sample."""
        planned, (balances, held) = self._planned, self._balances  # _plan_current, inlined
        if planned is None or len(planned) != len(balances):
            self._replan()
        else:
            for currency, available, in_orders in planned:
                if balances.get(currency) is not available or held.get(currency) is not in_orders:
                    self._replan()
                    break
        total = 0.0
        for currency, amount, state in self._plan:
            if state is None:
                total += amount
                continue
            price = state.last
            if price is None:
                self.unpriced.add(currency)
                continue
            total += amount * price
        if self._marketless:
            self.unpriced.update(self._marketless)
        self.results.add_equity(ts_ns, total)
        self.equity_ns = ts_ns
        samples = self._samples  # rendered _EQUITY_ROWS at a time
        samples.append((ts_ns, total))
        if len(samples) >= _EQUITY_ROWS:
            self._write_equity()
        if self.equity_listener is not None:
            self.equity_listener(ts_ns, total)

    def _write_equity(self) -> None:
        """Render the samples waiting and write their equity.csv rows."""
        samples = self._samples
        if not samples:
            return
        day_ns, day_text = self._day_ns, self._day_text
        hours_minutes, seconds, milliseconds = _HOURS_MINUTES, _SECONDS, _MILLISECONDS
        lines = []
        for ts_ns, total in samples:
            # iso_time's text, from the day's text kept while the rows stay in that day
            into = ts_ns - day_ns
            if not 0 <= into < _DAY_NS:
                day = ts_ns // _DAY_NS
                day_ns = day * _DAY_NS
                day_text = _iso_day(day) + "T"
                into = ts_ns - day_ns
            minute, ns = divmod(into, _MINUTE_NS)
            second, ns = divmod(ns, 1_000_000_000)
            # the row csv.writer would write: no field can hold a comma, a quote or a newline
            lines.append(
                f"{day_text}{hours_minutes[minute]}:{seconds[second]}."
                f"{milliseconds[ns // 1_000_000]}Z,{ts_ns},{total:.8f}\n"
            )
        self._day_ns, self._day_text = day_ns, day_text
        self._equity_fh.write("".join(lines))
        samples.clear()

    # --- the end --------------------------------------------------------------------------------

    def flush(self) -> None:
        """Hand everything written so far to the operating system (a live run, every so often)."""
        self.results.settle()  # the fills booked in batches, to fills.csv
        self._flush()
        self._events.flush()
        self._write_fills()
        self._fills_fh.flush()
        self._write_equity()
        self._equity_fh.flush()

    def close(self) -> str:
        """Flush and close the streamed files; return the SHA-256 of events.jsonl."""
        self.results.settle()  # the fills booked in batches, to fills.csv
        self._flush()
        self._events.close()
        self._write_fills()
        self._fills_fh.close()
        self._write_equity()
        self._equity_fh.close()
        return self._sha.hexdigest()

    def _write_trips_of(self, trips: list[RoundTrip]) -> None:
        """Round trips as they close (or, open, at the end), a batch at a time, in order:
        results.json's items and trades.csv's rows."""
        unspooled = self._unspooled[1]
        unspooled.extend(trips)
        if len(unspooled) >= _SPOOL_ITEMS:
            self._spool_out(1)
        buf, writer, exact = self._trades_buf, self._trades, self._exact
        trade_row = self.trade_row
        for trip in trips:
            instrument = trip.instrument
            rounded = exact.get(instrument)
            if rounded is None:
                rounded = exact[instrument] = self._rounded_alike(instrument)
            _write_row(buf, writer, tuple(map(str, trade_row(trip, exact=rounded))))
        if buf.tell() >= _FLUSH_BYTES:
            self._flush_trades()

    def _rounded_alike(self, instrument: str) -> bool:
        """Whether the results model rounds ``instrument``'s round trips as trades.csv does."""
        ours, theirs = self._quanta.get(instrument) or _NO_RULES, self.results.quanta(instrument)
        return (ours.quote_prec, ours.base_prec) == (theirs.quote_prec, theirs.base_prec)

    def _spool_out(self, which: int) -> None:
        """Encode the items waiting for spool ``which`` in one call, comma-separated."""
        items = self._unspooled[which]
        if not items:
            return
        spool = self._spools[which]
        if self._spooled[which]:
            spool.write(b",")
        spool.write(_ITEMS.encode(items)[1:-1])  # a list's items, without its brackets
        self._spooled[which] += len(items)
        items.clear()

    def _flush_trades(self) -> None:
        with open(self.dir / "trades.csv", self._trades_mode, newline="", encoding="utf-8") as fh:
            fh.write(self._trades_buf.getvalue())
        self._trades_mode = "a"
        self._trades_buf.seek(0)
        self._trades_buf.truncate()

    def trade_row(self, t: RoundTrip, *, exact: bool = False) -> tuple[object, ...]:
        """One round trip as trades.csv writes it (:data:`TRADE_COLUMNS`). ``exact``: its
        prices, quantity, P&L and fees are at the market's precisions already (as
        ``Results`` rounds them), so they are written as they are."""
        quanta = self._quanta.get(t.instrument) or _NO_RULES
        quote, q = quanta.quote, QUANTIZE
        # _fixed of the six amounts, inlined: plain text unless one shows an exponent
        if exact:  # net_pnl is gross_pnl - fees, whose exponent the context may have moved
            amounts = (
                str(t.entry_price), str(t.exit_price), str(t.quantity), str(t.gross_pnl),
                str(t.fees), str(t.net_pnl.quantize(quote, ROUND_HALF_EVEN, q)),
            )  # fmt: skip
        else:
            amounts = (
                str(t.entry_price.quantize(quote, ROUND_HALF_EVEN, q)),
                str(t.exit_price.quantize(quote, ROUND_HALF_EVEN, q)),
                str(t.quantity.quantize(quanta.base, ROUND_HALF_EVEN, q)),
                str(t.gross_pnl.quantize(quote, ROUND_HALF_EVEN, q)),
                str(t.fees.quantize(quote, ROUND_HALF_EVEN, q)),
                str(t.net_pnl.quantize(quote, ROUND_HALF_EVEN, q)),
            )
        if "E" in "".join(amounts):
            places, base = quanta.quote_prec, quanta.base_prec
            amounts = (
                _fixed(t.entry_price, places), _fixed(t.exit_price, places),
                _fixed(t.quantity, base), _fixed(t.gross_pnl, places), _fixed(t.fees, places),
                _fixed(t.net_pnl, places),
            )  # fmt: skip
        return (
            t.strategy, t.instrument, t.side, t.status, self._fill_time(t.entry_ns),
            self._fill_time(t.exit_ns) if t.status == "closed" else "", *amounts, t.quote,
            f"{t.net_return * 100:.4f}", f"{t.duration_s:.3f}", t.bars_held, t.trades_held,
            "true" if t.finalizing else "false",
        )  # fmt: skip

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write the end-of-run files: the rest of trades.csv (closed trips first, in closing
        order, then the open ones), results.json (the model, for views made later), then
        summary.json (sorted keys, two-space indent, a final newline). Call after
        :meth:`Results.finish`."""
        self._flush_trades()
        self._spool_out(0)
        self._spool_out(1)
        equity, prices = self.results.curves()
        fills, trips = self._spools
        with open(self.dir / "results.json", "wb") as fh:
            fh.write(b'{"equity":' + _SORTED.encode(equity) + b',"fills":[')
            _copy(fills, fh)
            fh.write(b'],"format":1,"prices":' + _SORTED.encode(prices) + b',"round_trips":[')
            _copy(trips, fh)
            fh.write(b'],"summary":' + _SORTED.encode(summary) + b"}\n")
        _close_all(self._spools)
        text = msgspec.json.format(msgspec.json.encode(summary, order="sorted"), indent=2)
        (self.dir / "summary.json").write_bytes(text + b"\n")

    def _flush(self) -> None:
        self._exchange.settle_lines()  # the lines the venue kept back come first
        if self._buf:
            self._events.write(self._buf)
            self._sha.update(self._buf)
            self._buf.clear()


def _copy(spool: IO[bytes], out: IO[bytes]) -> None:
    spool.seek(0)
    shutil.copyfileobj(spool, out)


def _close_all(files: tuple[IO[bytes], ...]) -> None:
    for fh in files:
        fh.close()


def _write_row(fh: IO[str], writer: Any, row: tuple[str, ...]) -> None:
    """Write one csv row of text fields as ``writer`` would. A row with no field that csv
    quotes (ids, numbers, times, and names without a comma, quote or line break) is joined
    here: the same text, without csv's scan of every character."""
    line = ",".join(row)
    # (a row of one empty field is quoted: it would read back as no field at all)
    if line.count(",") == len(row) - 1 > 0 and not _quoted(line):
        fh.write(line + "\n")
    else:
        writer.writerow(row)


def _quoted(line: str) -> bool:
    """Whether ``line`` holds what makes csv quote a field, besides the delimiter, on any
    Python version (3.11 quotes '"' and the line terminator's '\\n'; later versions also
    '\\r'). Three scans for one character each cost less than one regular expression's scan
    for any of three."""
    return '"' in line or "\n" in line or "\r" in line


def _fixed(value: Decimal, places: int) -> str:
    """A Decimal at a market's precision, in plain notation (no exponent, no 16-decimal pad)."""
    fixed = quantize(value, places)
    text = str(fixed)  # plain notation unless it shows an exponent ("1.2E-7"), as format() is
    return text if "E" not in text else format(fixed, "f")
