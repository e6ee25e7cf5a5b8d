"""Assembling a run: strategies from a spec, codecs from a recording, the engine, the output.

The CLI and the test kit both build runs through here, so a backtest from the command line and
one in a user's pytest suite are the same code. Replay only reads; live mode (``framework.live``)
builds the same :class:`RunSetup` and feeds the engine from its sessions instead.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

import framework
from framework.config import Config, config_hash
from framework.errors import ConfigError, StrategyError
from framework.loop import Engine
from framework.providers import from_native, make_codec
from framework.providers.base import Codec
from framework.recording import ProviderSpec, ReadStats, RecordingReader, RecordingWriter
from framework.report.output import RunOutput, iso_time
from framework.report.results import Results
from framework.strategy import Strategy

__all__ = [
    "Feed",
    "RunSetup",
    "build",
    "codecs_for",
    "fewer_collections",
    "load_strategy",
    "replay",
    "replay_engine",
    "report_currency",
    "sha256_file",
    "summarize",
    "wire_type_of",
]

ProgressFn = Callable[[int, int], None]
Feed = Callable[[Engine, RecordingReader], None]


class RunSetup(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a run needs besides its frame source."""

    strategies: tuple[type[Strategy], ...]
    strategy_sources: dict[str, str]  # strategy name -> SHA-256 of its source file
    config: Config
    seed: int


def load_strategy(spec: str) -> tuple[type[Strategy], str]:
    """Load a Strategy class from ``path.py``, ``path.py:Class`` or ``module:Class``.

    Returns:
        The class and the SHA-256 of its source file.

    Raises:
        ConfigError: the file or module is missing, fails to import, or does not hold exactly
            one Strategy subclass (when no class is named).
    """
    target, _, class_name = spec.partition(":") if not _is_windows_drive(spec) else (spec, "", "")
    if target.endswith(".py") or Path(target).is_file():
        module = _import_file(Path(target))
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ConfigError(f"cannot import strategy module {target!r}: {exc}") from exc
        except Exception as exc:
            raise ConfigError(
                f"strategy module {target!r} raised {type(exc).__name__}: {exc}"
            ) from exc
    cls = _pick_class(module, spec, class_name)
    source = inspect.getsourcefile(cls)
    return cls, sha256_file(Path(source)) if source else ""


def replay(
    setup: RunSetup,
    recording: str | Path,
    out_dir: str | Path,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Replay ``recording`` through the strategies; write the output files; return the summary."""
    return replay_engine(setup, recording, out_dir, progress)[0]


def replay_engine(
    setup: RunSetup,
    recording: str | Path,
    out_dir: str | Path,
    progress: ProgressFn | None = None,
    feed: Feed | None = None,
) -> tuple[dict[str, Any], Engine]:
    """:func:`replay`, also returning the finished engine (its exchange, strategies, stats).

    ``feed`` replaces the reading loop (it gets the engine and the open reader, and must hand
    the engine every line): ``papertrade diff`` feeds one line at a time to stamp each event.

    Raises:
        StrategyError: a strategy raised (isolation off); every output file is written first,
            for what happened before, with the error in ``summary.json``.
    """
    failure: StrategyError | None = None
    with RecordingReader(recording) as reader, fewer_collections():
        # a live session's recording replays as the session ran: positions left open
        from_live = reader.header.meta.get("source") == "live"
        engine, output = build(setup, reader.header.providers, out_dir, live=from_live)
        codecs = engine.codecs
        total = reader.size()
        try:
            try:
                if feed is not None:
                    feed(engine, reader)
                else:
                    for batch in reader.batches(wire_type_of(codecs)):
                        engine.process(batch)
                        if progress is not None:
                            progress(reader.position(), total)
                engine.finish()
            except StrategyError as exc:  # the output still records everything before it
                failure = exc
                engine.write_pending()
                output.sample_equity("equity", engine.clock.now_ns)
        finally:  # any other error must not leave the output files open either
            events_hash = output.close()
    summary = summarize(
        setup, engine, output, events_hash, sha256_file(Path(recording)), reader.stats
    )
    if failure is not None:
        summary["error"] = str(failure)
    output.write_summary(summary)
    if failure is not None:
        raise failure
    return summary, engine


def build(
    setup: RunSetup,
    providers: Sequence[ProviderSpec],
    out_dir: str | Path,
    recorder: RecordingWriter | None = None,
    *,
    live: bool = False,
) -> tuple[Engine, RunOutput]:
    """An engine with its output directory attached, ready for the providers' frames.

    ``recorder`` (live runs) receives every line the engine consumes, before it is processed.
    ``live`` (a live run, or the replay of a live session's recording) changes one default:
    ``[run] finalize`` is off for those, on for other replays.
    """
    codecs = codecs_for(providers)
    strategies = [cls() for cls in setup.strategies]
    _apply_params(strategies, setup.config.params)
    run = setup.config.run
    currency = run.currency or report_currency(setup, providers)
    engine = Engine(
        codecs,
        strategies,
        setup.config.exchange,
        seed=setup.seed,
        recorder=recorder,
        isolate_strategy_errors=run.isolate_strategy_errors,
        results=Results(currency, setup.config.exchange.markets),
        finalize=run.finalize if run.finalize is not None else not live,
    )
    output = RunOutput(out_dir, engine.exchange, engine.results)
    engine.on_private = output.on_private
    interval_ns = round(run.equity_interval_s * 1_000_000_000)
    if interval_ns <= 0:
        raise ConfigError(f"run.equity_interval_s must be positive, got {run.equity_interval_s}")

    def start_equity(ts_ns: int) -> None:
        output.sample_equity("equity", ts_ns)
        engine.clock.call_every(interval_ns, "equity", output.sample_equity)

    engine.start_hooks.append(start_equity)
    engine.finish_hooks.append(lambda ts: output.sample_equity("equity", ts))
    return engine, output


def codecs_for(providers: Sequence[ProviderSpec]) -> dict[str, Codec]:
    """One codec per provider named in a recording header."""
    return {spec.name: make_codec(spec.name, spec.options) for spec in providers}


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect garbage less often while a replay (or anything streaming a recording) runs.

    Replay makes millions of short-lived containers (a list per decoded frame), and with the
    default threshold the collector runs every 700 of them, re-scanning whatever has survived.
    Objects that exist before the replay are frozen out of the scans; cycles are still
    collected, only in larger steps. Worth about a tenth of the replay's time.

    The collector is left exactly as found: the thresholds are restored, and only objects
    frozen here are unfrozen. If someone else froze objects first (the caller's own program,
    or an enclosing replay), nothing is frozen or unfrozen here, so nesting is safe and a
    test suite running many replays sees no change.
    """
    old = gc.get_threshold()
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    gc.set_threshold(max(old[0], 50_000), max(old[1], 20), max(old[2], 100))
    try:
        yield
    finally:
        gc.set_threshold(*old)
        if freeze:
            gc.unfreeze()


def report_currency(setup: RunSetup, providers: Sequence[ProviderSpec]) -> str:
    """The quote currency of the first subscribed market the exchange knows; else USDT."""
    markets = setup.config.exchange.markets
    for spec in providers:
        for sub in spec.subscriptions:
            rules = markets.get(from_native(spec.name, sub.symbol, spec.options))
            if rules is not None:
                return rules.quote_currency
    return "USDT"


def wire_type_of(codecs: dict[str, Codec]) -> Any:
    """The one provider's wire union, if a recording has one provider whose codec has one."""
    if len(codecs) != 1:
        return None
    return next(iter(codecs.values())).wire_type


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def summarize(
    setup: RunSetup,
    engine: Engine,
    output: RunOutput,
    events_hash: str,
    recording_hash: str,
    read_stats: ReadStats | None = None,
    extra_counts: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The summary.json content of a finished run (output closed, engine finished).

    ``recording_hash`` is the SHA-256 of the recording replayed (or written, live);
    ``extra_counts`` adds live counters (reconnects, faults) to ``counts``.
    """
    stats = engine.stats
    read_stats = read_stats or ReadStats()
    names = [s.name for s in engine.strategies]
    summary = msgspec.to_builtins(engine.results.finish(stats.first_ts_ns, stats.last_ts_ns, names))
    summary["first_time"] = iso_time(stats.first_ts_ns)
    summary["last_time"] = iso_time(stats.last_ts_ns)
    summary["strategies"] = {s.name: s.param_values() for s in engine.strategies}
    summary["unpriced_currencies"] = sorted(output.unpriced)
    summary["error"] = None  # why the run stopped early, if a strategy raised
    summary["counts"] = {
        "lines": read_stats.lines,
        "frames": stats.frames,
        "corrupt_lines": read_stats.corrupt,
        "truncated_tail": read_stats.truncated_tail,
        "decode_errors": stats.decode_errors,
        "provider_errors": stats.provider_errors,
        "acks": stats.acks,
        "pongs": stats.pongs,
        "connects": stats.connects,
        "disconnects": stats.disconnects,
        "strategy_errors": stats.strategy_errors,
        **(extra_counts or {}),
    }
    summary["fingerprint"] = {
        "papertrade": framework.__version__,
        "recording_sha256": recording_hash,
        "config_sha256": config_hash(setup.config),
        "strategy_sha256": dict(sorted(setup.strategy_sources.items())),
        "seed": setup.seed,
        "events_sha256": events_hash,
    }
    return summary  # type: ignore[no-any-return]


def _apply_params(strategies: list[Strategy], params: dict[str, Any]) -> None:
    by_name = {s.name: s for s in strategies}
    for key, value in params.items():
        owner, dot, name = key.rpartition(".")
        if dot:
            if owner not in by_name:
                raise ConfigError(
                    f"parameter {key!r} names strategy {owner!r}, which is not in this run "
                    f"(strategies: {', '.join(by_name)})"
                )
            by_name[owner].set_params({name: value})
            continue
        takers = [s for s in strategies if key in s.params()]
        if not takers:
            known = sorted({p for s in strategies for p in s.params()})
            raise ConfigError(
                f"unknown parameter {key!r}; the strategies declare: {', '.join(known) or 'none'}"
            )
        for strategy in takers:
            strategy.set_params({key: value})


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"strategy file not found: {path}")
    name = "papertrade_user_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ConfigError(f"cannot load strategy file {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ConfigError(f"strategy file {path} raised {type(exc).__name__}: {exc}") from exc
    return module


def _pick_class(module: Any, spec: str, class_name: str) -> type[Strategy]:
    if class_name:
        cls = getattr(module, class_name, None)
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise ConfigError(f"{spec}: {class_name!r} is not a Strategy subclass in that file")
        return cls
    found = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, Strategy)
        and obj is not Strategy
        and obj.__module__ == module.__name__
    ]
    if not found:
        raise ConfigError(f"{spec}: no Strategy subclass defined there")
    if len(found) > 1:
        names = ", ".join(sorted(c.__name__ for c in found))
        raise ConfigError(
            f"{spec}: several Strategy subclasses ({names}); name one as {spec}:Class"
        )
    return found[0]


def _is_windows_drive(spec: str) -> bool:
    return (
        len(spec) > 1
        and spec[1] == ":"
        and spec[0].isalpha()
        and len(spec) > 2
        and spec[2] in "\\/"
    )
