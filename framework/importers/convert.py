"""Running an import: files in, one recording out, and a report for the user.

The recording's header must be its first line, but an unknown market is defined from the data
(its prices' and sizes' precision): so the first block's lines are held back until the market
sample is full (:data:`~framework.importers.base.MARKET_SAMPLE` rows) or the input ends, then
the header and everything after it are written as they come. The recording is written under a
``.part`` name and renamed when complete, so a failed import leaves no half recording behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import gzip
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO, Final

import msgspec

from framework import instruments
from framework.errors import ConfigError, RecordingError
from framework.exchange.rules import DEFAULT_MARKETS, MarketRules
from framework.importers import binance, parallel, tardis
from framework.importers.base import MARKET_SAMPLE, Converter, market_from_sample, step
from framework.importers.parallel import Pool, Task, default_jobs
from framework.importers.source import Digests, Source
from framework.recording import FORMAT, VERSION, Header

__all__ = ["FORMATS", "GENERATOR", "ProgressFn", "import_files"]

GENERATOR: Final = "papertrade import"
FORMATS: Final[dict[str, type[Converter]]] = {
    "binance-aggtrades": binance.AggTrades,
    "binance-klines": binance.Klines,
    "binance-trades": binance.Trades,
    "tardis-book-snapshot": tardis.BookSnapshots,
    "tardis-incremental-book-l2": tardis.IncrementalBook,
    "tardis-trades": tardis.Trades,
}
"""Format name (as the command takes it) -> its converter."""

ProgressFn = Callable[[int, int], None]
_ENCODER: Final = msgspec.json.Encoder()
_CHUNK: Final = 4 << 20  # bytes of recording handed to the writer thread at a time
_QUEUED: Final = 2
_HELD: Final = 16 << 20  # bytes of lines held at most while the sources' digests are computed
# zlib level 3: compresses imported lines some 2.5 times as fast as the default (6), for files
# about a fifth larger; at 6 the compressing thread, not the converting one, set the pace.
_GZIP_LEVEL: Final = 3


def import_files(
    fmt: str,
    paths: Sequence[str | Path],
    symbol: str,
    out: str | Path,
    *,
    tick_size: Decimal | None = None,
    lot_size: Decimal | None = None,
    progress: ProgressFn | None = None,
    jobs: int | None = None,
) -> str:
    """Convert ``paths`` (in order, as one stream) of format ``fmt`` into recording ``out``.

    Args:
        fmt: a key of :data:`FORMATS`.
        paths: the input files; several continue one another (daily files of one symbol).
        symbol: the canonical instrument id the data is of (``BTC/USDT``).
        out: the recording to write (``.jsonl``, or ``.jsonl.gz`` to compress it).
        tick_size: the market's price step, for a market the paper exchange does not know.
        lot_size: its quantity step, likewise.
        progress: called with (bytes read, total bytes) as the files are read.
        jobs: processes converting rows, this one included: more than 1 starts ``jobs - 1``
            worker processes (:mod:`framework.importers.parallel`) for the formats that allow
            it, when the files are large enough to gain (:data:`~parallel.PARALLEL_FROM`).
            None: one per processor this process may use.

    Returns:
        The report for the user: what was written, the time span, the market, bad rows.

    Raises:
        ConfigError: an unknown format, a missing or unreadable file, a header that is not the
            format's, or no row that can be imported.
        RecordingError: the recording cannot be written.
    """
    converter_cls = FORMATS.get(fmt.lower())
    if converter_cls is None:
        raise ConfigError(f"unknown import format {fmt!r}; one of: {', '.join(FORMATS)}")
    if not paths:
        raise ConfigError("no input file given")
    if jobs is None:
        jobs = default_jobs()
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, not {jobs}")
    instrument = _instrument(symbol)
    define = instrument not in DEFAULT_MARKETS or tick_size is not None or lot_size is not None
    converter = converter_cls(instrument, sample=define)
    sources = [Source(p) for p in paths]
    for source in sources:
        source.close()  # opened again one at a time; this first pass checked them and sized them
    digests = Digests([s.path for s in sources])
    out = Path(out)
    part = out.with_name(out.name + ".part")
    pool = writer = None
    stack = contextlib.ExitStack()
    # Everything from the first process started to the recording renamed is in this try: an
    # error, or Ctrl-C at any point (while the workers or the writer start too), stops the
    # workers and leaves no .part file behind.
    try:
        stack.enter_context(_fewer_collections())
        if (
            jobs > 1
            and converter.blockwise
            and sum(s.size for s in sources) >= parallel.PARALLEL_FROM
        ):
            pool = Pool(jobs - 1, converter_cls)  # first: workers load while a block converts
        writer = _Writer(part)
        market = _convert(converter, sources, digests, writer, instrument, define, tick_size,
                          lot_size, progress, pool)  # fmt: skip
        writer.close()
        if not converter.written:
            raise _nothing(converter, sources)
        os.replace(part, out)
    finally:
        stack.close()
        if pool is not None:
            pool.close()
        if writer is not None:
            writer.close()
        part.unlink(missing_ok=True)
    return _report(converter, sources, out, instrument, market)


def _convert(
    converter: Converter,
    sources: list[Source],
    digests: Digests,
    writer: _Writer,
    instrument: str,
    define: bool,
    tick_size: Decimal | None,
    lot_size: Decimal | None,
    progress: ProgressFn | None,
    pool: Pool | None,
) -> tuple[MarketRules, str] | None:
    total = sum(s.size for s in sources) or 1
    done = 0
    # Lines wait for the header, which waits for the market sample and for the digests (while
    # they are computed, up to _HELD bytes of lines: what converts while 100 MB are hashed).
    held: list[bytearray] | None = []
    held_size = 0
    market: tuple[MarketRules, str] | None = None

    def start() -> None:
        nonlocal held, market
        if define:
            market = market_from_sample(instrument, converter.sample or [], tick_size, lot_size)
        writer.write(_header(converter, sources, digests.result(), instrument, market))
        for buf in held or ():
            writer.write(buf)
        held = None

    def emit(buf: bytearray, position: int) -> None:
        """Lines converted, in file order; ``position``: input read up to their end."""
        nonlocal held_size
        if held is None:
            writer.write(buf)
        else:
            held.append(buf)
            held_size += len(buf)
            sample = converter.sample
            if (
                converter.provider.subscriptions
                and (sample is None or len(sample) >= MARKET_SAMPLE)
                and (digests.done() or held_size >= _HELD)
            ):
                start()
        if progress is not None:
            progress(position, total)

    def settle() -> None:
        """Merge the oldest run converted apart (or convert it here, when it cannot be)."""
        assert pool is not None
        task, buf, summary, position = pool.next()
        if not converter.merge(summary):
            buf = bytearray()
            for first_line, block in task.blocks:
                converter.feed(task.source, first_line, block, buf)
        emit(buf, position)

    def sampling() -> bool:
        return converter.sample is not None and len(converter.sample) < MARKET_SAMPLE

    def dispatch(task: Task, position: int) -> None:
        assert pool is not None
        while not pool.put(task, position):
            settle()

    for index, path in enumerate(sources):
        with Source(path.path) as source:
            name = source.path.name
            run: list[tuple[int, bytes]] = []
            run_size = 0
            for first_line, block in source.blocks():
                context = converter.context() if pool is not None and first_line > 1 else None
                if context is None:
                    while pool:  # the blocks before it first, in order
                        settle()
                    buf = bytearray()
                    converter.feed(name, first_line, block, buf)
                    emit(buf, done + source.position())
                    continue
                assert pool is not None
                run.append((first_line, block))
                run_size += len(block)
                if run_size >= parallel.TASK:
                    dispatch(Task(type(converter), instrument, sampling(), name, context, run),
                             done + source.position())  # fmt: skip
                    run, run_size = [], 0
            if run:
                assert context is not None
                dispatch(Task(type(converter), instrument, sampling(), name, context, run),
                         done + source.position())  # fmt: skip
        done += sources[index].size
    while pool:
        settle()
    tail = bytearray()
    converter.finish(tail)
    if held is not None:
        held.append(tail)
        if converter.written:
            start()
    else:
        writer.write(tail)
    return market


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the collector less often while converting (as ``framework.run`` does for a replay).

    Converting makes short-lived lists by the thousand and no cycles; every 700 containers the
    collector would re-scan the lists in hand (some 5 % of the time). The collector is left as
    found: thresholds restored, and objects frozen only when nobody had frozen any.
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


def _instrument(symbol: str) -> str:
    instrument = symbol.strip()
    if not instrument or any(ch.isspace() or ch in '"\\,' for ch in instrument):
        raise ConfigError(f"--symbol {symbol!r} is not an instrument id such as BTC/USDT")
    if instruments.from_cryptomus(instruments.to_cryptomus(instrument)) != instrument:
        raise ConfigError(f"--symbol {symbol!r} cannot be written as a Cryptomus symbol")
    return instrument


def _header(
    converter: Converter,
    sources: list[Source],
    sha256: list[str],
    instrument: str,
    market: tuple[MarketRules, str] | None,
) -> bytes:
    meta: dict[str, object] = {
        "generator": GENERATOR,
        "format": next(k for k, v in FORMATS.items() if v is type(converter)),
        "symbol": instrument,
        "sources": [
            {"name": s.path.name, "sha256": digest, "bytes": s.size}
            for s, digest in zip(sources, sha256, strict=True)
        ],
    }
    if market is not None:
        meta["markets"] = {instrument: msgspec.to_builtins(market[0])}
    header = Header(FORMAT, VERSION, (converter.provider,), meta)
    return _ENCODER.encode(header) + b"\n"


def _nothing(converter: Converter, sources: list[Source]) -> ConfigError:
    names = ", ".join(s.path.name for s in sources)
    listed = converter.problems.listed
    if listed:
        source, line, reason = listed[0]
        return ConfigError(
            f"{names}: no row could be imported ({converter.problems.count} bad); first "
            f"problem: {source} line {line}: {reason}"
        )
    detail = f" ({'; '.join(converter.notes)})" if converter.notes else ""
    return ConfigError(f"{names}: no {converter.noun} to import{detail}")


def _report(
    converter: Converter,
    sources: list[Source],
    out: Path,
    instrument: str,
    market: tuple[MarketRules, str] | None,
) -> str:
    names = sources[0].path.name + (f" and {len(sources) - 1} more" if len(sources) > 1 else "")
    lines = [
        f"imported {_plural(converter.written, converter.noun)} of {instrument} "
        f"from {names} ({converter.rows:,} rows) into {out}",
        f"  received {_iso(converter.first_ns)} .. {_iso(converter.last_ns)} (UTC)",
    ]
    if market is not None:
        rules, how = market
        lines.append(
            f"  market {instrument} written into the recording: price step "
            f"{step(rules.quote_prec):f}, size step {step(rules.base_prec):f} ({how})"
        )
    lines += [f"  note: {note}" for note in converter.notes]
    problems = converter.problems
    if problems.count:
        lines.append(f"  skipped {_plural(problems.count, 'bad row')}:")
        lines += [f"    {src} line {n}: {reason}" for src, n, reason in problems.listed]
        if problems.count > len(problems.listed):
            lines.append(f"    ... and {problems.count - len(problems.listed):,} more")
    return "\n".join(lines)


def _iso(ns: int) -> str:
    moment = dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 1_000_000_000 // 1000:06d}Z"


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


class _Writer:
    """The recording file: plain, or gzip (deterministic bytes: no name, mtime 0).

    Compressing and writing happen on a thread of their own, in order, so that they overlap
    converting (zlib and file writes let go of the interpreter lock): a gzip recording costs
    little more time than a plain one on two cores. Lines are handed over :data:`_CHUNK` bytes
    at a time (few hand-overs, each of which waits for the lock), at most
    :data:`_QUEUED` chunks ahead, so memory stays flat.
    """

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._raw: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise RecordingError(f"cannot write recording {path}: {exc.strerror}") from exc
        self._fh: IO[bytes] = self._raw
        if path.name.removesuffix(".part").endswith(".gz"):
            self._fh = gzip.GzipFile(  # type: ignore[assignment]
                filename="", fileobj=self._raw, mode="wb", mtime=0, compresslevel=_GZIP_LEVEL
            )
        self.path = path
        self._pending: list[bytes | bytearray] = []
        self._size = 0
        self._queue: queue.Queue[list[bytes | bytearray] | None] = queue.Queue(maxsize=_QUEUED)
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="recording writer", daemon=True)
        self._thread.start()

    def write(self, data: bytes | bytearray) -> None:
        """Queue ``data`` to be written; the caller does not change it afterwards."""
        self._pending.append(data)
        self._size += len(data)
        if self._size >= _CHUNK:
            self._hand_over()

    def close(self) -> None:
        if self._raw.closed:
            return
        if self._thread.is_alive():
            self._hand_over()
            self._queue.put(None)
            self._thread.join()
        try:
            if self._fh is not self._raw:
                self._fh.close()
        except OSError as exc:
            self._error = self._error or exc
        finally:
            self._raw.close()
        self._raise()

    def _hand_over(self) -> None:
        self._raise()
        if self._pending:
            self._queue.put(self._pending)
            self._pending, self._size = [], 0

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._fh.writelines(chunk)  # no joined copy, made under the interpreter lock
                except Exception as exc:  # raised in the importing thread
                    self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            reason = getattr(self._error, "strerror", None) or self._error
            raise RecordingError(f"cannot write recording {self.path}: {reason}") from self._error
