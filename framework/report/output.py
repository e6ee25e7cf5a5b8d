"""A run's output directory: events.jsonl, fills.csv, equity.csv and summary.json.

* ``events.jsonl``: every private event as its Cryptomus frame (plus ``order_rejected``), one per
  line, encoded straight to bytes and written in buffered batches; its SHA-256 is computed as it
  is written.
* ``fills.csv``: one row per ``deal_update``.
* ``equity.csv``: the account's value in the report currency on the simulated clock, sampled
  when the account or the price of a market that values it changes, at most once per interval
  (a sample opens each interval of the time grid that saw a change), and once at the end; a
  quiet stretch of any length writes nothing. The first sample waits until every currency held
  that a market values has a price (the end's sample is taken regardless). A currency is valued at the last price
  of the market that quotes it in the report currency (BTC by BTC/USDT, AAPL by AAPL.US in
  USD); one with no such market, or no price yet, is reported in the summary as unpriced.
* ``summary.json``: :class:`framework.report.stats.Summary` plus the run's fingerprint.

Nothing written here depends on the wall clock, the hash seed or dict order of unordered input.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Final

import msgspec

from framework import events as ev
from framework.errors import ConfigError
from framework.exchange import PaperExchange
from framework.instruments import from_cryptomus
from framework.report.stats import FillRecord, RoundTrips, Summary, exposure, max_drawdown, sharpe

__all__ = ["RunOutput", "iso_time"]

_FLUSH_BYTES: Final = 1 << 16
_MINUTE_NS: Final = 60_000_000_000
_EPOCH: Final = dt.date(1970, 1, 1)
_FILL_BATCH: Final = 1024  # fills.csv rows written at a time
_ENCODER: Final = msgspec.json.Encoder()
_FILL_COLUMNS: Final = (
    "time", "ts_ns", "order_id", "deal_id", "transaction_id", "symbol", "direction", "role",
    "price", "quantity", "value", "fee", "fee_currency",
)  # fmt: skip
_FILL_COMMAS: Final = len(_FILL_COLUMNS) - 1


def _csv_line(fields: tuple[object, ...]) -> str:
    """One fills.csv line through the csv module: for a field that needs quoting."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(fields)
    return out.getvalue()


def iso_time(ts_ns: int) -> str:
    """UTC ISO-8601 time of integer ns, to the millisecond: ``2025-06-26T16:00:00.000Z``."""
    seconds, ns = divmod(ts_ns, 1_000_000_000)
    days, second = divmod(seconds, 86_400)
    hour, second = divmod(second, 3_600)
    minute, second = divmod(second, 60)
    return f"{_iso_day(days)}T{hour:02d}:{minute:02d}:{second:02d}.{ns // 1_000_000:03d}Z"


@functools.lru_cache(maxsize=64)
def _iso_day(days: int) -> str:
    return (_EPOCH + dt.timedelta(days=days)).isoformat()


class RunOutput:
    """Receives private events and equity samples; writes the four output files."""

    def __init__(self, out_dir: str | Path, exchange: PaperExchange, currency: str) -> None:
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
        self.currency = currency
        self._buf = bytearray()
        self._sha = hashlib.sha256()
        self._fills = csv.writer(self._fills_fh, lineterminator="\n")
        self._fills.writerow(_FILL_COLUMNS)
        self._fill_rows: list[str] = []  # fills.csv lines not yet written
        self._equity_rows = csv.writer(self._equity_fh, lineterminator="\n")
        self._equity_rows.writerow(("time", "ts_ns", "equity"))
        self._orders: dict[str, tuple[str, str]] = {}  # order id -> (direction, instrument)
        self._markets: dict[str, tuple[str, str]] = {}  # symbol -> (instrument, quote currency)
        # currency -> the market that prices it in the report currency (AAPL -> AAPL.US in USD)
        self._valued_in: dict[str, str] = {}
        for instrument, rules in sorted(exchange.markets().items()):
            if rules.quote_currency == currency:
                self._valued_in.setdefault(rules.base_currency, instrument)
        self.equity: list[float] = []
        self.interval_ns = _MINUTE_NS  # the sampling interval; set_interval changes it
        self.interval_auto = True  # follows the data: one sample per bar of bar data
        self.next_sample_ns = 0  # a change at or after this time is sampled
        self.sampled = False  # whether the first sample (every held currency priced) is taken
        self.equity_ns = 0  # the time of the last sample
        # Called with (time, value) after each sample: the run database follows equity.csv.
        self.equity_listener: Callable[[int, float], None] | None = None
        self.trips = RoundTrips()
        self.fees: dict[str, Decimal] = {}
        self.unpriced: set[str] = set()
        self.orders = 0
        self.fill_count = 0
        self.rejections = 0

    # --- private events -------------------------------------------------------------------------

    def on_private(self, event: ev.PrivateEvent) -> None:
        """Append one private event to events.jsonl; record fills."""
        buf = self._buf
        _ENCODER.encode_into(event, buf, len(buf))
        buf += b"\n"
        if len(buf) >= _FLUSH_BYTES:
            self._flush()
        kind = type(event)
        if kind is ev.BalanceUpdate:
            return
        if kind is ev.OrderUpdate:
            assert isinstance(event, ev.OrderUpdate)
            kind_of_update = event.data.type
            if kind_of_update == "created":
                info = event.data.info
                self.orders += 1
                self._orders[info.id] = (info.direction, info.symbol)
            elif kind_of_update == "finished":
                self._orders.pop(event.data.info.id, None)
        elif isinstance(event, ev.DealUpdate):
            self._fill(event.data.info)
        elif isinstance(event, ev.OrderRejected):
            self.rejections += 1

    def _fill(self, deal: ev.DealInfo) -> None:
        order_id = self._exchange.order_id_of_deal(deal.dealId) or ""
        direction, _ = self._orders.get(order_id, ("", deal.symbol))
        market = self._markets.get(deal.symbol)
        if market is None:
            instrument = from_cryptomus(deal.symbol)
            market = self._markets[deal.symbol] = (
                instrument,
                self._exchange.rules(instrument).quote_currency,
            )
        instrument, quote = market
        ts_ns = deal.committedAt * 1_000_000_000
        fields = (
            iso_time(ts_ns), str(ts_ns), order_id, deal.dealId, deal.transactionId, deal.symbol,
            direction, deal.tradeRole, deal.filledPrice, deal.filledQuantity, deal.filledValue,
            deal.fee, deal.feeCurrency,
        )  # fmt: skip
        row = ",".join(fields)
        if (
            row.count(",") == _FILL_COMMAS
            and '"' not in row
            and "\n" not in row
            and "\r" not in row
        ):
            row += "\n"
        else:  # a field holds a comma, quote or line break: let the csv module quote it
            row = _csv_line(fields)
        rows = self._fill_rows
        rows.append(row)
        if len(rows) >= _FILL_BATCH:
            self._fills_fh.write("".join(rows))
            rows.clear()
        fee = Decimal(deal.fee)
        self.fees[deal.feeCurrency] = self.fees.get(deal.feeCurrency, Decimal(0)) + fee
        self.fill_count += 1
        self.trips.add(
            FillRecord(
                ts_ns,
                instrument,
                direction,
                Decimal(deal.filledQuantity),
                Decimal(deal.filledValue),
                fee,
                deal.feeCurrency,
                quote,
            )
        )

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
        self.next_sample_ns = self._grid_after(ts_ns)

    def _grid_after(self, ts_ns: int) -> int:
        return (ts_ns // self.interval_ns + 1) * self.interval_ns

    def _all_priced(self) -> bool:
        for currency, (available, held) in self._exchange.balances().items():
            if currency == self.currency or available + held == 0:
                continue
            market = self._valued_in.get(currency)
            if market is not None and self._exchange.last_price(market) is None:
                return False  # it will have a price; one with no market is only reported
        return True

    def sample_equity(self, _name: str, ts_ns: int) -> None:
        """Value the account now and append a row to equity.csv (a clock-timer callback)."""
        total = 0.0
        for currency, (available, held) in self._exchange.balances().items():
            amount = available + held
            if currency == self.currency:
                total += float(amount)
                continue
            if amount == 0:
                continue
            market = self._valued_in.get(currency)
            price = None if market is None else self._exchange.last_price(market)
            if price is None:
                self.unpriced.add(currency)
                continue
            total += float(amount) * price
        self.equity.append(total)
        self.equity_ns = ts_ns
        self._equity_rows.writerow((iso_time(ts_ns), ts_ns, f"{total:.8f}"))
        if self.equity_listener is not None:
            self.equity_listener(ts_ns, total)

    # --- the end --------------------------------------------------------------------------------

    def flush(self) -> None:
        """Hand everything written so far to the operating system (a live run, every so often)."""
        self._flush()
        self._events.flush()
        self._fills_fh.flush()
        self._equity_fh.flush()

    def close(self) -> str:
        """Flush and close every file; return the SHA-256 of events.jsonl."""
        self._flush()
        self._events.close()
        self._fills_fh.close()
        self._equity_fh.close()
        return self._sha.hexdigest()

    def summary(self, first_ns: int, last_ns: int, interval_s: float) -> Summary:
        """The run's statistics (call after the last equity sample)."""
        first = self.equity[0] if self.equity else 0.0
        last = self.equity[-1] if self.equity else 0.0
        return Summary(
            currency=self.currency,
            initial_equity=round(first, 8),
            final_equity=round(last, 8),
            total_return=round(last / first - 1.0, 10) if first else 0.0,
            max_drawdown=round(max_drawdown(self.equity), 10),
            sharpe=round(sharpe(self.equity, interval_s), 6),
            fees_paid={k: format(v.normalize(), "f") for k, v in sorted(self.fees.items())},
            orders=self.orders,
            fills=self.fill_count,
            rejections=self.rejections,
            round_trips=self.trips.closed,
            win_rate=round(self.trips.win_rate, 6),
            exposure=round(exposure(self.trips, first_ns, last_ns), 6),
            # A recording with no line after its header has no period: "" rather than 1970.
            first_time=iso_time(first_ns) if first_ns or last_ns else "",
            last_time=iso_time(last_ns) if first_ns or last_ns else "",
        )

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write summary.json: sorted keys, two-space indent, a final newline."""
        text = msgspec.json.format(msgspec.json.encode(summary, order="sorted"), indent=2)
        (self.dir / "summary.json").write_bytes(text + b"\n")

    def _flush(self) -> None:
        if self._fill_rows:
            self._fills_fh.write("".join(self._fill_rows))
            self._fill_rows.clear()
        if self._buf:
            self._events.write(self._buf)
            self._sha.update(self._buf)
            self._buf.clear()
