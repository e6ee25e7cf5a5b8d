"""Faults a session survives, each injected by a real emulator: it reconnects and counts them.

The server closes mid-stream or drops TCP, stops sending, sends a garbage frame, refuses the
next connections, rejects a reused token; each test checks that the session carries on (a new
connection, resubscribed) and that the fault is counted under its kind. Reconnects keep each
provider's documented spacing. See live_helpers.py for the harness.
"""

from __future__ import annotations

import itertools

import pytest
import trio

from framework.emulators import alltick
from framework.emulators.server import Faults
from framework.errors import ConfigError, ProviderConnectionError
from framework.live.backoff import Backoff, BackoffPolicy
from framework.live.session import Session, WallClock
from framework.recording import Line

from .live_helpers import (
    NS,
    T0_NS,
    alltick_emulator,
    cryptomus_emulator,
    finazon_emulator,
    listen,
    provider_for,
    running,
    trio_ns,
)

NO_JITTER = BackoffPolicy(min_spacing_s=1.0, initial_s=1.0, jitter=0.0)


def faults_seen(stats_faults: dict[str, int]) -> dict[str, int]:
    return {kind: n for kind, n in stats_faults.items() if n}


def issued_tokens(emulator: object) -> list[str]:
    """Record every token the Cryptomus emulator's REST endpoint issues."""
    store = emulator.tokens  # type: ignore[attr-defined]
    issued: list[str] = []
    issue = store.issue

    def recording_issue() -> str:
        issued.append(issue())
        return issued[-1]

    store.issue = recording_issue
    return issued


async def test_a_server_close_mid_stream_is_reconnected_and_resubscribed(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        emulator = cryptomus_emulator(faults=Faults(close_after=5))
        async with running(emulator, NO_JITTER) as run:
            await trio.sleep(10)
        assert run.kinds() == [
            "connected 1", "subscribed 1", "disconnected 1",
            "connected 2", "subscribed 2", "disconnected 2",
        ]  # fmt: skip
        assert run.disconnects()[0].reason == "closed by server: 1011 fault: close after pushes"
        assert faults_seen(run.session.stats.faults) == {"closed": 1}
        assert run.session.stats.reconnects == 1


async def test_every_cryptomus_connection_uses_a_new_token(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(60):
        emulator = cryptomus_emulator(faults=Faults(close_after=5))
        issued = issued_tokens(emulator)
        async with running(emulator, NO_JITTER):
            await trio.sleep(10)
        used = [conn.query["token"] for conn in emulator.connections]
        assert used == issued
        assert len(set(used)) == 2


async def test_a_dropped_tcp_stream_is_counted_as_closed_and_reconnected(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        emulator = cryptomus_emulator(faults=Faults(close_after=5, close_code=None))
        async with running(emulator, NO_JITTER) as run:
            await trio.sleep(10)
        assert faults_seen(run.session.stats.faults) == {"closed": 1}
        assert run.session.stats.connects == 2


async def test_a_feed_that_stops_sending_is_stale_and_reconnected(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        emulator = cryptomus_emulator(faults=Faults(stall_after=3))
        async with running(emulator, NO_JITTER, stale_after_s=5) as run:
            await trio.sleep(12)
        assert run.disconnects()[0].reason == "no frame for 5 s"
        assert faults_seen(run.session.stats.faults) == {"stale": 1}
        last_frame_before = max(f.t for f in run.frames() if f.c == 1)
        assert run.disconnects()[0].t - last_frame_before == 5 * NS
        assert run.kinds()[3:5] == ["connected 2", "subscribed 2"]


async def test_a_garbage_frame_is_handed_over_verbatim_and_the_connection_stays_open(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        emulator = cryptomus_emulator(faults=Faults(garbage_after=3))
        async with running(emulator, NO_JITTER) as run:
            await trio.sleep(5)
        garbage = [f for f in run.frames() if f.s is not None]
        assert [f.s for f in garbage] == ['{"id":0,"method":']
        assert run.session.stats.connects == 1
        assert faults_seen(run.session.stats.faults) == {}


async def test_refused_connections_are_retried_with_exponential_backoff(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        emulator = cryptomus_emulator(faults=Faults(refuse=3))
        async with running(emulator, NO_JITTER) as run:
            await trio.sleep(10)
        assert emulator.refused == 3
        assert faults_seen(run.session.stats.faults) == {"refused": 3}
        # Delays of 1, 2 and 4 s after the three refusals: connected at 7 s.
        assert emulator.connections[0].opened_at == pytest.approx(7.0, abs=0.01)


async def test_a_reused_token_is_rejected_and_the_next_attempt_fetches_a_new_one(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        emulator = cryptomus_emulator(faults=Faults(reject_auth=1))
        issued = issued_tokens(emulator)
        async with running(emulator, NO_JITTER) as run:
            await trio.sleep(5)
        assert faults_seen(run.session.stats.faults) == {"auth": 1}
        assert len(issued) == 2
        assert emulator.connections[0].query["token"] == issued[1]


async def test_a_token_refused_by_a_policy_close_counts_as_an_auth_fault(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        emulator = cryptomus_emulator(faults=Faults(reject_auth=1), token_rejection="close")
        async with running(emulator, NO_JITTER) as run:
            await trio.sleep(5)
        assert faults_seen(run.session.stats.faults) == {"auth": 1}
        assert run.session.stats.connects == 2  # the refused one was accepted, then closed


async def test_an_alltick_token_rejection_is_fatal_and_names_the_key_variable(
    autojump_clock: trio.abc.Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The documented refusal (ret 401, then a close) does not get better by retrying.
    monkeypatch.setenv("ALLTICK_TEST_TOKEN", alltick.DEFAULT_TOKEN)
    with trio.fail_after(60):
        emulator = alltick_emulator(faults=Faults(reject_auth=1))
        with pytest.RaisesGroup(ConfigError, flatten_subgroups=True) as caught:
            async with running(emulator, provider={"key": "", "key_env": "ALLTICK_TEST_TOKEN"}):
                await trio.sleep(10)
    assert str(caught.value.exceptions[0]) == (
        "alltick refused the key (401 token invalid); "
        "check the environment variable ALLTICK_TEST_TOKEN"
    )
    assert len(emulator.connections) == 1


async def test_a_finazon_key_rejection_is_fatal_and_names_the_config_key(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        emulator = finazon_emulator(faults=Faults(reject_auth=1))
        with pytest.RaisesGroup(ConfigError, flatten_subgroups=True) as caught:
            async with running(emulator):
                await trio.sleep(10)
    assert str(caught.value.exceptions[0]) == (
        "finazon refused the key (INVALID_API_KEY invalid api key); "
        "check the key in the config's provider entry"
    )


async def test_alltick_free_plan_reconnects_no_sooner_than_10_seconds(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(120):
        emulator = alltick_emulator(faults=Faults(close_after=5))
        async with running(emulator, provider={"options": {"plan": "free"}}) as run:
            await trio.sleep(30)
        dropped_at = (run.disconnects()[0].t - T0_NS) / NS
        assert emulator.connections[1].opened_at - dropped_at >= 10.0


async def test_finazon_reconnects_after_at_least_5_seconds_and_resubscribes(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        emulator = finazon_emulator(faults=Faults(close_after=3))
        seen = listen(emulator)
        async with running(emulator) as run:
            await trio.sleep(20)
        subscribes = [(conn, at) for conn, at, text in seen if '"event":"subscribe"' in text]
        assert [conn for conn, _ in subscribes] == [1, 2]
        dropped_at = (run.disconnects()[0].t - T0_NS) / NS
        assert subscribes[1][1] - dropped_at >= 5.0


async def test_a_session_gives_up_after_max_failures(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(60):
        emulator = cryptomus_emulator(faults=Faults(refuse=10))
        policy = BackoffPolicy(min_spacing_s=1.0, jitter=0.0, max_failures=3)
        send, _ = trio.open_memory_channel[list[Line]](1000)
        gave_up = pytest.RaisesExc(ProviderConnectionError, match="gave up after 3 failed attempts")
        with pytest.RaisesGroup(gave_up):
            async with trio.open_nursery() as nursery:
                await nursery.start(emulator.serve)
                session = Session(
                    provider_for(emulator), send, trio.Event(), conn_ids=itertools.count(1).__next__,
                    clock=WallClock(trio_ns), backoff=Backoff(policy),
                )  # fmt: skip
                try:
                    await session.run()
                finally:
                    nursery.cancel_scope.cancel()
        assert emulator.refused == 3


async def test_credentials_refused_by_the_token_endpoint_are_fatal(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        emulator = cryptomus_emulator()
        send, _ = trio.open_memory_channel[list[Line]](1000)
        with pytest.RaisesGroup(pytest.RaisesExc(ConfigError, match="HTTP 401")):
            async with trio.open_nursery() as nursery:
                await nursery.start(emulator.serve)
                provider = provider_for(emulator, key="not-the-right-key")
                session = Session(
                    provider, send, trio.Event(), conn_ids=itertools.count(1).__next__,
                    clock=WallClock(trio_ns),
                )  # fmt: skip
                try:
                    await session.run()
                finally:
                    nursery.cancel_scope.cancel()
        assert emulator.connections == []
