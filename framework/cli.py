"""The ``papertrade`` command line: a click group; every user mistake is one clean line.

``PapertradeError`` (and click's own usage errors) print ``Error: message`` on stderr and exit
non-zero, never with a traceback; exception groups from a trio nursery are unwrapped to the
error inside. Commands: run, inspect, import-csv, generate, serve, record, diff, new, report.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

import click
import msgspec
from rich.console import Console

import framework
from framework import logs
from framework.errors import PapertradeError, StrategyError, find_error

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from framework.loop import LoopStats

# The commands import what they need when they run: ``papertrade import`` or ``--help`` does
# not load numpy, the loop and the exchange first (start-up is part of every command's time).

__all__ = ["cli", "main"]

EXIT_ERROR: Final = 1
EXIT_INTERRUPTED: Final = 130


class _Commands(click.Group):
    """The command group; a command in its own module is imported only when it is run or
    listed (``--help``), so a command does not pay for the others' imports."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            module_name, attr = _COMMANDS[cmd_name]
            command = getattr(importlib.import_module(module_name), attr)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(framework.__version__, prog_name="papertrade")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Log papertrade's debug detail on stderr; -vv adds third-party libraries' too.",
)
def cli(verbose: int) -> None:
    """papertrade: paper trading and deterministic replay backtests on live market data.

    \b
    Replay a bundled recording through an example strategy:
      papertrade run strategies/sma_crossover.py --replay replays/finazon-btc-usdt-bars.jsonl.gz
    Look at what a recording holds:
      papertrade inspect replays/cryptomus-btc-usdt.jsonl.gz --limit 5
    """
    logs.configure(verbose)


@cli.command()
@click.argument("strategy", nargs=-1, required=True)
@click.option(
    "--replay",
    "recordings",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Recording to replay: a file, or a bundled one by name (cryptomus-btc-usdt); repeat "
    "it to replay several together, merged by receive time (equal times keep the order given).",
)
@click.option(
    "--live", is_flag=True, help="Run on live feeds (the built-in emulator without keys)."
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="TOML config file, or an example config by name (backtest).",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="NAME=VALUE",
    help="Set a strategy parameter (Strategy.name=value for one strategy). Repeatable.",
)
@click.option(
    "--seed", type=int, default=None, help="Seed for order ids (default: config run.seed)."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("out"),
    show_default=True,
    help="Directory for events.jsonl, fills.csv, trades.csv, equity.csv, summary.json, results.json.",
)
@click.option(
    "--record",
    "record_path",
    type=click.Path(path_type=Path),
    help="Live: also record the session to this file.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True, max=1e9),
    default=None,
    callback=lambda _ctx, _param, value: seconds_option(value),
    help="Live: stop after this many seconds (more than 0).",
)
@click.option(
    "--from",
    "start",
    metavar="TIME",
    help="Replay: start at this UTC time (ISO, e.g. 2025-01-01T12:00).",
)
@click.option("--to", "end", metavar="TIME", help="Replay: stop before this UTC time (ISO).")
@click.option(
    "--session",
    "session",
    type=click.Path(path_type=Path, file_okay=False),
    help="Live: keep the recording and outputs in this folder; if it already holds a session, "
    "catch up by replaying its recording first, then go on appending to it.",
)
@click.option(
    "--rebase",
    is_flag=True,
    help="With --session: accept private events that differ from those the session wrote "
    "(the strategy or config changed) instead of refusing to resume.",
)
@click.option(
    "--quiet", "-q", is_flag=True, help="Live: no status line every few seconds on stderr."
)
@click.option(
    "--dashboard",
    "dashboard",
    metavar="[HOST:]PORT",
    help="Live: serve a dashboard at http://HOST:PORT/ (HOST 127.0.0.1 unless given; port 0 "
    "picks a free one; the URL is printed).",
)
@click.option(
    "--db",
    "db",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the run to this run database (SQLite; created if missing; one file "
    "holds many runs; see `papertrade runs`).",
)
@click.option(
    "--finalize/--no-finalize",
    default=None,
    help="At the end of the data, close every strategy's position at market "
    "(default: config run.finalize; else on for --replay, off for --live and for the "
    "replay of a live session's recording).",
)
@click.option(
    "--report",
    "with_report",
    is_flag=True,
    help="Also write report.html: equity, drawdown, trades and statistics, viewable offline.",
)
def run(
    strategy: tuple[str, ...],
    recordings: tuple[Path, ...],
    live: bool,
    config_path: Path | None,
    sets: tuple[str, ...],
    seed: int | None,
    out_dir: Path,
    record_path: Path | None,
    duration: float | None,
    finalize: bool | None,
    with_report: bool,
    start: str | None,
    end: str | None,
    session: Path | None,
    rebase: bool,
    quiet: bool,
    dashboard: str | None,
    db: Path | None,
) -> None:
    """Run STRATEGY (a file, file.py:Class, module:Class or an example's name such as
    sma_crossover; several allowed) on recordings (--replay, with an optional --from/--to
    window) or on live feeds (--live), and write the results to --out."""
    if bool(recordings) == live:
        raise click.UsageError("give exactly one of --replay RECORDING or --live")
    if live and (start or end):
        raise click.UsageError("--from and --to apply to --replay, not to --live")
    if recordings and (record_path is not None or duration is not None):
        flag = "--record" if record_path is not None else "--duration"
        raise click.UsageError(f"{flag} applies to --live, not to --replay")
    from framework.bundled import resolve_config, resolve_recording, resolve_strategy
    from framework.config import load_config, parse_set
    from framework.report.console import print_summary
    from framework.run import RunSetup, load_strategy, replay
    from framework.window import Window

    window = Window.parse(start, end)
    if session is not None and not live:
        raise click.UsageError("--session needs --live (replay the session's recording instead)")
    if session is not None and (record_path is not None or out_dir != Path("out")):
        raise click.UsageError("--session DIR holds the recording and outputs: drop --record/--out")
    if rebase and session is None:
        raise click.UsageError("--rebase only applies with --session")
    if dashboard is not None and not live:
        raise click.UsageError("--dashboard needs --live (a replay has its report instead)")
    address = None
    if dashboard is not None:
        from framework.dashboard.app import parse_address

        address = parse_address(dashboard)
    if config_path is not None:
        config_path = resolve_config(config_path)
    config = load_config(config_path, parse_set(sets))
    if finalize is not None:
        config = msgspec.structs.replace(
            config, run=msgspec.structs.replace(config.run, finalize=finalize)
        )
    loaded = [load_strategy(resolve_strategy(spec)) for spec in strategy]
    _check_unique_names([cls for cls, _ in loaded])
    setup = RunSetup(
        strategies=tuple(cls for cls, _ in loaded),
        strategy_sources={cls.__name__: digest for cls, digest in loaded},
        config=config,
        seed=config.run.seed if seed is None else seed,
        window=window,
    )
    if live:
        from framework.live.runner import run_live_command

        summary = run_live_command(
            setup, out_dir, record_path, duration, config_path, db, quiet, address, session,
            rebase,
        )  # fmt: skip
        out_dir = session or out_dir
    else:
        resolved = [resolve_recording(r) for r in recordings]
        with _progress("replay") as progress:
            summary = replay(setup, resolved, out_dir, progress, db)
    print_summary(summary, out_dir)
    if with_report:
        from framework.report.command import write_run_report

        click.echo(f"report: {write_run_report(out_dir)}")


@cli.command("inspect")
@click.argument("recording", type=click.Path(path_type=Path))
@click.option("--limit", type=click.IntRange(min=0), default=None, help="Print at most N events.")
@click.option("--from", "start", metavar="TIME", help="Only from this UTC time (ISO).")
@click.option("--to", "end", metavar="TIME", help="Only before this UTC time (ISO).")
def inspect_cmd(recording: Path, limit: int | None, start: str | None, end: str | None) -> None:
    """Print a recording's normalized events as JSON Lines; a summary goes to stderr."""
    from framework.inspection import inspect_recording
    from framework.window import Window

    window = Window.parse(start, end)
    summary = inspect_recording(recording, sys.stdout.buffer, limit, window)
    click.echo(summary, err=True)


@cli.command("import-csv")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--symbol", required=True, help="Instrument, e.g. BTC/USDT or AAPL.US.")
@click.option("--interval", required=True, help="Bar interval: 1m, 5m, 1h, 1d ...")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Recording to write (.jsonl or .jsonl.gz).",
)
@click.option("--date-format", help="strptime format of the time column, e.g. '%m/%d/%Y %H:%M'.")
@click.option(
    "--columns",
    help="Column names of a file without a header, in order, e.g. time,open,high,low,close,volume.",
)
@click.option("--tick-size", help="Price step of a market the exchange does not know.")
@click.option("--lot-size", help="Quantity step of a market the exchange does not know.")
def import_csv_cmd(
    file: Path,
    symbol: str,
    interval: str,
    out: Path,
    date_format: str | None,
    columns: str | None,
    tick_size: str | None,
    lot_size: str | None,
) -> None:
    """Turn an OHLCV CSV (Yahoo, backtesting.py and similar) into a recording of bar frames.

    Rows may come in any order (they are sorted; repeated times are reported). The interval
    must be the rows' usual spacing. A market the paper exchange does not know is defined from
    the prices seen (or --tick-size / --lot-size) and written into the recording."""
    from framework.importcsv import import_csv
    from framework.importers.command import parse_step

    report = import_csv(
        file, symbol, interval, out, date_format=date_format, columns=columns,
        tick_size=parse_step(tick_size, "--tick-size"), lot_size=parse_step(lot_size, "--lot-size"),
    )  # fmt: skip
    click.echo(report, err=True)


_COMMANDS: Final = {
    "generate": ("framework.emulators.generate", "generate"),
    "serve": ("framework.emulators.cli", "serve"),
    "record": ("framework.live.commands", "record"),
    "runs": ("framework.rundb.listing", "runs"),
    "diff": ("framework.diff_command", "diff"),
    "new": ("framework.scaffold", "new"),
    "report": ("framework.report.command", "report"),
    "import": ("framework.importers.command", "import_cmd"),
    "sweep": ("framework.sweeps.command", "sweep_cmd"),
    "cache": ("framework.cache_command", "cache"),
}
"""The commands that live in their own modules: name -> (module, attribute), imported when used."""


def seconds_option(value: float | None) -> float | None:
    """A ``--duration`` value: FloatRange lets NaN through (it compares false to any bound)."""
    if value is not None and value != value:
        raise click.BadParameter("nan is not a number of seconds")
    return value


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the ``papertrade`` script and ``python -m framework``."""
    try:
        cli.main(args=argv, prog_name="papertrade", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (| head): not an error
        sys.exit(0)
    except BaseException as exc:
        error = find_error(exc, PapertradeError)
        if error is None:
            raise
        click.echo(f"Error: {error}", err=True)
        if isinstance(error, StrategyError) and error.user_traceback():
            click.echo(error.user_traceback(), err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(0)


def _check_unique_names(classes: list[Any]) -> None:
    names = [c.__name__ for c in classes]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise click.UsageError(f"the same strategy class is given twice: {', '.join(dupes)}")


class _progress:
    """A rich progress bar on stderr (frames, simulated time, rate), only on a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._console = Console(stderr=True)
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._start = self._last = 0.0

    def __enter__(self) -> _progress | None:
        if not self._console.is_terminal:
            return None
        # Only on a terminal: a replay written to a pipe or a file does not import it.
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=16),
            TaskProgressColumn(),
            TextColumn("{task.fields[frames]:,} frames, {task.fields[rate]:,.0f}/s"),
            TextColumn("{task.fields[sim]}"),
            TimeRemainingColumn(compact=True),
            console=self._console,
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task(self.label, total=None, frames=0, rate=0.0, sim="")
        self._start = time.monotonic()  # display only; never reaches any output file
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __call__(self, done: int, total: int, stats: LoopStats) -> None:
        now = time.monotonic()
        if (now - self._last < 0.1 and done < total) or self._bar is None or self._task is None:
            return
        self._last = now
        elapsed = now - self._start
        from framework.report.output import iso_time

        self._bar.update(
            self._task,
            completed=done,
            total=total,
            frames=stats.frames,
            rate=stats.frames / elapsed if elapsed > 0 else 0.0,
            sim=iso_time(stats.last_ts_ns)[:16].replace("T", " ") if stats.last_ts_ns else "",
        )
