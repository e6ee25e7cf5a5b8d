"""The WebSocket client edge: open, drain, close and classify, over trio-websocket.

Sessions open their own TCP (or TLS) stream and hand it to trio-websocket's
``wrap_client_stream``, so that the stream is always closed when the connection ends: when
the *server* closes a connection, trio-websocket's client waits for the server's TCP close
and leaves its own stream open, which would leak a socket on every reconnect.

Also here: the hand-over of messages from trio-websocket's reader task without a scheduler
pass per message, the non-blocking drain of its message queue (frames that arrived together
are handed over together), and the mapping of its errors to fault kinds.

Theory of the fast path. trio-websocket 0.12's reader task parses a received chunk with
wsproto and puts each message into a memory channel with ``await send(...)``, a checkpoint per
message: one pass of trio's scheduler for every frame, which caps a session near 45,000
frames/s. :class:`Client` swaps that channel's send side for one that puts a message without
a checkpoint when the queue has room (and waits, as before, when it is full), so the reader
task yields once per received chunk instead; the session's reader then drains every message
of the chunk into one batch. Measured with ``bench/live.py``: about twice the throughput. Both
touch private attributes of trio-websocket, so they are used only when the installed version is
one they were tested with (:data:`TESTED_VERSIONS`) *and* the attributes are there
(:data:`USE_PRIVATE_PATH` is decided once, at import); otherwise the session falls back to
trio-websocket's public API, one message at a time: correct and slower.

This module must not read the wall clock, decode frames, or log a URL unredacted.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
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

from framework.errors import ConfigError
from framework.redact import redact

__all__ = [
    "DIAL_ERRORS",
    "TESTED_VERSIONS",
    "USE_PRIVATE_PATH",
    "Client",
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


class Client:
    """An open WebSocket and the stream under it, which :meth:`aclose` always closes.

    Attributes:
        ws: the trio-websocket connection: ``get_message``, ``send_message``, ``ping``.
        drain: takes one more message already queued, or raises ``trio.WouldBlock``
            (``trio.EndOfChannel`` once the connection is closed and drained).
    """

    def __init__(self, ws: WebSocketConnection, stream: trio.abc.Stream) -> None:
        self.ws = ws
        self.drain = _drainer(ws) if USE_PRIVATE_PATH else _nothing
        self._stream = stream
        channel = getattr(ws, "_send_channel", None) if USE_PRIVATE_PATH else None
        if isinstance(channel, trio.MemorySendChannel):
            ws._send_channel = _EagerSend(channel)  # type: ignore[assignment]

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
        ws = await wrap_client_stream(
            nursery,
            stream,
            host_header,
            resource,
            message_queue_size=message_queue_size,
            max_message_size=max_message_size,
            receive_buffer_size=receive_buffer_size,
        )
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    return Client(ws, stream)


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


class _EagerSend:
    """trio-websocket's message channel, sent to without a checkpoint while it has room.

    The reader task uses exactly ``send``, ``aclose`` and ``async with`` on it.
    """

    def __init__(self, inner: trio.MemorySendChannel[Any]) -> None:
        self._inner = inner

    async def send(self, value: Any) -> None:
        try:
            self._inner.send_nowait(value)
        except trio.WouldBlock:
            await self._inner.send(value)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _EagerSend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._inner.aclose()


def _drainer(ws: WebSocketConnection) -> Callable[[], Any]:
    # trio-websocket has no public non-blocking get. Without its queue every message is handed
    # over alone, which is correct, only slower.
    channel = getattr(ws, "_recv_channel", None)
    receive = getattr(channel, "receive_nowait", None)
    return receive if receive is not None else _nothing


def _nothing() -> Any:
    raise trio.WouldBlock
