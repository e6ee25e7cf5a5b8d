"""Keys and tokens never reach a recording, a log line or an error message.

AllTick and Finazon put the key in the URL, Cryptomus a one-time token; each test runs against
the emulator with a key of its own and then searches the output for it.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import pytest
import trio

from framework.emulators.server import Faults
from framework.errors import ProviderConnectionError
from framework.live.backoff import Backoff, BackoffPolicy
from framework.live.runner import record_live
from framework.live.session import Session, WallClock
from framework.recording import ConnectedLine, Line, RecordingReader

from .live_helpers import (
    alltick_emulator,
    cryptomus_emulator,
    finazon_emulator,
    provider_for,
    running,
    trio_ns,
)

ALLTICK_TOKEN = "at-7f3e9c1d5b2a4e6f8091"
FINAZON_KEY = "fz-0c4b8e2f6a1d3957bb"


async def record_against(emulator: object, path: Path, **provider: object) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(emulator.serve)  # type: ignore[attr-defined]
        config = provider_for(emulator, **provider)  # type: ignore[arg-type]
        await record_live(
            [config], path, duration=5, clock=WallClock(trio_ns), handle_signals=False,
            echo=lambda _: None,
        )  # fmt: skip
        nursery.cancel_scope.cancel()


def connected_urls(path: Path) -> list[str]:
    with RecordingReader(path) as reader:
        return [line.url for line in reader if isinstance(line, ConnectedLine)]


async def test_an_alltick_token_is_masked_in_the_recording(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    with trio.fail_after(60):
        emulator = alltick_emulator(tokens=(ALLTICK_TOKEN,))
        await record_against(emulator, tmp_path / "rec.jsonl", key=ALLTICK_TOKEN)
    data = (tmp_path / "rec.jsonl").read_bytes()
    assert ALLTICK_TOKEN.encode() not in data
    assert connected_urls(tmp_path / "rec.jsonl") == [f"{emulator.url}/quote-b-ws-api?token=***"]


async def test_a_finazon_key_is_masked_in_the_recording(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    with trio.fail_after(60):
        emulator = finazon_emulator(api_keys=(FINAZON_KEY,))
        await record_against(emulator, tmp_path / "rec.jsonl", key=FINAZON_KEY)
    data = (tmp_path / "rec.jsonl").read_bytes()
    assert FINAZON_KEY.encode() not in data
    assert connected_urls(tmp_path / "rec.jsonl") == [f"{emulator.url}/v1?apikey=***"]


async def test_cryptomus_tokens_and_key_are_absent_from_the_recording(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    with trio.fail_after(60):
        emulator = cryptomus_emulator(faults=Faults(close_after=5))
        await record_against(emulator, tmp_path / "rec.jsonl")
    data = (tmp_path / "rec.jsonl").read_bytes()
    tokens = [conn.query["token"] for conn in emulator.connections]
    assert len(tokens) == 2
    for secret in [*tokens, next(iter(emulator.users.values()))]:
        assert secret.encode() not in data


async def test_no_log_line_carries_the_key_even_at_debug_level(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with trio.fail_after(60):
        emulator = alltick_emulator(tokens=(ALLTICK_TOKEN,), faults=Faults(close_after=20))
        async with running(emulator, provider={"key": ALLTICK_TOKEN}) as run:
            await trio.sleep(15)
    assert run.session.stats.faults["closed"] >= 1  # the reconnection was logged too
    messages = [record.getMessage() for record in caplog.records]
    assert any(r.name == "trio-websocket" for r in caplog.records)
    assert not [m for m in messages if ALLTICK_TOKEN in m]


async def test_the_error_of_a_session_that_gives_up_has_the_key_masked(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        emulator = alltick_emulator(tokens=(ALLTICK_TOKEN,), faults=Faults(refuse=5))
        send, _ = trio.open_memory_channel[list[Line]](100)
        policy = BackoffPolicy(min_spacing_s=3.0, jitter=0.0, max_failures=2)
        with pytest.RaisesGroup(ProviderConnectionError) as caught:
            async with trio.open_nursery() as nursery:
                await nursery.start(emulator.serve)
                session = Session(
                    provider_for(emulator, key=ALLTICK_TOKEN), send, trio.Event(),
                    conn_ids=itertools.count(1).__next__, clock=WallClock(trio_ns),
                    backoff=Backoff(policy),
                )  # fmt: skip
                try:
                    await session.run()
                finally:
                    nursery.cancel_scope.cancel()
    message = str(caught.value.exceptions[0])
    assert ALLTICK_TOKEN not in message
    assert f"{emulator.url}/quote-b-ws-api?token=***" in message
