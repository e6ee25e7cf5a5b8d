"""The ``papertrade sweep`` command: options and the ``[sweep]`` config table, progress, results.

Options on the command line override the ``[sweep]`` table of ``--config``, key by key
(``--grid`` axes replace the table's ``grid`` as a whole). The progress bar (rich) shows points
done, the best objective so far and an estimate of the time left, on a terminal only; the
ranked top of the results is printed as a table at the end.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import click
import msgspec

from framework.config import parse_set
from framework.errors import ConfigError
from framework.sweeps.api import SweepResult, sweep
from framework.sweeps.spec import PointResult

__all__ = ["SweepTable", "read_sweep_table", "sweep_cmd"]

_TOP = 10  # rows of the ranked table printed at the end


class SweepTable(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The ``[sweep]`` table of a config file; every key is optional."""

    grid: dict[str, str | list[int | float | str]] = {}
    samples: int | None = None
    trials: int | None = None
    where: str | None = None
    maximize: str | None = None
    minimize: str | None = None
    folds: int | None = None
    walk: Literal["anchored", "rolling"] | None = None
    workers: int | None = None
    backend: Literal["local", "ray"] | None = None
    address: str | None = None
    search_seed: int | None = None


def read_sweep_table(path: Path | None) -> SweepTable:
    """The ``[sweep]`` table of ``path`` (empty without a file or a table).

    Raises:
        ConfigError: the file cannot be read or parsed, or the table has an unknown or
            mistyped key (named with its path, ``$.sweep.grid``).
    """
    if path is None:
        return SweepTable()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    try:
        return msgspec.convert(data.get("sweep", {}), SweepTable)
    except msgspec.ValidationError as exc:
        raise ConfigError(
            f"invalid [sweep] table in {path}: {exc}".replace("`$", "`$.sweep")
        ) from None


@click.command("sweep")
@click.argument("strategy")
@click.option(
    "--replay",
    "recordings",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="RECORDING",
    help="Recording to run every point on. Repeatable (each point runs on each; its score is "
    "the mean).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="TOML config: the runs' config, and a [sweep] table of these options.",
)
@click.option(
    "--grid",
    "grid",
    multiple=True,
    metavar="NAME=a:b:step|v1,v2",
    help="A parameter axis: fast=5:30:5 (5 to 30 inclusive) or slow=20,30,50. Repeatable.",
)
@click.option(
    "--samples",
    type=int,
    metavar="N",
    help="Random search: N distinct points of the grid, drawn with --search-seed.",
)
@click.option(
    "--trials",
    type=int,
    metavar="N",
    help="Model-based search: Optuna proposes N points in the grid's ranges (papertrade[optuna]).",
)
@click.option(
    "--where",
    "where",
    metavar="EXPR",
    help='Constraint between parameters, e.g. "fast < slow" (comparisons, and/or/not, + - * /).',
)
@click.option(
    "--maximize",
    metavar="STAT",
    help="Rank by this summary.json statistic, highest first (dotted when nested: "
    "counts.frames). Default: total_return. Runs where it is null rank last.",
)
@click.option("--minimize", metavar="STAT", help="Rank by this statistic, lowest first.")
@click.option(
    "--folds",
    type=int,
    metavar="K",
    help="Walk-forward: cut the data into K+1 parts in time; search on each fold's train "
    "window and replay its best point on the next part (out of sample).",
)
@click.option(
    "--walk",
    type=click.Choice(["anchored", "rolling"]),
    help="Walk-forward train windows: anchored (from the start; default) or rolling.",
)
@click.option(
    "--from",
    "from_",
    metavar="TIME",
    help="Run every point from this ISO time (UTC), as papertrade run --from does.",
)
@click.option("--to", "to", metavar="TIME", help="Run every point up to this ISO time (UTC).")
@click.option(
    "--workers",
    type=int,
    metavar="N",
    help="Processes on this machine (default: the core count; 1 runs in this process); with "
    "Ray, the CPUs of the local instance it starts.",
)
@click.option(
    "--backend",
    type=click.Choice(["local", "ray"]),
    help="Where points run: local (default) or ray (papertrade[ray]).",
)
@click.option(
    "--address",
    metavar="auto|ray://HOST:PORT",
    help="Ray cluster to use (default: start a local Ray instance).",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="NAME=VALUE",
    help="Fix a strategy parameter for every point. Repeatable.",
)
@click.option("--seed", type=int, help="The runs' seed (default: the config's run.seed).")
@click.option(
    "--search-seed", type=int, metavar="N", help="Seed of --samples and --trials (default 1)."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("out/sweep"),
    show_default=True,
    help="Folder for sweep.csv, sweep.html and the best run.",
)
@click.option(
    "--db",
    "db",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write every point's run, and the sweep, to this run database (SQLite).",
)
@click.option(
    "--name", metavar="TEXT", help="The sweep's name in --db (default: strategy on recordings)."
)
def sweep_cmd(
    strategy: str,
    recordings: tuple[Path, ...],
    config_path: Path | None,
    grid: tuple[str, ...],
    samples: int | None,
    trials: int | None,
    where: str | None,
    maximize: str | None,
    minimize: str | None,
    folds: int | None,
    walk: str | None,
    from_: str | None,
    to: str | None,
    workers: int | None,
    backend: str | None,
    address: str | None,
    sets: tuple[str, ...],
    seed: int | None,
    search_seed: int | None,
    out_dir: Path,
    db: Path | None,
    name: str | None,
) -> None:
    """Run STRATEGY at many parameter points on recordings, rank them, and write sweep.csv,
    sweep.html and the best point's full run to --out.

    \b
    A grid, then the same as random search and as Optuna search:
      papertrade sweep strategies/sma_crossover.py --replay replays/finazon-btc-usdt-bars.jsonl.gz \\
          --grid fast=5:30:5 --grid slow=20,30,50 --where "fast < slow" --maximize total_return
      ... --samples 10        ... --trials 40
    Walk-forward, 3 anchored folds:   ... --folds 3
    On Ray (pip install 'papertrade[ray]'):   ... --backend ray [--address auto]
    Every run also in a run database:   ... --db runs.db --name "sma grid"
    """
    table = read_sweep_table(config_path)
    if maximize is not None or minimize is not None:  # a flag replaces the table's direction
        table = msgspec.structs.replace(table, maximize=None, minimize=None)
    if not recordings:
        raise click.UsageError("give at least one --replay RECORDING")
    reporter = _RichProgress()
    with reporter:
        result = sweep(
            strategy,
            list(recordings),
            grid=list(grid) if grid else table.grid,
            samples=_pick(samples, table.samples),
            trials=_pick(trials, table.trials),
            where=_pick(where, table.where),
            maximize=_pick(maximize, table.maximize),
            minimize=_pick(minimize, table.minimize),
            folds=_pick(folds, table.folds),
            walk=_pick(walk, table.walk) or "anchored",
            window=(from_, to) if from_ is not None or to is not None else None,
            workers=_pick(workers, table.workers),
            backend=_pick(backend, table.backend) or "local",
            address=_pick(address, table.address),
            config=config_path,
            params=parse_set(sets),
            seed=seed,
            search_seed=_pick(search_seed, table.search_seed) or 1,
            out=out_dir,
            db=db,
            name=name,
            progress=reporter,
        )
    _print_results(result, out_dir)


def _pick(flag: Any, table: Any) -> Any:
    return table if flag is None else flag


class _RichProgress:
    """A rich progress bar on stderr: points done of all, best objective so far, time left."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        console = Console(stderr=True)
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("best {task.fields[best]}"), TextColumn("failed {task.fields[failed]}"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=console, disable=not console.is_terminal, transient=False,
        )  # fmt: skip
        self._task: Any = None
        self._failed = 0

    def __enter__(self) -> _RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def begin(self, label: str, total: int | None) -> None:
        if self._task is not None:
            self._progress.update(self._task, visible=True)
        self._failed = 0
        self._task = self._progress.add_task(label, total=total, best="-", failed=0)

    def advance(self, result: PointResult, best: str) -> None:
        self._failed += bool(result.error)
        self._progress.update(self._task, advance=1, best=best or "-", failed=self._failed)


def _print_results(result: SweepResult, out_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    stat = result.objective.stat
    params = result.params
    failed = sum(1 for r in result.rows if r.get("error"))
    if result.folds:
        table = Table(title=f"walk-forward, {result.objective.describe()}")
        names = ["fold", "test_from", "test_to", *params]
        names += [f"in_sample.{stat}", f"out_of_sample.{stat}", "error"]
        for column in names:
            table.add_column(column.replace("_sample.", "-sample "), overflow="fold")
        for fold in result.folds:
            table.add_row(*(_show(fold.get(c)) for c in names))
        console.print(table)
    else:
        table = Table(
            title=f"best {min(_TOP, len(result.ranked))} of {len(result.rows)} by {result.objective.describe()}"
        )
        names = [*params, stat, "error"]
        for column in ["#", *names]:
            table.add_column(column)
        for i, row in enumerate(result.ranked[:_TOP], 1):
            cells = [_show(row.get(c)) for c in names]
            if not row.get("error") and row.get(stat) is None:
                cells[len(params)] = "null"  # ran, but the statistic has no value
            table.add_row(str(i), *cells)
        console.print(table)
    if failed:
        first = next(r for r in result.rows if r.get("error"))
        console.print(f"{failed} of {len(result.rows)} runs failed; the first: {first['error']}")
    if failed == len(result.rows):
        raise ConfigError(f"no point ran without error; see {out_dir / 'sweep.csv'}")
    if result.note:
        console.print(result.note, soft_wrap=True, markup=False)
    if result.best is not None:
        console.print(f"reproduce the best run: {result.command}", soft_wrap=True)
    console.print(f"results: {out_dir / 'sweep.csv'}, {out_dir / 'sweep.html'}", soft_wrap=True)


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
