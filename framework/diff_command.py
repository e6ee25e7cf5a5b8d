"""``papertrade diff A B``: two runs compared event by event (the engine is ``framework.diff``).

A and B are run folders (``--out`` of ``papertrade run``), golden folders (the pytest plugin's),
or recordings. A recording is replayed here with ``--strategy`` (repeatable); unless
``--config``/``--set``/``--seed`` say otherwise it is replayed with the parameters and seed the
other side's ``summary.json`` names, so ``papertrade diff out/live session.jsonl -s s.py`` asks
"does the replay of this session give what the session did?". Exit status 0 when identical,
1 when they differ (or on an error).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from framework.bundled import resolve_recording, resolve_strategy
from framework.config import load_config, parse_set
from framework.diff import Side, compare, load_folder, render, replay_side
from framework.errors import ConfigError
from framework.run import RunSetup, load_strategy

__all__ = ["diff"]


@click.command()
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@click.option(
    "-s",
    "--strategy",
    "strategies",
    multiple=True,
    metavar="SPEC",
    help="Strategy to replay a recording side with (file, file.py:Class, module:Class). Repeatable.",
)
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="TOML config file.")
@click.option(
    "--set", "sets", multiple=True, metavar="NAME=VALUE", help="Set a strategy parameter."
)
@click.option("--seed", type=int, default=None, help="Seed for the replayed side's order ids.")
def diff(
    a: Path,
    b: Path,
    strategies: tuple[str, ...],
    config_path: Path | None,
    sets: tuple[str, ...],
    seed: int | None,
) -> None:
    """Compare runs A and B event by event: the first divergence (event, frame, simulated time,
    the two events side by side), then counts and differing statistics.

    \b
    A and B: run folders, golden folders, or recordings to replay with --strategy.
      papertrade diff out/before out/after
      papertrade diff out/live session.jsonl -s strategies/market_maker.py
    Exit status: 0 identical, 1 different or an error.
    """
    folders = [p for p in (a, b) if p.is_dir()]
    reference = load_folder(folders[0]) if folders else None
    sides = [
        _side(path, reference, strategies, config_path, sets, seed) if not path.is_dir()
        else (reference if path == folders[0] and reference is not None else load_folder(path))
        for path in (a, b)
    ]  # fmt: skip
    result = compare(sides[0], sides[1])
    click.echo(render(result))
    if not result.identical:
        sys.exit(1)


def _side(
    path: Path,
    reference: Side | None,
    strategies: tuple[str, ...],
    config_path: Path | None,
    sets: tuple[str, ...],
    seed: int | None,
) -> Side:
    recording = resolve_recording(str(path))
    if not strategies:
        raise ConfigError(f"{path} is a recording: give --strategy to replay it")
    overrides = parse_set(sets)
    config = load_config(config_path, overrides)
    params: dict[str, Any] = {}
    if reference is not None and config_path is None and not sets:
        for name, values in reference.summary.get("strategies", {}).items():
            params.update({f"{name}.{key}": value for key, value in values.items()})
    loaded = [load_strategy(resolve_strategy(spec)) for spec in strategies]
    if params:
        import msgspec

        config = msgspec.structs.replace(config, params={**config.params, **params})
    if seed is None:
        seed = reference.summary.get("fingerprint", {}).get("seed") if reference else None
    setup = RunSetup(
        strategies=tuple(cls for cls, _ in loaded),
        strategy_sources={cls.__name__: digest for cls, digest in loaded},
        config=config,
        seed=config.run.seed if seed is None else seed,
    )
    return replay_side(setup, recording, label=f"{path} (replayed)")
