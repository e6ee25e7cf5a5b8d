"""A provider that echoes the key back: the recording masks it, of any length, and replays.

The emulators are armed to send one extra frame that quotes the connection's key (the
``garbage`` fault, here a well-formed JSON frame), as a provider's error reply might.
"""

from __future__ import annotations

from pathlib import Path

import trio

from framework.config import Config
from framework.emulators import cryptomus
from framework.emulators.server import Faults
from framework.live.runner import run_live
from framework.live.session import WallClock
from framework.recording import Frame, RecordingReader
from framework.run import RunSetup, replay
from framework.strategy import Strategy
from framework.testing import run_strategy

from .live_helpers import alltick_emulator, cryptomus_emulator, provider_for, trio_ns
from .test_live_runner import Flipper
from .test_live_secrets import record_against

SHORT_TOKEN = "k3y"  # shorter than any key a provider issues: still a secret


class DoNothing(Strategy):
    pass


def _frames_quoting(path: Path, text: str) -> list[bytes]:
    with RecordingReader(path) as reader:
        lines = list(reader)
        assert reader.stats.corrupt == 0
    return [bytes(line.f) for line in lines if isinstance(line, Frame) and text in bytes(line.f)]


async def test_a_short_alltick_token_echoed_in_a_frame_is_masked(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    # Masked wherever it occurs, inside a longer word too: the loop decodes the masked frame.
    echo = '{"ret":401,"msg":"token k3y is not valid (k3yboard)","cmd_id":22998,"data":{}}'
    with trio.fail_after(60):
        emulator = alltick_emulator(
            tokens=(SHORT_TOKEN,), faults=Faults(garbage_after=3, garbage=echo)
        )
        await record_against(emulator, tmp_path / "rec.jsonl", key=SHORT_TOKEN)
    data = (tmp_path / "rec.jsonl").read_bytes()
    assert b"k3y" not in data
    assert _frames_quoting(tmp_path / "rec.jsonl", b"is not valid") == [
        b'{"ret":401,"msg":"token *** is not valid (***board)","cmd_id":22998,"data":{}}'
    ]
    # The masked frame is the one the live loop decoded too: replays agree with each other.
    first = run_strategy(DoNothing, str(tmp_path / "rec.jsonl"))
    second = run_strategy(DoNothing, str(tmp_path / "rec.jsonl"))
    assert first.summary["counts"] == second.summary["counts"]
    assert first.summary["fingerprint"] == second.summary["fingerprint"]


async def test_a_cryptomus_key_echoed_in_a_frame_is_masked(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    key = cryptomus.DEFAULT_API_KEY
    echo = '{"id":0,"method":"ping","data":null,"error":{"code":1,"message":"key ' + key + '"}}'
    with trio.fail_after(60):
        emulator = cryptomus_emulator(faults=Faults(garbage_after=3, garbage=echo))
        await record_against(emulator, tmp_path / "rec.jsonl")
    data = (tmp_path / "rec.jsonl").read_bytes()
    assert key.encode() not in data
    tokens = [conn.query["token"] for conn in emulator.connections]
    assert tokens and not [t for t in tokens if t.encode() in data]
    assert len(_frames_quoting(tmp_path / "rec.jsonl", b'"message":"key ***"')) == 1


async def test_a_live_run_on_a_feed_that_echoes_key_and_token_replays_byte_for_byte(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    key = cryptomus.DEFAULT_API_KEY
    echo = '{"id":0,"method":"ping","data":null,"error":{"code":1,"message":"key ' + key + '"}}'
    with trio.fail_after(120):
        emulator = cryptomus_emulator(faults=Faults(garbage_after=5, garbage=echo))
        async with trio.open_nursery() as nursery:
            await nursery.start(emulator.serve)
            setup = RunSetup(
                strategies=(Flipper,), strategy_sources={}, seed=3,
                config=Config(providers=(provider_for(emulator),)),
            )  # fmt: skip
            summary = await run_live(
                setup, tmp_path / "live", record_path=tmp_path / "rec.jsonl", duration=30,
                clock=WallClock(trio_ns), handle_signals=False, echo=lambda _: None,
            )  # fmt: skip
            nursery.cancel_scope.cancel()
    data = (tmp_path / "rec.jsonl").read_bytes()
    tokens = [conn.query["token"] for conn in emulator.connections]
    assert key.encode() not in data and tokens
    assert not [t for t in tokens if t.encode() in data]
    assert len(_frames_quoting(tmp_path / "rec.jsonl", b'"message":"key ***"')) == 1
    replayed = replay(setup, tmp_path / "rec.jsonl", tmp_path / "replay")
    live_events = (tmp_path / "live" / "events.jsonl").read_bytes()
    assert summary["fills"] > 0
    assert live_events == (tmp_path / "replay" / "events.jsonl").read_bytes()
    assert replayed["fingerprint"]["events_sha256"] == summary["fingerprint"]["events_sha256"]
