"""The Finazon emulator: key, subscribe acks and errors, heartbeat, reset, limits, bar cadence.

Requests and replies are the documented examples (the Finazon WebSocket reference in the
seeds, and the third-party error texts in protocols.md 2.5).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from framework.emulators.finazon import DEFAULT_API_KEY, FinazonEmulator, market_source
from framework.emulators.generate import generate_recording
from framework.emulators.server import Faults, RecordingSource
from framework.recording import Frame, RecordingReader

NS = 1_000_000_000
START_S = 1_750_953_600  # a whole minute
STOCKS = {"sip_pro": ("AAPL.US", "TSLA.US")}


def subscribe(names: str, request_id: int = 106, event: str = "subscribe", **changes: str) -> str:
    """A bars request as documented; ``changes`` replace fields ("" removes one)."""
    fields = {
        "event": f'"{event}"', "dataset": '"kucoin"', "tickers": names,
        "channel": '"bars"', "frequency": '"1s"', "aggregation": '"1m"',
        "request_id": str(request_id),
    }  # fmt: skip
    for key, value in changes.items():
        if value:
            fields[key] = value
        else:
            del fields[key]
    return "{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}"


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[WebSocketConnection]:
    """trio-websocket's client, closing its socket when the server closed first (it leaks it)."""
    async with open_websocket_url(url) as ws:
        try:
            yield ws
        finally:
            if ws.closed is not None:
                await ws._stream.aclose()


async def start(nursery: trio.Nursery, emulator: FinazonEmulator | None = None) -> str:
    base: str = await nursery.start((emulator or FinazonEmulator()).serve)
    return f"{base}/v1?apikey={DEFAULT_API_KEY}"


async def ask(ws: WebSocketConnection, request: str) -> str | bytes:
    await ws.send_message(request)
    return await ws.get_message()


async def rest(ws: WebSocketConnection) -> tuple[list[str | bytes], int]:
    got: list[str | bytes] = []
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            got.append(await ws.get_message())
    assert closed.value.reason is not None
    return got, closed.value.reason.code


# --- subscribe, unsubscribe, reset, heartbeat ----------------------------------------------------


async def test_subscribe_is_acked_with_the_tickers_and_the_request_id(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery)) as ws:
            reply = await ask(ws, subscribe('["BTC/USDT","ETH/USDT"]'))
        assert reply == (
            '{"status":"success","code":"SUCCESS_SUBSCRIPTION",'
            '"data":["BTC/USDT","ETH/USDT"],"request_id":106}'
        )


async def test_an_unknown_ticker_gets_its_error_and_the_others_stay_subscribed(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery)) as ws:
            await ws.send_message(subscribe('["BGMS","BTC/USDT"]'))
            got = [await ws.get_message(), await ws.get_message()]
        assert got == [
            '{"status":"error","code":"INVALID_TICKER","message":"The ticker BGMS you have '
            'specified is unrecognized or unsupported.","request_id":106}',
            '{"status":"success","code":"SUCCESS_SUBSCRIPTION","data":["BTC/USDT"],"request_id":106}',
        ]


async def test_subscribing_tickers_again_gets_already_subscribed(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery, FinazonEmulator(datasets=STOCKS))) as ws:
            first = subscribe('["AAPL","TSLA"]', 1, dataset='"sip_pro"')
            await ask(ws, first)
            reply = await ask(ws, first.replace('"request_id":1', '"request_id":2'))
        assert reply == (
            '{"status":"error","code":"ALREADY_SUBSCRIBED",'
            '"message":"You are already subscribed to ticker: AAPL, TSLA.","request_id":2}'
        )


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"frequency": '"5s"'}, '"INVALID_FREQUENCY","message":"frequency must be one of '
                                '1s, 10s, 1m"'),
        ({"aggregation": '"5m"'}, '"INVALID_AGGREGATION","message":"aggregation must be 1m"'),
        ({"channel": '"trades"'}, '"INVALID_CHANNEL","message":"channel must be bars"'),
        ({"dataset": ""}, '"MISSING_PARAMETER","message":"missing required parameter: dataset"'),
        ({"tickers": ""}, '"MISSING_PARAMETER","message":"missing required parameter: tickers"'),
        ({"dataset": '"nyse"'}, '"INVALID_DATASET","message":"The dataset nyse you have '
                                'specified is unrecognized or unsupported."'),
    ],
    ids=["frequency", "aggregation", "channel", "no-dataset", "no-tickers", "unknown-dataset"],
)  # fmt: skip
async def test_an_invalid_subscribe_gets_an_error_frame(
    nursery: trio.Nursery, change: dict[str, str], error: str
) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery)) as ws:
            reply = await ask(ws, subscribe('["BTC/USDT"]', **change))
        assert reply == f'{{"status":"error","code":{error},"request_id":106}}'


async def test_invalid_json_gets_an_error_frame(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery)) as ws:
            reply = await ask(ws, '{"event":"heartbeat",')
        assert reply == (
            '{"status":"error","code":"INVALID_JSON","message":"the message is not valid JSON"}'
        )


async def test_an_invalid_subscribe_subscribes_nothing(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery)) as ws:
            await ask(ws, subscribe('["BTC/USDT"]', frequency='"5s"'))
            reply = await ask(ws, subscribe('["BTC/USDT"]', 107))
        assert '"code":"SUCCESS_SUBSCRIPTION"' in str(reply)


async def test_unsubscribe_is_acked(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery)) as ws:
            await ask(ws, subscribe('["BTC/USDT"]'))
            reply = await ask(ws, subscribe('["BTC/USDT"]', 3, "unsubscribe"))
        assert reply == (
            '{"status":"success","code":"SUCCESS_UNSUBSCRIPTION","data":["BTC/USDT"],"request_id":3}'
        )


async def test_reset_clears_every_subscription_without_a_reply(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery)) as ws:
            await ask(ws, subscribe('["BTC/USDT"]'))
            await ws.send_message('{"event":"reset"}')
            reply = await ask(ws, subscribe('["BTC/USDT"]', 107))
        assert reply == (
            '{"status":"success","code":"SUCCESS_SUBSCRIPTION","data":["BTC/USDT"],"request_id":107}'
        )


async def test_heartbeat_gets_success_echoing_the_request_id(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery)) as ws:
            reply = await ask(ws, '{"event":"heartbeat","request_id":42}')
        assert reply == '{"event":"heartbeat","status":"success","request_id":42}'


async def test_websocket_pings_are_answered(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery)) as ws:
            await ws.ping(b"alive?")  # returns once the pong arrives


# --- key and limits ---------------------------------------------------------------------------


async def test_a_bad_api_key_gets_an_error_then_close_1008(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        url = (await start(nursery)).replace(DEFAULT_API_KEY, "not-my-key")
        async with connect(url) as ws:
            got, code = await rest(ws)
        assert got == ['{"status":"error","code":"INVALID_API_KEY","message":"invalid api key"}']
        assert code == 1008


async def test_a_fourth_connection_for_one_key_is_refused(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        url = await start(nursery)
        async with connect(url) as a, connect(url) as b, connect(url) as c:
            for ws in (a, b, c):
                await ask(ws, '{"event":"heartbeat"}')
            async with connect(url) as fourth:
                got, code = await rest(fourth)
        assert got == [
            '{"status":"error","code":"TOO_MANY_CONNECTIONS",'
            '"message":"too many connections: at most 3 per api key"}'
        ]
        assert code == 1008


async def test_the_101st_event_in_a_minute_gets_an_error(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with connect(await start(nursery)) as ws:
            for i in range(100):
                assert '"status":"success"' in str(
                    await ask(ws, f'{{"event":"heartbeat","request_id":{i}}}')
                )
            reply = await ask(ws, '{"event":"heartbeat","request_id":100}')
        assert reply == (
            '{"status":"error","code":"TOO_MANY_REQUESTS",'
            '"message":"too many event messages: at most 100 per minute","request_id":100}'
        )


async def test_the_event_window_slides_over_a_minute(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(600):
        async with connect(await start(nursery, FinazonEmulator(max_events_per_minute=2))) as ws:
            await ask(ws, '{"event":"heartbeat"}')
            await trio.sleep(30)
            await ask(ws, '{"event":"heartbeat"}')
            await trio.sleep(30)  # the first event is now a minute old
            assert (
                await ask(ws, '{"event":"heartbeat"}') == '{"event":"heartbeat","status":"success"}'
            )


async def test_a_message_over_100kb_gets_an_error(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        tickers = "[" + ",".join(f'"T{i:06d}"' for i in range(11_000)) + "]"
        async with connect(await start(nursery)) as ws:
            request = subscribe(tickers, 9)
            reply = await ask(ws, request)
        assert len(request) > 100_000
        assert reply == (
            '{"status":"error","code":"MESSAGE_TOO_LARGE",'
            f'"message":"message of {len(request)} bytes, over 100000","request_id":9}}'
        )


async def test_close_on_limit_closes_after_the_error(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        emulator = FinazonEmulator(max_events_per_minute=1, close_on_limit=True)
        async with connect(await start(nursery, emulator)) as ws:
            await ask(ws, '{"event":"heartbeat"}')
            await ws.send_message('{"event":"heartbeat"}')
            got, code = await rest(ws)
        assert '"code":"TOO_MANY_REQUESTS"' in str(got)
        assert code == 1008


# --- bars ----------------------------------------------------------------------------------------


async def test_bars_repeat_their_open_time_while_the_minute_forms(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        emulator = FinazonEmulator(source=market_source(1, START_S * NS))
        async with connect(await start(nursery, emulator)) as ws:
            await ask(ws, subscribe('["BTC/USDT"]'))
            bars = [msgspec.json.decode(await ws.get_message()) for _ in range(5)]
        assert {(b["d"], b["p"], b["ch"], b["f"], b["aggr"], b["s"]) for b in bars} == {
            ("kucoin", "kucoin", "bars", "1s", "1m", "BTC/USDT")
        }
        assert [b["t"] for b in bars] == [START_S] * 5


async def test_a_10s_subscription_gets_a_bar_every_10_seconds(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        emulator = FinazonEmulator(source=market_source(1, START_S * NS))
        async with connect(await start(nursery, emulator)) as ws:
            await ask(ws, subscribe('["BTC/USDT"]', frequency='"10s"'))
            arrivals = []
            for _ in range(3):
                await ws.get_message()
                arrivals.append(trio.current_time())
        assert [b - a for a, b in itertools.pairwise(arrivals)] == pytest.approx([10, 10])


async def test_a_recordings_bars_are_served_byte_for_byte(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    with trio.fail_after(600):
        path = tmp_path / "finazon.jsonl"
        generate_recording(path, provider="finazon", minutes=1, frequency="10s")
        with RecordingReader(path) as reader:
            recorded = [bytes(line.f).decode() for line in reader if isinstance(line, Frame)]
        bars = [text for text in recorded if '"ch":"bars"' in text]
        emulator = FinazonEmulator(source=RecordingSource(path, "finazon"))
        async with connect(await start(nursery, emulator)) as ws:
            await ask(ws, subscribe('["BTC/USDT"]', frequency='"10s"'))
            served = [await ws.get_message() for _ in bars]
        assert served == bars


async def test_reject_auth_fault_refuses_a_valid_key(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        url = await start(nursery, FinazonEmulator(faults=Faults(reject_auth=1)))
        async with connect(url) as ws:
            assert await rest(ws) == (
                ['{"status":"error","code":"INVALID_API_KEY","message":"invalid api key"}'],
                1008,
            )
        async with connect(url) as ws:
            assert (
                await ask(ws, '{"event":"heartbeat"}') == '{"event":"heartbeat","status":"success"}'
            )
