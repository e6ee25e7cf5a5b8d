"""The data papertrade ships: bundled recordings, example configs and example strategies.

They live inside the package (``framework/data/``) and are read with ``importlib.resources``,
so they are there wherever papertrade is installed, from a wheel or a checkout; the checkout's
top-level ``replays/``, ``configs/`` and ``strategies/`` are links to the same files.

A name is the file name without its suffix: ``recording("cryptomus-btc-usdt")``,
``config("backtest")``, ``strategy("sma_crossover")``. The ``resolve_*`` helpers accept a path
or a name, a path first, as the command line does. This module never writes, except once a copy
of a file when the package is imported from a zip archive (which has no paths).
"""

from __future__ import annotations

import atexit
import importlib.resources
import shutil
import tempfile
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Final

from framework.errors import ConfigError, RecordingError

__all__ = [
    "config",
    "config_names",
    "recording",
    "recording_names",
    "resolve_config",
    "resolve_recording",
    "resolve_strategy",
    "strategy",
    "strategy_names",
]

_KINDS: Final = {
    "replays": ".jsonl.gz",
    "configs": ".toml",
    "strategies": ".py",
}
_extracted: dict[str, Path] = {}


def recording(name: str) -> Path:
    """The path of a bundled recording, e.g. ``recording("cryptomus-btc-usdt")``.

    Raises:
        RecordingError: no bundled recording has that name (the message lists them).
    """
    return _find("replays", name, RecordingError)


def config(name: str) -> Path:
    """The path of an example config, e.g. ``config("backtest")``."""
    return _find("configs", name, ConfigError)


def strategy(name: str) -> Path:
    """The path of an example strategy file, e.g. ``strategy("sma_crossover")``."""
    return _find("strategies", name, ConfigError)


def recording_names() -> list[str]:
    """The bundled recordings' names, sorted."""
    return _names("replays")


def config_names() -> list[str]:
    """The example configs' names, sorted."""
    return _names("configs")


def strategy_names() -> list[str]:
    """The example strategies' names, sorted."""
    return _names("strategies")


def resolve_recording(spec: str | Path) -> Path:
    """``spec`` if it is an existing file, else the bundled recording of that name."""
    return _resolve("replays", spec, RecordingError)


def resolve_config(spec: str | Path) -> Path:
    """``spec`` if it is an existing file, else the example config of that name."""
    return _resolve("configs", spec, ConfigError)


def resolve_strategy(spec: str) -> str:
    """A strategy spec with a bundled example's name (``sma_crossover[:Class]``) made a path.

    Anything else (a file, ``file.py:Class``, ``module:Class``) comes back unchanged.
    """
    target, colon, cls = spec.partition(":")
    if Path(target).exists() or target.endswith(".py") or target not in strategy_names():
        return spec
    return f"{strategy(target)}{colon}{cls}"


# --- plumbing ---------------------------------------------------------------------------------


def _resolve(kind: str, spec: str | Path, error: type[Exception]) -> Path:
    path = Path(spec)
    name = str(spec)
    if path.is_file() or path.suffix or "/" in name or "\\" in name:
        return path  # a path: whoever opens it reports a missing file in its own words
    if name in _names(kind):
        return _find(kind, name, error)
    raise error(
        f"{_singular(kind)} not found: {name} (neither a file nor a bundled "
        f"{_singular(kind)}: {', '.join(_names(kind))})"
    )


def _find(kind: str, name: str, error: type[Exception]) -> Path:
    entry = _folder(kind).joinpath(name + _KINDS[kind])
    if not entry.is_file():
        raise error(
            f"no bundled {_singular(kind)} named {name!r} (bundled: {', '.join(_names(kind))})"
        )
    return _as_path(entry)


def _names(kind: str) -> list[str]:
    suffix = _KINDS[kind]
    return sorted(
        e.name[: -len(suffix)] for e in _folder(kind).iterdir() if e.name.endswith(suffix)
    )


def _folder(kind: str) -> Traversable:
    return importlib.resources.files("framework").joinpath("data", kind)


def _singular(kind: str) -> str:
    return {"replays": "recording", "configs": "config", "strategies": "strategy"}[kind]


def _as_path(entry: Traversable) -> Path:
    """A real path for a resource: itself on disk, else a copy kept until the process ends."""
    if isinstance(entry, Path):
        return entry
    key = str(entry)
    if key not in _extracted:
        folder = Path(tempfile.mkdtemp(prefix="papertrade-data-"))
        atexit.register(shutil.rmtree, folder, True)
        target = folder / entry.name
        with entry.open("rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        _extracted[key] = target
    return _extracted[key]
