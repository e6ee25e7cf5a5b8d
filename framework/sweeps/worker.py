"""Running one point: the code every backend's worker runs, in whatever process it is.

A worker reads each recording once, decoded, and keeps it for every later point on it (keyed by
its content hash), so a sweep of many points on one recording costs one read per worker, not
one per point. The strategy class is loaded once per worker too. Each point then runs the same
engine, output and summary code as ``papertrade run --replay`` (``framework.run``), into a
scratch folder of the worker's, so its summary is the one that command writes. A point that
fails comes back as its error; the worker goes on with the next.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from framework.errors import PapertradeError
from framework.recording import Header, Line, ProviderSpec, ReadStats, RecordingReader
from framework.run import (
    RunSetup,
    build,
    codecs_for,
    fewer_collections,
    load_strategy,
    sha256_file,
    summarize,
    wire_type_of,
)
from framework.strategy import Strategy
from framework.sweeps.spec import PointResult, RunSpec, set_text
from framework.sweeps.window import windowed

__all__ = ["Loaded", "load_recording", "run_point", "run_spec", "time_span"]


class Loaded:
    """A recording read once: its decoded lines, what the reader counted, its hash.

    Lines are kept decoded the way ``papertrade run`` decodes them (straight into the codec's
    wire types, when the recording has one provider), read on first use only.
    """

    def __init__(self, path: str | Path, sha256: str) -> None:
        self.path = Path(path)
        self.sha256 = sha256
        with RecordingReader(self.path) as reader:
            self.header: Header = reader.header
        self.providers: tuple[ProviderSpec, ...] = self.header.providers
        self.stats = ReadStats()
        self._forms: dict[bool, list[list[Line]]] = {}

    def batches(self, typed: bool) -> list[list[Line]]:
        """Every line, in batches; ``typed`` frames decoded into the provider's wire types."""
        found = self._forms.get(typed)
        if found is None:
            wire = wire_type_of(codecs_for(self.providers)) if typed else None
            with RecordingReader(self.path) as reader:
                found = self._forms[typed] = [b for b in reader.batches(wire) if b]
            self.stats = reader.stats
        return found


_RECORDINGS: dict[str, Loaded] = {}  # content hash -> the recording, decoded (per process)
_STRATEGIES: dict[str, tuple[type[Strategy], str]] = {}  # spec -> (class, source hash)
_SCRATCH: list[Path] = []  # this process's scratch folder for point outputs


def load_recording(path: str | Path, sha256: str | None = None) -> Loaded:
    """A recording, read at most once per process (cached under its content hash)."""
    key = sha256 or sha256_file(Path(path))
    cached = _RECORDINGS.get(key)
    if cached is None:
        cached = _RECORDINGS[key] = Loaded(path, key)
    return cached


def time_span(loaded: Loaded) -> tuple[int, int]:
    """``(first, last + 1)``: the receive times a recording covers, in ns."""
    times = [line.t for batch in loaded.batches(typed=True) for line in batch]
    if not times:
        return (0, 0)
    return (min(times), max(times) + 1)


def run_point(spec: RunSpec, loaded: Loaded, out_dir: str | Path) -> dict[str, Any]:
    """Replay ``loaded`` (within the spec's window) with the spec's point into ``out_dir``: the
    same files and summary as ``papertrade run --replay ... --set name=value`` (windowed: that
    run on a recording of the window's lines)."""
    cls, digest = _strategy(spec.strategy)
    params = {**spec.config.params, **{k: set_text(v) for k, v in spec.params.items()}}
    setup = RunSetup(
        strategies=(cls,),
        strategy_sources={cls.__name__: digest},
        config=msgspec.structs.replace(spec.config, params=params),
        seed=spec.seed,
    )
    lines = loaded.batches(typed=True)
    with fewer_collections():
        engine, output = build(setup, loaded.providers, out_dir)
        batches = windowed(lines, spec.window) if spec.window.bounded else lines
        try:
            for batch in batches:
                engine.process(batch)
            engine.finish()
        finally:  # a StrategyError must not leave the output files open
            events_hash = output.close()
    summary = summarize(setup, engine, output, events_hash, loaded.sha256, loaded.stats)
    output.write_summary(summary)
    return summary


def run_spec(
    spec: RunSpec, fetch: Callable[[], str | Path] | None = None, out_dir: Path | None = None
) -> PointResult:
    """Run one spec in this process and report it; never raises for a failing point.

    Args:
        spec: the point to run.
        fetch: where the recording's bytes can be had when this process has not read it yet
            (Ray: a local copy from the object store); by default the spec's path.
        out_dir: where the run's files go; by default this process's scratch folder.
    """
    started = time.perf_counter()  # wall time is reported, never part of the result itself
    try:
        loaded = _RECORDINGS.get(spec.recording_sha256)
        if loaded is None:
            path = fetch() if fetch is not None else spec.recording
            loaded = load_recording(path, spec.recording_sha256)
        summary = run_point(spec, loaded, out_dir or _scratch())
    except PapertradeError as exc:
        return _failed(spec, str(exc), started)
    except Exception as exc:  # a user's strategy may raise anything; the sweep goes on
        return _failed(spec, f"{type(exc).__name__}: {exc}", started)
    return PointResult(index=spec.index, summary=summary, wall_s=time.perf_counter() - started)


def ray_point(spec: RunSpec, shipped: dict[str, Any]) -> PointResult:
    """The Ray task: ``shipped`` maps a recording's hash to its bytes in the object store (in a
    dict, so that Ray passes the reference and the bytes are fetched only on a cache miss)."""

    def fetch() -> Path:
        import ray  # the worker of a Ray task has Ray

        data = ray.get(shipped[spec.recording_sha256])
        path = _scratch().parent / f"{spec.recording_sha256}.recording"
        path.write_bytes(data)
        return path

    return run_spec(spec, fetch)


def _strategy(spec: str) -> tuple[type[Strategy], str]:
    found = _STRATEGIES.get(spec)
    if found is None:
        found = _STRATEGIES[spec] = load_strategy(spec)
    return found


def _scratch() -> Path:
    if not _SCRATCH:
        base = Path(tempfile.mkdtemp(prefix="papertrade-sweep-"))
        _SCRATCH.append(base / "point")
        import atexit

        atexit.register(shutil.rmtree, base, True)
    return _SCRATCH[0]


def _failed(spec: RunSpec, error: str, started: float) -> PointResult:
    return PointResult(index=spec.index, error=error, wall_s=time.perf_counter() - started)
