"""Live runs: provider sessions, a clock ticker and the loop in one trio nursery.

Theory of operation. :func:`stream` is the live frame source. Every session and the ticker
hold a clone of one memory channel and send it *batches* of recording lines; one consumer
task is the channel's only reader and hands each batch (merged with any others already
waiting) to a plain function, ``Engine.process`` for a run or ``RecordingWriter.write`` for
``papertrade record``. Nothing is awaited after that point, so the strategies, the exchange
and the recorder see lines in exactly the order they were consumed, which is the order
the recording keeps: replaying it reproduces the run.

Stopping: ``--duration`` elapsing, SIGINT or SIGTERM (or the caller's stop event) sets one
event. Sessions then close their WebSockets cleanly and hand over their ``disconnected``
lines, the ticker stops, and once every sender is closed the consumer drains the channel and
ends; only then does :func:`run_live` finish the engine and write the same four output files
as a replay. A second SIGINT or SIGTERM exits at once with code 130 (the recording, the output
files and the run database are flushed every :data:`DB_FLUSH_S`, between the loop's batches,
so what they hold stays readable and at most that much is lost).

This module must not read the wall clock (``session.WallClock`` does), touch sockets, or
await anything between the channel and the loop.
"""

from __future__ import annotations

import itertools
import math
import os
import signal
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click
import msgspec
import trio

import framework
from framework.config import ProviderConfig, config_hash
from framework.errors import ConfigError
from framework.live.backoff import Backoff, policy_for
from framework.live.emulated import Live, serve_missing
from framework.live.session import FAULT_KINDS, Session, WallClock, run_ticker
from framework.live.status import STATUS_S, Monitor, print_status
from framework.recording import (
    FORMAT,
    VERSION,
    Header,
    Line,
    ProviderSpec,
    ReadStats,
    RecordingWriter,
)
from framework.run import RunSetup, build, sha256_file, summarize

if TYPE_CHECKING:
    from framework.events import PrivateEvent
    from framework.live.resume import CatchUp
    from framework.loop import Engine
    from framework.report.output import RunOutput
    from framework.rundb import RunWriter

__all__ = [
    "CHANNEL_BATCHES",
    "DB_FLUSH_S",
    "EXIT_INTERRUPTED",
    "TICK_S",
    "LiveReport",
    "record_live",
    "run_live",
    "run_live_command",
    "stream",
    "watch_signals",
]

TICK_S: Final = 0.1  # a Tick every 100 ms, so timers fire in quiet markets
DB_FLUSH_S: Final = 0.5  # the recording and outputs are flushed, the database committed, this often
CHANNEL_BATCHES: Final = 4096  # batches the channel holds before senders wait for the loop
MERGE_LINES: Final = 4096  # the consumer merges waiting batches up to this many lines
EXIT_INTERRUPTED: Final = 130

Process = Callable[[list[Line]], None]
Echo = Callable[[str], None]
OnLive = Callable[[Live], None]


class LiveReport:
    """What the sessions of one live run did, and why the run stopped."""

    def __init__(self) -> None:
        self.sessions: list[Session] = []
        self.stopped_by = "stop"  # "duration", "SIGINT", "SIGTERM", or "stop" (the caller)

    @property
    def frames(self) -> int:
        """Provider frames handed to the loop, over every session."""
        return sum(s.stats.frames for s in self.sessions)

    def counts(self, garbage: int = 0) -> dict[str, int]:
        """Live counters for the summary: reconnects and faults by kind.

        Args:
            garbage: frames the loop could not decode (a garbage frame is counted there,
                because sessions never decode).
        """
        out = {"reconnects": sum(s.stats.reconnects for s in self.sessions)}
        for kind in FAULT_KINDS:
            out[f"faults_{kind}"] = sum(s.stats.faults[kind] for s in self.sessions)
        out["faults_garbage"] = garbage
        return out


async def stream(
    providers: Sequence[ProviderConfig],
    process: Process,
    *,
    clock: Callable[[], int],
    duration: float | None = None,
    stop: trio.Event | None = None,
    tick_s: float = TICK_S,
    seed: int = 0,
    handle_signals: bool = True,
    notify: Echo | None = None,
    report: LiveReport | None = None,
    first_conn: int = 1,
) -> LiveReport:
    """Run one session per provider and the ticker, feeding ``process`` until stopped.

    Args:
        providers: the connections to open (credentials resolved).
        process: called with each batch of lines, in channel order; must not block.
        clock: stamps receive times (a shared :class:`~framework.live.session.WallClock`).
        duration: stop after this many seconds (trio's clock); None runs until stopped.
        stop: an event that stops the run when set (created if not given).
        tick_s: seconds between clock ticks.
        seed: seeds the reconnect jitter.
        handle_signals: stop on SIGINT/SIGTERM, exit at once on the second one.
        notify: prints progress lines (stderr by default).
        report: fills this report (its sessions are there as soon as they exist) instead of
            a new one.
        first_conn: the id of the first connection (a resumed session goes on counting).

    Raises:
        ConfigError: a provider's subscriptions or host are wrong, or its credentials refused.
        ProviderConnectionError: a session ran out of reconnect attempts.
    """
    stop = trio.Event() if stop is None else stop
    notify = notify or _stderr
    report = LiveReport() if report is None else report
    send, receive = trio.open_memory_channel[list[Line]](CHANNEL_BATCHES)
    ids = itertools.count(first_conn).__next__
    async with send:  # sessions are built first, so a ConfigError arrives unwrapped
        for i, provider in enumerate(providers):
            backoff = Backoff(policy_for(provider.name, provider.options), f"{seed}:{i}")
            report.sessions.append(
                Session(provider, send.clone(), stop, conn_ids=ids, clock=clock, backoff=backoff)
            )
        ticker = send.clone()
    async with trio.open_nursery() as outer:
        if handle_signals:
            outer.start_soon(watch_signals, stop, report, notify)
        async with trio.open_nursery() as inner:
            inner.start_soon(_consume, receive, process)
            for session in report.sessions:
                inner.start_soon(session.run)
            inner.start_soon(run_ticker, ticker, tick_s, clock, stop)
            with trio.move_on_after(math.inf if duration is None else duration):
                await stop.wait()
            if not stop.is_set():
                report.stopped_by = "duration"
                stop.set()
        outer.cancel_scope.cancel()
    return report


async def run_live(
    setup: RunSetup,
    out_dir: str | Path,
    *,
    record_path: str | Path | None = None,
    duration: float | None = None,
    clock: Callable[[], int] | None = None,
    stop: trio.Event | None = None,
    tick_s: float = TICK_S,
    handle_signals: bool = True,
    echo: Echo = click.echo,
    on_live: OnLive | None = None,
    meta: dict[str, Any] | None = None,
    db: str | Path | None = None,
    status_s: float | None = None,
    dashboard: tuple[str, int] | None = None,
    resume: CatchUp | None = None,
) -> dict[str, Any]:
    """Run the setup's strategies on live feeds; write the outputs; return the summary.

    Providers come from ``setup.config.providers`` (the Cryptomus default when there are
    none); those without credentials are served by the built-in emulator, which ``echo``
    announces first. ``on_live`` sees the resolved providers and running emulators before
    any connection opens. ``db`` writes the run to that run database as it goes (committed
    every :data:`DB_FLUSH_S`). ``status_s`` prints a status line on stderr that often
    (``framework.live.status``). ``dashboard`` (host, port) serves the live dashboard there
    (``framework.dashboard``); its URL is echoed once it listens. Other arguments are as for
    :func:`stream`. ``resume`` first catches up with the session in ``out_dir`` (its
    recording is ``record_path``) before going live (``framework.live.resume``).

    Returns:
        The summary, as ``summary.json`` holds it: a replay's, plus ``reconnects`` and
        ``faults_*`` counts.

    Raises:
        ConfigError: (resuming) the session was recorded from other feeds, or the private
            events it regenerates differ from those it wrote (without ``rebase``).
    """
    clock = clock or WallClock()
    async with serve_missing(
        setup.config.providers, seed=setup.seed, clock=clock, echo=echo
    ) as live:
        if on_live is not None:
            on_live(live)
        specs = _specs(live.providers)
        extra = {"config_sha256": config_hash(setup.config), **(meta or {})}
        if resume is not None:
            _check_same_feeds(resume, specs)
            recorder = None
        else:
            recorder = _writer(record_path, specs, setup.seed, live, extra)
        writer = _db_writer(db, setup, specs, out_dir)
        try:
            if resume is not None:
                resume.set_aside()
            engine, output = build(setup, specs, out_dir, recorder, db=writer, live=True)
            lines = 1  # the header, as a replay counts it
            if resume is not None:
                recorder = _catch_up(resume, engine, output, writer, echo)
                lines += resume.lines

            def process(batch: list[Line]) -> None:
                nonlocal lines
                engine.process(batch)
                lines += len(batch)

            report = LiveReport()
            monitor = Monitor(engine, output.currency, report.sessions)
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_flush_every, recorder, output, writer, DB_FLUSH_S)
                    if status_s is not None:
                        nursery.start_soon(print_status, monitor, _stderr, status_s)
                    if dashboard is not None:
                        await nursery.start(_dashboard, engine, monitor, dashboard, setup, echo)
                    await stream(
                        live.providers, process, clock=clock, duration=duration,
                        stop=stop, tick_s=tick_s, seed=setup.seed, handle_signals=handle_signals,
                        report=report, first_conn=resume.max_conn + 1 if resume else 1,
                    )  # fmt: skip
                    nursery.cancel_scope.cancel()
                engine.finish()
            except BaseException as exc:
                output.close()  # what was written stays readable; the error goes on
                if writer is not None:
                    writer.fail(exc)
                raise
        finally:
            if recorder is not None:
                recorder.close()
    events_hash = output.close()
    recording_hash = sha256_file(Path(record_path)) if record_path is not None else ""
    counts = report.counts(engine.stats.decode_errors)
    counts["emulated_providers"] = len(live.emulated)
    summary = summarize(
        setup, engine, output, events_hash, recording_hash,
        ReadStats(lines=lines), extra_counts=counts,
    )  # fmt: skip
    output.write_summary(summary)
    if writer is not None:
        writer.finish(summary)
    return summary


async def record_live(
    providers: Sequence[ProviderConfig],
    path: str | Path,
    *,
    duration: float | None = None,
    seed: int = 0,
    clock: Callable[[], int] | None = None,
    stop: trio.Event | None = None,
    tick_s: float = TICK_S,
    handle_signals: bool = True,
    echo: Echo = click.echo,
    on_live: OnLive | None = None,
) -> dict[str, int]:
    """Record live feeds to ``path`` without a strategy, until stopped.

    Returns:
        ``lines`` and ``frames`` written, ``reconnects`` and ``faults_*`` counts.
    """
    clock = clock or WallClock()
    async with serve_missing(providers, seed=seed, clock=clock, echo=echo) as live:
        if on_live is not None:
            on_live(live)
        writer = _writer(path, _specs(live.providers), seed, live, {})
        assert writer is not None
        written = [0]

        def write(batch: list[Line]) -> None:
            writer.write(batch)
            written[0] += len(batch)

        async def flush_every(seconds: float) -> None:
            while True:
                await trio.sleep(seconds)
                writer.flush()

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(flush_every, DB_FLUSH_S)
                report = await stream(
                    live.providers, write, clock=clock, duration=duration, stop=stop,
                    tick_s=tick_s, seed=seed, handle_signals=handle_signals,
                )  # fmt: skip
                nursery.cancel_scope.cancel()
        finally:
            writer.close()
    return {"lines": written[0], "frames": report.frames, **report.counts()}


def run_live_command(
    setup: RunSetup,
    out_dir: Path,
    record_path: Path | None,
    duration: float | None,
    config_path: Path | None,
    db: Path | None = None,
    quiet: bool = False,
    dashboard: tuple[str, int] | None = None,
    session: Path | None = None,
    rebase: bool = False,
) -> dict[str, Any]:
    """``papertrade run STRATEGY --live``: :func:`run_live` under ``trio.run``.

    ``config_path`` is noted in the recording's header; the config itself is in ``setup``.
    ``session`` is a folder for the recording and the outputs, resumed if it holds a session.
    """
    meta = {"config": str(config_path)} if config_path is not None else {}
    resume = None
    if session is not None:
        from framework.live.resume import RECORDING, CatchUp, session_exists

        out_dir, record_path = session, session / RECORDING
        if session_exists(session):
            resume = CatchUp(session, rebase=rebase)
    return trio.run(
        partial(
            run_live,
            setup,
            out_dir,
            record_path=record_path,
            duration=duration,
            meta=meta,
            db=db,
            status_s=None if quiet else STATUS_S,
            dashboard=dashboard,
            resume=resume,
        )
    )


# --- helpers ---------------------------------------------------------------------------------


async def _consume(receive: trio.MemoryReceiveChannel[list[Line]], process: Process) -> None:
    """The channel's only reader. Batches already waiting are merged: one call, same order."""
    async with receive:
        async for batch in receive:
            while len(batch) < MERGE_LINES:
                try:
                    batch.extend(receive.receive_nowait())  # each batch is handed over once
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            process(batch)


async def watch_signals(
    stop: trio.Event,
    report: LiveReport,
    notify: Echo,
    exit_now: Callable[[int], object] = os._exit,
) -> None:
    """Set ``stop`` on the first SIGINT or SIGTERM; on the next one, exit at once (130).

    ``exit_now`` is ``os._exit``: no cleanup runs, on purpose; a shutdown that hangs (a dead
    network, a close that never completes) is what a second Ctrl-C is for.
    """
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            if stop.is_set():
                notify(f"{name} again: exiting at once")
                sys.stdout.flush()
                sys.stderr.flush()
                exit_now(EXIT_INTERRUPTED)
                return
            report.stopped_by = name
            notify(f"{name}: closing connections and finishing the run (again to exit at once)")
            stop.set()


def _specs(providers: Sequence[ProviderConfig]) -> tuple[ProviderSpec, ...]:
    return tuple(ProviderSpec(p.name, p.subscriptions, dict(p.options)) for p in providers)


def _writer(
    path: str | Path | None,
    specs: tuple[ProviderSpec, ...],
    seed: int,
    live: Live,
    extra: dict[str, Any],
) -> RecordingWriter | None:
    if path is None:
        return None
    meta = {
        "source": "live",
        "papertrade": framework.__version__,
        "seed": seed,
        "emulated": list(live.emulated),
        **extra,
    }
    return RecordingWriter(path, Header(FORMAT, VERSION, specs, meta))


def _db_writer(
    db: str | Path | None, setup: RunSetup, specs: Sequence[ProviderSpec], out_dir: str | Path
) -> RunWriter | None:
    if db is None:
        return None
    from framework.rundb import begin_run

    source = "live: " + ", ".join(
        f"{spec.name} {' '.join(sorted({s.symbol for s in spec.subscriptions}))}" for spec in specs
    )
    return begin_run(db, setup, mode="live", source=source, out_dir=out_dir)


def _check_same_feeds(resume: CatchUp, specs: tuple[ProviderSpec, ...]) -> None:
    recorded = msgspec.to_builtins(resume.header_providers())
    if recorded != msgspec.to_builtins(specs):
        raise ConfigError(
            f"cannot resume session {resume.folder}: it was recorded from other feeds "
            f"({_feeds_text(recorded)}) than this config gives ({_feeds_text(msgspec.to_builtins(specs))})"
        )


def _feeds_text(specs: Any) -> str:
    return "; ".join(
        f"{s['name']} {' '.join(sub['channel'] + ':' + sub['symbol'] for sub in s['subscriptions'])}"
        for s in specs
    )


def _catch_up(
    resume: CatchUp, engine: Engine, output: RunOutput, writer: RunWriter | None, echo: Echo
) -> RecordingWriter:
    """Replay the session into ``engine``; then the recorder that appends to it."""
    echo(f"resuming session {resume.folder}: replaying its recording")
    try:
        resume.replay(engine)
    except BaseException:
        output.close()
        resume.restore()
        raise
    resume.done()
    recorder = RecordingWriter.append_to(resume.recording)
    engine.record_to(recorder)
    closing = resume.closing_lines()
    if closing:
        engine.process(closing)
    if writer is not None:
        writer.supersede(str(resume.folder))
    echo(
        f"caught up: {resume.lines} lines replayed, {resume.verified} private events as "
        f"written{' (rebased)' if resume.rebase else ''}; going live"
    )
    return recorder


async def _dashboard(
    engine: Engine,
    monitor: Monitor,
    address: tuple[str, int],
    setup: RunSetup,
    echo: Echo,
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    from framework.dashboard.app import serve_dashboard
    from framework.dashboard.board import Board

    board = Board(engine, Monitor(engine, monitor.currency, monitor.sessions))  # rates of its own
    sink = engine.on_private

    def both(event: PrivateEvent) -> None:
        if sink is not None:
            sink(event)
        board.on_private(event)

    engine.on_private = both
    title = ", ".join(cls.__name__ for cls in setup.strategies)
    await serve_dashboard(board, *address, title, echo, task_status=task_status)


async def _flush_every(
    recorder: RecordingWriter | None, output: RunOutput, writer: RunWriter | None, seconds: float
) -> None:
    """Every ``seconds`` (between the loop's batches), hand the recording and the output files
    to the operating system and commit the run database: a crash loses at most that much."""
    while True:
        await trio.sleep(seconds)
        if recorder is not None:
            recorder.flush()
        output.flush()
        if writer is not None:
            writer.flush()


def _stderr(text: str) -> None:
    click.echo(text, err=True)
