"""Sessions against the real emulators: dial, subscribe, keep alive, hand over, stop.

Every test runs a session against a provider emulator on 127.0.0.1 port 0, under
``autojump_clock`` and a hard ``trio.fail_after``; see live_helpers.py.
"""

from __future__ import annotations

import itertools
import json
import re

import msgspec
import pytest
import trio

from framework.config import ProviderConfig
from framework.errors import ConfigError
from framework.live import wsclient
from framework.live.session import Session, WallClock, run_ticker
from framework.providers.base import Subscription
from framework.recording import DisconnectedLine, Frame, Line, Tick

from .live_helpers import (
    T0_NS,
    alltick_emulator,
    cryptomus_emulator,
    finazon_emulator,
    listen,
    running,
)

# A documented trade_update, as the Cryptomus page shows it.
TRADE_UPDATE = (
    '{"id":0,"method":"trade_update","data":{"symbol":"BTC_USDT","timestamp":1750000000,'
    '"trades":[{"price":107100.0,"quantity":0.01,"timestamp":1750000000,"direction":"buy"}]},'
    '"error":null}'
)


def since_open(seen: list[tuple[int, float, str]], opened: float, marker: str) -> list[float]:
    """Seconds after ``opened`` at which messages containing ``marker`` arrived."""
    return [round(at - opened, 3) for _, at, text in seen if marker in text]


# --- Cryptomus ---------------------------------------------------------------------------------


async def test_cryptomus_session_connects_with_a_fresh_token_and_hands_over_frames(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        emulator = cryptomus_emulator()
        async with running(emulator) as run:
            await trio.sleep(5)
        token = emulator.connections[0].query["token"]
        assert re.fullmatch(r"[0-9a-f]{64}", token)
        assert run.kinds()[:2] == ["connected 1", "subscribed 1"]
        assert run.lines[0].url == f"{emulator.url}/ws?token=***"  # type: ignore[union-attr]
        frames = run.frames()
        assert len(frames) > 10
        assert {(f.p, f.c) for f in frames} == {("cryptomus", 1)}


async def test_cryptomus_session_subscribes_trades_then_depth_at_scale_zero(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        emulator = cryptomus_emulator(market=False)
        seen = listen(emulator)
        async with running(emulator, stale_after_s=1000):
            await trio.sleep(1)
        assert [json.loads(text) for _, _, text in seen] == [
            {"id": 1, "method": "trade_subscribe", "params": ["BTC_USDT"]},
            {"id": 2, "method": "depth_subscribe", "params": ["BTC_USDT:0"]},
        ]


async def test_cryptomus_session_pings_every_50_seconds_and_is_never_closed_for_inactivity(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(300):
        emulator = cryptomus_emulator(market=False)
        seen = listen(emulator)
        async with running(emulator, stale_after_s=1000) as run:
            await trio.sleep(175)
            assert emulator.connections[0].close_code is None
        opened = emulator.connections[0].opened_at
        assert since_open(seen, opened, '"method":"ping"') == [50.0, 100.0, 150.0]
        assert run.session.stats.connects == 1


# --- AllTick -----------------------------------------------------------------------------------


async def test_alltick_session_subscribes_depth_and_trades_more_than_one_second_apart(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        emulator = alltick_emulator()
        seen = listen(emulator)
        async with running(emulator) as run:
            await trio.sleep(5)
        requests = [json.loads(text) for _, _, text in seen]
        assert [r["cmd_id"] for r in requests] == [22002, 22004]
        assert requests[0]["data"] == {"symbol_list": [{"code": "BTCUSDT", "depth_level": 5}]}
        assert requests[1]["data"] == {"symbol_list": [{"code": "BTCUSDT"}]}
        assert seen[1][1] - seen[0][1] > 1.0
        replies = [bytes(f.f) for f in run.frames() if b'"ret"' in bytes(f.f)]
        assert [json.loads(r)["ret"] for r in replies] == [200, 200]  # no 605: nothing refused


async def test_alltick_session_sends_a_heartbeat_every_10_seconds(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(120):
        emulator = alltick_emulator(market=False)
        seen = listen(emulator)
        async with running(emulator, stale_after_s=1000):
            await trio.sleep(45)
            assert emulator.connections[0].close_code is None  # the 30 s timeout never hit
        opened = emulator.connections[0].opened_at
        assert since_open(seen, opened, '"cmd_id":22000') == [10.0, 20.0, 30.0, 40.0]


# --- Finazon -----------------------------------------------------------------------------------


async def test_finazon_session_subscribes_bars_of_its_dataset_and_hands_over_bars(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        emulator = finazon_emulator()
        seen = listen(emulator)
        async with running(emulator) as run:
            await trio.sleep(5)
        request = json.loads(seen[0][2])
        assert {k: request[k] for k in ("event", "dataset", "tickers", "channel", "frequency")} == {
            "event": "subscribe", "dataset": "kucoin", "tickers": ["BTC/USDT"],
            "channel": "bars", "frequency": "1s",
        }  # fmt: skip
        assert any(b'"ch":"bars"' in bytes(f.f) for f in run.frames())


async def test_finazon_session_sends_a_heartbeat_every_30_seconds(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(200):
        emulator = finazon_emulator(market=False)
        seen = listen(emulator)
        async with running(emulator, stale_after_s=1000) as run:
            await trio.sleep(95)
        opened = emulator.connections[0].opened_at
        assert since_open(seen, opened, '"event":"heartbeat"') == [30.0, 60.0, 90.0]
        assert run.session.stats.faults["stale"] == 0  # WebSocket pings were answered


# --- every provider ----------------------------------------------------------------------------


async def test_stop_closes_the_connection_normally_and_hands_over_a_disconnected_line(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        emulator = cryptomus_emulator()
        async with running(emulator) as run:
            await trio.sleep(3)
        assert emulator.connections[0].close_code == 1000
        last = run.lines[-1]
        assert isinstance(last, DisconnectedLine)
        assert (last.c, last.reason) == (1, "stopped")


async def test_frames_that_wait_for_a_busy_loop_are_handed_over_as_one_batch_with_one_stamp(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        emulator = cryptomus_emulator(market=False)
        slow_loop = {"channel_size": 1, "consumer_delay": 2.0}
        async with running(emulator, stale_after_s=1000, **slow_loop) as run:
            await trio.sleep(1)
            for _ in range(50):
                emulator.connections[0].push(TRADE_UPDATE)
            await trio.sleep(3)
        trades = [
            [line for line in batch if isinstance(line, Frame) and b"trade_update" in bytes(line.f)]
            for batch in run.batches
        ]
        assert sum(len(batch) for batch in trades) == 50
        biggest = max(trades, key=len)
        assert len(biggest) >= 48  # the first waits alone; the rest queued behind it
        assert len({frame.t for frame in biggest}) == 1


async def test_a_stop_while_the_loop_is_behind_hands_over_every_frame_already_read(
    autojump_clock: trio.abc.Clock,
) -> None:
    # The loop is busy (a channel of one batch, read only from t=5 s), so the reader waits to
    # hand over what it read when the stop arrives at t=2 s. What it read must still reach the
    # loop (and so the recording), or live and replay disagree on it.
    with trio.fail_after(60):
        emulator = cryptomus_emulator(market=False)
        slow_loop = {"channel_size": 1, "consumer_delay": 5.0}
        async with running(emulator, stale_after_s=1000, **slow_loop) as run:
            await trio.sleep(1)
            for i in range(5):
                emulator.connections[0].push(TRADE_UPDATE.replace('"id":0', f'"id":{i}'))
            await trio.sleep(1)
            assert run.session._send.statistics().tasks_waiting_send >= 1  # the reader waits
            read = run.session.stats.frames
        assert read >= 1
        assert len(run.frames()) == run.session.stats.frames == read


async def test_without_trio_websockets_internals_every_frame_still_arrives_one_at_a_time(
    autojump_clock: trio.abc.Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The public fallback, as with a trio-websocket release the fast path was not tested with.
    monkeypatch.setattr(wsclient, "USE_PRIVATE_PATH", False)
    with trio.fail_after(60):
        emulator = cryptomus_emulator(market=False)
        slow_loop = {"channel_size": 1, "consumer_delay": 2.0}
        async with running(emulator, stale_after_s=1000, **slow_loop) as run:
            await trio.sleep(1)
            for i in range(50):
                emulator.connections[0].push(TRADE_UPDATE.replace('"id":0', f'"id":{i}'))
            await trio.sleep(3)
        trades = [
            line
            for batch in run.batches
            for line in batch
            if isinstance(line, Frame) and b"trade_update" in bytes(line.f)
        ]
        assert [json.loads(bytes(f.f))["id"] for f in trades] == list(range(50))
        assert max(sum(isinstance(line, Frame) for line in batch) for batch in run.batches) == 1


def test_trio_websockets_internals_are_used_only_with_a_tested_release() -> None:
    assert wsclient.private_path_supported("0.12.2")
    assert wsclient.private_path_supported("0.12")
    assert not wsclient.private_path_supported("0.13.0")
    assert not wsclient.private_path_supported("0.11.1")
    assert not wsclient.private_path_supported("1.12.0")
    assert not wsclient.private_path_supported(None)


async def test_frames_are_stamped_by_the_injected_clock(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(60):
        emulator = cryptomus_emulator(market=False)
        async with running(emulator, stale_after_s=1000) as run:
            await trio.sleep(10)
            emulator.connections[0].push(TRADE_UPDATE)
            await trio.sleep(1)
        trade = next(f for f in run.frames() if b"trade_update" in bytes(f.f))
        assert trade.t == T0_NS + 10 * 1_000_000_000


def test_a_subscription_the_provider_does_not_offer_is_refused_before_connecting() -> None:
    send, _ = trio.open_memory_channel[list[Line]](1)
    provider = ProviderConfig(
        name="cryptomus", subscriptions=(Subscription("bars", "BTC_USDT"),), key="k" * 8,
        user_id="u" * 8,
    )  # fmt: skip
    with pytest.raises(ConfigError, match="cryptomus has no 'bars' channel"):
        Session(provider, send, trio.Event(), conn_ids=itertools.count(1).__next__, clock=int)


def test_the_wall_clock_never_goes_backwards() -> None:
    readings = iter([5_000, 3_000, 7_000])
    clock = WallClock(lambda: next(readings))
    assert [clock(), clock(), clock()] == [5_000, 5_000, 7_000]


async def test_the_ticker_hands_over_a_tick_every_interval(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        send, receive = trio.open_memory_channel[list[Line]](100)
        stop = trio.Event()
        clock = WallClock(lambda: T0_NS + round(trio.current_time() * 1_000_000_000))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_ticker, send, 0.25, clock, stop)
            await trio.sleep(1.1)
            stop.set()
        ticks = [batch async for batch in receive]
        assert ticks == [[Tick(T0_NS + k * 250_000_000)] for k in (1, 2, 3, 4)]


def test_session_stats_start_with_every_fault_kind_at_zero() -> None:
    from framework.live.session import SessionStats

    stats = SessionStats()
    assert msgspec.to_builtins(stats)["faults"] == {
        "closed": 0, "stale": 0, "refused": 0, "auth": 0, "token": 0,
    }  # fmt: skip
    assert stats.reconnects == 0
