"""The AllTick emulator: token, heartbeat, request spacing, replace semantics, caps, errors.

Requests and pushes are the documented examples (protocols.md 1.4) with this test's codes;
replies are written out by hand in the order msgspec encodes the codec's reply Structs
(``cmd_id`` first; JSON key order carries no meaning).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from framework import events as ev
from framework.emulators.alltick import DEFAULT_TOKEN, AllTickEmulator, market_source
from framework.emulators.generate import generate_recording
from framework.emulators.server import Batch, Faults, Recorded, RecordingSource
from framework.providers.alltick import AllTickCodec
from framework.recording import Frame, RecordingReader

NS = 1_000_000_000
FOREX = "/quote-b-ws-api"
STOCK = "/quote-stock-b-ws-api"
HEARTBEAT = '{"cmd_id":22000,"seq_id":123,"trace":"3baaa938-f92c-4a74-a228-fd49d5e2f8bc","data":{}}'


class Script:
    def __init__(self, *batches: Batch) -> None:
        self._batches = batches

    def batches(self) -> Iterator[Batch]:
        return iter(self._batches)


def at(seconds: int, *frames: str) -> Batch:
    return Batch(seconds * NS, tuple(Recorded(f) for f in frames))


def tick(code: str) -> str:
    return (
        f'{{"cmd_id":22998,"data":{{"code":"{code}","seq":1605509068000001,'
        '"tick_time":1605509068,"price":"651.12","volume":"300","turnover":"12345.6",'
        '"trade_direction":1}}'
    )


def book(code: str, levels: int) -> str:
    bids = ",".join(f'{{"price":"9.1{i}","volume":"{i + 1}"}}' for i in range(levels))
    asks = ",".join(f'{{"price":"9.2{i}","volume":"{i + 1}"}}' for i in range(levels))
    return (
        f'{{"cmd_id":22999,"data":{{"code":"{code}","seq":1605509068000001,'
        f'"tick_time":1605509068,"bids":[{bids}],"asks":[{asks}]}}}}'
    )


def trades(seq: int, *codes: str) -> str:
    symbols = ",".join(f'{{"code":"{c}"}}' for c in codes)
    return (
        f'{{"cmd_id":22004,"seq_id":{seq},"trace":"t{seq}","data":{{"symbol_list":[{symbols}]}}}}'
    )


def depths(seq: int, code: str, level: int | None = None) -> str:
    depth = "" if level is None else f',"depth_level":{level}'
    return (
        f'{{"cmd_id":22002,"seq_id":{seq},"trace":"t{seq}",'
        f'"data":{{"symbol_list":[{{"code":"{code}"{depth}}}]}}}}'
    )


def reply(cmd_id: int, ret: int, msg: str, seq: int) -> str:
    head = f'{{"cmd_id":{cmd_id},"ret":{ret},"msg":"{msg}"'
    return f'{head},"seq_id":{seq},"trace":"t{seq}","data":{{}}}}'


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[WebSocketConnection]:
    """trio-websocket's client, closing its socket when the server closed first (it leaks it)."""
    async with open_websocket_url(url) as ws:
        try:
            yield ws
        finally:
            if ws.closed is not None:
                await ws._stream.aclose()


async def start(nursery: trio.Nursery, emulator: AllTickEmulator, path: str = FOREX) -> str:
    base: str = await nursery.start(emulator.serve)
    return f"{base}{path}?token={DEFAULT_TOKEN}"


async def ask(ws: WebSocketConnection, request: str) -> str | bytes:
    await ws.send_message(request)
    return await ws.get_message()


async def rest(ws: WebSocketConnection) -> tuple[list[str | bytes], int]:
    """Every message until the server closes, and the close code."""
    got: list[str | bytes] = []
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            got.append(await ws.get_message())
    assert closed.value.reason is not None
    return got, closed.value.reason.code


# --- token and heartbeat -------------------------------------------------------------------------


async def test_heartbeat_gets_22001_echoing_seq_id_and_trace(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery, AllTickEmulator())) as ws:
            assert await ask(ws, HEARTBEAT) == (
                '{"cmd_id":22001,"ret":200,"msg":"ok","seq_id":123,'
                '"trace":"3baaa938-f92c-4a74-a228-fd49d5e2f8bc","data":{}}'
            )


async def test_a_bad_token_gets_the_401_frame_then_a_close(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        base = await nursery.start(AllTickEmulator().serve)
        async with connect(f"{base}{FOREX}?token=wrong-token") as ws:
            got, code = await rest(ws)
        assert got == [
            '{"cmd_id":0,"ret":401,"msg":"token invalid","seq_id":0,"trace":"","data":{}}'
        ]
        assert code == 1008


async def test_no_heartbeat_for_30s_closes_the_connection_and_not_before(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(600):
        async with connect(await start(nursery, AllTickEmulator())) as ws:
            for _ in range(2):
                await trio.sleep(10)
                await ask(ws, HEARTBEAT)
            last = trio.current_time()
            assert (await rest(ws))[1] == 1000
            assert trio.current_time() - last == pytest.approx(30)


async def test_other_requests_do_not_count_as_heartbeats(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(600):
        async with connect(await start(nursery, AllTickEmulator())) as ws:
            opened = trio.current_time()
            await trio.sleep(20)
            await ask(ws, trades(1, "BTCUSDT"))
            await rest(ws)
            assert trio.current_time() - opened == pytest.approx(30)


# --- request spacing -----------------------------------------------------------------------------


async def test_a_second_request_of_one_kind_within_a_second_gets_605(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery, AllTickEmulator())) as ws:
            await ask(ws, trades(1, "BTCUSDT"))
            assert await ask(ws, trades(2, "ETHUSDT")) == reply(22005, 605, "too many requests", 2)


async def test_strict_refuses_any_request_within_a_second_with_605(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery, AllTickEmulator(strict=True))) as ws:
            await ask(ws, trades(1, "BTCUSDT"))
            assert await ask(ws, depths(2, "BTCUSDT")) == reply(22003, 605, "too many requests", 2)


async def test_back_to_back_requests_of_two_kinds_are_served_and_counted(
    nursery: trio.Nursery,
) -> None:
    # The page's Go sample sends 22002 and then 22004 at once (seed 001).
    with trio.fail_after(5):
        emulator = AllTickEmulator()
        async with connect(await start(nursery, emulator)) as ws:
            assert await ask(ws, depths(1, "BTCUSDT")) == reply(22003, 200, "ok", 1)
            assert await ask(ws, trades(2, "BTCUSDT")) == reply(22005, 200, "ok", 2)
        assert emulator.leniency.waived == {"1 s between any two requests": 1}


async def test_a_request_a_second_later_is_served(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        async with connect(await start(nursery, AllTickEmulator())) as ws:
            await ask(ws, trades(1, "BTCUSDT"))
            await trio.sleep(1)
            assert await ask(ws, depths(2, "BTCUSDT")) == reply(22003, 200, "ok", 2)


async def test_heartbeats_are_not_spaced_by_default(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery, AllTickEmulator())) as ws:
            await ask(ws, trades(1, "BTCUSDT"))
            assert '"ret":200' in str(await ask(ws, HEARTBEAT))


async def test_spacing_code_606_refuses_then_closes(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery, AllTickEmulator(spacing_code=606))) as ws:
            await ask(ws, trades(1, "BTCUSDT"))
            await ws.send_message(trades(2, "ETHUSDT"))  # the same kind: refused, strict or not
            got, code = await rest(ws)
        text = "too many requests and connection will be closed"
        assert (got, code) == ([reply(22005, 606, text, 2)], 1008)


# --- lists: replace, cancel, cap, endpoints ----------------------------------------------------


async def test_a_trade_subscription_replaces_the_previous_list(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        script = Script(at(0), at(3, tick("BTCUSDT"), tick("ETHUSDT")))
        async with connect(await start(nursery, AllTickEmulator(source=script))) as ws:
            await ask(ws, trades(1, "BTCUSDT"))
            await trio.sleep(1)
            await ask(ws, trades(2, "ETHUSDT"))
            assert await ws.get_message() == tick("ETHUSDT")
            await trio.sleep(1)
            assert '"cmd_id":22001' in str(await ask(ws, HEARTBEAT))  # nothing else queued


@pytest.mark.parametrize(
    ("cancel_type", "left"),
    [(0, []), (1, ["trade"]), (2, ["book"])],
    ids=["0-cancels-all", "1-cancels-depth", "2-cancels-trades"],
)
async def test_cancel_type_clears_its_kind(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock, cancel_type: int, left: list[str]
) -> None:
    with trio.fail_after(60):
        script = Script(at(0), at(5, tick("BTCUSDT"), book("BTCUSDT", 1)))
        async with connect(await start(nursery, AllTickEmulator(source=script))) as ws:
            await ask(ws, depths(1, "BTCUSDT"))
            await trio.sleep(1)
            await ask(ws, trades(2, "BTCUSDT"))
            await trio.sleep(1)
            cancel = (
                f'{{"cmd_id":22006,"seq_id":3,"trace":"t3","data":{{"cancel_type":{cancel_type}}}}}'
            )
            assert await ask(ws, cancel) == reply(22007, 200, "ok", 3)
            await trio.sleep(5)
            await ws.send_message(HEARTBEAT)
            got = []
            while '"cmd_id":22001' not in str(message := await ws.get_message()):
                got.append(message)
        expected = {"trade": tick("BTCUSDT"), "book": book("BTCUSDT", 1)}
        assert got == [expected[kind] for kind in left]


async def test_codes_over_the_plan_cap_are_silently_ignored(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        script = Script(at(0), at(2, tick("BTCUSDT"), tick("ETHUSDT")))
        emulator = AllTickEmulator(source=script, max_codes=1)
        async with connect(await start(nursery, emulator)) as ws:
            assert await ask(ws, trades(1, "ETHUSDT", "BTCUSDT")) == reply(22005, 200, "ok", 1)
            assert await ws.get_message() == tick("ETHUSDT")
            assert '"cmd_id":22001' in str(await ask(ws, HEARTBEAT))  # nothing else queued


def test_the_free_plan_keeps_five_codes_on_one_connection() -> None:
    emulator = AllTickEmulator(plan="free")
    assert (emulator.max_codes, emulator.max_connections) == (5, 1)


async def test_a_stock_code_on_the_forex_endpoint_gets_600(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery, AllTickEmulator())) as ws:
            assert await ask(ws, trades(1, "AAPL.US")) == reply(22005, 600, "code invalid", 1)


async def test_a_stock_code_on_the_stock_endpoint_is_served(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery, AllTickEmulator(), STOCK)) as ws:
            assert await ask(ws, trades(1, "AAPL.US")) == reply(22005, 200, "ok", 1)


async def test_an_unknown_code_beside_a_known_one_is_ignored(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery, AllTickEmulator())) as ws:
            assert await ask(ws, trades(1, "no-pe", "BTCUSDT")) == reply(22005, 200, "ok", 1)


async def test_a_connection_over_the_cap_is_closed_at_once(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        url = await start(nursery, AllTickEmulator(max_connections=1))
        async with connect(url) as first:
            await ask(first, HEARTBEAT)
            async with connect(url) as second:
                assert await rest(second) == ([], 1008)


async def test_cap_reply_sends_606_before_closing(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        url = await start(nursery, AllTickEmulator(cap_reply=True))
        async with connect(url) as first:
            await ask(first, HEARTBEAT)
            async with connect(url) as second:
                text = "too many requests and connection will be closed"
                assert await rest(second) == (
                    [f'{{"cmd_id":0,"ret":606,"msg":"{text}","seq_id":0,"trace":"","data":{{}}}}'],
                    1008,
                )


async def test_the_two_endpoints_count_as_separate_connections(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        emulator = AllTickEmulator(plan="basic")
        forex = await start(nursery, emulator)
        stock = forex.replace(FOREX, STOCK)
        async with connect(forex) as a, connect(stock) as b:
            assert '"ret":200' in str(await ask(a, HEARTBEAT))
            assert '"ret":200' in str(await ask(b, HEARTBEAT))


# --- malformed requests --------------------------------------------------------------------------


async def test_an_unreadable_header_gets_400_with_cmd_id_0_and_empty_trace(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery, AllTickEmulator())) as ws:
            answer = await ask(ws, '{"seq_id":1,"trace":"t1","data":{}}')
        assert answer == (
            '{"cmd_id":0,"ret":400,"msg":"request header param invalid",'
            '"seq_id":0,"trace":"","data":{}}'
        )


async def test_invalid_json_gets_400_header_invalid(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery, AllTickEmulator())) as ws:
            assert '"ret":400,"msg":"request header param invalid"' in str(await ask(ws, "{oops"))


async def test_bad_data_gets_400_data_invalid_with_the_requests_ids(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery, AllTickEmulator())) as ws:
            bad = '{"cmd_id":22004,"seq_id":9,"trace":"t9","data":{"symbol_list":"BTCUSDT"}}'
            assert await ask(ws, bad) == reply(22005, 400, "request data param invalid", 9)


# --- pushes -------------------------------------------------------------------------------------


async def test_a_book_push_is_cut_to_the_depth_level_asked(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        script = Script(at(0), at(2, book("BTCUSDT", 3)))
        async with connect(await start(nursery, AllTickEmulator(source=script))) as ws:
            await ask(ws, depths(1, "BTCUSDT", 2))
            assert await ws.get_message() == book("BTCUSDT", 2)


async def test_a_depth_subscription_without_a_level_gets_one_level(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        script = Script(at(0), at(2, book("BTCUSDT", 3)))
        async with connect(await start(nursery, AllTickEmulator(source=script))) as ws:
            await ask(ws, depths(1, "BTCUSDT"))
            assert await ws.get_message() == book("BTCUSDT", 1)


async def test_generated_trades_decode_with_the_alltick_codec(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        source = market_source(1, 1_750_953_600 * NS, ["BTC/USDT"])
        async with connect(await start(nursery, AllTickEmulator(source=source))) as ws:
            await ask(ws, trades(1, "BTCUSDT"))
            events = AllTickCodec().decode(await ws.get_message(), 0)
        assert isinstance(events[0], ev.Trade)
        assert (events[0].instrument, events[0].symbol) == ("BTC/USDT", "BTCUSDT")
        assert events[0].ts_event_ns >= 1_750_953_600 * NS


async def test_string_times_push_seq_and_tick_time_as_strings(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        source = market_source(1, 1_750_953_600 * NS, ["BTC/USDT"])
        emulator = AllTickEmulator(source=source, string_times=True)
        async with connect(await start(nursery, emulator)) as ws:
            await ask(ws, trades(1, "BTCUSDT"))
            data = msgspec.json.decode(await ws.get_message())["data"]
        assert isinstance(data["seq"], str) and data["seq"].isdigit()
        assert isinstance(data["tick_time"], str) and data["tick_time"].isdigit()


async def test_seq_and_tick_time_are_integers_by_default(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        source = market_source(1, 1_750_953_600 * NS, ["BTC/USDT"])
        async with connect(await start(nursery, AllTickEmulator(source=source))) as ws:
            await ask(ws, trades(1, "BTCUSDT"))
            data = msgspec.json.decode(await ws.get_message())["data"]
        assert isinstance(data["seq"], int)
        assert isinstance(data["tick_time"], int)


async def test_a_recordings_trades_are_served_byte_for_byte(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    with trio.fail_after(600):
        path = tmp_path / "alltick.jsonl"
        generate_recording(path, provider="alltick", minutes=1)
        with RecordingReader(path) as reader:
            frames = [bytes(line.f).decode() for line in reader if isinstance(line, Frame)]
        ticks = [text for text in frames if text.startswith('{"cmd_id":22998')]
        # A minute of market without heartbeats: the timeout is not what this test is about.
        emulator = AllTickEmulator(source=RecordingSource(path, "alltick"), heartbeat_timeout=3600)
        async with connect(await start(nursery, emulator)) as ws:
            await ask(ws, trades(1, "BTCUSDT"))
            served = [await ws.get_message() for _ in ticks]
        assert served == ticks


async def test_reject_auth_fault_refuses_a_valid_token(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        url = await start(nursery, AllTickEmulator(faults=Faults(reject_auth=1)))
        async with connect(url) as ws:
            got, _ = await rest(ws)
        assert got == [
            '{"cmd_id":0,"ret":401,"msg":"token invalid","seq_id":0,"trace":"","data":{}}'
        ]
        async with connect(url) as ws:
            assert '"ret":200' in str(await ask(ws, HEARTBEAT))
