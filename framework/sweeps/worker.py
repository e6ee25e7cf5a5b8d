"""Running one point: the code every backend's worker runs, in whatever process it is.

A worker reads each recording once and serves every later point on it from what it read (keyed
by its content hash), so a sweep of many points on one recording decodes its JSON once per
worker, not once per point. A point that replays the whole recording reads the decoded cache
(``framework.replaycache``), as ``papertrade run`` does: the worker opens (and checks) the cache
file once, building it first if it is missing, and every point streams its decoded batches from
it, so the worker keeps no lines and its memory does not depend on the recording's length. A
windowed point (walk-forward), or any point when the cache cannot serve (``PAPERTRADE_CACHE=off``,
a recording it cannot hold), reads lines the worker keeps in memory, as ``papertrade run`` reads
the JSON then. The strategy class is loaded once per worker too. Each point then runs the same
engine, output and summary code as ``papertrade run --replay`` (``framework.run``), into a
scratch folder of the worker's, so its summary is the one that command writes. A point that
fails comes back as its error; the worker goes on with the next.
"""

from __future__ import annotations

import gc
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from framework import replaycache
from framework.errors import ConfigError, PapertradeError, StrategyError
from framework.recording import Header, Line, ProviderSpec, ReadStats, RecordingReader
from framework.replaycache import CacheError, CacheReader
from framework.run import (
    RunSetup,
    build,
    codecs_for,
    empty_window_message,
    fewer_collections,
    load_strategy,
    sha256_file,
    summarize,
    wire_type_of,
    with_recorded_markets,
)
from framework.strategy import Strategy
from framework.sweeps.database import export_run
from framework.sweeps.spec import PointResult, RunSpec, set_text
from framework.window import windowed

__all__ = ["Loaded", "load_recording", "release", "run_point", "run_spec", "time_span"]


class Loaded:
    """A recording read once: its decoded cache or its lines, what the reader counted, its hash.

    A whole-recording run reads the decoded cache (:meth:`cache`), opened once and kept open.
    Where the cache cannot serve, lines are kept the way ``papertrade run`` reads them: decoded
    straight into the codec's wire types for a whole-recording run (when the recording has one
    provider), as plain frames for a windowed one (the window primes books from the frames
    before it). Each form is read on first use only. With each batch goes what the reader had
    counted when it handed that batch over, so a windowed run that stops early reports the
    counts ``papertrade run`` reports when it stops reading there.

    ``cache_folder``: where the decoded cache goes; by default the user's cache folder, which
    ``papertrade run`` and ``papertrade cache`` share (a Ray worker's copy of a recording has
    its cache in the worker's scratch folder, removed with it).
    """

    def __init__(self, path: str | Path, sha256: str, cache_folder: Path | None = None) -> None:
        self.path = Path(path)
        self.sha256 = sha256
        with RecordingReader(self.path) as reader:
            self.header: Header = reader.header
        self.providers: tuple[ProviderSpec, ...] = self.header.providers
        self.stats = ReadStats()  # the counts of reading the whole recording
        self._forms: dict[bool, list[list[Line]]] = {}
        self._counted: dict[bool, list[ReadStats]] = {}  # per batch: the counts up to it
        self._cache_folder = cache_folder
        self._caches: dict[int, CacheReader | None] = {}  # screen window (ns) -> its cache

    def cache(self, window_ns: int) -> CacheReader | None:
        """The decoded cache for the screen's event time window ``window_ns``, built if it is
        missing or stale, checked and opened on first use; None when it cannot serve (off, not
        writable, a recording it cannot hold): the run then reads the kept lines."""
        if window_ns not in self._caches:
            self._caches[window_ns] = _open_cache(self.path, window_ns, self._cache_folder)
        return self._caches[window_ns]

    def close(self) -> None:
        """Close the cache files it keeps open."""
        for reader in self._caches.values():
            if reader is not None:
                reader.close()
        self._caches.clear()

    def batches(self, typed: bool) -> list[list[Line]]:
        """Every line, in the reader's batches; ``typed``: frames in the provider's wire types."""
        found = self._forms.get(typed)
        if found is None:
            wire = wire_type_of(codecs_for(self.providers)) if typed else None
            found, counted = [], []
            with RecordingReader(self.path) as reader:
                for batch in reader.batches(wire):
                    if batch:
                        found.append(batch)
                        counted.append(_copy(reader.stats))
            self._forms[typed], self._counted[typed] = found, counted
            self.stats = reader.stats
        return found

    def stats_after(self, typed: bool, batches_read: int) -> ReadStats:
        """The reader's counts when it had handed over ``batches_read`` batches and stopped
        (more than there are: it read to the end of the file)."""
        counted = self._counted[typed]
        return self.stats if batches_read > len(counted) else counted[batches_read - 1]


def _open_cache(path: Path, window_ns: int, folder: Path | None) -> CacheReader | None:
    if folder is None or replaycache.cache_dir() is None:  # the user's folder, or off
        return replaycache.open_or_build(path, window_ns)
    try:
        file, _ = replaycache.ensure(path, window_ns, folder)
        return replaycache.open_cache(path, window_ns, file)
    except (CacheError, OSError):
        return None


def _copy(stats: ReadStats) -> ReadStats:
    return ReadStats(stats.lines, stats.corrupt, stats.corrupt_lines[:], stats.truncated_tail)


_RECORDINGS: dict[str, Loaded] = {}  # content hash -> the recording, decoded (per process)
_STRATEGIES: dict[str, tuple[type[Strategy], str]] = {}  # spec -> (class, source hash)
_SCRATCH: list[Path] = []  # this process's scratch folder for point outputs


def load_recording(
    path: str | Path, sha256: str | None = None, cache_folder: Path | None = None
) -> Loaded:
    """A recording, read at most once per process (cached under its content hash)."""
    key = sha256 or sha256_file(Path(path))
    cached = _RECORDINGS.get(key)
    if cached is None:
        cached = _RECORDINGS[key] = Loaded(path, key, cache_folder)
    return cached


def release() -> None:
    """Forget every recording this process keeps, closing their cache files (``api.sweep``
    when it returns, for what its own process read; a worker process keeps them until it
    exits)."""
    for loaded in _RECORDINGS.values():
        loaded.close()
    _RECORDINGS.clear()


def time_span(loaded: Loaded) -> tuple[int, int]:
    """``(first, last + 1)``: the receive times a recording covers, in ns (read as a windowed
    point reads it, since every walk-forward run has a window)."""
    times = [line.t for batch in loaded.batches(typed=False) for line in batch]
    if not times:
        return (0, 0)
    return (min(times), max(times) + 1)


def run_point(
    spec: RunSpec, loaded: Loaded, out_dir: str | Path, db: Path | None = None
) -> dict[str, Any]:
    """Replay ``loaded`` with the spec's point (and window) into ``out_dir``: the same files and
    summary as ``papertrade run --replay ... --set name=value [--from ... --to ...]``, read
    from the lines this process keeps instead of from the file. ``db`` also writes the run to
    that run database, as ``--db`` does.

    Raises:
        ConfigError: nothing of the recording is inside the window (as ``papertrade run``).
        StrategyError: a strategy raised (isolation off); the outputs are written first.
    """
    cls, digest = _strategy(spec.strategy)
    params = {**spec.config.params, **{k: set_text(v) for k, v in spec.params.items()}}
    setup = RunSetup(
        strategies=(cls,),
        strategy_sources={cls.__name__: digest},
        config=msgspec.structs.replace(spec.config, params=params),
        seed=spec.seed,
        window=spec.window,
    )
    setup = with_recorded_markets(setup, loaded.header)
    from_live = loaded.header.meta.get("source") == "live"
    typed = not spec.window.bounded  # as papertrade run reads: plain frames for a window
    window_s = setup.config.run.event_time_window_s
    cache = None
    if typed and 0 < window_s < 10**9:  # else build() says what is wrong
        cache = loaded.cache(replaycache.window_ns_of(window_s))
    lines: Iterable[list[Line]] = cache.batches() if cache is not None else loaded.batches(typed)
    read = [0]  # batches handed to the window so far
    failure: StrategyError | None = None
    writer = None
    with fewer_collections():
        if db is not None:
            from framework.rundb import begin_run

            writer = begin_run(db, setup, mode="replay", source=spec.recording, out_dir=out_dir)
        engine, output = build(setup, loaded.providers, out_dir, db=writer, live=from_live)
        span: list[int] = []
        batches = lines
        if spec.window.bounded:
            batches = windowed(_counting(loaded.batches(typed), read), spec.window, engine, span)
        try:
            try:
                for batch in batches:
                    engine.process(batch)
                engine.finish()
            except StrategyError as exc:  # the outputs still record everything before it
                failure = exc
                engine.write_pending()
                output.sample_equity("equity", engine.clock.now_ns)
        except BaseException as exc:
            if writer is not None:
                writer.fail(exc)
            raise
        finally:  # an error must not leave the output files open
            events_hash = output.close()
    if spec.window.bounded and not engine.stats.first_ts_ns:
        error = ConfigError(empty_window_message([Path(spec.recording)], spec.window, span))
        if writer is not None:
            writer.fail(error)
        raise error
    if cache is not None:
        stats = cache.stats  # what the recording reader counted up to where the run stopped
    elif spec.window.bounded:
        stats = loaded.stats_after(typed, read[0])
    else:
        stats = loaded.stats
    summary = summarize(setup, engine, output, events_hash, loaded.sha256, stats)
    if failure is not None:
        summary["error"] = str(failure)
    output.write_summary(summary)
    if writer is not None:
        if failure is not None:
            writer.fail(failure)
        else:
            writer.finish(summary)
    if failure is not None:
        raise failure
    return summary


def _counting(batches: list[list[Line]], read: list[int]) -> Iterator[list[Line]]:
    """``batches``, counting in ``read[0]`` how many were taken (the window stops early); one
    more once all were, when the reader would have read to the end of the file."""
    for batch in batches:
        read[0] += 1
        yield batch
    read[0] += 1


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
    began = time.monotonic()
    started = time.perf_counter()  # wall time is reported, never part of the result itself
    db = _scratch_db() if spec.record else None
    try:
        loaded = _RECORDINGS.get(spec.recording_sha256)
        if loaded is None:
            if fetch is None:
                loaded = load_recording(spec.recording, spec.recording_sha256)
            else:  # a copy of this worker's: its decoded cache goes with it
                folder = _scratch().parent / "cache"
                loaded = load_recording(fetch(), spec.recording_sha256, folder)
        summary = run_point(spec, loaded, out_dir or _scratch(), db)
    except PapertradeError as exc:
        return _failed(spec, str(exc), began, started, db)
    except Exception as exc:  # a user's strategy may raise anything; the sweep goes on
        return _failed(spec, f"{type(exc).__name__}: {exc}", began, started, db)
    finally:
        # A finished run's engine is a reference cycle that only a full collection frees, and
        # CPython runs those rarely: without this, a worker grew by each point's engine (about
        # 0.8 MB a point on a 20,000-frame recording). The cached lines are not tracked by the
        # collector, so this costs tens of milliseconds whatever the recording's size.
        gc.collect()
    rows = None if db is None else export_run(db)
    return PointResult(
        index=spec.index,
        summary=summary,
        wall_s=time.perf_counter() - started,
        run_rows=rows,
        began=began,
        ended=time.monotonic(),
    )


def ray_point(spec: RunSpec, shipped: dict[str, Any], scratch_root: str) -> PointResult:
    """The Ray task: ``shipped`` maps a recording's hash to its bytes in the object store (in a
    dict, so that Ray passes the reference and the bytes are fetched only on a cache miss).
    The worker's scratch folder (its copy of the recording, that copy's decoded cache, the
    point's outputs) goes in ``scratch_root``, which the backend removes when it stops the Ray
    instance it started: Ray ends its workers without running their exit handlers."""
    _scratch(Path(scratch_root))

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


def _scratch(root: Path | None = None) -> Path:
    """This process's scratch folder for point outputs (made in ``root`` on first use)."""
    if not _SCRATCH:
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        base = Path(tempfile.mkdtemp(prefix="papertrade-sweep-", dir=root))
        _SCRATCH.append(base / "point")
        import atexit

        atexit.register(shutil.rmtree, base, True)
    return _SCRATCH[0]


def _scratch_db() -> Path:
    """A fresh run database for one point's rows (the previous point's removed)."""
    path = _scratch().parent / "point.db"
    for leftover in (path, path.with_name("point.db-wal"), path.with_name("point.db-shm")):
        leftover.unlink(missing_ok=True)
    return path


def _failed(
    spec: RunSpec, error: str, began: float, started: float, db: Path | None
) -> PointResult:
    rows = export_run(db) if db is not None and db.exists() else None
    return PointResult(
        index=spec.index, error=error, wall_s=time.perf_counter() - started, run_rows=rows,
        began=began, ended=time.monotonic(),
    )  # fmt: skip
