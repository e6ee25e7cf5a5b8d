"""A client that subscribes and never reads is closed; the server's memory stays bounded."""

from __future__ import annotations

import trio
from trio_websocket import open_websocket_url

from framework.emulators import alltick
from framework.emulators.server import SLOW_CLOSE
from framework.providers.alltick import AllTickCodec
from framework.providers.base import Subscription

T0_NS = 1_750_953_600_000_000_000


async def test_a_client_that_never_reads_is_closed_with_1008(
    autojump_clock: trio.abc.Clock,
) -> None:
    source = alltick.market_source(1, T0_NS, ("BTC/USDT",))
    emulator = alltick.AllTickEmulator(
        instruments=("BTC/USDT",), source=source, speed=50.0, max_queue_bytes=64 << 10
    )
    codec = AllTickCodec()
    subs = [Subscription("book", "BTCUSDT", 5), Subscription("trades", "BTCUSDT")]
    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:
            url = await nursery.start(emulator.serve)
            async with open_websocket_url(
                codec.url(subs, url, alltick.DEFAULT_TOKEN), message_queue_size=1
            ) as ws:
                for frame in codec.subscribe(subs):
                    await ws.send_message(frame)
                    await trio.sleep(1.2)  # AllTick's request spacing
                while emulator.connections[0].close_code is None:  # never read a frame
                    await trio.sleep(1)
            nursery.cancel_scope.cancel()
    conn = emulator.connections[0]
    assert (conn.close_code, conn.close_reason) == (
        SLOW_CLOSE,
        "send queue full: the client does not read",
    )
    assert conn.pushes > 0  # it was served until its buffers filled
