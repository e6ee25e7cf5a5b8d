"""Provider sessions: one trio task per provider connection, from dial to reconnect.

Theory of operation. :meth:`Session.run` loops over connection attempts until the shared stop
event is set. One attempt:

1. **dial**: for Cryptomus first a fresh one-time token from the signed REST call (a token
   serves one connection only), then the WebSocket handshake;
2. **connected**: a ``ConnectedLine`` (URL redacted) goes to the loop, the codec forgets the
   previous connection, and four tasks run together: the **reader** (the session's hot path),
   the **subscriber** (the codec's subscribe frames, paced as the provider demands, then a
   ``SubscribedLine``), the **keep-alive** (the provider's heartbeat frame on its documented
   schedule; for Finazon also RFC 6455 pings) and the **watchdog** (no frame for
   ``stale_after_s`` means a stale feed);
3. **ended**: whichever task sees the end first (server close, stale feed, stop) records why
   and cancels the others; the WebSocket is closed cleanly (bounded by ``disconnect_timeout``,
   even during a shutdown) and a ``DisconnectedLine`` goes to the loop, which then stops
   trusting that provider's books until a full snapshot arrives;
4. **backoff**: a failed or dropped connection waits :class:`~framework.live.backoff.Backoff`'s
   delay (never below the provider's minimum spacing), then dials again and resubscribes.

The reader does nothing but stamp and hand over: it takes the next messages, stamps them with
the wall clock, drains whatever else has already arrived (up to about ``batch_max``), wraps each
as a recording ``Frame`` and sends the list into the loop's channel as one batch. Decoding
happens in the loop; a slow reader would stop trio-websocket answering pings.

Faults are counted per kind in :class:`SessionStats`: ``closed`` (the server closed or dropped
the connection), ``stale`` (no frame, or no pong, in time), ``refused`` (connection or
handshake refused), ``auth`` (the handshake refused the key or token: 401/403, or a 1008
close), ``token`` (the Cryptomus token request failed). Refused credentials are fatal
(``ConfigError``, naming the provider and where the key comes from): the Cryptomus token
endpoint's refusal, AllTick's ``ret`` 401 and Finazon's ``INVALID_API_KEY`` replies. So is
exhausting ``max_failures`` (``ProviderConnectionError``).

This is the only module that reads the wall clock (:class:`WallClock`, injectable) and, with
``rest.py``, the only one that touches sockets. Every timeout and schedule runs on trio's
clock, so tests use ``autojump_clock``. Nothing here may log a key or token unredacted.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import msgspec
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from framework import providers
from framework.config import ProviderConfig
from framework.errors import (
    ConfigError,
    PapertradeError,
    ProviderConnectionError,
    ProviderProtocolError,
)
from framework.live.backoff import Backoff, policy_for
from framework.live.rest import fetch_ws_token, rest_base
from framework.live.wsclient import (
    DIAL_ERRORS,
    Client,
    close_reason,
    open_client,
    rejected_status,
    sole_error,
)
from framework.providers import make_codec
from framework.providers.base import ErrorReply
from framework.recording import (
    ConnectedLine,
    DisconnectedLine,
    Line,
    SubscribedLine,
    Tick,
    frame_from_wire,
)
from framework.redact import redact

__all__ = [
    "FAULT_KINDS",
    "Session",
    "SessionStats",
    "WallClock",
    "run_ticker",
]

WS_PING_TIMEOUT_S: Final = 10.0  # the official sample's ping_timeout
_REFUSAL_PROBES: Final = 3  # it comes first on a connection; later frames are not probed
HAND_TIMEOUT_S: Final = 10.0  # how long a read batch waits for a loop that stopped reading
FAULT_KINDS: Final = ("closed", "stale", "refused", "auth", "token")
BATCH_MAX: Final = 256
MESSAGE_QUEUE: Final = 1024  # trio-websocket's buffer: frames that arrive together wait here
MAX_MESSAGE_BYTES: Final = 1 << 22
RECEIVE_BYTES: Final = 1 << 16
_AUTH_STATUSES: Final = frozenset({401, 403})
_LOG: Final = logging.getLogger("papertrade.live")
_T = TypeVar("_T")

Hand = trio.MemorySendChannel[list[Line]]


class _RedactingFilter(logging.Filter):
    """trio-websocket logs request targets at debug level; AllTick and Finazon keys are in them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


logging.getLogger("trio-websocket").addFilter(_RedactingFilter())


class WallClock:
    """Receive stamps: the wall clock in integer ns, never going backwards.

    One instance is shared by every session and the ticker of a run, so stamps never decrease
    from one call to the next even if the system clock steps back.

    Args:
        source: the clock to read; ``time.time_ns`` unless a test injects another.
    """

    def __init__(self, source: Callable[[], int] = time.time_ns) -> None:
        self._source = source
        self._last = 0

    def __call__(self) -> int:
        now = self._source()
        if now < self._last:
            return self._last
        self._last = now
        return now


class SessionStats(msgspec.Struct):
    """What one session did: connections opened, frames handed over, faults by kind."""

    connects: int = 0
    frames: int = 0
    batches: int = 0
    faults: dict[str, int] = msgspec.field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 0))

    @property
    def reconnects(self) -> int:
        """Connections opened after the first."""
        return max(0, self.connects - 1)


class Session:
    """One provider connection, kept alive and re-established until ``stop`` is set.

    Args:
        provider: the provider's config: name, subscriptions, hosts, credentials, options.
        send: this session's own clone of the loop's channel; closed when :meth:`run` ends.
        stop: set it to close the connection cleanly and end :meth:`run`.
        conn_ids: gives each new connection its id (a counter shared by a run's sessions).
        clock: stamps receive times (a :class:`WallClock` shared by the run).
        backoff: the reconnect schedule; the provider's documented policy by default.
        heartbeat_s: seconds between heartbeats; the provider's ``heartbeat_s`` by default.
        stale_after_s: reconnect after this long without a frame; the config's by default.
        connect_timeout: seconds for the token request and for the handshake, each.
        disconnect_timeout: seconds to wait for the server's close reply.
        batch_max: the most frames handed over in one batch.

    Raises:
        ConfigError: the subscriptions or host are wrong for this provider (checked here,
            before anything is sent).
    """

    def __init__(
        self,
        provider: ProviderConfig,
        send: Hand,
        stop: trio.Event,
        *,
        conn_ids: Callable[[], int],
        clock: Callable[[], int],
        backoff: Backoff | None = None,
        heartbeat_s: float | None = None,
        stale_after_s: float | None = None,
        connect_timeout: float = 10.0,
        disconnect_timeout: float = 2.0,
        batch_max: int = BATCH_MAX,
    ) -> None:
        self.provider = provider
        self.name = provider.name
        self.stats = SessionStats()
        self._send = send
        self._stop = stop
        self._conn_ids = conn_ids
        self._clock = clock
        self._backoff = backoff or Backoff(policy_for(provider.name, provider.options))
        self._spec = spec = providers.provider(provider.name)
        self._heartbeat_s = heartbeat_s or spec.heartbeat_s
        self._stale_s = stale_after_s or provider.stale_after_s
        self._connect_timeout = connect_timeout
        self._disconnect_timeout = disconnect_timeout
        self._batch_max = batch_max
        self._subs = provider.subscriptions
        self._key = provider.secret()
        self._user = provider.user() if spec.ws_token else ""
        self._rest = rest_base(provider.rest_host)
        self._codec = make_codec(provider.name, provider.options)
        # decodes the possible refusals among a connection's first frames (see _refused)
        self._probe = make_codec(provider.name, provider.options)
        # Fail at the edge: a wrong subscription or host is the user's, before any socket.
        self._codec.url(self._subs, provider.host, "checked")
        self._codec.subscribe(self._subs)
        self._url = ""
        self._end: tuple[str | None, str] | None = None
        self._last_rx = 0.0
        self.connected = False  # a connection is open (for status lines and the dashboard)
        self._pings = 0

    async def run(self) -> None:
        """Connect, stream and reconnect until the stop event is set; then close cleanly.

        Raises:
            ConfigError: the token endpoint refused the credentials.
            ProviderConnectionError: ``max_failures`` consecutive attempts failed.
        """
        async with self._send:
            while not self._stop.is_set():
                fault = await self._attempt()
                if self._stop.is_set():
                    return
                if fault is not None:
                    self.stats.faults[fault] += 1
                delay = self._backoff.next_delay()
                if self._backoff.exhausted:
                    raise ProviderConnectionError(
                        f"{self.name}: gave up after {self._backoff.failures} failed attempts "
                        f"(last: {fault}) at {self._url or self.provider.host or 'default host'}"
                    )
                _LOG.warning("%s: reconnecting in %.1f s (%s)", self.name, delay, fault)
                with trio.move_on_after(delay):
                    await self._stop.wait()

    # --- one attempt --------------------------------------------------------------------------

    async def _attempt(self) -> str | None:
        """Dial, stream until the connection ends; the fault kind, or None when stopped."""
        try:
            return await self._connection()
        except BaseException as exc:
            error = sole_error(exc)
            if isinstance(error, PapertradeError) and not isinstance(
                error, ProviderConnectionError
            ):
                raise error from None  # fatal and the user's: refused credentials
            fault = None if error is None else self._dial_fault(error)
            if fault is None:
                raise
            return fault

    async def _connection(self) -> str | None:
        async with trio.open_nursery() as nursery:  # trio-websocket's reader task lives here
            client = await self._unless_stopped(self._dial(nursery))
            if client is None:
                nursery.cancel_scope.cancel()
                return None
            try:
                return await self._stream(client)
            finally:
                await client.aclose(self._disconnect_timeout)
                nursery.cancel_scope.cancel()

    def _dial_fault(self, error: BaseException) -> str | None:
        """The fault kind of an error that ends an attempt, or None if it is not one."""
        if isinstance(error, ProviderConnectionError):
            _LOG.warning("%s", error)
            return "token"
        status = rejected_status(error)
        if status is not None:
            _LOG.warning("%s: handshake refused, HTTP %s", self.name, status)
            return "auth" if status in _AUTH_STATUSES else "refused"
        if isinstance(error, DIAL_ERRORS):
            _LOG.warning("%s: cannot connect: %s", self.name, redact(repr(error)))
            return "refused"
        return None

    async def _dial(self, nursery: trio.Nursery) -> Client:
        key = self._key
        if self._spec.ws_token:
            key = await fetch_ws_token(
                self._rest, self._user, self._key, timeout=self._connect_timeout
            )
        url = self._codec.url(self._subs, self.provider.host, key)
        self._url = redact(url)
        with trio.fail_after(self._connect_timeout):
            return await open_client(
                nursery,
                url,
                message_queue_size=MESSAGE_QUEUE,
                max_message_size=MAX_MESSAGE_BYTES,
                receive_buffer_size=RECEIVE_BYTES,
            )

    async def _stream(self, client: Client) -> str | None:
        conn = self._conn_ids()
        self.stats.connects += 1
        frames_before = self.stats.frames
        self._end = None
        self._last_rx = trio.current_time()
        self._codec.reset()
        await self._hand([ConnectedLine(self._clock(), self.name, conn, self._url)])
        ws = client.ws
        self.connected = True
        try:
            async with trio.open_nursery() as nursery:
                scope = nursery.cancel_scope
                nursery.start_soon(self._subscribe, ws, conn, scope)
                nursery.start_soon(self._keepalive, ws, scope)
                nursery.start_soon(self._watchdog, scope)
                nursery.start_soon(self._stop_watch, scope)
                if self._spec.ws_ping_s is not None:
                    nursery.start_soon(self._ws_pings, ws, scope)
                await self._read(client, conn, scope)
        except BaseException:
            self.connected = False
            self._hand_nowait([DisconnectedLine(self._clock(), self.name, conn, "cancelled")])
            raise
        self.connected = False
        fault, reason = self._ending()
        if self.stats.frames > frames_before:
            self._backoff.succeeded()
        await self._hand([DisconnectedLine(self._clock(), self.name, conn, reason)])
        if fault is not None:
            _LOG.warning("%s: connection %d ended: %s", self.name, conn, reason)
        return fault

    @property
    def last_frame_at(self) -> float:
        """trio's clock when the last frame (or the connection) arrived; 0.0 before any."""
        return self._last_rx

    # --- the tasks of one connection ------------------------------------------------------------

    async def _read(self, client: Client, conn: int, scope: trio.CancelScope) -> None:
        name, clock, limit, stats = self.name, self._clock, self._batch_max, self.stats
        receive, drain = client.receive, client.drain
        marker = self._spec.key_refusal
        probes = _REFUSAL_PROBES if marker else 0
        try:
            while True:
                messages = await receive()
                if probes:  # the first frames of a connection may be the documented refusal
                    for message in messages[:probes]:
                        self._refused(message, marker)
                    probes = max(0, probes - len(messages))
                ts = clock()
                self._last_rx = trio.current_time()
                batch: list[Line] = [frame_from_wire(name, conn, ts, m) for m in messages]
                while len(batch) < limit:
                    try:
                        more = drain()
                    except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                        break
                    batch += [frame_from_wire(name, conn, ts, m) for m in more]
                stats.frames += len(batch)
                stats.batches += 1
                await self._hand(batch)
        except ConnectionClosed as exc:
            self._finish(*close_reason(exc), scope)

    async def _subscribe(self, ws: WebSocketConnection, conn: int, scope: trio.CancelScope) -> None:
        spacing = self._spec.request_spacing_s
        try:
            for i, text in enumerate(self._codec.subscribe(self._subs)):
                if i and spacing:
                    await trio.sleep(spacing)
                await ws.send_message(text)
        except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._finish(*close_reason(exc), scope)
            return
        await self._hand([SubscribedLine(self._clock(), self.name, conn, self._subs)])

    async def _keepalive(self, ws: WebSocketConnection, scope: trio.CancelScope) -> None:
        interval = self._heartbeat_s
        due = trio.current_time() + interval
        try:
            while True:
                await trio.sleep_until(due)
                await ws.send_message(self._codec.heartbeat())
                due += interval
        except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._finish(*close_reason(exc), scope)

    async def _ws_pings(self, ws: WebSocketConnection, scope: trio.CancelScope) -> None:
        interval = self._spec.ws_ping_s or 0.0
        try:
            while True:
                await trio.sleep(interval)
                self._pings += 1
                with trio.move_on_after(WS_PING_TIMEOUT_S) as waited:
                    await ws.ping(struct.pack("!I", self._pings & 0xFFFFFFFF))
                if waited.cancelled_caught:
                    self._finish("stale", f"no pong within {WS_PING_TIMEOUT_S:g} s", scope)
                    return
        except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._finish(*close_reason(exc), scope)

    async def _watchdog(self, scope: trio.CancelScope) -> None:
        stale = self._stale_s
        while True:
            deadline = self._last_rx + stale
            if trio.current_time() >= deadline:
                self._finish("stale", f"no frame for {stale:g} s", scope)
                return
            await trio.sleep_until(deadline)

    async def _stop_watch(self, scope: trio.CancelScope) -> None:
        await self._stop.wait()
        self._finish(None, "stopped", scope)

    # --- helpers --------------------------------------------------------------------------------

    def _refused(self, message: str | bytes, code: str) -> None:
        """Raise ConfigError if ``message`` is the provider's documented refusal of the key.

        The provider spec names the code (``Provider.key_refusal``: AllTick's ``ret`` 401,
        Finazon's ``INVALID_API_KEY``), each sent before closing: refused credentials do not
        get better by retrying, so the run stops with one line naming the provider and the
        key's source.
        """
        data = message.encode("utf-8", "surrogatepass") if isinstance(message, str) else message
        if code.encode() not in data:
            return
        try:
            replies = self._probe.decode(message, 0)
        except ProviderProtocolError:
            return
        for reply in replies:
            if isinstance(reply, ErrorReply) and str(reply.code) == code:
                source = (
                    f"the environment variable {self.provider.key_env}"
                    if self.provider.key_env
                    else "the key in the config's provider entry"
                )
                raise ConfigError(
                    f"{self.name} refused the key ({reply.code} {redact(reply.message)}); "
                    f"check {source}"
                )

    def _finish(self, fault: str | None, reason: str, scope: trio.CancelScope) -> None:
        """The first task to see the connection end says why; the others are cancelled."""
        if self._end is None:
            self._end = (fault, redact(reason))
        scope.cancel()

    def _ending(self) -> tuple[str | None, str]:
        return self._end or (None, "ended")

    async def _hand(self, lines: list[Line]) -> None:
        try:
            self._send.send_nowait(lines)
        except trio.WouldBlock:
            # The loop is behind: wait, which slows the reader. Shielded, so that a stop
            # never drops what was already read (it would be run but not recorded, or
            # neither); bounded, in case the loop itself has died.
            with trio.move_on_after(HAND_TIMEOUT_S, shield=True):
                await self._send.send(lines)

    def _hand_nowait(self, lines: list[Line]) -> None:
        try:
            self._send.send_nowait(lines)
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            _LOG.debug("%s: a connection event was dropped during shutdown", self.name)

    async def _unless_stopped(self, work: Awaitable[_T]) -> _T | None:
        """Await ``work``, or give up (None) as soon as the stop event is set."""
        result: list[_T] = []
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                await self._stop.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
            result.append(await work)
            nursery.cancel_scope.cancel()
        return result[0] if result else None


async def run_ticker(
    send: Hand, interval_s: float, clock: Callable[[], int], stop: trio.Event
) -> None:
    """Hand the loop a clock ``Tick`` every ``interval_s`` until ``stop``, so timers fire in
    quiet markets; ticks are recorded like frames, so replay fires the same timers.

    Closes ``send`` when done. A tick missed while the loop was busy is skipped, not queued.
    """
    async with send:
        due = trio.current_time() + interval_s
        while not stop.is_set():
            with trio.move_on_at(due):
                await stop.wait()
            if stop.is_set():
                return
            line: list[Line] = [Tick(clock())]
            try:
                send.send_nowait(line)
            except trio.WouldBlock:
                await send.send(line)
            due = max(due + interval_s, trio.current_time())
