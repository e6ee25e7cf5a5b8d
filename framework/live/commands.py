"""``papertrade record``: record live feeds to a file, without a strategy.

The providers come from ``--config`` (its ``[[providers]]`` tables), or the Cryptomus default;
a provider without credentials is served by the built-in emulator, which the first line of
output announces. Recording stops after ``--duration`` seconds or at Ctrl-C / SIGTERM, which
closes the connections cleanly and leaves a complete, readable recording; a second Ctrl-C
exits at once. ``papertrade run STRATEGY --replay FILE`` then replays it.

This module only parses options and prints; the work is ``framework.live.runner``'s.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import click
import trio

from framework.cli import seconds_option
from framework.config import load_config
from framework.live.runner import record_live

__all__ = ["record"]


@click.command("record")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="TOML config whose [[providers]] name the feeds (default: Cryptomus BTC_USDT).",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Recording to write (.jsonl, or .jsonl.gz compressed).",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    callback=lambda _ctx, _param, value: seconds_option(value),
    help="Stop after this many seconds (default: until Ctrl-C).",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Seed of the emulated market and reconnect jitter (default: config run.seed).",
)
def record(config_path: Path | None, out: Path, duration: float | None, seed: int | None) -> None:
    """Record live feeds to OUT until --duration or Ctrl-C (the built-in emulator without keys)."""
    config = load_config(config_path)
    chosen_seed = config.run.seed if seed is None else seed
    counts = trio.run(
        partial(record_live, config.providers, out, duration=duration, seed=chosen_seed)
    )
    faults = sum(v for k, v in counts.items() if k.startswith("faults_"))
    click.echo(
        f"recorded {counts['lines']} lines ({counts['frames']} frames) to {out}; "
        f"{counts['reconnects']} reconnects, {faults} faults"
    )
