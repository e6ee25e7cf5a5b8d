"""The ``papertrade`` command line: a click group; every user mistake is one clean line.

``PapertradeError`` (and click's own usage errors) print ``Error: message`` on stderr and exit
non-zero, never with a traceback; exception groups from a trio nursery are unwrapped to the
error inside. Commands: run, inspect, import-csv, generate, serve, record, diff, new, report.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
from pathlib import Path
from typing import Any, Final, NoReturn

import click
import msgspec

import framework
from framework.bundled import resolve_config, resolve_recording, resolve_strategy
from framework.config import load_config, parse_set
from framework.errors import PapertradeError, StrategyError, find_error
from framework.inspection import inspect_recording
from framework.report.console import print_summary
from framework.run import RunSetup, load_strategy, replay

__all__ = ["cli", "main"]

EXIT_ERROR: Final = 1
EXIT_INTERRUPTED: Final = 130


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(framework.__version__, prog_name="papertrade")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail on stderr.")
def cli(verbose: bool) -> None:
    """papertrade: paper trading and deterministic replay backtests on live market data.

    \b
    Replay a bundled recording through an example strategy:
      papertrade run strategies/sma_crossover.py --replay replays/finazon-btc-usdt-bars.jsonl.gz
    Look at what a recording holds:
      papertrade inspect replays/cryptomus-btc-usdt.jsonl.gz --limit 5
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@cli.command()
@click.argument("strategy", nargs=-1, required=True)
@click.option(
    "--replay",
    "recording",
    type=click.Path(path_type=Path),
    help="Recording to replay: a file, or a bundled one by name (cryptomus-btc-usdt).",
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
@click.option("--duration", type=float, default=None, help="Live: stop after this many seconds.")
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
    recording: Path | None,
    live: bool,
    config_path: Path | None,
    sets: tuple[str, ...],
    seed: int | None,
    out_dir: Path,
    record_path: Path | None,
    duration: float | None,
    finalize: bool | None,
    with_report: bool,
) -> None:
    """Run STRATEGY (a file, file.py:Class, module:Class or an example's name such as
    sma_crossover; several allowed) on a recording
    (--replay) or on live feeds (--live), and write the results to --out."""
    if (recording is None) == (not live):
        raise click.UsageError("give exactly one of --replay RECORDING or --live")
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
    )
    if live:
        from framework.live.runner import run_live_command

        summary = run_live_command(setup, out_dir, record_path, duration, config_path)
    else:
        assert recording is not None
        recording = resolve_recording(recording)
        with _progress(f"replaying {recording.name}") as progress:
            summary = replay(setup, recording, out_dir, progress)
    print_summary(summary, out_dir)
    if with_report:
        from framework.report.command import write_run_report

        click.echo(f"report: {write_run_report(out_dir)}")


@cli.command("inspect")
@click.argument("recording", type=click.Path(path_type=Path))
@click.option("--limit", type=click.IntRange(min=0), default=None, help="Print at most N events.")
def inspect_cmd(recording: Path, limit: int | None) -> None:
    """Print a recording's normalized events as JSON Lines; a summary goes to stderr."""
    summary = inspect_recording(recording, sys.stdout.buffer, limit)
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
def import_csv_cmd(file: Path, symbol: str, interval: str, out: Path) -> None:
    """Turn an OHLCV CSV (Yahoo, backtesting.py and similar) into a recording of bar frames."""
    from framework.importcsv import import_csv

    report = import_csv(file, symbol, interval, out)
    click.echo(report, err=True)


_COMMANDS: Final = (
    ("framework.emulators.generate", "generate"),
    ("framework.emulators.cli", "serve"),
    ("framework.live.commands", "record"),
    ("framework.diff_command", "diff"),
    ("framework.scaffold", "new"),
    ("framework.report.command", "report"),
)


def _register_commands() -> None:
    """Add the commands that live in their own modules (imported only when the CLI starts)."""
    for module_name, attr in _COMMANDS:
        if attr in cli.commands:
            continue
        module = importlib.import_module(module_name)
        cli.add_command(getattr(module, attr))


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the ``papertrade`` script and ``python -m framework``."""
    _register_commands()
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
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty()
        self._last = 0.0

    def __enter__(self) -> _progress | None:
        return self if self.enabled else None

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()  # display only; never reaches any output file
        if now - self._last < 0.2 and done < total:
            return
        self._last = now
        frac = done / total if total else 1.0
        bar = "#" * int(frac * 30)
        sys.stderr.write(f"\r{self.label} [{bar:<30}] {frac:6.1%}")
        sys.stderr.flush()
