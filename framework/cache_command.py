"""``papertrade cache REC...``: build the decoded cache of recordings ahead of their replays.

A replay builds the cache of its recording itself the first time (``framework.replaycache``);
this command does it beforehand, for example before a sweep starts its workers, and says where
each cache file is.
"""

from __future__ import annotations

from pathlib import Path

import click

from framework.bundled import resolve_config, resolve_recording
from framework.config import load_config
from framework.errors import ConfigError
from framework.replaycache import cache_dir, ensure, window_ns_of

__all__ = ["cache"]


@click.command()
@click.argument("recordings", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="TOML config of the runs to come (its run.event_time_window_s shapes the cache).",
)
def cache(recordings: tuple[Path, ...], config_path: Path | None) -> None:
    """Decode RECORDINGS (files, or bundled recordings by name) into the decoded cache that
    later replays read instead of the JSON.

    \b
    The cache folder is $PAPERTRADE_CACHE, else ~/.cache/papertrade (PAPERTRADE_CACHE=off
    turns the cache off). A cache that is current is kept as it is.
      papertrade cache session.jsonl.gz
    """
    folder = cache_dir()
    if folder is None:
        raise ConfigError("the decoded cache is off (PAPERTRADE_CACHE=off)")
    config = load_config(resolve_config(config_path) if config_path is not None else None)
    window_s = config.run.event_time_window_s
    if not 0 < window_s < 10**9:
        raise ConfigError(f"run.event_time_window_s must be positive, got {window_s}")
    for spec in recordings:
        recording = resolve_recording(spec)
        file, built = ensure(recording, window_ns_of(window_s), folder)
        size = file.stat().st_size / 1e6
        state = "built" if built else "already current"
        click.echo(f"{recording}: {state}, {file} ({size:.1f} MB)")
