"""One run's rows in the run database: written as the run goes, committed in small transactions.

Theory of operation. :func:`begin_run` inserts the run's row (status ``running``) and commits at
once, so a run that dies early is still listed. The writer is then attached to the engine: it
receives every private event after the run's output log does, and every equity sample. Those
calls only append tuples to lists (no SQL on the loop's hot path); :meth:`RunWriter.flush`
writes what is pending in one transaction, with the round trips the results model closed
since the last flush (rendered as ``trades.csv`` renders them; the trips still open at the end
are written by the last flush, after the results model has marked them). A replay flushes every few thousand rows and at
the end; a live run also flushes from a timer task every half second, so the database is at
most a second behind. A crash loses at most the rows not yet committed: SQLite's WAL keeps
every committed transaction whole, and a run whose process died stays ``running``.

Nothing here changes what a run computes or writes to its folder; every row is deterministic
apart from ``run_id``, ``started_at`` and ``ended_at``.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec

from framework import events as ev
from framework.config import config_hash
from framework.report.output import iso_time
from framework.rundb.schema import connect

if TYPE_CHECKING:
    from framework.loop import Engine
    from framework.report.output import RunOutput
    from framework.report.results import RoundTrip
    from framework.run import RunSetup

__all__ = ["FLUSH_ROWS", "RunWriter", "begin_run"]

FLUSH_ROWS: Final = 20_000  # pending rows that make the writer flush on its own

_ORDER_UPSERT: Final = """
INSERT INTO orders (run_id, order_id, strategy, symbol, order_type, direction, price, quantity,
    value, filled_quantity, filled_value, client_oid, created_ns, updated_ns, finished_ns,
    state, internal_state)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id, order_id) DO UPDATE SET
    price = excluded.price, quantity = excluded.quantity, value = excluded.value,
    filled_quantity = excluded.filled_quantity, filled_value = excluded.filled_value,
    updated_ns = excluded.updated_ns, finished_ns = excluded.finished_ns,
    state = excluded.state, internal_state = excluded.internal_state
"""
_INSERTS: Final = {
    "fills": "INSERT INTO fills VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "rejections": "INSERT INTO rejections VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "balances": "INSERT INTO balances VALUES (?, ?, ?, ?, ?, ?, ?)",
    "equity": "INSERT INTO equity VALUES (?, ?, ?, ?, ?)",
}
_TRIP_INSERT: Final = (
    "INSERT INTO round_trips VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
    "?, ?)"
)
_JSON: Final = msgspec.json.Encoder(order="sorted")


def begin_run(
    path: str | Path, setup: RunSetup, *, mode: str, source: str, out_dir: str | Path
) -> RunWriter:
    """Open the database at ``path``, insert this run (status ``running``) and commit.

    Raises:
        ConfigError: ``path`` is not a papertrade run database (see ``schema.connect``).
    """
    conn = connect(path)
    config = msgspec.to_builtins(setup.config)
    for provider in config.get("providers", []):
        provider.pop("key", None)
        provider.pop("user_id", None)
    with _transaction(conn):
        cursor = conn.execute(
            "INSERT INTO runs (mode, status, started_at, source, out_dir, seed, strategies, "
            "params, config, config_sha256) VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                mode, _wall_now(), source, str(out_dir), setup.seed,
                _text({cls.__name__: {} for cls in setup.strategies}),
                _text(config.get("params", {})), _text(config), config_hash(setup.config),
            ),
        )  # fmt: skip
    assert cursor.lastrowid is not None
    return RunWriter(conn, cursor.lastrowid, setup)


class RunWriter:
    """Receives one run's private events and equity samples; writes them to the database."""

    def __init__(self, conn: sqlite3.Connection, run_id: int, setup: RunSetup) -> None:
        self.run_id = run_id
        self._conn = conn
        self._setup = setup
        self._now: Callable[[], int] = lambda: 0
        self._owner: Callable[[str], str | None] = lambda _: None
        self._order_of_deal: Callable[[str], str | None] = lambda _: None
        self._orders: dict[str, tuple[Any, ...]] = {}  # order id -> its latest row, not flushed
        self._open: dict[str, tuple[int, str]] = {}  # order id -> (created_ns, direction)
        self._rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in _INSERTS}
        self._seq = dict.fromkeys(_INSERTS, 0)
        self._pending = 0
        self._trips: list[RoundTrip] = []  # round trips the results model closed, not yet written
        self._trips_written = 0
        self._trade_row: Callable[[RoundTrip], tuple[object, ...]] = lambda _: ()
        self.closed = False

    def attach(self, engine: Engine, output: RunOutput) -> None:
        """Follow ``engine``'s private events (after ``output``'s log) and its strategies."""
        sink = engine.on_private

        def both(event: ev.PrivateEvent) -> None:
            if sink is not None:
                sink(event)
            self.on_private(event)

        engine.on_private = both
        self._now = lambda: engine.clock.now_ns
        self._owner = engine.owner_name
        self._order_of_deal = engine.exchange.order_id_of_deal
        engine.results.trip_listeners.append(self._trips.append)
        self._trade_row = output.trade_row
        with _transaction(self._conn):
            self._conn.execute(
                "UPDATE runs SET strategies = ?, currency = ? WHERE run_id = ?",
                (
                    _text({s.name: s.param_values() for s in engine.strategies}),
                    output.currency,
                    self.run_id,
                ),
            )
            self._conn.executemany(
                "INSERT INTO run_strategies VALUES (?, ?, ?, ?)",
                [
                    (
                        self.run_id, s.name,
                        self._setup.strategy_sources.get(type(s).__name__, ""),
                        _text(s.param_values()),
                    )
                    for s in engine.strategies
                ],
            )  # fmt: skip

    def supersede(self, out_dir: str) -> None:
        """Mark earlier runs of this session folder that never ended as ``resumed``."""
        with _transaction(self._conn):
            self._conn.execute(
                "UPDATE runs SET status = 'resumed' WHERE out_dir = ? AND status = 'running' "
                "AND run_id != ?",
                (out_dir, self.run_id),
            )

    # --- rows -------------------------------------------------------------------------------

    def on_private(self, event: ev.PrivateEvent) -> None:
        """Queue the rows of one private event."""
        kind = type(event)
        if kind is ev.BalanceUpdate:
            assert isinstance(event, ev.BalanceUpdate)
            b = event.data.info
            self._add("balances", (b.currencyCode, b.amount, b.oldBalance, b.newBalance))
        elif kind is ev.OrderUpdate:
            assert isinstance(event, ev.OrderUpdate)
            self._order(event.data.type, event.data.info)
        elif kind is ev.DealUpdate:
            assert isinstance(event, ev.DealUpdate)
            d = event.data.info
            order_id = self._order_of_deal(d.dealId) or ""
            ts = self._now()
            direction = self._open.get(order_id, (0, ""))[1]
            self._add(
                "fills",
                (
                    iso_time(ts), order_id, self._owner(order_id), d.dealId, d.transactionId,
                    d.symbol, direction, d.tradeRole, d.filledPrice, d.filledQuantity,
                    d.filledValue, d.fee, d.feeCurrency,
                ),
                ts,
            )  # fmt: skip
        elif kind is ev.OrderRejected:
            assert isinstance(event, ev.OrderRejected)
            r = event.data.info
            self._add(
                "rejections",
                (
                    self._owner(r.orderId or ""), r.code, r.message, r.symbol, r.direction,
                    r.orderType, r.clientOid, r.orderId,
                ),
            )  # fmt: skip

    def on_equity(self, ts_ns: int, value: float) -> None:
        """Queue one equity sample (account value in the run's report currency)."""
        self._add("equity", (iso_time(ts_ns), value), ts_ns)

    def flush(self) -> None:
        """Write every pending row, and the round trips closed since, in one transaction."""
        trips = self._trips
        if (not self._pending and not trips) or self.closed:
            return
        with _transaction(self._conn):
            if trips:
                self._conn.executemany(_TRIP_INSERT, self._trip_rows(trips))
                self._trips_written += len(trips)
                trips.clear()
            if self._orders:
                self._conn.executemany(_ORDER_UPSERT, self._orders.values())
                self._orders.clear()
            for table, rows in self._rows.items():
                if rows:
                    self._conn.executemany(_INSERTS[table], rows)
                    rows.clear()
        self._pending = 0

    def finish(self, summary: dict[str, Any]) -> None:
        """Flush, store the summary and its statistics, mark the run finished, close."""
        self._end("finished", summary, None)

    def fail(self, error: BaseException) -> None:
        """Flush what the run did, mark it failed with ``error``, close."""
        self._end("failed", None, f"{type(error).__name__}: {error}")

    # --- helpers ----------------------------------------------------------------------------

    def _trip_rows(self, trips: list[RoundTrip]) -> list[tuple[Any, ...]]:
        rows = []
        for seq, trip in enumerate(trips, self._trips_written + 1):
            (strategy, instrument, side, status, entry_time, exit_time, entry_price, exit_price,
             quantity, gross, fees, net, quote, return_pct, duration, bars, trades,
             finalizing) = self._trade_row(trip)  # fmt: skip
            rows.append(
                (
                    self.run_id, seq, strategy, instrument, side, status,
                    entry_time, exit_time or None, entry_price, exit_price, quantity, gross,
                    fees, net, quote, float(str(return_pct)), float(str(duration)), bars,
                    trades, 1 if finalizing == "true" else 0, trip.entry_ns, trip.exit_ns,
                )
            )  # fmt: skip
        return rows

    def _add(self, table: str, row: tuple[Any, ...], ts_ns: int | None = None) -> None:
        seq = self._seq[table] = self._seq[table] + 1
        ts = self._now() if ts_ns is None else ts_ns
        self._rows[table].append((self.run_id, seq, ts, *row))
        self._pending += 1
        if self._pending >= FLUSH_ROWS:
            self.flush()

    def _order(self, update: str, o: ev.OrderInfo) -> None:
        ts = self._now()
        finished = update == "finished"
        # (created_ns, direction) of open orders; on conflict the upsert keeps created_ns
        created, _ = (
            self._open.pop(o.id, (ts, ""))
            if finished
            else self._open.setdefault(o.id, (ts, o.direction))
        )
        self._orders[o.id] = (
            self.run_id, o.id, self._owner(o.id), o.symbol, o.orderType, o.direction, o.price,
            o.quantity, o.value, o.filledQuantity, o.filledValue, o.clientOid, created, ts,
            ts if finished else None, o.state if finished else None,
            o.internalState if finished else None,
        )  # fmt: skip
        self._pending += 1
        if self._pending >= FLUSH_ROWS:
            self.flush()

    def _end(self, status: str, summary: dict[str, Any] | None, error: str | None) -> None:
        if self.closed:
            return
        self.flush()
        with _transaction(self._conn):
            if summary is not None:
                self._conn.executemany(
                    "INSERT INTO statistics VALUES (?, ?, ?)",
                    [(self.run_id, k, float(v)) for k, v in sorted(_statistics(summary).items())],
                )
                fingerprint = summary.get("fingerprint", {})
                self._conn.execute(
                    "UPDATE runs SET first_time = ?, last_time = ?, recording_sha256 = ?, "
                    "events_sha256 = ?, fingerprint = ?, summary = ? WHERE run_id = ?",
                    (
                        summary.get("first_time"), summary.get("last_time"),
                        fingerprint.get("recording_sha256"), fingerprint.get("events_sha256"),
                        _text(fingerprint), _text(summary), self.run_id,
                    ),
                )  # fmt: skip
            self._conn.execute(
                "UPDATE runs SET status = ?, ended_at = ?, error = ? WHERE run_id = ?",
                (status, _wall_now(), error, self.run_id),
            )
        self.closed = True
        self._conn.close()


class _transaction:
    """BEGIN ... COMMIT, or ROLLBACK on an error (the connection is in autocommit mode)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _statistics(summary: dict[str, Any]) -> dict[str, float]:
    """The summary's numeric top-level fields: the statistics a run is ranked by."""
    return {
        k: v for k, v in summary.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _text(value: Any) -> str:
    return _JSON.encode(value).decode()


def _wall_now() -> str:
    """Wall-clock UTC time: the documented wall-clock columns (started_at, ended_at) only."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
