"""``papertrade import``: the command line of :func:`framework.importers.import_files`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click
from rich.console import Console

from framework.errors import ConfigError
from framework.importers.convert import FORMATS, ProgressFn, import_files
from framework.importers.parallel import PARALLEL_FROM

__all__ = ["import_cmd", "parse_step"]


@click.command("import")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(list(FORMATS), case_sensitive=False))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--symbol", required=True, help="Instrument the data is of, e.g. BTC/USDT.")
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Recording to write (.jsonl, or .jsonl.gz to compress it).",
)
@click.option("--tick-size", help="Price step of a market the exchange does not know.")
@click.option("--lot-size", help="Quantity step of a market the exchange does not know.")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    help="Processes converting rows, for trades and book snapshots: by default one per "
    "processor this process may use; 1 converts in this process. Inputs under "
    f"{PARALLEL_FROM >> 20} MB always use one.",
)
def import_cmd(
    fmt: str,
    files: tuple[Path, ...],
    symbol: str,
    out: Path,
    tick_size: str | None,
    lot_size: str | None,
    jobs: int | None,
) -> None:
    """Turn downloaded market data into a recording that `papertrade run --replay` replays.

    \b
    FORMAT is one of:
      binance-trades, binance-aggtrades, binance-klines
          Binance public data (data.binance.vision) spot files, .zip or .csv;
          times in milliseconds or microseconds.
      tardis-trades, tardis-incremental-book-l2, tardis-book-snapshot
          Tardis.dev CSV exports (trades, incremental_book_L2, book_snapshot_25 or _5),
          .csv.gz or .csv; local_timestamp becomes the receive time.
    Several FILEs continue one another (daily files of one symbol). Trades become Cryptomus
    trades, books Cryptomus depth updates, klines Finazon bars. Rows that cannot be imported
    are skipped and listed by file and line. For a market the paper exchange does not know,
    its rules come from the data (or --tick-size / --lot-size) and go into the recording.

    \b
    Example:
      papertrade import binance-trades BTCUSDT-trades-2025-01-01.zip --symbol BTC/USDT \\
          --out btc-trades.jsonl.gz
    """
    with _progress_bar() as progress:
        report = import_files(
            fmt,
            files,
            symbol,
            out,
            tick_size=parse_step(tick_size, "--tick-size"),
            lot_size=parse_step(lot_size, "--lot-size"),
            progress=progress,
            jobs=jobs,
        )
    click.echo(report, err=True)
    sys.stderr.flush()


@contextlib.contextmanager
def _progress_bar() -> Iterator[ProgressFn | None]:
    """A progress bar on a terminal (None elsewhere: rich's bar is not even loaded)."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("importing"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("import", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield progress


def parse_step(text: str | None, name: str) -> Decimal | None:
    """A ``--tick-size`` or ``--lot-size`` value, or None when not given.

    Raises:
        ConfigError: not a positive number.
    """
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"{name} {text!r} is not a number") from None
    if not (value.is_finite() and value > 0):
        raise ConfigError(f"{name} must be a positive number, not {text}")
    return value
