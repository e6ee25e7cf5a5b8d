"""A sweep in the run database (``--db FILE``): every point a run, and the sweep that ran it.

Theory of operation. A point's run is written by the same code as ``papertrade run --db``
(``framework.rundb``), in the worker that ran it, into a scratch database of its own; the
worker sends that run's rows back with the point's result (:func:`export_run`), so a worker
needs no access to the sweep's file (a Ray node may be another machine). The sweep's process
then copies each run into the database (:class:`SweepWriter`) under a new ``run_id`` and
links it to the sweep in ``sweep_runs``. Runs are written in the points' order (results that
arrive early wait for the ones before them), so a fresh file gets the same rows, ``run_id``
included, from every backend and worker count; only the wall-clock columns differ.

The tables (``SCHEMA``, created by the first sweep written to a file; documented in
``docs/run-database.md``):

* ``sweeps``: one row per sweep: its name, strategy, recordings, objective and direction,
  the search (axes, constraint, samples or trials, folds, window), status, best point;
* ``sweep_runs``: one row per point's run: the sweep, the point's position (``sweep.csv``'s
  ``point``), its ``run_id``, parameters, recording, walk-forward fold and phase (``train`` is
  in-sample, ``test`` out-of-sample), window, objective value and error.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import msgspec

from framework.config import config_hash
from framework.rundb.schema import connect
from framework.sweeps.results import Objective, flatten
from framework.sweeps.spec import PointResult, RunSpec, set_text

__all__ = ["SCHEMA", "Recorded", "SweepWriter", "export_run"]

SCHEMA: Final = """\
CREATE TABLE IF NOT EXISTS sweeps (
    sweep_id    INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,               -- --name, or "STRATEGY on RECORDINGS"
    status      TEXT NOT NULL,               -- 'running' | 'finished' | 'failed'
    started_at  TEXT NOT NULL,               -- wall clock, UTC ISO-8601
    ended_at    TEXT,                        -- wall clock, UTC ISO-8601; NULL while running
    strategy    TEXT NOT NULL,               -- as given: file.py, file.py:Class, module:Class
    recordings  TEXT NOT NULL,               -- JSON: [[path, sha256], ...]
    objective   TEXT NOT NULL,               -- the statistic ranked by (dotted when nested)
    direction   TEXT NOT NULL,               -- 'maximize' | 'minimize'
    params      TEXT NOT NULL,               -- JSON: the names of the parameters searched
    search      TEXT NOT NULL,               -- JSON: axes, where, samples, trials, folds ...
    seed        INTEGER NOT NULL,            -- the runs' seed
    out_dir     TEXT NOT NULL,               -- the sweep's folder (sweep.csv ...), or ''
    best        TEXT                         -- JSON: the best point; NULL if none had a value
);

CREATE TABLE IF NOT EXISTS sweep_runs (
    sweep_id    INTEGER NOT NULL REFERENCES sweeps (sweep_id),
    point       INTEGER NOT NULL,            -- the row's position: sweep.csv's point column
    run_id      INTEGER NOT NULL REFERENCES runs (run_id),
    params      TEXT NOT NULL,               -- JSON: {param: value} of the point
    recording   TEXT NOT NULL,
    fold        INTEGER,                     -- walk-forward fold (1..K); NULL without folds
    phase       TEXT,                        -- 'train' (in-sample) | 'test' (out-of-sample)
    from_ns     INTEGER,                     -- the window run: receive times from_ns <= t
    to_ns       INTEGER,                     -- ... < to_ns; NULL for an open side
    objective   REAL,                        -- the objective's value; NULL when it has none
    error       TEXT NOT NULL,               -- '' when the point ran
    PRIMARY KEY (sweep_id, point)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sweep_runs_by_run ON sweep_runs (run_id);
"""

_SWEEP_TABLES: Final = frozenset({"sweeps", "sweep_runs"})
_JSON: Final = msgspec.json.Encoder(order="sorted")

# table -> (its columns, its rows): one run's rows, as a worker sends them back
RunRows = dict[str, tuple[list[str], list[tuple[Any, ...]]]]


def export_run(path: Path) -> RunRows:
    """Every row of the database at ``path`` (one run, a worker's scratch file), by table.

    Every table with a ``run_id`` column is taken, so tables added to the run database later
    are carried over without a change here.
    """
    conn = sqlite3.connect(path)
    try:
        out: RunRows = {}
        for table in _run_tables(conn):
            cursor = conn.execute(f'SELECT * FROM "{table}" ORDER BY 1, 2')
            rows = cursor.fetchall()
            if rows:
                out[table] = ([d[0] for d in cursor.description], rows)
        return out
    finally:
        conn.close()


class SweepWriter:
    """Writes one sweep and its points' runs to the run database at ``path``."""

    def __init__(
        self,
        path: str | Path,
        *,
        name: str,
        strategy: str,
        recordings: Sequence[tuple[str, str]],
        objective: Objective,
        params: Sequence[str],
        search: Mapping[str, Any],
        seed: int,
        out_dir: str,
    ) -> None:
        self._conn = connect(path)  # a ConfigError names a file that is not a run database
        self._objective = objective
        self._out_dir = out_dir
        self._waiting: dict[int, tuple[RunSpec, PointResult]] = {}
        self._next = 0
        self._conn.executescript(f"BEGIN IMMEDIATE;\n{SCHEMA}\nCOMMIT;")
        with _transaction(self._conn):
            cursor = self._conn.execute(
                "INSERT INTO sweeps (name, status, started_at, strategy, recordings, objective, "
                "direction, params, search, seed, out_dir) "
                "VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name, _wall_now(), strategy, _text([list(r) for r in recordings]),
                    objective.stat, "maximize" if objective.maximize else "minimize",
                    _text(list(params)), _text(search), seed, out_dir,
                ),
            )  # fmt: skip
        assert cursor.lastrowid is not None
        self.sweep_id: int = cursor.lastrowid

    def add(self, spec: RunSpec, result: PointResult) -> None:
        """Take a point's result; write it, and any waiting after it, once those before it are
        written (the points are numbered from 0 without gaps)."""
        self._waiting[spec.index] = (spec, result)
        while self._next in self._waiting:
            self._write(*self._waiting.pop(self._next))
            self._next += 1

    def finish(self, best: Mapping[str, Any] | None, status: str = "finished") -> None:
        """Write what still waits (a sweep stopped early), mark the sweep ended, close."""
        for index in sorted(self._waiting):
            self._write(*self._waiting.pop(index))
        with _transaction(self._conn):
            self._conn.execute(
                "UPDATE sweeps SET status = ?, ended_at = ?, best = ? WHERE sweep_id = ?",
                (status, _wall_now(), None if best is None else _text(best), self.sweep_id),
            )
        self._conn.close()

    def _write(self, spec: RunSpec, result: PointResult) -> None:
        with _transaction(self._conn):
            run_id = self._copy_run(spec, result)
            value = None
            if result.summary is not None:
                value = self._objective.value(flatten(result.summary))
            self._conn.execute(
                "INSERT INTO sweep_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.sweep_id, spec.index, run_id, _text(spec.params), spec.recording,
                    spec.fold, spec.phase or None, spec.window.start_ns, spec.window.end_ns,
                    value, result.error,
                ),
            )  # fmt: skip

    def _copy_run(self, spec: RunSpec, result: PointResult) -> int:
        """Insert the point's run (its worker's rows, under a new run_id); return the id."""
        rows = result.run_rows or {}
        if "runs" not in rows:  # it failed before its run began: a failed run of its inputs
            rows = {"runs": _failed_run(spec, result.error)}
        columns, (run,) = rows["runs"]
        values = dict(zip(columns, run, strict=True))
        values.pop("run_id", None)
        values["out_dir"] = self._out_dir
        names = list(values)
        cursor = self._conn.execute(
            f"INSERT INTO runs ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
            list(values.values()),
        )
        assert cursor.lastrowid is not None
        run_id = cursor.lastrowid
        for table, (columns, table_rows) in rows.items():
            if table == "runs":
                continue
            at = columns.index("run_id")
            self._conn.executemany(
                f'INSERT INTO "{table}" ({", ".join(columns)}) '
                f"VALUES ({', '.join('?' for _ in columns)})",
                [(*row[:at], run_id, *row[at + 1 :]) for row in table_rows],
            )
        return run_id


class Recorded:
    """A backend whose every result is also written to the run database, in point order."""

    def __init__(self, inner: Any, writer: SweepWriter) -> None:
        self._inner = inner
        self.writer = writer
        self.workers = getattr(inner, "workers", 1)

    def run(self, specs: Sequence[RunSpec]) -> Iterator[PointResult]:
        by_index = {spec.index: spec for spec in specs}
        for result in self._inner.run(specs):
            self.writer.add(by_index[result.index], result)
            yield msgspec.structs.replace(result, run_rows=None)  # the rows are written

    def close(self) -> None:
        self._inner.close()

    def __enter__(self) -> Recorded:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _failed_run(spec: RunSpec, error: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The ``runs`` row of a point that failed before its run began (no strategy, no data)."""
    params = {**spec.config.params, **{k: set_text(v) for k, v in spec.params.items()}}
    config = msgspec.structs.replace(spec.config, params=params)
    data = msgspec.to_builtins(config)
    for provider in data.get("providers", []):
        provider.pop("key", None)
        provider.pop("user_id", None)
    now = _wall_now()
    row = {
        "mode": "replay", "status": "failed", "started_at": now, "ended_at": now,
        "source": spec.recording, "out_dir": "", "seed": spec.seed, "strategies": "{}",
        "params": _text(params), "config": _text(data), "config_sha256": config_hash(config),
        "recording_sha256": spec.recording_sha256, "error": error,
    }  # fmt: skip
    return list(row), [tuple(row.values())]


def _run_tables(conn: sqlite3.Connection) -> list[str]:
    """Tables with a run_id column, ``runs`` first (the others refer to it)."""
    names = [
        n
        for (n,) in conn.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name"
        )
        if n not in _SWEEP_TABLES
    ]
    found = [
        n for n in names if any(c[1] == "run_id" for c in conn.execute(f'PRAGMA table_info("{n}")'))
    ]
    return sorted(found, key=lambda n: n != "runs")


class _transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _text(value: Any) -> str:
    return _JSON.encode(value).decode()


def _wall_now() -> str:
    """Wall-clock UTC time: the documented wall-clock columns (started_at, ended_at) only."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
