"""Live runs end to end, in process: emulator, sessions, loop, recording, outputs, replay parity.

Each run uses the built-in Cryptomus emulator (no credentials) under ``autojump_clock``, with
receive stamps from trio's clock, so 30 simulated seconds of market take no real time.
"""

from __future__ import annotations

import json
import re
import signal
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import trio
import trio.testing

from framework import events as ev
from framework.config import Config
from framework.live.emulated import Live
from framework.live.runner import LiveReport, record_live, run_live, watch_signals
from framework.live.session import WallClock
from framework.marketbook import MarketBook
from framework.providers.base import Subscription
from framework.recording import (
    ConnectedLine,
    DisconnectedLine,
    Frame,
    ProviderSpec,
    RecordingReader,
    SubscribedLine,
    Tick,
)
from framework.run import RunSetup, replay
from framework.strategy import Strategy

from .live_helpers import trio_ns

OUTPUT_FILES = [
    "equity.csv",
    "events.jsonl",
    "fills.csv",
    "results.json",
    "summary.json",
    "trades.csv",
]


class Flipper(Strategy):
    """Market orders on every 5th trade, and a limit bid re-placed every 2 s by a timer, so
    the private events depend on frames and clock ticks alike."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.trades = 0
        self.bid: Any = None

    def on_start(self) -> None:
        self.every(2.0, "requote")

    def on_trade(self, trade: ev.Trade) -> None:
        self.trades += 1
        if self.trades % 10 == 5:
            self.buy_market("BTC/USDT", quantity="0.001")
        elif self.trades % 10 == 0:
            self.sell_market("BTC/USDT", "0.001")

    def on_timer(self, name: str, ts_ns: int) -> None:
        price = self.last_price("BTC/USDT")
        if price is None:
            return
        if self.bid is not None and self.bid.order_id is not None:
            self.cancel(self.bid.order_id)
        below = (Decimal(str(price)) * Decimal("0.99")).quantize(Decimal("0.01"))
        self.bid = self.buy_limit("BTC/USDT", "0.001", below)


class Watcher(Strategy):
    """Notes connection events and which kind of book event each on_book call carried (in a
    class attribute: the run builds its own instance)."""

    seen: ClassVar[list[str]] = []

    def on_connection(self, event: ev.Connected | ev.Disconnected | ev.Subscribed) -> None:
        self.seen.append(f"{type(event).__name__} {event.conn}")

    def on_book(self, book: MarketBook, event: ev.BookSnapshot | ev.BookDelta) -> None:
        kind = "snapshot" if isinstance(event, ev.BookSnapshot) else "delta"
        if not self.seen or self.seen[-1] != f"book {kind}":
            self.seen.append(f"book {kind}")


def setup_of(*strategies: type[Strategy]) -> RunSetup:
    return RunSetup(strategies=strategies, strategy_sources={}, config=Config(), seed=3)


async def live(setup: RunSetup, out: Path, **options: Any) -> dict[str, Any]:
    options.setdefault("echo", lambda _: None)
    return await run_live(setup, out, clock=WallClock(trio_ns), handle_signals=False, **options)


async def test_replaying_the_recording_of_a_live_run_gives_identical_events(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    setup = setup_of(Flipper)
    with trio.fail_after(120):
        summary = await live(
            setup, tmp_path / "live", record_path=tmp_path / "rec.jsonl", duration=60
        )
    replayed = replay(setup, tmp_path / "rec.jsonl", tmp_path / "replay")
    live_events = (tmp_path / "live" / "events.jsonl").read_bytes()
    assert live_events == (tmp_path / "replay" / "events.jsonl").read_bytes()
    assert summary["fills"] > 0 and summary["orders"] > summary["fills"]  # timers placed bids
    assert replayed["fingerprint"]["events_sha256"] == summary["fingerprint"]["events_sha256"]


async def test_a_live_run_writes_the_four_output_files_of_a_replay(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    with trio.fail_after(60):
        await live(setup_of(Flipper), tmp_path / "out", duration=5)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == OUTPUT_FILES


async def test_the_first_line_says_the_built_in_emulator_is_used(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    printed: list[str] = []
    with trio.fail_after(60):
        await live(setup_of(Flipper), tmp_path / "out", duration=2, echo=printed.append)
    assert re.fullmatch(
        r"no credentials for cryptomus \(no key configured\): "
        r"using the built-in emulator at ws://127\.0\.0\.1:\d+",
        printed[0],
    )


async def test_faults_during_a_live_run_are_counted_in_the_summary(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    def arm(running: Live) -> None:
        faults = running.emulators[0].faults
        faults.garbage_after, faults.close_after = 10, 30

    with trio.fail_after(60):
        summary = await live(setup_of(Flipper), tmp_path / "out", duration=20, on_live=arm)
    counts = summary["counts"]
    assert {k: v for k, v in counts.items() if k.startswith("faults_") and v} == {
        "faults_closed": 1, "faults_garbage": 1,
    }  # fmt: skip
    assert (counts["reconnects"], counts["connects"], counts["disconnects"]) == (1, 2, 2)
    assert counts["emulated_providers"] == 1
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written["counts"] == counts


async def test_strategies_see_the_gap_and_get_no_book_until_a_full_snapshot(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    def arm(running: Live) -> None:
        running.emulators[0].faults.close_after = 30

    Watcher.seen = []
    with trio.fail_after(60):
        await live(setup_of(Watcher), tmp_path / "out", duration=20, on_live=arm)
    watcher_log = Watcher.seen
    assert watcher_log[:3] == ["Connected 1", "Subscribed 1", "book snapshot"]
    gap = watcher_log.index("Disconnected 1")
    assert watcher_log[gap : gap + 4] == [
        "Disconnected 1", "Connected 2", "Subscribed 2", "book snapshot",
    ]  # fmt: skip
    assert watcher_log[-1] == "Disconnected 2"


async def test_setting_the_stop_event_ends_the_run_with_every_connection_closed(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    stop = trio.Event()
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_set_after, stop, 4.0)
            summary = await live(setup_of(Flipper), tmp_path / "out", stop=stop)
    assert (summary["counts"]["connects"], summary["counts"]["disconnects"]) == (1, 1)
    assert summary["last_time"] == "2025-06-15T15:06:44.000Z"  # T0 + 4 s: stopped there


async def _set_after(event: trio.Event, seconds: float) -> None:
    await trio.sleep(seconds)
    event.set()


async def test_record_live_writes_a_readable_recording_of_one_session(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    with trio.fail_after(60):
        counts = await record_live(
            [], tmp_path / "rec.jsonl", duration=5, clock=WallClock(trio_ns),
            handle_signals=False, echo=lambda _: None,
        )  # fmt: skip
    with RecordingReader(tmp_path / "rec.jsonl") as reader:
        header = reader.header
        lines = list(reader)
        stats = reader.stats
    assert header.providers == (
        ProviderSpec(
            "cryptomus",
            (Subscription("trades", "BTC_USDT"), Subscription("book", "BTC_USDT")),
        ),
    )
    assert header.meta["emulated"] == ["cryptomus"]
    assert [type(x) for x in lines[:2]] == [ConnectedLine, SubscribedLine]
    assert isinstance(lines[-1], DisconnectedLine) and lines[-1].reason == "stopped"
    assert sum(isinstance(x, Tick) for x in lines) >= 45  # one every 100 ms for 5 s
    assert counts["frames"] == sum(isinstance(x, Frame) for x in lines) > 0
    assert counts["lines"] == len(lines)
    assert (stats.corrupt, stats.truncated_tail) == (0, False)


async def test_a_first_sigterm_sets_the_stop_event_and_names_itself() -> None:
    stop, report, said = trio.Event(), LiveReport(), []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_signals, stop, report, said.append)
            await trio.testing.wait_all_tasks_blocked()
            signal.raise_signal(signal.SIGTERM)
            await stop.wait()
            nursery.cancel_scope.cancel()
    assert report.stopped_by == "SIGTERM"
    assert said == ["SIGTERM: closing connections and finishing the run (again to exit at once)"]


async def test_a_second_sigint_while_stopping_exits_at_once_with_130() -> None:
    stop, exits, said = trio.Event(), [], []
    stop.set()  # the first signal (or --duration) already asked for a clean stop
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_signals, stop, LiveReport(), said.append, exits.append)
            await trio.testing.wait_all_tasks_blocked()
            signal.raise_signal(signal.SIGINT)
    assert exits == [130]
    assert said == ["SIGINT again: exiting at once"]
