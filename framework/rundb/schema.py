"""The run database's schema and how a file is opened: SQLite in WAL mode, one file for many runs.

The tables are documented column by column here and in ``docs/run-database.md``. A file is
either empty (the schema is created) or a papertrade run database of a version this code
reads; anything else is a ConfigError naming the file. The database indexes runs' results; it
is never the source of truth for a replay (the run folder and its recording are).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

from framework.errors import ConfigError

__all__ = ["SCHEMA", "VERSION", "connect"]

VERSION: Final = 2  # PRAGMA user_version of the schema below (2: round_trips)
_APPLICATION_ID: Final = 0x50545244  # "PTRD": PRAGMA application_id marks a run database
_BUSY_MS: Final = 10_000  # wait this long for another writer (runs may share one file)

SCHEMA: Final = """\
-- The papertrade run database (SQLite, WAL mode). Documented in docs/run-database.md.
-- Money (prices, quantities, values, fees, balances) is TEXT: exact decimal strings, as the
-- private events render them. Times: *_ns are simulated-time integer nanoseconds since the Unix
-- epoch; *_time are the same as UTC ISO-8601 text; started_at / ended_at are wall clock.

CREATE TABLE IF NOT EXISTS runs (
    run_id           INTEGER PRIMARY KEY,
    mode             TEXT NOT NULL,          -- 'replay' | 'live'
    status           TEXT NOT NULL,          -- 'running' | 'finished' | 'failed' | 'resumed'
    started_at       TEXT NOT NULL,          -- wall clock, UTC ISO-8601
    ended_at         TEXT,                   -- wall clock, UTC ISO-8601; NULL while running
    first_time       TEXT,                   -- simulated time of the first line
    last_time        TEXT,                   -- simulated time of the last line
    source           TEXT NOT NULL,          -- the recording replayed, or the live providers
    out_dir          TEXT NOT NULL,          -- the run folder (events.jsonl, summary.json ...)
    seed             INTEGER NOT NULL,
    currency         TEXT,                   -- the report currency of equity and statistics
    strategies       TEXT NOT NULL,          -- JSON: {strategy: {param: value}}
    params           TEXT NOT NULL,          -- JSON: the config's [params] and --set pairs
    config           TEXT NOT NULL,          -- JSON: the whole config, secrets left out
    config_sha256    TEXT NOT NULL,
    recording_sha256 TEXT,                   -- set when the run ends
    events_sha256    TEXT,                   -- set when the run ends
    fingerprint      TEXT,                   -- JSON: summary.json's fingerprint
    summary          TEXT,                   -- JSON: summary.json
    error            TEXT                    -- why a failed run failed
);
CREATE INDEX IF NOT EXISTS runs_by_fingerprint ON runs (recording_sha256, config_sha256, seed);

CREATE TABLE IF NOT EXISTS run_strategies (
    run_id        INTEGER NOT NULL REFERENCES runs (run_id),
    strategy      TEXT NOT NULL,             -- the strategy's name (its class name)
    source_sha256 TEXT NOT NULL,             -- SHA-256 of its source file
    params        TEXT NOT NULL,             -- JSON: {param: value}
    PRIMARY KEY (run_id, strategy)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS run_strategies_by_strategy ON run_strategies (strategy, run_id);

CREATE TABLE IF NOT EXISTS orders (
    run_id          INTEGER NOT NULL REFERENCES runs (run_id),
    order_id        TEXT NOT NULL,
    strategy        TEXT,                    -- the strategy that placed it
    symbol          TEXT NOT NULL,           -- Cryptomus market name, BTC_USDT
    order_type      TEXT NOT NULL,           -- 'limit' | 'market'
    direction       TEXT NOT NULL,           -- 'buy' | 'sell'
    price           TEXT NOT NULL,
    quantity        TEXT NOT NULL,
    value           TEXT NOT NULL,
    filled_quantity TEXT NOT NULL,
    filled_value    TEXT NOT NULL,
    client_oid      TEXT,
    created_ns      INTEGER NOT NULL,
    updated_ns      INTEGER NOT NULL,
    finished_ns     INTEGER,                 -- NULL while the order rests
    state           TEXT,                    -- on finish: 'completed' | 'cancelled'
    internal_state  TEXT,                    -- on finish: 'filled' | 'cancelled' | ...
    PRIMARY KEY (run_id, order_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS orders_open ON orders (run_id, finished_ns);

CREATE TABLE IF NOT EXISTS fills (
    run_id         INTEGER NOT NULL REFERENCES runs (run_id),
    seq            INTEGER NOT NULL,         -- 1, 2, ... in the run's event order
    ts_ns          INTEGER NOT NULL,
    time           TEXT NOT NULL,
    order_id       TEXT NOT NULL,
    strategy       TEXT,
    deal_id        TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    symbol         TEXT NOT NULL,
    direction      TEXT NOT NULL,            -- 'buy' | 'sell'
    role           TEXT NOT NULL,            -- 'maker' | 'taker'
    price          TEXT NOT NULL,
    quantity       TEXT NOT NULL,
    value          TEXT NOT NULL,
    fee            TEXT NOT NULL,
    fee_currency   TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS fills_by_order ON fills (run_id, order_id);
CREATE INDEX IF NOT EXISTS fills_by_strategy ON fills (strategy, run_id);

CREATE TABLE IF NOT EXISTS rejections (
    run_id     INTEGER NOT NULL REFERENCES runs (run_id),
    seq        INTEGER NOT NULL,
    ts_ns      INTEGER NOT NULL,
    strategy   TEXT,
    code       INTEGER NOT NULL,             -- Cryptomus order-error code 0-7
    message    TEXT NOT NULL,
    symbol     TEXT NOT NULL,
    direction  TEXT NOT NULL,
    order_type TEXT NOT NULL,
    client_oid TEXT,
    order_id   TEXT,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS balances (
    run_id      INTEGER NOT NULL REFERENCES runs (run_id),
    seq         INTEGER NOT NULL,
    ts_ns       INTEGER NOT NULL,
    currency    TEXT NOT NULL,
    amount      TEXT NOT NULL,               -- size of the change, unsigned
    old_balance TEXT NOT NULL,               -- available balance before
    new_balance TEXT NOT NULL,               -- available balance after
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS balances_by_currency ON balances (run_id, currency, ts_ns);

CREATE TABLE IF NOT EXISTS equity (
    run_id INTEGER NOT NULL REFERENCES runs (run_id),
    seq    INTEGER NOT NULL,
    ts_ns  INTEGER NOT NULL,
    time   TEXT NOT NULL,
    equity REAL NOT NULL,                    -- account value in runs.currency
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS statistics (
    run_id INTEGER NOT NULL REFERENCES runs (run_id),
    name   TEXT NOT NULL,                    -- a numeric summary.json field: sharpe, total_return ...
    value  REAL NOT NULL,
    PRIMARY KEY (run_id, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS statistics_by_value ON statistics (name, value);

-- One row per round trip, as trades.csv lists them (same columns, same text): closed trips in
-- closing order as they close, then, when the run ends, the trips still open.
CREATE TABLE IF NOT EXISTS round_trips (
    run_id      INTEGER NOT NULL REFERENCES runs (run_id),
    seq         INTEGER NOT NULL,            -- 1, 2, ... in trades.csv's order
    strategy    TEXT NOT NULL,
    instrument  TEXT NOT NULL,               -- canonical id, BTC/USDT
    side        TEXT NOT NULL,               -- 'long' | 'short'
    status      TEXT NOT NULL,               -- 'closed' | 'open' (marked to the last price)
    entry_time  TEXT NOT NULL,
    exit_time   TEXT,                        -- NULL for an open trip (trades.csv: empty)
    entry_price TEXT NOT NULL,               -- volume-weighted, at the market's precision
    exit_price  TEXT NOT NULL,
    quantity    TEXT NOT NULL,               -- base quantity entered
    gross_pnl   TEXT NOT NULL,               -- in the quote currency
    fees        TEXT NOT NULL,
    net_pnl     TEXT NOT NULL,
    quote       TEXT NOT NULL,               -- the quote currency of the P&L columns
    return_pct  REAL NOT NULL,               -- net_pnl / entry value, in percent (4 decimals)
    duration_s  REAL NOT NULL,
    bars_held   INTEGER NOT NULL,
    trades_held INTEGER NOT NULL,
    finalizing  INTEGER NOT NULL,            -- 1: closed by the framework's finalizing order
    entry_ns    INTEGER NOT NULL,
    exit_ns     INTEGER NOT NULL,            -- the closing fill, or the run's end if open
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS round_trips_by_strategy ON round_trips (strategy, run_id);
"""


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (creating if needed) the run database at ``path``, in WAL mode.

    Raises:
        ConfigError: the file cannot be opened, is not SQLite, is another application's
            database, or is a newer version of the run database.
    """
    path = Path(path)
    try:
        if path.parent != Path() and not path.parent.is_dir():
            raise ConfigError(f"run database {path}: folder {path.parent} does not exist")
        conn = sqlite3.connect(path, timeout=_BUSY_MS / 1000, isolation_level=None)
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot open run database {path}: {exc}") from exc
    try:
        _prepare(conn, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise ConfigError(f"{path} is not a papertrade run database: {exc}") from exc
    except ConfigError:
        conn.close()
        raise
    return conn


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
    if app_id != _APPLICATION_ID and (tables or version):
        raise ConfigError(f"{path} is an SQLite database, but not a papertrade run database")
    if version > VERSION:
        raise ConfigError(
            f"run database {path} has schema version {version}; this papertrade reads up to "
            f"{VERSION}: upgrade papertrade"
        )
    # WAL: readers (papertrade runs, a notebook) never block the run that writes; NORMAL
    # sync keeps every committed transaction atomic across a crash of the process.
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    # A new file, or one of an older version (whose missing tables are created; the others
    # are kept): the schema, its version and mark in one transaction.
    if version < VERSION:
        conn.executescript(
            f"BEGIN IMMEDIATE;\n{SCHEMA}\nPRAGMA application_id={_APPLICATION_ID};\n"
            f"PRAGMA user_version={VERSION};\nCOMMIT;"
        )
