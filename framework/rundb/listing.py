"""``papertrade runs FILE``: the runs a run database holds, as a table (rich).

Newest first by default; ``--strategy`` keeps the runs of one strategy and ``--best STAT``
orders by a statistic (``sharpe``, ``total_return``, ``max_drawdown`` ...), best first. Only
reads: a run that is still being written is shown as it stands (WAL readers never block it).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Final

import click
from rich.console import Console
from rich.table import Table

from framework.errors import ConfigError
from framework.rundb.schema import connect

__all__ = ["list_runs", "runs"]

_LOWER_IS_BETTER: Final = frozenset({"max_drawdown", "rejections"})
_QUERY: Final = """
SELECT r.run_id, r.mode, r.status, r.started_at, r.first_time, r.last_time, r.source,
       (SELECT group_concat(strategy, ' ') FROM run_strategies s WHERE s.run_id = r.run_id),
       (SELECT value FROM statistics t WHERE t.run_id = r.run_id AND t.name = 'total_return'),
       (SELECT value FROM statistics t WHERE t.run_id = r.run_id AND t.name = 'max_drawdown'),
       (SELECT value FROM statistics t WHERE t.run_id = r.run_id AND t.name = 'sharpe'),
       (SELECT count(*) FROM fills f WHERE f.run_id = r.run_id),
       r.currency, r.out_dir
FROM runs r
"""
_COLUMNS: Final = (
    "run", "mode", "status", "strategies", "source", "simulated (UTC)", "return", "max dd",
    "sharpe", "fills", "output",
)  # fmt: skip
_PIPE_WIDTH: Final = 200  # columns of the table when stdout is not a terminal


@click.command("runs")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--strategy", help="Only the runs of this strategy (its class name).")
@click.option(
    "--best",
    "stat",
    metavar="STAT",
    help="Order by this statistic, best first: sharpe, total_return, max_drawdown, win_rate ...",
)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
def runs(file: Path, strategy: str | None, stat: str | None, limit: int) -> None:
    """List the runs in the run database FILE (written by `papertrade run ... --db FILE`)."""
    rows = list_runs(file, strategy=strategy, stat=stat, limit=limit)
    if not rows:
        click.echo(f"{file}: no runs" + (f" of strategy {strategy}" if strategy else ""))
        return
    table = Table(title=f"{file}: {len(rows)} run(s)", title_justify="left")
    for name in _COLUMNS:
        numeric = name in ("run", "return", "max dd", "sharpe", "fills")
        table.add_column(name, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*_cells(row))
    console = Console()
    if not console.is_terminal:
        console = Console(width=_PIPE_WIDTH)
    console.print(table)


def list_runs(
    path: str | Path, *, strategy: str | None = None, stat: str | None = None, limit: int = 50
) -> list[tuple[Any, ...]]:
    """The runs of the database at ``path``, newest first (or best first by ``stat``).

    Raises:
        ConfigError: the file is missing or not a run database, or ``stat`` is unknown.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"run database not found: {path}")
    conn = connect(path)
    try:
        return _select(conn, strategy, stat, limit)
    finally:
        conn.close()


def _select(
    conn: sqlite3.Connection, strategy: str | None, stat: str | None, limit: int
) -> list[tuple[Any, ...]]:
    where, args = "", []
    if strategy:
        where = "WHERE r.run_id IN (SELECT run_id FROM run_strategies WHERE strategy = ?)"
        args.append(strategy)
    if stat is None:
        order = "ORDER BY r.run_id DESC"
    else:
        known = [n for (n,) in conn.execute("SELECT DISTINCT name FROM statistics ORDER BY name")]
        if known and stat not in known:
            raise ConfigError(f"unknown statistic {stat!r}; the runs have: {', '.join(known)}")
        direction = "ASC" if stat in _LOWER_IS_BETTER else "DESC"
        order = (
            "ORDER BY (SELECT value FROM statistics t WHERE t.run_id = r.run_id AND t.name = ?) "
            f"{direction} NULLS LAST, r.run_id DESC"
        )
        args.append(stat)
    return conn.execute(f"{_QUERY} {where} {order} LIMIT ?", [*args, limit]).fetchall()


def _cells(row: tuple[Any, ...]) -> list[str]:
    run_id, mode, status, started, first, last, source, strategies = row[:8]
    ret, dd, sharpe, fills, _currency, out_dir = row[8:]
    period = f"{first[:16]} .. {last[:16]}".replace("T", " ") if first else f"started {started}"
    if mode == "replay":
        source = Path(source).name
    return [
        str(run_id), mode, status, strategies or "", source, period,
        "" if ret is None else f"{ret:+.2%}", "" if dd is None else f"{dd:.2%}",
        "" if sharpe is None else f"{sharpe:.2f}", str(fills), out_dir,
    ]  # fmt: skip
