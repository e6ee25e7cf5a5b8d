"""Finazon codec: bar subscriptions out, bars and replies in. No sockets, no sleeping, no clock.

Finazon streams one channel, ``bars``: 1-minute bars (``aggregation``) pushed every 1 s, 10 s or
1 m (``frequency``) while the minute forms, each push repeating the bar's open time ``t``. The
wire Structs below mirror the documented JSON field for field, client events included, so that
the emulator decodes requests and encodes server frames with the same types. ``FinazonCodec``
builds the requests and turns frames into ``framework.events`` and control replies; the receive
time arrives as ``ts_recv_ns``.

This module must not open sockets, sleep, read a clock or log. Inbound trouble is raised as
``ProviderProtocolError`` and nothing else; a request the documentation would refuse is a
``ConfigError`` raised before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Annotated, Final, Literal
from urllib.parse import quote

import msgspec
from msgspec import UNSET, Meta, UnsetType

from framework import events as ev
from framework.errors import ConfigError, ProviderProtocolError
from framework.instruments import from_finazon
from framework.providers import validation
from framework.providers.base import (
    Ack,
    Decoded,
    ErrorReply,
    Pong,
    Provider,
    Subscription,
    WireDefaults,
)

__all__ = [
    "DEFAULT_HOST",
    "FREQUENCIES",
    "MAX_EVENT_BYTES",
    "MAX_FRAME_BYTES",
    "SPEC",
    "CandleUpdate",
    "ErrorMessage",
    "FinazonCodec",
    "Frequency",
    "Heartbeat",
    "HeartbeatReply",
    "Request",
    "RequestEcho",
    "Reset",
    "ResetReply",
    "Subscribe",
    "SuccessReply",
    "Unsubscribe",
    "decode_request",
]

Frequency = Literal["1s", "10s", "1m"]

PROVIDER: Final = "finazon"
DEFAULT_HOST: Final = "ws.finazon.io"
FREQUENCIES: Final[dict[str, Frequency]] = {"1s": "1s", "10s": "10s", "1m": "1m"}
DEFAULT_FREQUENCY: Final[Frequency] = "1s"
MAX_EVENT_BYTES: Final = 100_000  # documented cap on one client event message ("100 KB")
MAX_FRAME_BYTES: Final = 1 << 20  # a bar frame is ~150 bytes: a MiB is a broken frame, not data
_NS: Final = 1_000_000_000
MAX_FORMING: Final = 4096  # forming bars (ticker, length) kept at once
_MAX_T: Final = (2**63 - 1) // _NS  # keeps ts_event_ns inside int64, where recordings need it
_INTERVALS_NS: Final = {"1m": 60 * _NS}  # documented aggregations -> bar length
# Bars of other lengths ("5m", "1h", "1d") are not documented for the stream, but recordings
# made by ``papertrade import-csv`` carry them in the same frame shape; requests stay at 1m.
_AGGR: Final = re.compile(r"^(\d{1,4})([smhdw])$")
_UNIT_NS: Final = {"s": _NS, "m": 60 * _NS, "h": 3600 * _NS, "d": 86400 * _NS, "w": 604800 * _NS}
_REQUEST_OVERHEAD: Final = 256  # generous size of a bars request without its tickers
_AT_PATH: Final = re.compile(r" - at `(\$[^`]*)`$")
_MISSING: Final = re.compile(r"Object missing required field `([^`]*)`$")

RequestId = int | str  # documented as "string | number"
_Payload = bytes | str | msgspec.Raw  # a recording hands frames over as msgspec.Raw


# --- client events (what the codec sends; what the emulator decodes) -------------------------


class _BarsRequest(msgspec.Struct, frozen=True, kw_only=True, tag_field="event"):
    dataset: str  # Finazon dataset code: "kucoin", "sip_pro"
    tickers: Annotated[tuple[str, ...], Meta(min_length=1)]  # native tickers: "BTC/USDT", "AAPL"
    channel: Literal["bars"]  # the only channel Finazon streams
    frequency: Frequency  # how often the forming bar is pushed
    aggregation: Literal["1m"]  # bar length; only 1m is documented
    request_id: RequestId | UnsetType = UNSET  # echoed in the reply


class Subscribe(_BarsRequest, frozen=True, kw_only=True, tag="subscribe"):
    """Client event: stream bars of ``tickers``. Additive per ticker."""


class Unsubscribe(_BarsRequest, frozen=True, kw_only=True, tag="unsubscribe"):
    """Client event: stop streaming bars of ``tickers``."""


class Heartbeat(msgspec.Struct, frozen=True, tag_field="event", tag="heartbeat"):
    """Client event: is the connection alive? Answered by :class:`HeartbeatReply`."""

    request_id: RequestId | UnsetType = UNSET  # echoed in the reply


class Reset(msgspec.Struct, frozen=True, tag_field="event", tag="reset"):
    """Client event: drop every subscription. The server does not reply."""

    request_id: RequestId | UnsetType = UNSET  # documented, though nothing echoes it


Request = Subscribe | Unsubscribe | Heartbeat | Reset


# --- server frames ----------------------------------------------------------------------------


class CandleUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """Server push: the current state of one bar ("Candle update")."""

    d: str | UnsetType = UNSET  # dataset code; absent in the v1.0 protocol
    p: str | UnsetType = UNSET  # publisher: "kucoin", "finazon" for us_stocks_essential
    ch: Literal["bars"]  # channel
    f: str | UnsetType = UNSET  # push frequency: "1s" | "10s" | "1m"
    aggr: str  # bar length: "1m" (the v1.0 docs print " 1m")
    s: Annotated[str, Meta(min_length=1)]  # native ticker: "BTC/USDT", "AAPL"
    t: Annotated[int, Meta(ge=0, le=_MAX_T)]  # bar OPEN time, Unix seconds
    o: float  # open
    h: float  # high
    l: float  # low  # noqa: E741 - the wire name
    c: float  # close
    v: float  # volume


class RequestEcho(msgspec.Struct, frozen=True, kw_only=True):
    """``data`` of a v1.0 success reply: the request echoed back."""

    event: str  # "subscribe" | "unsubscribe"
    publisher: str | UnsetType = UNSET  # v1.0 name for the dataset: "sip"
    dataset: str | UnsetType = UNSET  # the later name, should a server echo it
    mic: str | UnsetType = UNSET  # market identifier code filter, "" when unused
    market: str | UnsetType = UNSET  # market filter, "" when unused
    channel: str | UnsetType = UNSET  # "bars"
    frequency: str | UnsetType = UNSET  # "1s" | "10s" | "1m"
    aggregation: str | UnsetType = UNSET  # "1m"
    tickers: tuple[str, ...]  # the tickers of the request


class SuccessReply(msgspec.Struct, frozen=True, kw_only=True):
    """Server reply to subscribe or unsubscribe."""

    event: Literal["subscribe", "unsubscribe"] | UnsetType = UNSET  # listed, not in the example
    status: Literal["success"]  # outcome
    code: Literal["SUCCESS_SUBSCRIPTION", "SUCCESS_UNSUBSCRIPTION"]  # which request succeeded
    data: tuple[str, ...] | RequestEcho  # accepted tickers; v1.0: the request echoed
    request_id: RequestId | UnsetType = UNSET  # the request's id


class HeartbeatReply(msgspec.Struct, frozen=True, kw_only=True):
    """Server reply to :class:`Heartbeat`."""

    event: Literal["heartbeat"]  # the request answered
    status: Literal["success"]  # outcome
    request_id: RequestId | UnsetType = UNSET  # the heartbeat's id


class ResetReply(msgspec.Struct, frozen=True, kw_only=True):
    """The reply shape the reference lists for reset, though it says the server sends none."""

    event: Literal["reset"]  # the request answered
    status: Literal["success"]  # outcome
    request_id: RequestId | UnsetType = UNSET  # the reset's id


class ErrorMessage(msgspec.Struct, frozen=True, kw_only=True):
    """Server error: "The ticker BGMS you have specified is unrecognized or unsupported."..."""

    event: str | UnsetType = UNSET  # the request's event, when the server names it
    status: Literal["error"]  # outcome
    code: str | UnsetType = UNSET  # an UPPER_SNAKE code, when present
    message: str  # what went wrong, in words
    request_id: RequestId | UnsetType = UNSET  # the failed request's id


class _Envelope(msgspec.Struct, frozen=True):
    # Just enough to route a frame: bar pushes carry ``ch`` and no ``status``.
    ch: str | None = None
    event: str | None = None
    status: str | None = None


_ENCODER: Final = msgspec.json.Encoder()
_REQUESTS: Final[msgspec.json.Decoder[Request]] = msgspec.json.Decoder(Request)
_ENVELOPE: Final = msgspec.json.Decoder(_Envelope)
_CANDLE: Final = msgspec.json.Decoder(CandleUpdate)
_SUCCESS: Final = msgspec.json.Decoder(SuccessReply)
_HEARTBEAT: Final = msgspec.json.Decoder(HeartbeatReply)
_RESET: Final = msgspec.json.Decoder(ResetReply)
_ERROR: Final = msgspec.json.Decoder(ErrorMessage)


class FinazonCodec(WireDefaults):
    """Sans-IO codec for Finazon's WebSocket API (``wss://ws.finazon.io/v1``).

    Theory of operation for bars: Finazon has no end-of-bar flag, so a bar closes when the next
    one starts. Per (ticker, bar length) the codec keeps the bar still forming, as the last
    :class:`~framework.events.BarUpdate` it emitted. A frame with the same open time ``t`` is
    that bar again (a ``BarUpdate``). A later ``t`` closes it: a ``Bar`` with its last values
    (``ts_event_ns`` = its open time, ``ts_recv_ns`` = the closing frame's), then a ``BarUpdate``
    for the new bar. An earlier ``t`` is a late frame for a bar already closed (two frequencies
    of one ticker interleave at the minute boundary): it is dropped and counted in
    ``late_frames``, because the closed ``Bar`` cannot be taken back and raising would report a
    healthy stream as broken. :meth:`flush` closes every forming bar at the end of a replay.

    Args:
        dataset: the Finazon dataset code every request names (``kucoin``, ``sip_pro``...).

    Raises:
        ConfigError: ``dataset`` is empty.
    """

    name: str = PROVIDER

    def __init__(self, dataset: str = "kucoin") -> None:
        if not dataset.strip():
            raise ConfigError("finazon: the dataset code must not be empty (e.g. 'kucoin')")
        self.dataset: Final = dataset
        self.late_frames = 0  # frames dropped for an already closed bar, over the codec's life
        self.evicted_bars = 0  # forming bars forgotten unclosed to keep MAX_FORMING
        self._request_id = 0
        self._forming: dict[tuple[str, int], ev.BarUpdate] = {}
        self.screen = validation.Screen(PROVIDER)  # drops invalid market data, counting why

    def url(
        self, subs: Sequence[Subscription] = (), host: str = DEFAULT_HOST, key: str = ""
    ) -> str:
        """Return ``wss://{host}/v1?apikey={key}``; the key authorizes the connection.

        ``host`` may also be a base with a scheme (``ws://127.0.0.1:8765``) for a loopback
        emulator. Subscriptions play no part: they are sent after connecting.
        """
        base = host or DEFAULT_HOST
        if "://" not in base:
            base = f"wss://{base}"
        base = base.rstrip("/")
        if not base.endswith("/v1"):
            base += "/v1"
        return f"{base}?apikey={quote(key, safe='')}"

    def subscribe(self, subs: Sequence[Subscription]) -> list[str]:
        """Return one ``subscribe`` event per distinct frequency (``interval``, default ``1s``).

        Tickers keep their first-seen order, without duplicates; a group too large for the
        documented 100 KB per message is split, each part with its own ``request_id``.

        Raises:
            ConfigError: a channel other than ``bars``, an empty symbol, or a frequency other
                than ``1s``, ``10s``, ``1m``. Nothing is encoded then.
        """
        return self._bars_requests(Subscribe, subs)

    def unsubscribe(self, subs: Sequence[Subscription]) -> list[str]:
        """Return ``unsubscribe`` events, grouped and validated as :meth:`subscribe` does."""
        return self._bars_requests(Unsubscribe, subs)

    def heartbeat(self) -> str:
        """Return ``{"event":"heartbeat","request_id":N}``, answered by a heartbeat reply."""
        return _ENCODER.encode(Heartbeat(request_id=self._next_id())).decode()

    def reset_message(self) -> str:
        """Return ``{"event":"reset"}``, which drops every subscription; no reply comes."""
        return _ENCODER.encode(Reset()).decode()

    def decode(self, frame: _Payload, ts_recv_ns: int) -> list[Decoded]:
        """Decode one frame into events and control replies, in frame order.

        The frame may be text, bytes, or the ``msgspec.Raw`` a recording hands over.

        Raises:
            ProviderProtocolError: the frame is empty, over ``MAX_FRAME_BYTES``, not JSON, or
                not shaped as documented (``path`` names the offending field).
        """
        if not frame:
            raise _protocol_error(frame, "empty frame")
        if len(frame) > MAX_FRAME_BYTES:
            raise _protocol_error(frame, f"frame of {len(frame)} bytes, over {MAX_FRAME_BYTES}")
        validation.check_depth(PROVIDER, frame)
        try:
            return self._route(frame, _ENVELOPE.decode(frame), ts_recv_ns)
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            raise _from_msgspec(frame, exc) from exc
        except UnicodeEncodeError as exc:  # a str holding lone surrogates is no JSON text
            raise _protocol_error(frame, "text is not valid Unicode") from exc

    def flush(self, ts_recv_ns: int) -> list[ev.Bar]:
        """Close every forming bar, as at the end of a replay, and forget them.

        Returns:
            One ``Bar`` per forming bar with its last values, sorted by (ticker, bar length),
            each stamped ``ts_recv_ns``.
        """
        bars = [_closed(self._forming[key], ts_recv_ns) for key in sorted(self._forming)]
        self._forming.clear()
        return bars

    def reset(self) -> None:
        """Forget per-connection state: the forming bars and the request-id counter.

        Forming bars are dropped unemitted; call :meth:`flush` first to keep them.
        """
        self._forming.clear()
        self._request_id = 0

    def _next_id(self) -> int:
        self._request_id += 1
        return self._request_id

    def _bars_requests(
        self, kind: type[Subscribe] | type[Unsubscribe], subs: Sequence[Subscription]
    ) -> list[str]:
        out = []
        budget = MAX_EVENT_BYTES - _REQUEST_OVERHEAD - len(_ENCODER.encode(self.dataset))
        for frequency, tickers in _group_by_frequency(subs).items():
            for part in _chunks(tickers, budget):
                request = kind(
                    dataset=self.dataset,
                    tickers=part,
                    channel="bars",
                    frequency=frequency,
                    aggregation="1m",
                    request_id=self._next_id(),
                )
                out.append(_ENCODER.encode(request).decode())
        return out

    def _route(self, frame: _Payload, env: _Envelope, ts_recv_ns: int) -> list[Decoded]:
        if env.status is None:
            if env.ch is None or env.event is not None:
                raise _protocol_error(frame, "neither a bar (ch) nor a reply (status)")
            return self._on_candle(frame, ts_recv_ns)
        if env.status == "error":
            return [_error_reply(_ERROR.decode(frame))]
        if env.status != "success":
            raise _protocol_error(frame, f"unknown status {env.status!r}", "$.status")
        if env.event == "heartbeat":
            return [Pong(PROVIDER, _request_id(_HEARTBEAT.decode(frame).request_id))]
        if env.event == "reset":
            return [Ack(PROVIDER, _request_id(_RESET.decode(frame).request_id), "reset")]
        reply = _SUCCESS.decode(frame)
        return [Ack(PROVIDER, _request_id(reply.request_id), reply.code)]

    def _on_candle(self, frame: _Payload, ts_recv_ns: int) -> list[Decoded]:
        msg = _CANDLE.decode(frame)
        interval_ns = _interval_ns(msg.aggr.strip())  # strip: the v1.0 docs' " 1m"
        if interval_ns is None:
            raise _protocol_error(frame, f"undocumented aggregation {msg.aggr!r}", "$.aggr")
        update = ev.BarUpdate(
            venue=PROVIDER,
            instrument=from_finazon(msg.s, msg.d or self.dataset),
            symbol=msg.s,
            ts_event_ns=msg.t * _NS,
            ts_recv_ns=ts_recv_ns,
            interval_ns=interval_ns,
            open=msg.o,
            high=msg.h,
            low=msg.l,
            close=msg.c,
            volume=msg.v,
        )
        if not self.screen.accept(update, ts_recv_ns):
            return []
        key = (msg.s, interval_ns)
        forming = self._forming.get(key)
        if forming is not None and update.ts_event_ns < forming.ts_event_ns:
            self.late_frames += 1
            return []
        if forming is None and len(self._forming) >= MAX_FORMING:
            # A feed inventing tickers: forget the oldest forming bar (insertion order).
            del self._forming[next(iter(self._forming))]
            self.evicted_bars += 1
        self._forming[key] = update
        if forming is None or forming.ts_event_ns == update.ts_event_ns:
            return [update]
        return [_closed(forming, ts_recv_ns), update]


def decode_request(frame: bytes | str) -> Request:
    """Decode one client event, as the emulator receives it.

    Raises:
        ProviderProtocolError: the event is over the documented 100 KB, not JSON, of an unknown
            kind, or missing or mistyping a documented parameter (``path`` names it).
    """
    if len(frame) > MAX_EVENT_BYTES:
        raise _protocol_error(frame, f"event message of {len(frame)} bytes, over 100 KB")
    try:
        return _REQUESTS.decode(frame)
    except msgspec.DecodeError as exc:
        raise _from_msgspec(frame, exc) from exc
    except UnicodeEncodeError as exc:  # a str holding lone surrogates is no JSON text
        raise _protocol_error(frame, "text is not valid Unicode") from exc


def _group_by_frequency(subs: Sequence[Subscription]) -> dict[Frequency, tuple[str, ...]]:
    # dicts keep first-seen order (deterministic) and double as ordered sets of tickers.
    groups: dict[Frequency, dict[str, None]] = {}
    for sub in subs:
        if sub.channel != "bars":
            raise ConfigError(f"finazon streams only 'bars', not {sub.channel!r} ({sub.symbol})")
        if not sub.symbol:
            raise ConfigError("finazon: a subscription has an empty ticker")
        frequency = FREQUENCIES.get(sub.interval or DEFAULT_FREQUENCY)
        if frequency is None:
            raise ConfigError(
                f"finazon frequency {sub.interval!r} for {sub.symbol} is not one of 1s, 10s, 1m"
            )
        groups.setdefault(frequency, {})[sub.symbol] = None
    return {frequency: tuple(tickers) for frequency, tickers in groups.items()}


def _chunks(tickers: tuple[str, ...], budget: int) -> Iterator[tuple[str, ...]]:
    part: list[str] = []
    size = 0
    for ticker in tickers:
        cost = len(_ENCODER.encode(ticker)) + 1  # quoted and escaped, plus its comma
        if part and size + cost > budget:
            yield tuple(part)
            part, size = [], 0
        part.append(ticker)
        size += cost
    if part:
        yield tuple(part)


def _closed(update: ev.BarUpdate, ts_recv_ns: int) -> ev.Bar:
    return ev.Bar(
        venue=update.venue,
        instrument=update.instrument,
        symbol=update.symbol,
        ts_event_ns=update.ts_event_ns,
        ts_recv_ns=ts_recv_ns,
        interval_ns=update.interval_ns,
        open=update.open,
        high=update.high,
        low=update.low,
        close=update.close,
        volume=update.volume,
    )


def _error_reply(msg: ErrorMessage) -> ErrorReply:
    return ErrorReply(PROVIDER, msg.code or "", msg.message, _request_id(msg.request_id))


def _request_id(value: RequestId | UnsetType) -> RequestId | None:
    return None if value is UNSET else value


def _protocol_error(frame: _Payload, reason: str, path: str = "") -> ProviderProtocolError:
    # ProviderProtocolError slices bytes and str itself; a Raw is handed over as its first bytes.
    text = bytes(memoryview(frame)[:1024]) if isinstance(frame, msgspec.Raw) else frame
    return ProviderProtocolError(PROVIDER, text, reason, path)


def _from_msgspec(frame: _Payload, exc: msgspec.DecodeError) -> ProviderProtocolError:
    message = str(exc)
    at = _AT_PATH.search(message)
    reason = message if at is None else message[: at.start()]
    path = "$" if at is None else at.group(1)
    missing = _MISSING.match(reason)
    if missing is not None:  # msgspec names the parent; point at the missing field itself
        path = f"{path}.{missing.group(1)}"
    elif not isinstance(exc, msgspec.ValidationError):
        path = ""  # malformed JSON has no field to point at
    return _protocol_error(frame, reason, path)


def _interval_ns(aggr: str) -> int | None:
    """Bar length of an aggregation: the documented ``1m``, or ``<n><s|m|h|d|w>``; else None."""
    known = _INTERVALS_NS.get(aggr)
    if known is not None:
        return known
    match = _AGGR.match(aggr)
    if match is None or int(match.group(1)) == 0:
        return None
    return int(match.group(1)) * _UNIT_NS[match.group(2)]


SPEC: Final = Provider(
    name=PROVIDER,
    codec=lambda options: FinazonCodec(dataset=options.get("dataset", "kucoin")),
    from_native=lambda symbol, options: from_finazon(symbol, options.get("dataset", "")),
    heartbeat_s=30.0,  # as often as the official sample pings
    reconnect_spacing_s=lambda options: 5.0,
    ws_ping_s=30.0,  # RFC 6455 pings: the official sample's ping_interval
    key_env="FINAZON_API_KEY",
    key_refusal="INVALID_API_KEY",
)
"""Finazon, described once (see ``providers.base.Provider``)."""
