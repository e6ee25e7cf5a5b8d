"""The WebSocket client edge: open, drain, close and classify, over trio-websocket.

Sessions open their own TCP (or TLS) stream and hand it to trio-websocket's
``wrap_client_stream``, so that the stream is always closed when the connection ends: when
the *server* closes a connection, trio-websocket's client waits for the server's TCP close
and leaves its own stream open, which would leak a socket on every reconnect.

Also here: the receive fast path (below), the non-blocking drain of the message queue (frames
that arrived together are handed over together), and the mapping of errors to fault kinds.

Theory of the fast path. trio-websocket 0.12 parses every received frame with wsproto (some
thirty Python calls a frame) and puts each message into a memory channel with ``await
send(...)``, a checkpoint per message: together they cost more than the rest of a live run's
work on a frame. :class:`FrameStream` is the byte stream trio-websocket reads from. It passes
the opening handshake through untouched; after a ``101`` it splits what arrives into frames
itself, and every complete, unfragmented, unmasked data frame without extension bits (the
frames a market feed sends) becomes a message at once, without wsproto: a text frame is
decoded as strict UTF-8, and a frame longer than the message limit is not taken. Each read's
messages go, as one list, into the connection's own channel, which the session drains. Every
other frame (pings, pongs, a close, fragments, anything malformed, a text frame that is not
UTF-8) is handed to trio-websocket exactly as received, one frame at a time, so that wsproto
answers, assembles or refuses it as it always does; a fragmented message it assembles comes
to the same channel (:class:`Client` replaces trio-websocket's message channel with one that
feeds it), so messages keep their order. After a close frame everything goes to wsproto.

Both touch trio-websocket's internals (the frames it never sees, its message channel), so they
are used only when the installed version is one they were tested with (:data:`TESTED_VERSIONS`)
*and* the attribute is there (:data:`USE_PRIVATE_PATH` is decided once, at import); otherwise
the session falls back to trio-websocket's public API, one message at a time: correct and
slower.

This module must not read the wall clock, decode frames, or log a URL unredacted.
"""

from __future__ import annotations

import contextlib
import ssl
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final
from urllib.parse import urlsplit

import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    HandshakeError,
    WebSocketConnection,
    wrap_client_stream,
)
from wsproto import ConnectionType, WSConnection

from framework.errors import ConfigError
from framework.redact import redact

__all__ = [
    "DIAL_ERRORS",
    "TESTED_VERSIONS",
    "USE_PRIVATE_PATH",
    "Client",
    "FrameStream",
    "Message",
    "close_reason",
    "open_client",
    "private_path_supported",
    "rejected_status",
    "sole_error",
]

DIAL_ERRORS: Final = (HandshakeError, ConnectionClosed, OSError, trio.TooSlowError)
"""Errors that end a connection attempt and call for a reconnect (trio-websocket turns a
broken stream into ``ConnectionClosed``)."""
_POLICY_CLOSE: Final = 1008
_DEFAULT_PORTS: Final = {"ws": 80, "wss": 443}

TESTED_VERSIONS: Final = ("0.12",)
"""trio-websocket releases (major.minor) whose private channels the fast path was tested with."""


def private_path_supported(installed: str | None) -> bool:
    """Whether trio-websocket ``installed`` (a version string, None if unknown) is one of
    :data:`TESTED_VERSIONS`: only then may the fast path touch its private attributes."""
    if installed is None:
        return False
    return ".".join(installed.split(".")[:2]) in TESTED_VERSIONS


def _installed() -> str | None:
    try:
        return version("trio-websocket")
    except PackageNotFoundError:
        return None


USE_PRIVATE_PATH: bool = private_path_supported(_installed())
"""Use trio-websocket's private channels (the fast path); each connection still checks that
they are there. False: its public API only."""


Message = str | bytes
"""A WebSocket message: text or binary."""


class Client:
    """An open WebSocket and the stream under it, which :meth:`aclose` always closes.

    Attributes:
        ws: the trio-websocket connection: ``send_message``, ``ping``, ``closed``.
    """

    def __init__(
        self,
        ws: WebSocketConnection,
        stream: trio.abc.Stream,
        messages: trio.MemoryReceiveChannel[list[Message]] | None = None,
    ) -> None:
        self.ws = ws
        self._stream = stream
        self._messages = messages

    async def receive(self) -> list[Message]:
        """Wait for the next messages (one or more, in order).

        Raises:
            ConnectionClosed: the connection is closed and every message was taken.
        """
        if self._messages is None:
            return [await self.ws.get_message()]
        try:
            return await self._messages.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise ConnectionClosed(self.ws.closed) from None

    def drain(self) -> list[Message]:
        """Messages that already arrived, without waiting.

        Raises:
            trio.WouldBlock: none is waiting (always, on trio-websocket's public path).
            trio.EndOfChannel: the connection is closed and every message was taken.
        """
        if self._messages is None:
            raise trio.WouldBlock
        return self._messages.receive_nowait()

    async def aclose(self, timeout: float) -> None:
        """Say goodbye (a 1000 close), then close the stream; never longer than ``timeout``.

        Shielded: a shutdown still closes cleanly, but a dead peer cannot hold it up.
        """
        with trio.move_on_after(timeout, shield=True):
            await self.ws.aclose()
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(self._stream)


async def open_client(
    nursery: trio.Nursery,
    url: str,
    *,
    message_queue_size: int,
    max_message_size: int,
    receive_buffer_size: int,
) -> Client:
    """Connect to ``url`` (``ws://`` or ``wss://``) and finish the opening handshake.

    trio-websocket's reader task runs in ``nursery``; a refused handshake is raised from it.
    ``message_queue_size`` bounds the messages (on the fast path, the reads' lists of them)
    waiting for the session; a full queue stops reading, which slows the sender.

    Raises:
        ConfigError: the URL is not a WebSocket URL.
        OSError: the host cannot be reached.
        HandshakeError: the server refused the handshake (``ConnectionRejected``).
    """
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ConfigError(f"not a WebSocket URL: {redact(url)!r}")
    host, port = parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme]
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    stream: trio.abc.Stream
    if parts.scheme == "wss":
        context = ssl.create_default_context()
        stream = await trio.open_ssl_over_tcp_stream(
            host, port, ssl_context=context, https_compatible=True
        )
    else:
        stream = await trio.open_tcp_stream(host, port)
    host_header = host if port == _DEFAULT_PORTS[parts.scheme] else f"{host}:{port}"
    try:
        if not USE_PRIVATE_PATH:
            ws = await wrap_client_stream(
                nursery, stream, host_header, resource,
                message_queue_size=message_queue_size, max_message_size=max_message_size,
                receive_buffer_size=receive_buffer_size,
            )  # fmt: skip
            return Client(ws, stream)
        send, receive = trio.open_memory_channel[list[Message]](message_queue_size)
        frames = FrameStream(stream, send, max_message_size)
        # wrap_client_stream's three steps, with the message channel replaced before the
        # reader task starts: every message, assembled by wsproto or not, goes to ``send``.
        ws = WebSocketConnection(
            frames, WSConnection(ConnectionType.CLIENT), host=host_header, path=resource,
            message_queue_size=message_queue_size, max_message_size=max_message_size,
            receive_buffer_size=receive_buffer_size,
        )  # fmt: skip
        ws._send_channel = _Relay(send, ws._send_channel)  # type: ignore[assignment]
        nursery.start_soon(ws._reader_task)
        await ws._open_handshake.wait()
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    return Client(ws, stream, receive)


def sole_error(exc: BaseException) -> BaseException | None:
    """The one error in ``exc``, a group or not; None if there are several, or a cancellation.

    trio-websocket raises a refused handshake from its reader task, so connection errors
    arrive wrapped in (nested) exception groups.
    """
    if isinstance(exc, BaseExceptionGroup):
        leaves = [sole_error(inner) for inner in exc.exceptions]
        return leaves[0] if len(leaves) == 1 else None
    return exc if isinstance(exc, Exception) else None


def rejected_status(error: BaseException) -> int | None:
    """The HTTP status of a refused handshake, or None for any other error."""
    return error.status_code if isinstance(error, ConnectionRejected) else None


def close_reason(exc: BaseException) -> tuple[str, str]:
    """(fault kind, reason) for a connection the other side ended.

    A 1008 close (policy violation) is how providers refuse a key or token once the socket
    is open, so it is an ``auth`` fault; any other close or a lost stream is ``closed``.
    """
    reason = getattr(exc, "reason", None)
    if reason is None or not hasattr(reason, "code"):
        return "closed", "connection lost"
    code, text = reason.code, reason.reason or reason.name
    kind = "auth" if code == _POLICY_CLOSE else "closed"
    return kind, f"closed by server: {code} {text}"


class _Relay:
    """trio-websocket's message channel, replaced: a message wsproto assembled goes to the
    connection's channel as a list of one, without a checkpoint while it has room.

    The reader task uses exactly ``send``, ``aclose`` and ``async with`` on it.
    """

    def __init__(
        self, send: trio.MemorySendChannel[list[Message]], inner: trio.MemorySendChannel[Any]
    ) -> None:
        self._send = send
        self._inner = inner

    async def send(self, value: Message) -> None:
        try:
            self._send.send_nowait([value])
        except trio.WouldBlock:
            await self._send.send([value])

    async def aclose(self) -> None:
        await self._send.aclose()
        await self._inner.aclose()

    async def __aenter__(self) -> _Relay:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


_HANDSHAKE, _FRAMES, _RAW = 0, 1, 2  # FrameStream's modes
_MAX_HEAD: Final = 1 << 16  # a handshake response head longer than this goes to h11 as it is
_FIN_DATA: Final = frozenset({0x81, 0x82})  # FIN, no extension bits, text or binary


class FrameStream(trio.abc.Stream):
    """The stream trio-websocket reads: complete data frames become messages here, without
    wsproto; every other frame goes on to trio-websocket as received (the module docstring).

    Args:
        inner: the TCP or TLS stream.
        send: where each read's messages go, as one list.
        max_message: a data frame longer than this (bytes) is left to trio-websocket, which
            refuses it (1009) as it refuses any message over its limit.
    """

    def __init__(
        self, inner: trio.abc.Stream, send: trio.MemorySendChannel[list[Message]], max_message: int
    ) -> None:
        self._inner = inner
        self._send = send
        self._max = max_message
        self._buf = b""
        self._mode = _HANDSHAKE
        self._owed = 0  # bytes of the frame being passed through that trio-websocket still needs
        self._fragmented = False  # a fragmented message is being assembled by wsproto

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """The next bytes trio-websocket must see; meanwhile, the data frames as messages."""
        while True:
            messages: list[Message] = []
            passed = self._split(messages)
            if messages:
                # a closing connection's messages are dropped: nobody reads them any more
                with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
                    await self._send.send(messages)
            if passed:
                return passed
            data = await self._inner.receive_some(max_bytes)
            if not data:
                return b""  # the end of the stream (a frame cut short is dropped)
            self._buf = self._buf + data if self._buf else bytes(data)

    def _split(self, messages: list[Message]) -> bytes:
        """Take the buffer's complete data frames as messages (in order), up to the first
        frame for trio-websocket; return the bytes it must see now (b"" for none)."""
        buf = self._buf
        if not buf:
            return b""
        if self._mode == _RAW:
            self._buf = b""
            return buf
        if self._owed:
            n = min(self._owed, len(buf))
            self._owed -= n
            self._buf = buf[n:]
            return buf[:n]
        if self._mode == _HANDSHAKE:
            return self._head(buf)
        pos, size, limit = 0, len(buf), self._max
        while size - pos >= 2:
            first, length = buf[pos], buf[pos + 1]
            head = 2
            if length > 127:  # masked, which a server must not do: wsproto ends the connection
                self._mode = _RAW
                self._buf = b""
                return buf[pos:]
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4]), 4
                minimal = length >= 126
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10]), 10
                minimal = length > 0xFFFF
            else:
                minimal = True
            if first in _FIN_DATA and minimal and length <= limit and not self._fragmented:
                end = pos + head + length
                if end > size:
                    break  # the rest of the frame has not arrived
                payload = buf[pos + head : end]
                if first == 0x82:
                    messages.append(payload)
                    pos = end
                    continue
                try:
                    messages.append(payload.decode())
                except UnicodeDecodeError:
                    pass  # wsproto refuses it (1007)
                else:
                    pos = end
                    continue
            return self._pass_frame(buf, pos, head + length, first)
        self._buf = buf[pos:]
        return b""

    def _pass_frame(self, buf: bytes, pos: int, total: int, first: int) -> bytes:
        """Hand one frame (what has arrived of it) to trio-websocket; keep what follows."""
        opcode, fin = first & 0x0F, first & 0x80
        if opcode in (1, 2) and not fin:
            self._fragmented = True
        elif opcode == 0 and fin:
            self._fragmented = False
        elif opcode == 8:  # a close: whatever follows is wsproto's to judge
            self._mode = _RAW
            self._buf = b""
            return buf[pos:]
        end = min(pos + total, len(buf))
        self._owed = pos + total - end
        self._buf = buf[end:]
        return buf[pos:end]

    def _head(self, buf: bytes) -> bytes:
        """The handshake response's head, alone: the frames after it are split as frames."""
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) <= _MAX_HEAD:
                return b""  # wait for the rest of the head
            self._mode = _RAW
            self._buf = b""
            return buf
        end += 4
        self._mode = _FRAMES if buf.startswith(b"HTTP/1.1 101 ") else _RAW
        self._buf = buf[end:]
        return buf[:end]
