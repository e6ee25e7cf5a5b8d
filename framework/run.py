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
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec

import framework
from framework import events as ev
from framework import logs, replaycache
from framework.config import Config, config_hash
from framework.errors import ConfigError, RecordingError, StrategyError
from framework.exchange.rules import MarketRules, check_config
from framework.loop import Engine, LoopStats
from framework.providers import from_native, make_codec
from framework.providers.base import Codec
from framework.recording import (
    Header,
    Line,
    ProviderSpec,
    ReadStats,
    RecordingReader,
    RecordingWriter,
)
from framework.replaycache import CacheReader
from framework.report.output import RunOutput, iso_time
from framework.report.results import Results
from framework.strategy import Strategy
from framework.warmup import Warmup
from framework.window import Window, merged, providers_of, windowed

if TYPE_CHECKING:
    from framework.rundb import RunWriter

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
    "with_recorded_markets",
]

ProgressFn = Callable[[int, int, LoopStats], None]  # (bytes read, bytes in all, loop stats)
# replaces the reading loop: gets the engine and the batches, hands the engine every line
Feed = Callable[[Engine, Iterable[list[Line]]], None]
_DEFAULT_BALANCE: Final = Decimal(10000)
_BOOK_BATCH: Final = 256  # fills booked together (report.results.Results.batch)


class RunSetup(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a run needs besides its frame source."""

    strategies: tuple[type[Strategy], ...]
    strategy_sources: dict[str, str]  # strategy name -> SHA-256 of its source file
    config: Config
    seed: int
    window: Window = Window()  # replay: the receive times run (--from / --to); live: unused
    # replay: read the decoded cache (framework.replaycache) where it can serve; also off
    # with PAPERTRADE_CACHE=off
    decoded_cache: bool = True


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
    recording: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    progress: ProgressFn | None = None,
    db: str | Path | None = None,
) -> dict[str, Any]:
    """Replay a recording (or several, merged) through the strategies; write the output files.

    Returns the summary. ``setup.window`` limits the replay to a time window; ``db`` also
    writes the run to that run database (``framework.rundb``).
    """
    return replay_engine(setup, recording, out_dir, progress, db)[0]


def replay_engine(
    setup: RunSetup,
    recording: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    progress: ProgressFn | None = None,
    db: str | Path | None = None,
    feed: Feed | None = None,
) -> tuple[dict[str, Any], Engine]:
    """:func:`replay`, also returning the finished engine (its exchange, strategies, stats).

    Several recordings are merged by receive time; lines with the same time keep the order of
    the files as given (``framework.window``). ``feed`` replaces the reading loop (it gets the
    engine and the batches, and must hand the engine every line): ``papertrade diff`` feeds
    one line at a time to stamp each event.

    Raises:
        StrategyError: a strategy raised (isolation off); every output file is written first,
            for what happened before, with the error in ``summary.json``.
    """
    paths = [Path(recording)] if isinstance(recording, str | Path) else [Path(p) for p in recording]
    if not paths:
        raise ConfigError("no recording to replay")
    failure: StrategyError | None = None
    with contextlib.ExitStack() as stack:
        cached = _cached(setup, paths) if feed is None else None
        recordings = (
            [] if cached is not None else [stack.enter_context(RecordingReader(p)) for p in paths]
        )
        readers: list[RecordingReader | CacheReader] = (
            [stack.enter_context(cached)] if cached is not None else [*recordings]
        )
        stack.enter_context(fewer_collections())
        providers = cached.header.providers if cached is not None else providers_of(recordings)
        for reader in readers:
            setup = with_recorded_markets(setup, reader.header)
        # a live session's recording replays as the session ran: positions left open
        from_live = any(reader.header.meta.get("source") == "live" for reader in readers)
        writer = None
        if db is not None:
            from framework.rundb import begin_run

            source = ", ".join(str(p) for p in paths)
            writer = begin_run(db, setup, mode="replay", source=source, out_dir=out_dir)
        engine, output = build(setup, providers, out_dir, db=writer, live=from_live)
        total = sum(reader.size() for reader in readers)
        if len(readers) == 1:
            batches = readers[0].batches(
                None if setup.window.bounded else wire_type_of(engine.codecs)
            )
        else:
            batches = merged(recordings)
        span: list[int] = []
        if setup.window.bounded:
            batches = windowed(batches, setup.window, engine, span)
        try:
            try:
                if feed is not None:
                    feed(engine, batches)
                else:
                    for batch in batches:
                        engine.process(batch)
                        if progress is not None:
                            progress(
                                sum(reader.position() for reader in readers), total, engine.stats
                            )
                engine.finish()
            except StrategyError as exc:  # the output still records everything before it
                failure = exc
                engine.write_pending()
                output.sample_equity("equity", engine.clock.now_ns)
        except BaseException as exc:
            if writer is not None:
                writer.fail(exc)
            raise
        finally:  # any error must not leave the output files open
            events_hash = output.close()
        if setup.window.bounded and not engine.stats.first_ts_ns:
            empty = ConfigError(empty_window_message(paths, setup.window, span))
            if writer is not None:  # the database's row must not stay 'running'
                writer.fail(empty)
            raise empty
        hashes = [reader.sha256() for reader in readers]  # hashed while they were read
    summary = summarize(
        setup, engine, output, events_hash, _recordings_hash(hashes), _read_stats(readers)
    )
    if len(paths) > 1:
        summary["fingerprint"]["recordings_sha256"] = hashes
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
    return summary, engine


def empty_window_message(paths: list[Path], window: Window, span: list[int]) -> str:
    names = ", ".join(p.name for p in paths)
    bounds = " .. ".join(
        "open" if ns is None else iso_time(ns) for ns in (window.start_ns, window.end_ns)
    )
    held = f" (they hold {iso_time(span[0])} .. {iso_time(span[1])})" if span else " (empty)"
    return f"nothing in {names} was received in the window {bounds}{held}"


def _cached(setup: RunSetup, paths: list[Path]) -> CacheReader | None:
    """The decoded cache of the one recording replayed, when it can serve the run (not for a
    window or several recordings; see framework.replaycache), else None."""
    window_s = setup.config.run.event_time_window_s
    if not setup.decoded_cache or len(paths) != 1 or setup.window.bounded:
        return None
    if not 0 < window_s < 10**9:
        return None  # build() says what is wrong
    return replaycache.open_or_build(paths[0], replaycache.window_ns_of(window_s))


def _recordings_hash(hashes: list[str]) -> str:
    """The SHA-256 of one recording; of several, the SHA-256 of their hashes, one a line."""
    if len(hashes) == 1:
        return hashes[0]
    joined = "".join(h + "\n" for h in hashes)
    return hashlib.sha256(joined.encode()).hexdigest()


def _read_stats(readers: Sequence[RecordingReader | CacheReader]) -> ReadStats:
    if len(readers) == 1:
        return readers[0].stats
    stats = ReadStats()
    for reader in readers:
        stats.lines += reader.stats.lines
        stats.corrupt += reader.stats.corrupt
        stats.corrupt_lines += reader.stats.corrupt_lines
        stats.truncated_tail = stats.truncated_tail or reader.stats.truncated_tail
    stats.corrupt_lines = stats.corrupt_lines[:100]
    return stats


def build(
    setup: RunSetup,
    providers: Sequence[ProviderSpec],
    out_dir: str | Path,
    recorder: RecordingWriter | None = None,
    db: RunWriter | None = None,
    *,
    live: bool = False,
) -> tuple[Engine, RunOutput]:
    """An engine with its output directory attached, ready for the providers' frames.

    ``recorder`` (live runs) receives every line the engine consumes, before it is processed;
    ``db`` receives every private event and equity sample, after the output directory.
    ``live`` (a live run, or the replay of a live session's recording) changes one default:
    ``[run] finalize`` is off for those, on for other replays.
    """
    check_config(setup.config.exchange)  # before anything derives from it (the latency)
    codecs = codecs_for(providers)
    strategies = [cls() for cls in setup.strategies]
    _apply_params(strategies, setup.config.params)
    run = setup.config.run
    currency = run.currency or report_currency(setup, providers)
    sampler = _EquitySampler()
    engine = Engine(
        codecs,
        strategies,
        setup.config.exchange,
        seed=setup.seed,
        recorder=recorder,
        isolate_strategy_errors=run.isolate_strategy_errors,
        results=Results(currency, setup.config.exchange.markets, keep=False),
        finalize=run.finalize if run.finalize is not None else not live,
        warmup=run.warmup,
        observers=sampler.routes(),
    )
    window_s = run.event_time_window_s
    if not 0 < window_s < 10**9:
        raise ConfigError(f"run.event_time_window_s must be positive, got {window_s}")
    for codec in codecs.values():
        screen = getattr(codec, "screen", None)
        if screen is not None:
            screen.window_ns = round(window_s * 1_000_000_000)
    output = RunOutput(out_dir, engine.exchange, engine.results)
    try:
        sampler.attach(engine, output, run.equity_interval_s)
    except BaseException:  # a config error must not leave the output files open
        output.close()
        raise
    logs.follow(engine.clock)
    if db is not None:
        db.attach(engine, output)
        output.equity_listener = db.on_equity
    else:  # nothing follows each fill or round trip as it is booked: book them in batches
        engine.results.batch = _BOOK_BATCH
    return engine, output


class _EquitySampler:
    """Samples equity when the account or a valuing price changes (see report.output).

    Its handlers are routed when the engine is built, before the output exists.
    """

    def __init__(self) -> None:
        self._output: RunOutput | None = None
        self._valued: frozenset[str] = frozenset()
        self._clock: Any = None
        self._warmup: Warmup | None = None

    def _warming(self, now_ns: int) -> bool:
        return self._warmup is not None and self._warmup.refuses(now_ns)

    def routes(self) -> list[tuple[type, Any]]:
        return [(ev.Trade, self.on_price), (ev.LastPrice, self.on_price),
                (ev.Ticker, self.on_price), (ev.Bar, self.on_bar)]  # fmt: skip

    def attach(self, engine: Engine, output: RunOutput, interval_s: float) -> None:
        if not 0 <= interval_s < 10**9:
            raise ConfigError(
                f"run.equity_interval_s must be 0 (automatic) or more, got {interval_s}"
            )
        if interval_s:
            output.set_interval(max(1, round(interval_s * 1_000_000_000)))
        else:
            output.set_interval(output.interval_ns, auto=True)
        self._output, self._valued, self._clock = output, output.valued_markets(), engine.clock
        self._warmup = engine.warmup
        engine.gate(self.on_price, output)  # on_price does nothing before output.next_sample_ns
        engine.log_private(output.events, output.flush_events, self.on_balance)
        if engine.warmup.enabled:
            engine.warmup.on_end.append(output.changed)  # statistics start when the warm-up ends
        else:
            engine.start_hooks.append(output.changed)
        engine.finish_hooks.append(lambda ts: output.sample_equity("equity", ts))

    def on_price(self, event: ev.Trade | ev.Bar | ev.LastPrice | ev.Ticker) -> None:
        output = self._output
        if (
            output is None
            or event.ts_recv_ns < output.next_sample_ns
            or event.instrument not in self._valued
        ):
            return
        warmup = self._warmup  # not _warming(): Warmup.refuses, inlined (once per sample)
        if warmup is not None and ((end := warmup.end_ns) is None or event.ts_recv_ns < end):
            return
        output.changed(self._clock.now_ns)

    def on_bar(self, bar: ev.Bar) -> None:
        output = self._output
        if output is not None and output.interval_auto:
            output.on_bar(bar)
        self.on_price(bar)

    def on_balance(self, line: bytes, order_id: str) -> None:
        """A balance update was delivered: the account changed."""
        output = self._output
        assert output is not None
        now = self._clock.now_ns
        if now >= output.next_sample_ns and not self._warming(now):
            output.changed(now)


def with_recorded_markets(setup: RunSetup, header: Header) -> RunSetup:
    """``setup`` with the markets an imported recording defines (``meta.markets``) added.

    An importer writes the rules of a market the default exchange does not know into the
    recording, so that the run needs no config. A market the config names keeps the config's
    rules; a recorded market's quote currency starts with the default balance (10,000) when
    the config gives it none.

    Raises:
        RecordingError: ``meta.markets`` is not a table of market rules.
    """
    recorded = header.meta.get("markets")
    if not recorded:
        return setup
    try:
        markets = msgspec.convert(recorded, dict[str, MarketRules])
    except msgspec.ValidationError as exc:
        raise RecordingError(f"the recording's meta.markets is not valid: {exc}") from exc
    exchange = setup.config.exchange
    new = {k: v for k, v in markets.items() if k not in exchange.markets}
    if not new:
        return setup
    balances = dict(exchange.balances)
    for rules in new.values():
        balances.setdefault(rules.quote_currency, _DEFAULT_BALANCE)
    exchange = msgspec.structs.replace(
        exchange, markets={**exchange.markets, **new}, balances=balances
    )
    check_config(exchange)
    config = msgspec.structs.replace(setup.config, exchange=exchange)
    return msgspec.structs.replace(setup, config=config)


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
    first_ns = stats.first_ts_ns
    warmup = engine.warmup
    if warmup.enabled:  # the statistics' period starts when the warm-up ends
        first_ns = (
            stats.last_ts_ns if warmup.end_ns is None else min(warmup.end_ns, stats.last_ts_ns)
        )
    names = [s.name for s in engine.strategies]
    summary = msgspec.to_builtins(engine.results.finish(first_ns, stats.last_ts_ns, names))
    # A recording with no line after its header has no period: "" rather than 1970.
    summary["first_time"] = iso_time(first_ns) if first_ns or stats.last_ts_ns else ""
    summary["last_time"] = iso_time(stats.last_ts_ns) if first_ns or stats.last_ts_ns else ""
    if warmup.enabled:
        summary["warmup"] = {"setting": warmup.text, "ended_ns": warmup.end_ns}
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
    summary["rejected_market_data"] = rejected_market_data(engine)
    summary["fingerprint"] = {
        "papertrade": framework.__version__,
        "recording_sha256": recording_hash,
        "config_sha256": config_hash(setup.config),
        "strategy_sha256": dict(sorted(setup.strategy_sources.items())),
        "seed": setup.seed,
        "events_sha256": events_hash,
    }
    if setup.window.bounded:  # the same recording over another window is another run
        summary["fingerprint"]["window"] = msgspec.to_builtins(setup.window)
    return summary  # type: ignore[no-any-return]


def rejected_market_data(engine: Engine) -> dict[str, dict[str, int]]:
    """Provider -> rule -> how many items its codec's screen dropped (providers with drops)."""
    out: dict[str, dict[str, int]] = {}
    for name, codec in sorted(engine.codecs.items()):
        screen = getattr(codec, "screen", None)
        if screen is not None and screen.rejected:
            out[name] = dict(sorted(screen.rejected.items()))
    return out


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
