"""A minimal HTTP/1.1 server on h11, for the few REST endpoints the emulators serve.

It reads one request at a time per connection (keep-alive and pipelining as h11 allows), hands
a complete :class:`HttpRequest` to a plain synchronous handler, and writes its
:class:`HttpResponse` with a ``Content-Length``. A request h11 cannot parse gets the status h11
suggests (400, 431...), a body over ``max_body`` gets 413, and a connection idle for
``idle_timeout`` (trio's clock) is closed.

This module must not know any provider's endpoints, read the wall clock (no ``Date`` header)
or log request headers, which carry signatures.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import partial
from typing import Final, NoReturn

import h11
import msgspec
import trio

__all__ = ["Handler", "HttpRequest", "HttpResponse", "json_response", "serve_http"]

_RECEIVE_BYTES: Final = 65_536
_TOO_LARGE: Final = 413
_MAX_HEADER_BYTES: Final = 16_384
_ENCODER: Final = msgspec.json.Encoder()


class HttpRequest(msgspec.Struct, frozen=True):
    """One complete request.

    Attributes:
        method: ``"GET"``, ``"POST"``...
        target: the request target as sent, path and query (``/v2/x?y=1``).
        headers: ``(name, value)`` pairs in arrival order, names lower-cased.
        body: the request body, exact bytes (``b""`` when there is none).
    """

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None when absent."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None


class HttpResponse(msgspec.Struct, frozen=True):
    """What a handler answers: a status, a body and its content type."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"


Handler = Callable[[HttpRequest], HttpResponse]
"""A synchronous request handler; it must not raise (answer 500 instead)."""


def json_response(status: int, payload: object) -> HttpResponse:
    """A JSON response: ``payload`` (a Struct, dict or list) encoded with msgspec."""
    return HttpResponse(status, _ENCODER.encode(payload))


async def serve_http(
    handler: Handler,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    idle_timeout: float = 30.0,
    max_body: int = 1 << 20,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Serve ``handler`` over HTTP/1.1 until cancelled.

    Supports ``port = await nursery.start(serve_http, handler)``: it reports the bound port
    once the socket listens.

    Args:
        handler: called once per complete request.
        host: the interface to bind; loopback by default.
        port: the port to bind; 0 lets the system choose.
        idle_timeout: close a connection after this many seconds without a complete request.
        max_body: a larger request body is answered 413 and the connection closed.
        task_status: part of trio's start protocol.

    Raises:
        OSError: the address cannot be bound (port in use).
    """
    serve = partial(_serve_connection, handler=handler, idle=idle_timeout, max_body=max_body)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, serve, port, host=host))
        task_status.started(listeners[0].socket.getsockname()[1])
        await trio.sleep_forever()
    raise AssertionError("unreachable")  # pragma: no cover - sleep_forever only raises


async def _serve_connection(
    stream: trio.SocketStream, *, handler: Handler, idle: float, max_body: int
) -> None:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEADER_BYTES)
    try:
        while True:
            request = await _read_request(stream, conn, idle, max_body)
            if isinstance(request, int):
                await _send_error(stream, conn, request)
            if not isinstance(request, HttpRequest):
                return
            await _send(stream, conn, _safe_call(handler, request))
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()
    except h11.RemoteProtocolError as exc:
        await _send_error(stream, conn, exc.error_status_hint)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the client went away; nothing to answer
    finally:
        await stream.aclose()


async def _read_request(
    stream: trio.SocketStream, conn: h11.Connection, idle: float, max_body: int
) -> HttpRequest | int | None:
    """The next complete request; an HTTP status to answer with; or None to just close."""
    head: h11.Request | None = None
    body = bytearray()
    with trio.move_on_after(idle):
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(_RECEIVE_BYTES))
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > max_body:
                    return _TOO_LARGE
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                return _request(head, bytes(body))
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None
    return None  # idle too long


def _request(head: h11.Request, body: bytes) -> HttpRequest:
    headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in head.headers)
    return HttpRequest(head.method.decode("ascii"), head.target.decode("latin-1"), headers, body)


def _safe_call(handler: Handler, request: HttpRequest) -> HttpResponse:
    try:
        return handler(request)
    except Exception:  # a handler bug must answer 500, not kill the listener
        return json_response(500, {"message": "Internal server error"})


async def _send(stream: trio.SocketStream, conn: h11.Connection, response: HttpResponse) -> None:
    headers = [
        ("Content-Type", response.content_type),
        ("Content-Length", str(len(response.body))),
    ]
    out = conn.send(h11.Response(status_code=response.status, headers=headers)) or b""
    out += conn.send(h11.Data(data=response.body)) or b""
    out += conn.send(h11.EndOfMessage()) or b""
    await stream.send_all(out)


async def _send_error(stream: trio.SocketStream, conn: h11.Connection, status: int) -> None:
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return  # a response is already under way: all we can do is close
    response = json_response(status, {"message": _REASONS.get(status, "Bad request")})
    with contextlib.suppress(
        h11.LocalProtocolError, trio.BrokenResourceError, trio.ClosedResourceError
    ):
        await _send(stream, conn, response)


_REASONS: Final = {
    400: "Bad request",
    413: "Request body too large",
    414: "Request target too long",
    431: "Request header fields too large",
}
