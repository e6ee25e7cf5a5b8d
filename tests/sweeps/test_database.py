"""A sweep in the run database: real SQLite files, compared with ``papertrade run --db``."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import framework
from framework.errors import ConfigError

from .conftest import SMA

# the wall-clock columns (documented in docs/run-database.md); everything else is reproducible
WALL_CLOCK = {"started_at", "ended_at"}


def dump(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows, wall-clock columns left out, in primary-key order."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        tables = [n for (n,) in conn.execute("SELECT name FROM sqlite_schema WHERE type='table'")]
        return {
            t: [
                {k: row[k] for k in row.keys() if k not in WALL_CLOCK}  # noqa: SIM118
                for row in conn.execute(f'SELECT * FROM "{t}" ORDER BY 1, 2')
            ]
            for t in sorted(tables)
        }
    finally:
        conn.close()


def run_rows(dumped: dict[str, list[dict[str, Any]]], run_id: int) -> dict[str, list[Any]]:
    """One run's rows of every run table, without run_id and the columns a sweep sets."""
    out: dict[str, list[Any]] = {}
    for table, rows in dumped.items():
        if table.startswith("sweep"):
            continue
        out[table] = [
            {k: v for k, v in r.items() if k not in ("run_id", "out_dir")}
            for r in rows
            if r["run_id"] == run_id
        ]
    return out


def test_every_point_is_the_run_papertrade_run_db_writes(small_bars: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    result = framework.sweep(
        SMA, small_bars, grid=["fast=5,10", "slow=20,30"], workers=1, db=db, name="sma grid",
        out=tmp_path / "sweep",
    )  # fmt: skip
    swept = dump(db)
    assert [s["name"] for s in swept["sweeps"]] == ["sma grid"]
    sweep = swept["sweeps"][0]
    assert (sweep["status"], sweep["objective"], sweep["direction"]) == (
        "finished", "total_return", "maximize"
    )  # fmt: skip
    assert json.loads(sweep["best"]) == result.best
    assert json.loads(sweep["search"])["grid"] == {"fast": [5, 10], "slow": [20, 30]}
    links = swept["sweep_runs"]
    assert [(json.loads(r["params"]), r["run_id"]) for r in links] == [
        ({"fast": 5, "slow": 20}, 1), ({"fast": 5, "slow": 30}, 2),
        ({"fast": 10, "slow": 20}, 3), ({"fast": 10, "slow": 30}, 4),
    ]  # fmt: skip
    assert [r["objective"] for r in links] == [r["total_return"] for r in result.rows]
    assert all(r["fold"] is None and r["phase"] is None and r["error"] == "" for r in links)

    # each point's rows are those of papertrade run --db with its parameters
    for link in links[1::2]:
        params = json.loads(link["params"])
        alone = tmp_path / f"alone-{link['point']}.db"
        sets = [a for k, v in params.items() for a in ("--set", f"{k}={v}")]
        subprocess.run(
            [sys.executable, "-m", "framework", "run", str(SMA), "--replay", str(small_bars),
             *sets, "--db", str(alone), "--out", str(tmp_path / "run")],
            check=True, capture_output=True,
        )  # fmt: skip
        expected = run_rows(dump(alone), 1)
        got = run_rows(swept, link["run_id"])
        assert expected["fills"] and expected["equity"] and expected["statistics"]
        assert got == expected


def test_the_best_runs_of_a_sweep_are_one_query(small_bars: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    result = framework.sweep(
        SMA, small_bars, grid=["fast=3:9:3", "slow=15,25"], workers=2, db=db,
        maximize="max_drawdown",
    )  # fmt: skip
    conn = sqlite3.connect(db)
    # the README's query
    best = conn.execute(
        """
        SELECT p.point, p.params, s.value
        FROM sweep_runs p JOIN statistics s ON s.run_id = p.run_id AND s.name = 'max_drawdown'
        WHERE p.sweep_id = (SELECT max(sweep_id) FROM sweeps)
        ORDER BY s.value DESC, p.point
        LIMIT 3
        """
    ).fetchall()
    conn.close()
    top = result.ranked[:3]
    assert [(p, json.loads(params), v) for p, params, v in best] == [
        (r["point"], {"fast": r["fast"], "slow": r["slow"]}, r["max_drawdown"]) for r in top
    ]


def test_one_and_two_workers_write_the_same_rows(small_bars: Path, tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {"grid": ["fast=3,5,40", "slow=10,15"], "folds": 2}
    one = framework.sweep(SMA, small_bars, workers=1, db=tmp_path / "one.db", **kwargs)
    two = framework.sweep(SMA, small_bars, workers=2, db=tmp_path / "two.db", **kwargs)
    assert one.folds == two.folds
    rows = dump(tmp_path / "one.db")
    assert rows == dump(tmp_path / "two.db")
    # walk-forward: every train point of each fold, then the fold's test run, in that order
    links = rows["sweep_runs"]
    assert [(r["fold"], r["phase"]) for r in links] == [
        *[(1, "train")] * 6, (1, "test"), *[(2, "train")] * 6, (2, "test")
    ]  # fmt: skip
    tests = [r for r in links if r["phase"] == "test"]
    for fold, test in zip(one.folds, tests, strict=True):
        assert test["objective"] == fold["out_of_sample.total_return"]
        assert json.loads(test["params"]) == {"fast": fold["fast"], "slow": fold["slow"]}
        assert test["from_ns"] is not None
    # a point that fails (fast > slow) is a failed run with its error
    failed = [r for r in links if r["error"]]
    assert len(failed) == 4 and all("needs 0 < fast < slow" in r["error"] for r in failed)
    runs = {r["run_id"]: r for r in rows["runs"]}
    for link in failed:  # the run as papertrade run --db records a strategy's error
        run = runs[link["run_id"]]
        assert run["status"] == "failed" and run["error"] == f"StrategyError: {link['error']}"


def test_a_file_that_is_not_a_run_database_is_one_line(small_bars: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(ConfigError, match="not a papertrade run database"):
        framework.sweep(SMA, small_bars, grid=["fast=5"], workers=1, db=other)
