"""The one REST call live mode makes: Cryptomus's one-time WebSocket token, over h11.

A minimal HTTP/1.1 client: one GET per TCP connection (``Connection: close``), over
``trio.open_tcp_stream`` and, for ``https``, ``trio.SSLStream`` with the system's default
verification. The request itself (path, ``userId`` and ``sign`` headers) and the reply's shape
come from the sans-IO ``framework.providers.cryptomus_rest``; this module only moves bytes.

Errors say whose fault they are: credentials the server refuses (401, 403, 404) are the
user's (``ConfigError``, naming the environment variables to check); anything else (network,
timeout, a 5xx, a reply that breaks the documentation) is a ``ProviderConnectionError`` that
the session treats as one failed attempt and retries.

This module must not log or put in an error a header value, the key or the token unredacted,
and must not read the wall clock (timeouts run on trio's clock).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

import h11
import trio

import framework
from framework.errors import ConfigError, ProviderConnectionError, ProviderProtocolError
from framework.providers.cryptomus_rest import REST_BASE, decode_token_reply, token_request
from framework.redact import redact, register_secret

__all__ = ["HttpReply", "fetch_ws_token", "http_get", "rest_base"]

_RECEIVE_BYTES: Final = 65_536
_MAX_BODY: Final = 1 << 20
_USER_AGENT: Final = f"papertrade/{framework.__version__}"
_CREDENTIAL_STATUSES: Final = frozenset({401, 403, 404})
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


class HttpReply:
    """A complete HTTP response: ``status`` and the ``body`` bytes."""

    __slots__ = ("body", "status")

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body


def rest_base(host: str) -> str:
    """The REST base URL for a configured ``rest_host``.

    ``""`` is the documented ``https://api.cryptomus.com``; a bare host gets ``https://``; a
    URL with a scheme (``http://127.0.0.1:8080`` for the emulator) is kept as given.
    """
    if not host:
        return REST_BASE
    base = host if "://" in host else f"https://{host}"
    return base.rstrip("/")


async def http_get(
    url: str,
    headers: Mapping[str, str],
    *,
    timeout: float = 10.0,
    ssl_context: ssl.SSLContext | None = None,
) -> HttpReply:
    """GET ``url`` and return the whole reply.

    Args:
        url: ``http://`` or ``https://`` with an optional port, path and query.
        headers: extra request headers (sent after ``Host``, ``User-Agent``, ``Accept``).
        timeout: seconds on trio's clock for the whole exchange.
        ssl_context: for ``https``; the default verifies certificates against the system.

    Raises:
        ProviderConnectionError: the host cannot be reached, the exchange times out, the
            reply is not HTTP or its body exceeds 1 MiB. The message is redacted.
        ConfigError: the URL's scheme is not ``http`` or ``https``.
    """
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ConfigError(f"REST URL {redact(url)!r} must start with http:// or https://")
    port = parts.port or _DEFAULT_PORTS[parts.scheme]
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = parts.netloc.rpartition("@")[2]
    request = h11.Request(
        method="GET",
        target=target,
        headers=[
            ("Host", host_header),
            ("User-Agent", _USER_AGENT),
            ("Accept", "application/json"),
            ("Connection", "close"),
            *headers.items(),
        ],
    )
    try:
        with trio.fail_after(timeout):
            return await _exchange(parts.scheme, parts.hostname, port, request, ssl_context)
    except trio.TooSlowError:
        raise ProviderConnectionError(f"GET {redact(url)}: no reply within {timeout} s") from None
    except (OSError, trio.BrokenResourceError, h11.ProtocolError) as exc:
        raise ProviderConnectionError(f"GET {redact(url)}: {redact(str(exc))}") from exc


async def fetch_ws_token(base: str, user_id: str, api_key: str, *, timeout: float = 10.0) -> str:
    """Request a one-time WebSocket token and register it as a secret.

    Args:
        base: the REST base URL (see :func:`rest_base`).
        user_id: the Cryptomus user id (``userId`` header).
        api_key: the API key that signs the empty body (``sign`` header).
        timeout: seconds on trio's clock.

    Returns:
        The token, already registered with ``framework.redact``.

    Raises:
        ConfigError: the server refused the credentials (401, 403 or 404).
        ProviderConnectionError: any other failure; worth retrying.
    """
    method, path, headers = token_request(user_id, api_key)
    assert method == "GET"
    url = base + path
    reply = await http_get(url, headers, timeout=timeout)
    excerpt = redact(reply.body[:200].decode("utf-8", errors="replace"))
    if reply.status in _CREDENTIAL_STATUSES:
        raise ConfigError(
            f"cryptomus refused the credentials at {redact(url)}: HTTP {reply.status} {excerpt}; "
            "check the user id and API key the config names (user_id_env, key_env)"
        )
    if reply.status != 200:
        raise ProviderConnectionError(f"cryptomus token request: HTTP {reply.status} {excerpt}")
    try:
        token = decode_token_reply(reply.body).token
    except ProviderProtocolError as exc:
        raise ProviderConnectionError(f"cryptomus token request: {exc}") from exc
    register_secret(token)
    return token


async def _exchange(
    scheme: str, host: str, port: int, request: h11.Request, context: ssl.SSLContext | None
) -> HttpReply:
    stream: trio.abc.Stream = await trio.open_tcp_stream(host, port)
    if scheme == "https":
        stream = trio.SSLStream(
            stream, context or ssl.create_default_context(), server_hostname=host
        )
    async with stream:
        conn = h11.Connection(h11.CLIENT)
        await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
        return await _read_reply(stream, conn)


async def _read_reply(stream: trio.abc.Stream, conn: h11.Connection) -> HttpReply:
    status = 0
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(bytes(await stream.receive_some(_RECEIVE_BYTES)))
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > _MAX_BODY:
                raise h11.RemoteProtocolError(f"reply body over {_MAX_BODY} bytes")
        elif isinstance(event, h11.EndOfMessage):
            return HttpReply(status, bytes(body))
        elif isinstance(event, h11.ConnectionClosed):
            raise h11.RemoteProtocolError("connection closed before the reply ended")
