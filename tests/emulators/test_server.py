"""The emulator harness: pacing, faults, bookkeeping, sources, the HTTP server, `papertrade serve`.

A tiny echo emulator stands in for a provider: it answers ``echo <message>`` and pushes each
scripted batch's frames to every open connection. Everything runs on 127.0.0.1, port 0, and
tests where time matters run on trio's ``autojump_clock``.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
import pytest
import trio
from click.testing import CliRunner
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    open_websocket_url,
)

from framework.emulators.alltick import AllTickEmulator
from framework.emulators.cli import build_emulator, serve
from framework.emulators.generate import generate_recording
from framework.emulators.http import HttpRequest, HttpResponse, json_response, serve_http
from framework.emulators.server import (
    Batch,
    Connection,
    EmulatorServer,
    Faults,
    ModelSource,
    Recorded,
    RecordingSource,
)
from framework.errors import ConfigError
from framework.providers.base import Subscription
from framework.recording import FORMAT, VERSION, Frame, Header, ProviderSpec, RecordingWriter

NS = 1_000_000_000
START_NS = 1_750_953_600 * NS  # 2025-06-26 16:00:00 UTC, a whole minute
ROOT = Path(__file__).resolve().parents[2]


class Script:
    """A source that replays fixed batches."""

    def __init__(self, *batches: Batch) -> None:
        self._batches = batches

    def batches(self) -> Iterator[Batch]:
        return iter(self._batches)


def pushes(count: int) -> Script:
    """An empty batch at 0 s (the pacing origin), then ``push 1`` .. ``push N`` a second apart."""
    ticks = [Batch(i * NS, (Recorded(f"push {i}"),)) for i in range(1, count + 1)]
    return Script(Batch(0, ()), *ticks)


class Echo(EmulatorServer):
    name = "echo"

    async def session(self, conn: Connection) -> None:
        while not conn.closing:
            message = await conn.receive()
            conn.reply(f"echo {message!s}")

    def on_batch(self, batch: Batch) -> None:
        for conn in self.open_connections():
            for item in batch.items:
                assert isinstance(item, Recorded) and isinstance(item.data, str)
                conn.push(item.data)


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[WebSocketConnection]:
    """``open_websocket_url`` that also closes the socket when the server closed first.

    trio-websocket's client keeps its TCP socket open when the server starts the close (its
    ``aclose`` returns early once a close reason is known), which leaks the socket.
    """
    async with open_websocket_url(url) as ws:
        try:
            yield ws
        finally:
            if ws.closed is not None:
                await ws._stream.aclose()


async def handshake(url: str) -> bytes:
    """Send a bare WebSocket upgrade request; return the raw answer up to the server's close.

    trio-websocket's client leaks its socket when a handshake is refused, so refusals are
    read at the HTTP level.
    """
    host, port = url.removeprefix("ws://").split(":")
    stream = await trio.open_tcp_stream(host, int(port))
    await stream.send_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    answer = b""
    while chunk := await stream.receive_some(65536):
        answer += chunk
    await stream.aclose()
    return answer


async def drain(ws: WebSocketConnection) -> tuple[list[str | bytes], int]:
    """Every message until the connection closes, and the close code."""
    got: list[str | bytes] = []
    try:
        while True:
            got.append(await ws.get_message())
    except ConnectionClosed as exc:
        assert exc.reason is not None
        return got, exc.reason.code


async def start(nursery: trio.Nursery, emulator: EmulatorServer) -> str:
    url: str = await nursery.start(emulator.serve)
    return url


# --- serving and pacing --------------------------------------------------------------------------


async def test_serve_reports_a_loopback_url_with_the_port_bound(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        url = await start(nursery, Echo())
        assert re.fullmatch(r"ws://127\.0\.0\.1:[1-9]\d*", url)
        async with connect(url + "/any") as ws:
            await ws.send_message("hello")
            assert await ws.get_message() == "echo hello"


async def test_batches_are_paced_by_simulated_time_divided_by_speed(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        emulator = Echo(source=pushes(3), speed=2.0)
        async with connect(await start(nursery, emulator)) as ws:
            t0 = trio.current_time()
            arrivals = []
            for _ in range(3):
                await ws.get_message()
                arrivals.append(trio.current_time() - t0)
        assert arrivals == pytest.approx([0.5, 1.0, 1.5])


# --- faults, counted in pushes -------------------------------------------------------------------


async def test_close_after_fault_closes_after_the_nth_push_with_its_code(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        emulator = Echo(source=pushes(10), faults=Faults(close_after=3, close_code=1011))
        async with connect(await start(nursery, emulator)) as ws:
            got, code = await drain(ws)
        assert got == ["push 1", "push 2", "push 3"]
        assert code == 1011
        assert emulator.connections[0].close_code == 1011


async def test_close_after_without_a_code_drops_the_stream_with_no_close_frame(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        emulator = Echo(source=pushes(10), faults=Faults(close_after=2, close_code=None))
        async with connect(await start(nursery, emulator)) as ws:
            got, code = await drain(ws)
        assert got == ["push 1", "push 2"]
        assert code == 1006  # abnormal closure: the TCP stream ended without a close frame


async def test_a_count_fault_fires_once_then_disarms(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        emulator = Echo(source=pushes(6), faults=Faults(close_after=1))
        url = await start(nursery, emulator)
        async with connect(url) as first:
            assert (await drain(first))[0] == ["push 1"]
            async with connect(url) as second:
                assert await second.get_message() == "push 2"
                assert await second.get_message() == "push 3"
        assert emulator.faults.close_after is None


async def test_stall_after_fault_keeps_the_connection_open_and_silent(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        emulator = Echo(source=pushes(10), faults=Faults(stall_after=2))
        async with connect(await start(nursery, emulator)) as ws:
            assert [await ws.get_message(), await ws.get_message()] == ["push 1", "push 2"]
            await ws.send_message("are you there")
            with trio.move_on_after(20) as silent:
                await ws.get_message()
            assert silent.cancelled_caught
            assert ws.closed is None


async def test_garbage_after_fault_sends_one_invalid_json_frame_after_the_nth_push(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        emulator = Echo(source=pushes(3), faults=Faults(garbage_after=1, garbage="}{garbage"))
        async with connect(await start(nursery, emulator)) as ws:
            got = [await ws.get_message() for _ in range(4)]
        assert got == ["push 1", "}{garbage", "push 2", "push 3"]


async def test_refuse_fault_rejects_the_next_connections_with_http_503(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(5):
        emulator = Echo(faults=Faults(refuse=2))
        url = await start(nursery, emulator)
        for _ in range(2):
            assert (await handshake(url)).startswith(b"HTTP/1.1 503 ")
        async with connect(url) as ws:
            await ws.send_message("third")
            assert await ws.get_message() == "echo third"
        assert emulator.refused == 2


async def test_refuse_without_a_status_drops_tcp_before_the_handshake(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(5):
        emulator = Echo(faults=Faults(refuse=1, refuse_status=None))
        url = await start(nursery, emulator)
        assert await handshake(url) == b""
        assert (emulator.refused, emulator.connections) == (1, [])


# --- explicit triggers ------------------------------------------------------------------------


async def test_close_all_closes_every_open_connection_with_the_code_given(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(5):
        emulator = Echo()
        url = await start(nursery, emulator)
        async with connect(url) as a, connect(url) as b:
            await a.send_message("x")
            await b.send_message("y")
            assert [await a.get_message(), await b.get_message()] == ["echo x", "echo y"]
            emulator.close_all(4000, "maintenance")
            assert (await drain(a))[1] == 4000
            assert (await drain(b))[1] == 4000


async def test_stall_silences_replies_until_resume(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        emulator = Echo()
        async with connect(await start(nursery, emulator)) as ws:
            emulator.stall()
            await ws.send_message("lost")
            with trio.move_on_after(10) as silent:
                await ws.get_message()
            assert silent.cancelled_caught
            emulator.resume()
            await ws.send_message("heard")
            assert await ws.get_message() == "echo heard"


async def test_send_garbage_reaches_every_open_connection(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        emulator = Echo()
        url = await start(nursery, emulator)
        async with connect(url) as a, connect(url) as b:
            await a.send_message("sync")
            await b.send_message("sync")
            await a.get_message(), await b.get_message()
            emulator.send_garbage("not json")
            assert [await a.get_message(), await b.get_message()] == ["not json", "not json"]


# --- bookkeeping ------------------------------------------------------------------------------


async def test_connections_are_numbered_and_keep_path_query_and_close_code(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(5):
        emulator = Echo()
        url = await start(nursery, emulator)
        async with connect(url + "/ws?token=abcdef123456") as ws:
            await ws.send_message("one")
            await ws.get_message()
        async with connect(url + "/v1") as ws:
            await ws.send_message("two")
            await ws.get_message()
        await trio.testing.wait_all_tasks_blocked()
        first, second = emulator.connections
        assert (first.id, first.path, first.query) == (1, "/ws", {"token": "abcdef123456"})
        assert "abcdef123456" not in first.redacted_target
        assert (second.id, second.path, second.received) == (2, "/v1", 1)
        assert first.close_code == 1000  # the client closed normally
        assert emulator.open_connections() == []


async def test_stopping_the_server_tells_clients_it_is_going_away(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        server_scope = trio.CancelScope()

        async def run(task_status: trio.TaskStatus[str]) -> None:
            with server_scope:
                await Echo().serve(task_status=task_status)

        url: str = await nursery.start(run)
        async with connect(url) as ws:
            await ws.send_message("hi")
            await ws.get_message()
            server_scope.cancel()
            assert (await drain(ws))[1] == 1001


# --- sources -----------------------------------------------------------------------------------


def test_model_source_gives_the_same_batches_for_the_same_seed() -> None:
    def first(seed: int) -> list[Batch]:
        batches = ModelSource(["BTC/USDT", "ETH/USDT"], seed, START_NS).batches()
        return [next(batches) for _ in range(50)]

    assert msgspec.json.encode(first(7)) == msgspec.json.encode(first(7))
    assert msgspec.json.encode(first(7)) != msgspec.json.encode(first(8))


def test_model_source_starts_at_its_start_time_with_both_instruments() -> None:
    batch = next(ModelSource(["BTC/USDT", "ETH/USDT"], 1, START_NS).batches())
    assert batch.ts_ns == START_NS
    assert {item.instrument for item in batch.items} == {"BTC/USDT", "ETH/USDT"}  # type: ignore[union-attr]


def write_recording(path: Path) -> None:
    header = Header(FORMAT, VERSION, (ProviderSpec("finazon", (Subscription("bars", "AAPL"),)),
                                      ProviderSpec("alltick")))  # fmt: skip
    with RecordingWriter(path, header) as writer:
        writer.write([
            Frame(5, "finazon", 1, f=msgspec.Raw(b'{"a":1}')),
            Frame(5, "alltick", 2, f=msgspec.Raw(b'{"b":2}')),
            Frame(5, "finazon", 1, s="not json"),
            Frame(9, "finazon", 1, f=msgspec.Raw(b'{"c":3}')),
        ])  # fmt: skip


def test_recording_source_groups_one_providers_frames_by_receive_time(tmp_path: Path) -> None:
    write_recording(tmp_path / "r.jsonl")
    source = RecordingSource(tmp_path / "r.jsonl", "finazon")
    assert list(source.batches()) == [
        Batch(5, (Recorded('{"a":1}'), Recorded("not json"))),
        Batch(9, (Recorded('{"c":3}'),)),
    ]
    assert source.subscriptions == (Subscription("bars", "AAPL"),)


def test_recording_source_refuses_a_recording_without_the_provider(tmp_path: Path) -> None:
    write_recording(tmp_path / "r.jsonl")
    with pytest.raises(ConfigError, match="not cryptomus"):
        RecordingSource(tmp_path / "r.jsonl", "cryptomus")


# --- the HTTP server -----------------------------------------------------------------------------


async def http(port: int, raw: bytes) -> list[tuple[int, bytes]]:
    """Send raw request bytes; return (status, body) of each response until the server closes."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(raw)
    data = b""
    while chunk := await stream.receive_some(65536):
        data += chunk
    await stream.aclose()
    out = []
    while data:
        head, _, data = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
        out.append((int(head.split()[1]), data[:length]))
        data = data[length:]
    return out


def describe(request: HttpRequest) -> HttpResponse:
    return json_response(200, {"m": request.method, "t": request.target, "len": len(request.body),
                               "x": request.header("X-Thing")})  # fmt: skip


async def test_http_server_hands_the_request_to_the_handler(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        port = await nursery.start(serve_http, describe)
        raw = (
            b"POST /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Thing: yes\r\nConnection: close\r\n"
            b"Content-Length: 3\r\n\r\nabc"
        )
        assert await http(port, raw) == [(200, b'{"m":"POST","t":"/a?b=1","len":3,"x":"yes"}')]


async def test_http_server_keeps_the_connection_for_a_second_request(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        port = await nursery.start(serve_http, describe)
        one = b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
        two = b"GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        got = await http(port, one + two)
        assert [body for _, body in got] == [
            b'{"m":"GET","t":"/1","len":0,"x":null}',
            b'{"m":"GET","t":"/2","len":0,"x":null}',
        ]


async def test_http_server_answers_400_to_a_request_it_cannot_parse(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        port = await nursery.start(serve_http, describe)
        assert await http(port, b"NOT HTTP AT ALL\r\n\r\n") == [(400, b'{"message":"Bad request"}')]


async def test_http_server_answers_413_to_a_body_over_the_limit(nursery: trio.Nursery) -> None:
    with trio.fail_after(5):
        port = await nursery.start(lambda **kw: serve_http(describe, max_body=10, **kw))
        raw = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n01234567890"
        assert await http(port, raw) == [(413, b'{"message":"Request body too large"}')]


# --- papertrade serve ---------------------------------------------------------------------------


def test_serve_command_prints_the_url_serves_and_stops_cleanly_on_sigint() -> None:
    command = [sys.executable, "-m", "framework.emulators.cli", "finazon", "--port", "0", "--quiet"]
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = re.search(r"ws://127\.0\.0\.1:\d+/v1\?apikey=\S+", first)
        assert url is not None, first

        async def heartbeat() -> str | bytes:
            with trio.fail_after(5):
                async with open_websocket_url(url.group(0)) as ws:
                    await ws.send_message('{"event":"heartbeat","request_id":1}')
                    return await ws.get_message()

        assert trio.run(heartbeat) == '{"event":"heartbeat","status":"success","request_id":1}'
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_serve_command_rejects_an_unknown_provider_in_one_line() -> None:
    result = CliRunner().invoke(serve, ["bitstamp"])
    assert result.exit_code == 1
    assert (
        result.output == "Error: unknown provider 'bitstamp' (known: alltick, cryptomus, finazon)\n"
    )


def test_serve_command_rejects_a_missing_recording_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(serve, ["alltick", "--replay", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 1
    assert result.output == f"Error: recording not found: {tmp_path / 'none.jsonl'}\n"


def test_serve_command_reports_a_port_in_use_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(serve, ["finazon", "--port", str(port), "--quiet"])
    assert result.exit_code == 1
    assert result.output == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_serve_dates_the_seeded_market_at_the_current_whole_second() -> None:
    emulator = build_emulator("cryptomus", now_ns=lambda: START_NS + 700_000_000)
    assert isinstance(emulator.source, ModelSource)
    assert emulator.source.start_ns == START_NS


def test_serve_replay_serves_the_recordings_codes(tmp_path: Path) -> None:
    generate_recording(tmp_path / "a.jsonl", provider="alltick", instrument="ETH/USDT", minutes=1)
    emulator = build_emulator("alltick", replay=tmp_path / "a.jsonl")
    assert isinstance(emulator, AllTickEmulator)
    assert isinstance(emulator.source, RecordingSource)
    assert emulator.codes == {"ETHUSDT": "ETH/USDT"}
