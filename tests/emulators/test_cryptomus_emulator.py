"""The Cryptomus emulator: token REST endpoint, token rules, inactivity, requests, depth.

Frames in expectations are the documented ones (the Cryptomus WebSocket page in the seeds)
with this test's ids. Market data comes from scripted recorded frames, so every expected
update is written out by hand.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import msgspec
import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from framework.emulators.cryptomus import DEFAULT_API_KEY, DEFAULT_USER_ID, CryptomusEmulator
from framework.emulators.server import Batch, Faults, Recorded
from framework.providers.cryptomus import MARKETS_PATH, TOKEN_PATH, sign

NS = 1_000_000_000


class Script:
    def __init__(self, *batches: Batch) -> None:
        self._batches = batches

    def batches(self) -> Iterator[Batch]:
        return iter(self._batches)


def at(seconds: int, *frames: str) -> Batch:
    return Batch(seconds * NS, tuple(Recorded(f) for f in frames))


def depth(full: bool, asks: str, bids: str, scale: int = 0) -> str:
    return (
        '{"id":0,"method":"depth_update","data":{"symbol":"BTC_USDT","timestamp":1750952911,'
        f'"full_reload":{"true" if full else "false"},"scale_index":{scale},"asks":{asks},'
        f'"bids":{bids}}},"error":null}}'
    )


def trade(symbol: str) -> str:
    return (
        f'{{"id":0,"method":"trade_update","data":{{"symbol":"{symbol}","timestamp":1750953177,'
        '"trades":[{"price":107100.01,"quantity":0.000254,"timestamp":1750953177,'
        '"direction":"buy"}]},"error":null}'
    )


async def http_get(
    port: int, target: str, headers: str = "", body: bytes = b""
) -> tuple[int, bytes]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    head = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}"
    await stream.send_all(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    data = b""
    while chunk := await stream.receive_some(65536):
        data += chunk
    await stream.aclose()
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


async def fetch_token(emulator: CryptomusEmulator) -> str:
    signed = f"userId: {DEFAULT_USER_ID}\r\nsign: {sign(b'', DEFAULT_API_KEY)}\r\n"
    status, body = await http_get(emulator.rest_port, TOKEN_PATH, signed)
    assert status == 200
    token: str = msgspec.json.decode(body)["token"]
    return token


async def handshake(url: str) -> bytes:
    """A bare upgrade request (trio-websocket's client leaks its socket when refused)."""
    host, port, target = re.fullmatch(r"ws://([^:]+):(\d+)(/.*)", url).groups()  # type: ignore[union-attr]
    stream = await trio.open_tcp_stream(host, int(port))
    await stream.send_all(
        f"GET {target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    answer = b""
    while chunk := await stream.receive_some(65536):
        answer += chunk
    await stream.aclose()
    return answer


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[WebSocketConnection]:
    """trio-websocket's client, closing its socket when the server closed first (it leaks it)."""
    async with open_websocket_url(url) as ws:
        try:
            yield ws
        finally:
            if ws.closed is not None:
                await ws._stream.aclose()


async def close_code(ws: WebSocketConnection) -> int:
    """Read until the server closes; the close code."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await ws.get_message()
    assert closed.value.reason is not None
    return closed.value.reason.code


@asynccontextmanager
async def session(
    nursery: trio.Nursery, emulator: CryptomusEmulator | None = None
) -> AsyncIterator[WebSocketConnection]:
    """A started emulator and a connection made with a fresh token."""
    emulator = emulator or CryptomusEmulator()
    url = await nursery.start(emulator.serve)
    async with connect(f"{url}/ws?token={await fetch_token(emulator)}") as ws:
        yield ws


async def ask(ws: WebSocketConnection, request: str) -> str | bytes:
    await ws.send_message(request)
    return await ws.get_message()


# --- REST ---------------------------------------------------------------------------------------


async def test_the_btc_usdt_market_entry_is_the_pages_byte_for_byte(
    nursery: trio.Nursery,
) -> None:
    # The "Market list" response on the Cryptomus page (seed 002), its "..." left out.
    page = (
        '{"result":[{"id":"01HSBPVS17CT2GN2FV34K3AMP9","symbol":"BTC_USDT","baseCurrency":"BTC",'
        '"quoteCurrency":"USDT","baseMinSize":"0.0000100000000000",'
        '"quoteMinSize":"0.1000000000000000","baseMaxSize":"10000000000.0000000000000000",'
        '"quoteMaxSize":"99999999.0000000000000000","basePrec":"8","quotePrec":"6",'
        '"baseCurrencyFullName":"Bitcoin","quoteCurrencyFullName":"Tether USD"}]}'
    )
    with trio.fail_after(5):
        emulator = CryptomusEmulator(instruments=["BTC/USDT"])
        await nursery.start(emulator.serve)
        status, body = await http_get(emulator.rest_port, MARKETS_PATH)
        assert (status, body.decode()) == (200, page)


async def test_an_undocumented_market_gets_rules_from_its_models_grid_in_16_decimals(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(5):
        emulator = CryptomusEmulator(instruments=["ETH/USDT"])
        await nursery.start(emulator.serve)
        status, body = await http_get(emulator.rest_port, MARKETS_PATH)
        market = msgspec.json.decode(body)["result"][0]
        assert status == 200
        # The ETH/USDT preset trades in 0.01 USDT ticks and 0.0001 ETH steps.
        assert {k: v for k, v in market.items() if k != "id"} == {
            "symbol": "ETH_USDT", "baseCurrency": "ETH", "quoteCurrency": "USDT",
            "baseMinSize": "0.0001000000000000", "quoteMinSize": "0.1000000000000000",
            "baseMaxSize": "10000000000.0000000000000000",
            "quoteMaxSize": "99999999.0000000000000000", "basePrec": "4", "quotePrec": "2",
            "baseCurrencyFullName": "Ethereum", "quoteCurrencyFullName": "Tether USD",
        }  # fmt: skip
        assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", market["id"])


async def test_token_endpoint_answers_a_64_hex_token_to_a_signed_request(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(5):
        emulator = CryptomusEmulator()
        await nursery.start(emulator.serve)
        assert re.fullmatch(r"[0-9a-f]{64}", await fetch_token(emulator))


async def test_token_endpoint_answers_404_to_an_unknown_user(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        emulator = CryptomusEmulator()
        await nursery.start(emulator.serve)
        headers = f"userId: someone-else\r\nsign: {sign(b'', DEFAULT_API_KEY)}\r\n"
        assert await http_get(emulator.rest_port, TOKEN_PATH, headers) == (
            404,
            b'{"message":"User not found"}',
        )


async def test_token_endpoint_answers_401_to_a_wrong_sign(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        emulator = CryptomusEmulator()
        await nursery.start(emulator.serve)
        headers = f"userId: {DEFAULT_USER_ID}\r\nsign: {sign(b'', 'another-key')}\r\n"
        assert await http_get(emulator.rest_port, TOKEN_PATH, headers) == (
            401,
            b'{"message":"Invalid sign"}',
        )


async def test_token_sign_covers_the_raw_body(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        emulator = CryptomusEmulator()
        await nursery.start(emulator.serve)
        body = b'{"a":"b\\/c"}'
        over_body = f"userId: {DEFAULT_USER_ID}\r\nsign: {sign(body, DEFAULT_API_KEY)}\r\n"
        over_empty = f"userId: {DEFAULT_USER_ID}\r\nsign: {sign(b'', DEFAULT_API_KEY)}\r\n"
        assert (await http_get(emulator.rest_port, TOKEN_PATH, over_body, body))[0] == 200
        assert (await http_get(emulator.rest_port, TOKEN_PATH, over_empty, body))[0] == 401


async def test_tokens_come_from_the_seed(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        emulators = [
            CryptomusEmulator(seed=3),
            CryptomusEmulator(seed=3),
            CryptomusEmulator(seed=4),
        ]
        for emulator in emulators:
            await nursery.start(emulator.serve)
        first, again, other = [await fetch_token(e) for e in emulators]
        assert first == again != other


# --- the token on the WebSocket ---------------------------------------------------------------


async def test_a_fresh_token_connects_and_ping_gets_pong_with_the_same_id(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(5):
        async with session(nursery) as ws:
            pong = await ask(ws, '{"id":7,"method":"ping","params":[]}')
        assert pong == '{"id":7,"method":"pong","data":null,"error":null}'


async def test_a_reused_token_is_refused_with_http_401(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        emulator = CryptomusEmulator()
        url = await nursery.start(emulator.serve)
        token = await fetch_token(emulator)
        async with connect(f"{url}/ws?token={token}") as ws:
            await ask(ws, '{"id":1,"method":"ping","params":[]}')
        answer = await handshake(f"{url}/ws?token={token}")
        assert answer.startswith(b"HTTP/1.1 401 ")
        assert answer.endswith(b'{"message":"token already used"}')


async def test_a_token_older_than_its_ttl_is_refused(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(600):
        emulator = CryptomusEmulator(token_ttl=300)
        url = await nursery.start(emulator.serve)
        token = await fetch_token(emulator)
        await trio.sleep(300)
        answer = await handshake(f"{url}/ws?token={token}")
        assert answer.startswith(b"HTTP/1.1 401 ")
        assert answer.endswith(b'{"message":"token expired"}')


async def test_a_token_just_inside_its_ttl_connects(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(600):
        emulator = CryptomusEmulator(token_ttl=300)
        url = await nursery.start(emulator.serve)
        token = await fetch_token(emulator)
        await trio.sleep(299)
        async with connect(f"{url}/ws?token={token}") as ws:
            assert await ask(ws, '{"id":1,"method":"ping","params":[]}') == (
                '{"id":1,"method":"pong","data":null,"error":null}'
            )


async def test_no_token_is_refused_with_http_401(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        url = await nursery.start(CryptomusEmulator().serve)
        assert (await handshake(f"{url}/ws")).startswith(b"HTTP/1.1 401 ")


async def test_close_mode_accepts_a_reused_token_then_closes_with_1008(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(5):
        emulator = CryptomusEmulator(token_rejection="close")
        url = await nursery.start(emulator.serve)
        token = await fetch_token(emulator)
        async with connect(f"{url}/ws?token={token}") as ws:
            await ask(ws, '{"id":1,"method":"ping","params":[]}')
        async with connect(f"{url}/ws?token={token}") as ws:
            assert await close_code(ws) == 1008


async def test_reject_auth_fault_refuses_a_fresh_token_as_reused(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        emulator = CryptomusEmulator(faults=Faults(reject_auth=1))
        url = await nursery.start(emulator.serve)
        answer = await handshake(f"{url}/ws?token={await fetch_token(emulator)}")
        assert answer.endswith(b'{"message":"token already used"}')
        async with connect(f"{url}/ws?token={await fetch_token(emulator)}") as ws:
            await ask(ws, '{"id":1,"method":"ping","params":[]}')


# --- inactivity ---------------------------------------------------------------------------------


async def test_inactivity_closes_60s_after_the_last_client_frame_and_not_before(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(600):
        async with session(nursery) as ws:
            await trio.sleep(40)
            await ask(ws, '{"id":1,"method":"ping","params":[]}')
            last_frame = trio.current_time()
            assert await close_code(ws) == 1000
            assert trio.current_time() - last_frame == pytest.approx(60)


async def test_server_pushes_do_not_count_as_activity(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(600):
        busy = Script(*(at(s, trade("BTC_USDT")) for s in range(200)))
        emulator = CryptomusEmulator(source=busy, inactivity_timeout=60)
        async with session(nursery, emulator) as ws:
            await ask(ws, '{"id":1,"method":"trade_subscribe","params":["BTC_USDT"]}')
            subscribed = trio.current_time()
            with pytest.raises(ConnectionClosed):
                while True:
                    assert await ws.get_message() == trade("BTC_USDT")
            assert trio.current_time() - subscribed == pytest.approx(60)


# --- requests and errors ------------------------------------------------------------------------


async def test_invalid_json_closes_the_connection(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with session(nursery) as ws:
            await ws.send_message('{"id":1,"method":"ping",')
            assert await close_code(ws) == 1003


async def test_a_request_not_in_the_documented_shape_gets_error_code_1(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(5):
        async with session(nursery) as ws:
            reply = await ask(ws, '{"id":4,"method":"trade_subscribe","params":"BTC_USDT"}')
        assert reply == '{"id":4,"data":null,"error":{"code":1,"message":"invalid message format"}}'


async def test_an_unknown_method_gets_error_code_2(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with session(nursery) as ws:
            reply = await ask(ws, '{"id":5,"method":"candles_subscribe","params":["BTC_USDT"]}')
        assert reply == (
            '{"id":5,"data":null,"error":{"code":2,"message":"unknown method candles_subscribe"}}'
        )


async def test_a_malformed_market_gets_error_code_2(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with session(nursery) as ws:
            reply = await ask(ws, '{"id":6,"method":"ticker_subscribe","params":["doge-usdt"]}')
        assert (
            reply == '{"id":6,"data":null,"error":{"code":2,"message":"unknown market doge-usdt"}}'
        )


@pytest.mark.parametrize(
    ("method", "param"),
    [
        # The page's own request examples for the private channels (seed 002).
        ("order_subscribe", "TRX_USDT"),
        ("deal_subscribe", "TRX_USDT"),
        ("balance_subscribe", "TRX"),
        ("depth_subscribe", "TRX_USDT:0"),
    ],
)
async def test_the_pages_trx_examples_are_acknowledged(
    nursery: trio.Nursery, method: str, param: str
) -> None:
    with trio.fail_after(5):
        async with session(nursery) as ws:
            reply = await ask(ws, f'{{"id":0,"method":"{method}","params":["{param}"]}}')
        assert '"data":{"status":"success"},"error":null' in str(reply)


async def test_subscribe_ack_carries_the_method(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with session(nursery) as ws:
            reply = await ask(ws, '{"id":0,"method":"trade_subscribe","params":["BTC_USDT"]}')
        assert (
            reply == '{"id":0,"method":"trade_subscribe","data":{"status":"success"},"error":null}'
        )


async def test_unsubscribe_ack_has_no_method(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with session(nursery) as ws:
            await ask(ws, '{"id":0,"method":"lastprice_subscribe","params":["all"]}')
            reply = await ask(ws, '{"id":1,"method":"lastprice_unsubscribe","params":["all"]}')
        assert reply == '{"id":1,"data":{"status":"success"},"error":null}'


async def test_deal_subscribe_ack_has_no_method_as_documented(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with session(nursery) as ws:
            reply = await ask(ws, '{"id":0,"method":"deal_subscribe","params":["all"]}')
        assert reply == '{"id":0,"data":{"status":"success"},"error":null}'


async def test_private_order_subscription_is_acknowledged(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with session(nursery) as ws:
            reply = await ask(ws, '{"id":2,"method":"order_subscribe","params":["all"]}')
        assert (
            reply == '{"id":2,"method":"order_subscribe","data":{"status":"success"},"error":null}'
        )


async def test_subscribing_a_data_type_again_is_rejected(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        async with session(nursery) as ws:
            await ask(ws, '{"id":1,"method":"trade_subscribe","params":["BTC_USDT"]}')
            reply = await ask(ws, '{"id":2,"method":"trade_subscribe","params":["ETH_USDT"]}')
        assert (
            reply
            == '{"id":2,"data":null,"error":{"code":2,"message":"already subscribed to trade"}}'
        )


async def test_a_data_type_can_be_subscribed_again_after_unsubscribing(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(5):
        async with session(nursery) as ws:
            await ask(ws, '{"id":1,"method":"trade_subscribe","params":["BTC_USDT"]}')
            await ask(ws, '{"id":2,"method":"trade_unsubscribe","params":["BTC_USDT"]}')
            reply = await ask(ws, '{"id":3,"method":"trade_subscribe","params":["ETH_USDT"]}')
        assert (
            reply == '{"id":3,"method":"trade_subscribe","data":{"status":"success"},"error":null}'
        )


# --- market data ---------------------------------------------------------------------------------


async def test_updates_reach_only_the_markets_subscribed(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        script = Script(
            at(0), at(1, trade("ETH_USDT"), trade("BTC_USDT")), at(2, trade("BTC_USDT"))
        )
        async with session(nursery, CryptomusEmulator(source=script)) as ws:
            await ask(ws, '{"id":1,"method":"trade_subscribe","params":["BTC_USDT"]}')
            got = [await ws.get_message(), await ws.get_message()]
            await ws.send_message('{"id":2,"method":"ping","params":[]}')
            assert await ws.get_message() == '{"id":2,"method":"pong","data":null,"error":null}'
        assert got == [trade("BTC_USDT"), trade("BTC_USDT")]


async def test_the_all_parameter_subscribes_every_market(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        script = Script(at(0), at(1, trade("ETH_USDT"), trade("BTC_USDT")))
        async with session(nursery, CryptomusEmulator(source=script)) as ws:
            await ask(ws, '{"id":1,"method":"trade_subscribe","params":["all"]}')
            got = [await ws.get_message(), await ws.get_message()]
        assert got == [trade("ETH_USDT"), trade("BTC_USDT")]


async def test_depth_starts_with_a_full_reload_of_the_book_then_sends_changes(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        script = Script(
            at(0, depth(True, '[["101","2"],["100","1"]]', '[["99","1"]]')),
            at(2, depth(False, '[["100","0"]]', '[["98","3"]]')),
        )
        async with session(nursery, CryptomusEmulator(source=script)) as ws:
            await trio.sleep(1)  # subscribe between the two recorded updates
            await ask(ws, '{"id":1,"method":"depth_subscribe","params":["BTC_USDT:0"]}')
            got = [await ws.get_message(), await ws.get_message()]
        assert got == [
            depth(True, '[["100","1"],["101","2"]]', '[["99","1"]]'),
            depth(False, '[["100","0"]]', '[["98","3"]]'),
        ]


async def test_a_late_depth_subscriber_gets_the_book_with_changes_applied(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        script = Script(
            at(0, depth(True, '[["101","2"],["100","1"]]', '[["99","1"]]')),
            at(1, depth(False, '[["100","0"]]', '[["98","3"]]')),
        )
        async with session(nursery, CryptomusEmulator(source=script)) as ws:
            await trio.sleep(2)
            await ask(ws, '{"id":1,"method":"depth_subscribe","params":["BTC_USDT:0"]}')
            full = await ws.get_message()
        assert full == depth(True, '[["101","2"]]', '[["99","1"],["98","3"]]')


async def test_a_coarser_scale_groups_levels_without_improving_them(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        # BTC_USDT prices have 2 decimals: scale index 1 groups them by 0.1, asks up, bids down.
        asks = '[["100.01","1"],["100.05","2"],["100.11","3"]]'
        script = Script(at(0), at(2, depth(True, asks, '[["99.99","1"],["99.91","2"]]')))
        async with session(nursery, CryptomusEmulator(source=script)) as ws:
            await ask(ws, '{"id":1,"method":"depth_subscribe","params":["BTC_USDT:1"]}')
            full = await ws.get_message()
        assert full == depth(True, '[["100.1","3"],["100.2","3"]]', '[["99.9","3"]]', scale=1)
