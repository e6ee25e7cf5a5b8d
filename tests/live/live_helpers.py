"""Helpers for live-mode tests: a provider emulator on 127.0.0.1 port 0 and a session on it.

The rules of this folder (as trio-websocket's own tests put them): loopback only; servers on
port 0; every test under ``trio.fail_after``; anything timed runs under ``autojump_clock`` so
that heartbeats, stale feeds and backoff take no real time. Receive stamps come from trio's
clock (:func:`trio_ns`), so what a session hands over does not depend on the wall clock.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import trio

from framework.config import ProviderConfig
from framework.emulators import alltick, cryptomus, finazon
from framework.emulators.server import EmulatorServer
from framework.live.backoff import Backoff, BackoffPolicy
from framework.live.session import Session, WallClock
from framework.providers.base import Subscription
from framework.recording import ConnectedLine, DisconnectedLine, Frame, Line, SubscribedLine

NS = 1_000_000_000
T0_NS = 1_750_000_000 * NS  # the emulated market's start: a whole second
CRYPTOMUS_SUBS = (Subscription("trades", "BTC_USDT"), Subscription("book", "BTC_USDT"))
ALLTICK_SUBS = (Subscription("trades", "BTCUSDT"), Subscription("book", "BTCUSDT", depth=5))
FINAZON_SUBS = (Subscription("bars", "BTC/USDT", interval="1s"),)


def trio_ns() -> int:
    """Receive stamps for tests: T0 plus trio's (mock) clock."""
    return T0_NS + round(trio.current_time() * NS)


# The emulators run strict: the project's sessions must keep every documented rule, including
# the ones the providers' own samples break (AllTick's 1 s between any two requests).


def cryptomus_emulator(*, market: bool = True, **options: Any) -> cryptomus.CryptomusEmulator:
    options.setdefault("strict", True)
    source = cryptomus.market_source(1, T0_NS, ("BTC/USDT",)) if market else None
    return cryptomus.CryptomusEmulator(seed=1, instruments=("BTC/USDT",), source=source, **options)


def alltick_emulator(*, market: bool = True, **options: Any) -> alltick.AllTickEmulator:
    options.setdefault("strict", True)
    source = alltick.market_source(1, T0_NS, ("BTC/USDT",)) if market else None
    return alltick.AllTickEmulator(instruments=("BTC/USDT",), source=source, **options)


def finazon_emulator(*, market: bool = True, **options: Any) -> finazon.FinazonEmulator:
    options.setdefault("strict", True)
    datasets = {"kucoin": ("BTC/USDT",)}
    source = finazon.market_source(1, T0_NS, datasets) if market else None
    return finazon.FinazonEmulator(datasets=datasets, source=source, **options)


def provider_for(emulator: EmulatorServer, **overrides: Any) -> ProviderConfig:
    """A provider config pointed at a running emulator, with its test credentials."""
    if isinstance(emulator, cryptomus.CryptomusEmulator):
        base = ProviderConfig(
            name="cryptomus", subscriptions=CRYPTOMUS_SUBS, host=emulator.url,
            rest_host=emulator.rest_url, key=cryptomus.DEFAULT_API_KEY,
            user_id=cryptomus.DEFAULT_USER_ID,
        )  # fmt: skip
    elif isinstance(emulator, alltick.AllTickEmulator):
        base = ProviderConfig(
            name="alltick", subscriptions=ALLTICK_SUBS, host=emulator.url,
            key=sorted(emulator.tokens)[0], options={"plan": "basic"},
        )  # fmt: skip
    else:
        assert isinstance(emulator, finazon.FinazonEmulator)
        base = ProviderConfig(
            name="finazon", subscriptions=FINAZON_SUBS, host=emulator.url,
            key=sorted(emulator.api_keys)[0], options={"dataset": "kucoin"},
        )  # fmt: skip
    return msgspec.structs.replace(base, **overrides)


class Run:
    """A session against an emulator, and every batch it handed over, in order."""

    def __init__(self, emulator: EmulatorServer, session: Session, stop: trio.Event) -> None:
        self.emulator = emulator
        self.session = session
        self.stop = stop
        self.batches: list[list[Line]] = []

    @property
    def lines(self) -> list[Line]:
        return [line for batch in self.batches for line in batch]

    def frames(self) -> list[Frame]:
        return [line for line in self.lines if isinstance(line, Frame)]

    def kinds(self) -> list[str]:
        """The connection events, in order, as ``connected 1``, ``subscribed 1``..."""
        names = {
            ConnectedLine: "connected",
            SubscribedLine: "subscribed",
            DisconnectedLine: "disconnected",
        }
        return [f"{names[type(x)]} {x.c}" for x in self.lines if type(x) in names]  # type: ignore[attr-defined]

    def disconnects(self) -> list[DisconnectedLine]:
        return [line for line in self.lines if isinstance(line, DisconnectedLine)]


@asynccontextmanager
async def running(
    emulator: EmulatorServer,
    policy: BackoffPolicy | None = None,
    provider: dict[str, Any] | None = None,
    *,
    channel_size: int = 10_000,
    consumer_delay: float = 0.0,
    **session_options: Any,
) -> AsyncIterator[Run]:
    """Serve ``emulator``, run one session on it; at the end stop the session cleanly.

    ``channel_size`` and ``consumer_delay`` make a slow loop: the channel holds that many
    batches and the consumer starts reading only after that many seconds.
    """
    async with trio.open_nursery() as nursery:
        await nursery.start(emulator.serve)
        config = provider_for(emulator, **(provider or {}))
        send, receive = trio.open_memory_channel[list[Line]](channel_size)
        stop = trio.Event()
        backoff = Backoff(policy, seed=1) if policy is not None else None
        async with send:
            session = Session(
                config, send.clone(), stop, conn_ids=itertools.count(1).__next__,
                clock=WallClock(trio_ns), backoff=backoff, **session_options,
            )  # fmt: skip
        run = Run(emulator, session, stop)
        collected, ended = trio.Event(), trio.Event()
        nursery.start_soon(_collect, receive, run.batches, collected, consumer_delay)
        nursery.start_soon(_run, session, ended)
        yield run
        stop.set()
        with trio.fail_after(30):
            await ended.wait()
            await collected.wait()  # every line the session handed over is in run.batches
        nursery.cancel_scope.cancel()


async def _run(session: Session, ended: trio.Event) -> None:
    try:
        await session.run()
    finally:
        ended.set()


async def _collect(
    receive: trio.MemoryReceiveChannel[list[Line]],
    into: list[list[Line]],
    done: trio.Event,
    delay: float,
) -> None:
    await trio.sleep(delay)
    async with receive:
        async for batch in receive:
            into.append(batch)
    done.set()


def connection_times(emulator: EmulatorServer) -> list[float]:
    """When each accepted connection opened, on trio's clock."""
    return [conn.opened_at for conn in emulator.connections]


def tokens_used(emulator: EmulatorServer) -> Sequence[str]:
    return [conn.query.get("token", "") for conn in emulator.connections]


def listen(emulator: EmulatorServer) -> list[tuple[int, float, str]]:
    """Record every client message the emulator reads: (connection id, trio time, text)."""
    seen: list[tuple[int, float, str]] = []
    serve_connection = emulator.session

    async def session(conn: Any) -> None:
        receive = conn.receive

        async def timed(deadline: float = math.inf) -> str | bytes | None:
            message = await receive(deadline)
            if message is not None:
                text = message if isinstance(message, str) else message.decode()
                seen.append((conn.id, trio.current_time(), text))
            return message

        conn.receive = timed
        await serve_connection(conn)

    emulator.session = session  # type: ignore[method-assign]
    return seen
