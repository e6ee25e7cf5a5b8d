"""The receive fast path (``wsclient.FrameStream``) against trio-websocket's own parsing.

A raw server on 127.0.0.1 accepts the opening handshake, then writes hand-built frame bytes
(data frames of every length encoding, fragmented messages with pings between the fragments,
pongs, and frames a server must not send) cut into arbitrary chunks, then a close. The client
reads them once through the fast path and once through trio-websocket's public API; both
must give the same messages in the same order and the same close code.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import pytest
import trio
import wsproto
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trio_websocket import ConnectionClosed
from wsproto.events import AcceptConnection, Request

from framework.live import wsclient

LIMIT = 1 << 16  # the client's message limit in these tests (bytes)


def frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = False) -> bytes:
    """One server frame, built by hand (RFC 6455 section 5.2)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 1 << 16:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if mask:
        key = b"\x01\x02\x03\x04"
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        head += key
    return head + payload


CLOSE = frame(8, struct.pack("!H", 1000))


@dataclass
class Seen:
    messages: list[str | bytes]
    code: int | None


async def exchange(wire: bytes, cuts: list[int], fast: bool) -> Seen:
    """Serve ``wire`` cut at ``cuts`` to one client; what the client read."""
    seen = Seen([], None)
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]

    async def serve(stream: trio.SocketStream) -> None:
        ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        while True:
            ws.receive_data(await stream.receive_some(65536))
            if any(isinstance(e, Request) for e in ws.events()):
                break
        head = ws.send(AcceptConnection())
        start = 0
        for i, cut in enumerate([*cuts, len(wire)]):
            chunk = wire[start:cut]
            await stream.send_all(head + chunk if i == 0 else chunk)
            start = cut
            await trio.sleep(0.001)
        with trio.move_on_after(2):
            while await stream.receive_some(65536):
                pass
        await stream.aclose()

    old = wsclient.USE_PRIVATE_PATH
    wsclient.USE_PRIVATE_PATH = fast
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, serve, listeners)
            client = await wsclient.open_client(
                nursery, f"ws://127.0.0.1:{port}/", message_queue_size=16,
                max_message_size=LIMIT, receive_buffer_size=4096,
            )  # fmt: skip
            try:
                with trio.fail_after(10):
                    while True:
                        seen.messages += await client.receive()
                        while True:
                            try:
                                seen.messages += client.drain()
                            except (trio.WouldBlock, trio.EndOfChannel):
                                break
            except ConnectionClosed as exc:
                seen.code = exc.reason.code if exc.reason else None
            await client.aclose(2)
            nursery.cancel_scope.cancel()
    finally:
        wsclient.USE_PRIVATE_PATH = old
    return seen


def both(wire: bytes, cuts: list[int]) -> tuple[Seen, Seen]:
    return trio.run(exchange, wire, cuts, True), trio.run(exchange, wire, cuts, False)


text = st.text(st.characters(exclude_categories=["Cs"]), max_size=200)  # valid UTF-8
pieces = st.one_of(
    text.map(lambda t: frame(1, t.encode())),
    st.sampled_from([126, 127, 1000, 65535, LIMIT]).map(lambda n: frame(1, b"x" * n)),
    st.binary(max_size=300).map(lambda b: frame(2, b)),
    st.binary(max_size=125).map(lambda b: frame(9, b)),  # a ping: answered, never a message
    st.binary(max_size=125).map(lambda b: frame(10, b)),  # an unsolicited pong: ignored
    st.tuples(text, text, st.binary(max_size=20)).map(  # fragments, a ping between them
        lambda t: frame(1, t[0].encode(), fin=False) + frame(9, t[2]) + frame(0, t[1].encode())
    ),
)
endings = st.sampled_from(
    [
        CLOSE,
        frame(1, b"\xff\xfe not UTF-8") + CLOSE,  # 1007
        frame(1, b"masked", mask=True) + CLOSE,  # 1002: a server must not mask
        # 1009: over the limit (alone: trio-websocket stops reading there, unless the server's
        # close came in the same read, whose 1000 then overwrites its 1009)
        frame(2, b"x" * (LIMIT + 1)),
        frame(0, b"a continuation of nothing") + CLOSE,  # 1002
        bytes([0x83, 0]) + CLOSE,  # a reserved opcode: 1002
        b"",  # the stream just ends: 1006
    ]
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
@given(
    body=st.lists(pieces, max_size=10),
    ending=endings,
    at=st.lists(st.integers(0, 1 << 20), max_size=6),
)
def test_the_fast_path_reads_what_trio_websocket_reads(
    body: list[bytes], ending: bytes, at: list[int]
) -> None:
    wire = b"".join(body) + ending
    cuts = sorted({n % (len(wire) + 1) for n in at})  # where the server's writes end
    fast, public = both(wire, cuts)
    assert fast == public


def test_messages_of_every_length_encoding_arrive_whole_and_in_order() -> None:
    sizes = [0, 1, 125, 126, 127, 65535, 65536]
    body = b"".join(frame(1, b"m" * n) for n in sizes[:-1]) + frame(2, b"\x00" * 100)
    fast, public = both(body + CLOSE, [1, 2, 3, 200, 70_000])
    assert [len(m) for m in fast.messages] == [*sizes[:-1], 100]
    assert isinstance(fast.messages[-1], bytes)
    assert fast == public and fast.code == 1000


@pytest.mark.parametrize(
    ("ending", "code"),
    [(frame(1, b"\xc3\x28") + CLOSE, 1007), (frame(1, b"{}", mask=True) + CLOSE, 1002)],
)
def test_a_frame_the_fast_path_refuses_ends_the_connection_as_trio_websocket_does(
    ending: bytes, code: int
) -> None:
    fast, public = both(frame(1, b'{"a":1}') + ending, [])
    assert fast == public == Seen(['{"a":1}'], code)
