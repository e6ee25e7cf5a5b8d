"""The emulators' shared harness: a loopback WebSocket server, paced market data, faults.

Theory of operation. :class:`EmulatorServer` accepts TCP itself and wraps each stream with
trio-websocket, so it owns the socket: it can drop a connection before the handshake, reject
the handshake with an HTTP status, or cut the stream with no close frame. A provider emulator
supplies ``check_handshake`` (reject before accepting), ``session`` (one connection's read
loop) and ``on_batch`` (market data to push frames for the connections subscribed).

Each connection has one writer task sending, in order, what its session queued: replies,
pushes, a final close. Faults act in the writer, counted in pushes sent on the connection,
so "close after the 5th push" is the same push on every run; each fires once and disarms.
:meth:`close_all`, :meth:`stall`, :meth:`send_garbage` and :meth:`refuse` act at once.

Market data is a :class:`Source` of :class:`Batch` es in simulated time: the seeded model
(:class:`ModelSource`) or a recording (:class:`RecordingSource`), both in ``source`` and
re-exported here. A pump task sleeps on trio's clock until each batch is due,
``(ts - first ts) / speed`` seconds after the server started, so tests run instantly under
``autojump_clock``.

This module must not read the wall clock (a live source's start time is the caller's), use
unseeded randomness, or log a credential unredacted.
"""

from __future__ import annotations

import contextlib
import logging
import math
from abc import ABC, abstractmethod
from functools import partial
from typing import Any, ClassVar, Final, NoReturn, TypedDict
from urllib.parse import parse_qsl, urlsplit

import msgspec
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest
from wsproto import ConnectionType, WSConnection  # trio-websocket's own protocol engine
from wsproto.utilities import LocalProtocolError

from framework.emulators.source import (
    Batch,
    Generated,
    ModelSource,
    Recorded,
    RecordingSource,
    Source,
)
from framework.errors import ConfigError
from framework.redact import redact

__all__ = [
    "MAX_QUEUE_BYTES",
    "SLOW_CLOSE",
    "Batch",
    "Connection",
    "EmulatorServer",
    "Faults",
    "Generated",
    "HarnessOptions",
    "ModelSource",
    "PingLog",
    "Recorded",
    "RecordingSource",
    "Rejection",
    "Source",
]

_Kept = tuple[trio.Nursery, trio.CancelScope]
_LOG: Final = logging.getLogger("papertrade.emulators")
_NS: Final = 1_000_000_000
_GARBAGE: Final = '{"id":0,"method":'  # cut-off JSON: what a broken proxy or server would send
MAX_QUEUE_BYTES: Final = 4 << 20  # text queued per connection before a non-reader is closed
SLOW_CLOSE: Final = 1008  # policy violation: how servers end a client that does not read


class Faults(msgspec.Struct, kw_only=True):
    """Faults to inject, armed on an emulator and consumed as they fire.

    Counts are push frames sent on one connection; each count-triggered fault fires once, on
    the first connection that reaches it, then disarms (set it again to re-arm).
    """

    refuse: int = 0  # refuse the next N connections
    refuse_status: int | None = 503  # HTTP status of a refusal; None drops TCP before the handshake
    reject_auth: int = 0  # treat the next N connections' token/key as invalid (or reused)
    close_after: int | None = None  # close the connection after this many pushes
    close_code: int | None = 1011  # its close code; None drops TCP without a close frame
    stall_after: int | None = None  # after this many pushes send nothing more, stay open
    garbage_after: int | None = None  # after this many pushes send one garbage frame
    garbage: str = _GARBAGE  # the garbage frame (text)


class HarnessOptions(TypedDict, total=False):
    """The harness's keyword arguments, which every provider emulator passes on."""

    source: Source | None
    faults: Faults | None
    speed: float
    host: str
    port: int
    connect_timeout: float
    disconnect_timeout: float
    max_message_size: int
    max_queue_bytes: int


class Rejection(msgspec.Struct, frozen=True):
    """A handshake refused with an HTTP status and a body."""

    status: int
    body: bytes = b""


class _Close(msgspec.Struct, frozen=True):
    code: int | None  # None: drop the TCP stream, no close frame
    reason: str


class _Out(msgspec.Struct, frozen=True, gc=False):
    text: str  # providers send text frames; bytes here would go out as a binary frame
    push: bool  # counted for faults


class PingLog:
    """The WebSocket ping frames a client sent: how many, and when the last one came."""

    def __init__(self) -> None:
        self.count = 0
        self.last_at = -math.inf  # trio's clock


class Connection:
    """One accepted WebSocket connection: its queue, counters and how it ended.

    Attributes:
        id: from 1, in accept order.
        path: the URL path (``/ws``); ``query`` holds the parameters (credentials included:
            never log them, log ``redacted_target``).
        pushes: push frames sent so far; ``received``: client messages read so far.
        pings: the client's ping frames (trio-websocket answers them).
        close_code: how the connection ended: the code sent or received, 1006 for a dropped
            stream, None while open.
    """

    def __init__(
        self, server: EmulatorServer, conn_id: int, target: str, ws: WebSocketConnection,
        stream: trio.abc.Stream,
    ) -> None:  # fmt: skip
        parts = urlsplit(target)
        self.id, self.path, self.redacted_target = conn_id, parts.path, redact(target)
        self.query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.opened_at = self.last_received_at = trio.current_time()
        self.pushes = self.received = 0
        self.stalled = self._closing = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.pings = PingLog()
        self.ws, self._server, self._stream = ws, server, stream
        self._out, self._queue = trio.open_memory_channel[_Out | _Close](math.inf)
        self._queued = 0  # bytes of text queued and not yet sent
        self._writer = trio.CancelScope()

    @property
    def closing(self) -> bool:
        """True once a close is queued or the peer has gone."""
        return self._closing or self.ws.closed is not None

    def reply(self, text: str) -> None:
        """Queue a reply (not counted as a push); ignored once closing."""
        if not self.closing:
            self._enqueue(_Out(text, push=False))

    def push(self, text: str) -> None:
        """Queue a push frame (counted for faults); ignored once closing."""
        if not self.closing:
            self._enqueue(_Out(text, push=True))

    def _enqueue(self, item: _Out) -> None:
        self._queued += len(item.text)
        if self._queued <= self._server.max_queue_bytes:
            self._out.send_nowait(item)
            return
        # A client that does not read: close it as a real server would (1008, policy
        # violation) and free what was queued, instead of growing without bound.
        self._closing = True
        self.close_code, self.close_reason = SLOW_CLOSE, "send queue full: the client does not read"
        self._writer.cancel()

    def close(self, code: int | None = 1000, reason: str = "") -> None:
        """Close after what is queued is sent; ``code=None`` drops TCP with no close frame."""
        if not self._closing:
            self._closing = True
            self._out.send_nowait(_Close(code, reason))

    async def receive(self, deadline: float = math.inf) -> str | bytes | None:
        """The next client message, or None once trio's clock passes ``deadline``.

        Raises:
            ConnectionClosed: the connection is closed.
        """
        with trio.move_on_at(deadline):
            message = await self.ws.get_message()
            self.received += 1
            self.last_received_at = trio.current_time()
            return message
        return None

    async def _write(self) -> None:
        with self._writer:
            await self._write_queue()
        if self.close_code == SLOW_CLOSE:
            self._queued = 0
            while True:
                try:
                    self._queue.receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            with trio.move_on_after(self._server.disconnect_timeout):
                await self.ws.aclose(SLOW_CLOSE, self.close_reason)  # unread, most likely
            await self._stream.aclose()

    async def _write_queue(self) -> None:
        async for item in self._queue:
            if isinstance(item, _Close):
                await self._shut(item)
                return
            if self.stalled or self._server.stalled:
                continue
            try:
                await self.ws.send_message(item.text)
            except ConnectionClosed:
                return
            self._queued -= len(item.text)
            if item.push:
                self.pushes += 1
                await self._server._after_push(self)
                if self._closing and self.ws.closed is not None:
                    return  # a fault closed the connection

    async def _shut(self, item: _Close) -> None:
        if item.code is None:
            self.close_code, self.close_reason = 1006, "dropped"
            await self._stream.aclose()
            return
        if self.ws.closed is None:
            self.close_code, self.close_reason = item.code, item.reason
        with trio.move_on_after(self._server.disconnect_timeout):
            await self.ws.aclose(item.code, item.reason or None)


class EmulatorServer(ABC):
    """A strict loopback server for one provider; see the module docstring.

    Start it with ``url = await nursery.start(emulator.serve)``.

    Args:
        source: market data to serve, or None for none.
        faults: faults to inject (a fresh :class:`Faults` when None); kept as ``self.faults``.
        speed: simulated seconds per second of trio's clock.
        host: the interface to bind; loopback by default.
        port: the port to bind; 0 lets the system choose.
        connect_timeout: drop a client that has not finished the handshake in this time.
        disconnect_timeout: stop waiting for the client's close reply after this time.
        max_message_size: a larger client message closes the connection with 1009.
        max_queue_bytes: text queued for one connection beyond this closes it with 1008 (a
            client that does not read); memory stays bounded whatever the clients do.
    """

    name: ClassVar[str] = ""

    def __init__(
        self, *, source: Source | None = None, faults: Faults | None = None, speed: float = 1.0,
        host: str = "127.0.0.1", port: int = 0, connect_timeout: float = 10.0,
        disconnect_timeout: float = 5.0, max_message_size: int = 1 << 20,
        max_queue_bytes: int = MAX_QUEUE_BYTES,
    ) -> None:  # fmt: skip
        if not speed > 0:
            raise ConfigError(f"speed must be above 0, not {speed}")
        self.source, self.speed, self.host, self.port = source, speed, host, port
        self.faults = faults if faults is not None else Faults()
        self.connect_timeout, self.disconnect_timeout = connect_timeout, disconnect_timeout
        self.max_message_size = max_message_size
        self.max_queue_bytes = max_queue_bytes
        self.connections: list[Connection] = []  # every connection accepted, in order
        self.refused = 0  # connections refused by the ``refuse`` fault
        self.stalled = False  # set by stall(): every connection sends nothing
        self._next_id = 0
        self._open: dict[int, Connection] = {}

    @property
    def url(self) -> str:
        """``ws://host:port`` once serving; the provider's path and query come after it."""
        return f"ws://{self.host}:{self.port}"

    def open_connections(self) -> list[Connection]:
        """Connections still open, in accept order."""
        return list(self._open.values())

    async def serve(
        self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Listen, serve and pump market data until cancelled; reports :attr:`url` once listening.

        Raises:
            OSError: the address cannot be bound (port in use).
        """
        stopping = trio.Event()
        async with trio.open_nursery() as nursery:
            handlers, shield = await nursery.start(self._keep_connections, stopping)
            try:
                serve = partial(
                    trio.serve_tcp, self._on_tcp, self.port, host=self.host,
                    handler_nursery=handlers,
                )  # fmt: skip
                listeners = await nursery.start(serve)
                self.port = listeners[0].socket.getsockname()[1]
                if self.source is not None:
                    nursery.start_soon(self._pump, self.source)
                task_status.started(self.url)
                await trio.sleep_forever()
            finally:
                self.close_all(1001, "server shutting down")
                shield.deadline = trio.current_time() + self.disconnect_timeout
                stopping.set()
        raise AssertionError("unreachable")  # pragma: no cover - sleep_forever only raises

    async def _keep_connections(
        self, stopping: trio.Event, *, task_status: trio.TaskStatus[_Kept]
    ) -> None:
        # Connections run in a shielded nursery: when the server is cancelled they are told
        # "going away" (1001) and get ``disconnect_timeout`` to answer, their readers still
        # running to see the answer.
        with trio.CancelScope(shield=True) as shield:
            async with trio.open_nursery() as handlers:
                task_status.started((handlers, shield))
                await stopping.wait()

    # --- explicit fault triggers ----------------------------------------------------------

    def close_all(self, code: int | None = 1011, reason: str = "") -> None:
        """Close every open connection now (``code=None``: drop TCP with no close frame)."""
        for conn in self.open_connections():
            conn.close(code, reason)

    def stall(self) -> None:
        """Send nothing more on any connection (replies included) until :meth:`resume`."""
        self.stalled = True

    def resume(self) -> None:
        """Undo :meth:`stall`; frames queued meanwhile are gone, as on a stalled server."""
        self.stalled = False

    def send_garbage(self, text: str = _GARBAGE) -> None:
        """Queue one frame that is not valid JSON on every open connection."""
        for conn in self.open_connections():
            conn.reply(text)

    def refuse(self, count: int) -> None:
        """Refuse the next ``count`` connections (see :attr:`Faults.refuse_status`)."""
        self.faults.refuse += count

    def take_auth_fault(self) -> bool:
        """For subclasses: True (and one less armed) if this connection's credential must fail."""
        if self.faults.reject_auth > 0:
            self.faults.reject_auth -= 1
            return True
        return False

    # --- provider hooks -----------------------------------------------------------------

    def check_handshake(self, path: str, query: dict[str, str]) -> Rejection | None:
        """Refuse a handshake with an HTTP status, or None to accept it. Default: accept."""
        return None

    @abstractmethod
    async def session(self, conn: Connection) -> None:
        """Run one accepted connection: read, answer, close. Returns when it is over."""

    @abstractmethod
    def on_batch(self, batch: Batch) -> None:
        """Queue push frames for ``batch`` on the connections subscribed to it."""

    # --- internals --------------------------------------------------------------------------

    async def _on_tcp(self, stream: trio.abc.Stream) -> None:
        self._next_id += 1
        conn_id = self._next_id
        if self.faults.refuse > 0 and self.faults.refuse_status is None:
            self.faults.refuse -= 1
            self.refused += 1
            await stream.aclose()
            return
        async with trio.open_nursery() as nursery:
            request: WebSocketRequest | None = None
            pings = PingLog()
            with trio.move_on_after(self.connect_timeout):
                request = await _wrap(nursery, stream, self.max_message_size, pings)
            try:
                if request is not None:
                    await self._handshake(request, stream, conn_id, pings)
            finally:
                nursery.cancel_scope.cancel()
                await stream.aclose()

    async def _handshake(
        self, request: WebSocketRequest, stream: trio.abc.Stream, conn_id: int, pings: PingLog
    ) -> None:
        if self.faults.refuse > 0:
            self.faults.refuse -= 1
            self.refused += 1
            status = self.faults.refuse_status or 503
            await request.reject(status, body=b'{"message":"Service unavailable"}')
            return
        parts = urlsplit(request.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        rejection = self.check_handshake(parts.path, query)
        if rejection is not None:
            _LOG.info("%s #%d refused %d", self.name, conn_id, rejection.status)
            await request.reject(rejection.status, body=rejection.body or None)
            return
        conn = Connection(self, conn_id, request.path, await request.accept(), stream)
        conn.pings = pings
        await self._run(conn)

    async def _run(self, conn: Connection) -> None:
        self.connections.append(conn)
        self._open[conn.id] = conn
        _LOG.info("%s #%d open %s", self.name, conn.id, conn.redacted_target)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(conn._write)
                with contextlib.suppress(ConnectionClosed):  # the peer went: session over
                    await self.session(conn)
                conn.close(1000)  # a no-op when the session already closed it
        finally:
            del self._open[conn.id]
            if conn.close_code is None:
                reason = conn.ws.closed
                conn.close_code = reason.code if reason is not None else 1006
                conn.close_reason = (reason.reason or "") if reason is not None else "cut off"
            _LOG.info("%s #%d closed %s %s", self.name, conn.id, conn.close_code, conn.close_reason)

    async def _after_push(self, conn: Connection) -> None:
        faults, count = self.faults, conn.pushes
        if faults.garbage_after is not None and count >= faults.garbage_after:
            faults.garbage_after = None
            await conn.ws.send_message(faults.garbage)
        if faults.stall_after is not None and count >= faults.stall_after:
            faults.stall_after = None
            conn.stalled = True
        if faults.close_after is not None and count >= faults.close_after:
            faults.close_after = None
            await conn._shut(_Close(faults.close_code, "fault: close after pushes"))
            conn._closing = True

    async def _pump(self, source: Source) -> None:
        start = trio.current_time()
        first: int | None = None
        for batch in source.batches():
            first = batch.ts_ns if first is None else first
            await trio.sleep_until(start + (batch.ts_ns - first) / _NS / self.speed)
            self.on_batch(batch)


async def _wrap(
    nursery: trio.Nursery, stream: trio.abc.Stream, max_message_size: int, pings: PingLog
) -> WebSocketRequest:
    """trio-websocket's ``wrap_server_stream``, also logging the client's ping frames.

    trio-websocket answers pings itself and tells no one; an emulator whose provider keeps
    connections alive by JSON heartbeats needs to know when a client pings instead.
    """
    ws = WebSocketConnection(
        stream, WSConnection(ConnectionType.SERVER), max_message_size=max_message_size
    )
    answer = ws._handle_ping_event

    async def on_ping(event: Any) -> None:
        pings.count += 1
        pings.last_at = trio.current_time()
        # A ping that crosses our close frame gets no pong: wsproto refuses to send one then,
        # and trio-websocket's own handler would let that error end the connection's task.
        with contextlib.suppress(LocalProtocolError):
            await answer(event)

    ws._handle_ping_event = on_ping  # type: ignore[method-assign]
    nursery.start_soon(ws._reader_task)
    request: WebSocketRequest = await ws._get_request()
    return request
