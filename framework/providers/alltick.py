"""AllTick codec: subscriptions out, frames in. No sockets, no sleeping, no clock.

AllTick speaks one JSON envelope on two WebSocket endpoints (stocks, and everything else).
Requests are ``{"cmd_id","seq_id","trace","data"}``; replies add ``ret`` and ``msg`` and carry
the request's ``cmd_id + 1``; pushes carry only ``cmd_id`` and ``data``. The wire Structs
(``alltick_wire``, re-exported here) mirror the documented JSON field for field, requests as
well as server frames, so that the AllTick emulator decodes client requests and encodes server
frames with the same types.

Theory of operation:

* **Subscriptions replace, per kind.** A depth request (22002) or a trade request (22004)
  replaces the previous list of the same kind on the connection. The codec therefore keeps
  the current codes per kind, in subscription order, and every change resends the whole
  list; a kind that becomes empty is cancelled with 22006 (``cancel_type`` 1 depth, 2 trade,
  0 both at once). A call that changes nothing sends nothing: AllTick allows one request
  per second per connection.
* **Request ids.** ``seq_id`` counts requests on the connection from 1; ``trace`` is
  ``papertrade-{connection}-{seq_id}``, unique per request across reconnects and identical
  from run to run. :meth:`AllTickCodec.reset` starts a new connection.
* **Replies.** ``ret`` 200 gives an Ack (a Pong for 22001) and any other ``ret`` an
  ErrorReply, with the echoed ``seq_id`` as request id; ``cmd_id`` 0 ties to no request.
* **Books.** Each 22999 is a full snapshot. A level priced 0 (the empty side at limit-up or
  limit-down) is dropped; forex and metals give prices only (no volume, or volume 0), so their
  sizes are ``events.UNKNOWN_SIZE``: the project's level rule keeps 0 for "no level".
* **Times.** ``tick_time`` is documented as milliseconds, but the documented example is
  ten digits; a value below 1e11 is read as seconds.

This module must not open sockets, read the clock, sleep, or pace requests: keeping
requests one second apart is the session's job.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Literal, TypeVar
from urllib.parse import quote

import msgspec
from msgspec import UNSET

from framework import events as ev
from framework.errors import ConfigError, ProviderProtocolError
from framework.instruments import from_alltick, is_stock
from framework.providers import validation
from framework.providers.alltick_wire import (
    MAX_SEQ,
    Cancel,
    CancelData,
    CancelReply,
    DepthSubscribe,
    DepthSubscribeData,
    DepthSubscribeReply,
    DepthSymbol,
    Empty,
    HeaderInvalidReply,
    Heartbeat,
    HeartbeatReply,
    Inbound,
    OrderBook,
    OrderBookPush,
    PriceLevel,
    Reply,
    Request,
    TradeSubscribe,
    TradeSubscribeData,
    TradeSubscribeReply,
    TradeSymbol,
    TradeTick,
    TradeTickPush,
)
from framework.providers.base import (
    Ack,
    Decoded,
    ErrorReply,
    Pong,
    Provider,
    Subscription,
    WireDefaults,
)

if TYPE_CHECKING:
    from framework.providers.base import Codec

__all__ = [
    "CANCEL_ALL", "CANCEL_DEPTH", "CANCEL_TRADE", "DEFAULT_HOST", "FOREX_PATH",
    "HEARTBEAT_INTERVAL_S", "HEARTBEAT_TIMEOUT_S", "PLAN_CODE_CAPS", "PLAN_CONNECTION_CAPS",
    "REQUEST_SPACING_S", "RET_EXAMPLE_CODES", "RET_OK", "RET_TEXTS", "SPEC", "STOCK_PATH",
    "AllTickCodec", "Cancel", "CancelData", "CancelReply", "DepthSubscribe", "DepthSubscribeData",
    "DepthSubscribeReply", "DepthSymbol", "Empty", "Endpoint", "HeaderInvalidReply", "Heartbeat",
    "HeartbeatReply", "Inbound", "OrderBook", "OrderBookPush", "PriceLevel", "Request",
    "TradeSubscribe", "TradeSubscribeData", "TradeSubscribeReply", "TradeSymbol", "TradeTick",
    "TradeTickPush", "decode_request", "endpoint",
]  # fmt: skip

NAME: Final = "alltick"
# The seed's host; quote.alltick.co is the other official one, the paths are the same.
DEFAULT_HOST: Final = "quote.alltick.io"
STOCK_PATH: Final = "/quote-stock-b-ws-api"  # US, HK, A-share stocks and their indices
FOREX_PATH: Final = "/quote-b-ws-api"  # forex, metals, crypto, energy, CFD indices

HEARTBEAT_INTERVAL_S: Final = 10  # send 22000 this often
HEARTBEAT_TIMEOUT_S: Final = 30  # the server drops a connection silent for this long
REQUEST_SPACING_S: Final = 1  # a second request within this time on a connection is rejected

CANCEL_ALL: Final = 0  # 22006 cancel_type: every subscription
CANCEL_DEPTH: Final = 1  # 22006 cancel_type: depth only
CANCEL_TRADE: Final = 2  # 22006 cancel_type: trades only

RET_OK: Final = 200
RET_TEXTS: Final = MappingProxyType(
    {
        200: ("ok",),
        # 400: a top-level problem (a missing field, data not an object), or one inside data.
        400: ("request header param invalid", "request data param invalid"),
        401: ("token invalid",),  # bad token format or expired account
        402: ("query invalid",),  # HTTP query string invalid
        429: ("rate limit",),  # the plan's request frequency exceeded
        600: ("code invalid",),  # unknown code, or a code sent to the wrong endpoint
        601: ("body empty",),  # empty POST body (/batch-kline)
        603: ("token level not enough",),  # too many products or K-lines for the plan
        604: ("code unauthorized",),  # the token has no permission for this code
        605: ("too many requests",),  # usually the HTTP frequency limit
        606: ("too many requests and connection will be closed",),  # WS frequency/connections
    }
)
"""Every documented ``ret`` code and its exact ``msg`` text(s)."""

RET_EXAMPLE_CODES: Final = MappingProxyType(
    {201: "request header param invalid", 202: "request data param invalid"}
)
"""Codes the documented example replies show for the two 400 texts."""

PLAN_CODE_CAPS: Final = MappingProxyType(
    {"free": 5, "basic": 100, "premium": 200, "pro": 3000, "all_hk": 3000, "all_cn": 3000,
     "all_us": 3000}
)  # fmt: skip
"""Codes per subscription request by plan, for trades and depth alike. The server silently
keeps the first N codes of a longer list; no error is documented."""

PLAN_CONNECTION_CAPS: Final = MappingProxyType(
    {"free": 1, "basic": 1, "premium": 3, "pro": 10, "all_hk": 10, "all_cn": 10, "all_us": 10}
)
"""Connections per token and per endpoint by plan; extra connections are closed at once."""

Endpoint = Literal["stock", "forex"]

_MAX_TICK_MS: Final = (2**63 - 1) // 1_000_000  # keeps ts_event_ns inside int64
_SECONDS_BELOW: Final = 100_000_000_000  # 1e11: a tick_time below it is seconds, not ms
_INF: Final = float("inf")
_EXCERPT_BYTES: Final = 800  # errors.py keeps no more than this of a frame
_AT_PATH: Final = re.compile(r" - at `(\$[^`]*)`$")

_INBOUND: Final[msgspec.json.Decoder[Inbound]] = msgspec.json.Decoder(Inbound)
_REQUESTS: Final[msgspec.json.Decoder[Request]] = msgspec.json.Decoder(Request)
_ENCODER: Final = msgspec.json.Encoder()
_SIDES: Final[dict[int | str, ev.Side]] = {
    0: "", 1: "buy", 2: "sell", "0": "", "1": "buy", "2": "sell",
}  # fmt: skip
_T = TypeVar("_T")


def endpoint(code: str) -> Endpoint:
    """Which AllTick endpoint serves ``code``: ``"stock"`` for ``.US/.HK/.SH/.SZ`` and
    ``HK-`` codes, ``"forex"`` for everything else (forex, crypto, metals, energy)."""
    return "stock" if is_stock(from_alltick(code)) else "forex"


def decode_request(frame: bytes | str | msgspec.Raw) -> Request:
    """Decode a client request, as the emulator receives it.

    Raises:
        ProviderProtocolError: the frame is not a documented request; ``path`` names the
            offending field (``"$.cmd_id"``, ``"$.data.cancel_type"``).
    """
    return _decode(_REQUESTS, frame)


class AllTickCodec(WireDefaults):
    """The AllTick codec: see the module docstring for how subscriptions and ids work."""

    name: str = NAME

    def __init__(self) -> None:
        self._depth: dict[str, int] = {}  # code -> depth_level (0: server default), in order
        self._trades: dict[str, None] = {}  # trade codes, an ordered set
        self._connection = 1
        self._seq = 0
        self.screen = validation.Screen(
            NAME, zero_sizes=True
        )  # drops invalid market data, counting why

    def url(self, subs: Sequence[Subscription], host: str = DEFAULT_HOST, key: str = "") -> str:
        """The endpoint URL for ``subs``, token in the query string.

        Args:
            subs: the connection's subscriptions; their codes pick the endpoint.
            host: ``quote.alltick.io`` (default when empty), another host, or a base with a
                scheme (``ws://127.0.0.1:8765``) for a loopback emulator.
            key: the API token.

        Raises:
            ConfigError: no codes, or stock and non-stock codes together (they need two
                connections).
        """
        kind = _one_endpoint([sub.symbol for sub in subs])
        if kind is None:
            raise ConfigError("AllTick: a connection needs at least one code to pick its endpoint")
        base = host or DEFAULT_HOST
        if "://" not in base:
            base = f"wss://{base}"
        path = STOCK_PATH if kind == "stock" else FOREX_PATH
        return f"{base.rstrip('/')}{path}?token={quote(key, safe='')}"

    def subscribe(self, subs: Sequence[Subscription]) -> list[str]:
        """Add ``subs`` and return the requests that resend each changed list in full.

        Raises:
            ConfigError: a channel AllTick does not push (only ``trades`` and ``book``), a
                negative depth, or codes of both endpoints on this connection.
        """
        depth, trades = dict(self._depth), dict(self._trades)
        for sub in subs:
            if sub.channel == "book":
                if sub.depth < 0:
                    raise ConfigError(f"AllTick: depth {sub.depth} for {sub.symbol} is negative")
                depth[sub.symbol] = sub.depth
            elif sub.channel == "trades":
                trades[sub.symbol] = None
            else:
                raise _unsupported(sub)
        _one_endpoint([*depth, *trades])
        frames = []
        if depth != self._depth:
            self._depth = depth
            frames.append(self._depth_request())
        if trades != self._trades:
            self._trades = trades
            frames.append(self._trade_request())
        return frames

    def unsubscribe(self, subs: Sequence[Subscription]) -> list[str]:
        """Remove ``subs``; resend what remains of each changed list, or cancel it when empty.

        Raises:
            ConfigError: a channel AllTick does not push.
        """
        drop_depth = {s.symbol for s in subs if s.channel == "book"}
        drop_trades = {s.symbol for s in subs if s.channel == "trades"}
        for sub in subs:
            if sub.channel not in ("book", "trades"):
                raise _unsupported(sub)
        depth = {code: d for code, d in self._depth.items() if code not in drop_depth}
        trades = {code: None for code in self._trades if code not in drop_trades}
        depth_changed, trades_changed = depth != self._depth, trades != self._trades
        self._depth, self._trades = depth, trades
        if depth_changed and trades_changed and not depth and not trades:
            return [self._cancel(CANCEL_ALL)]  # one request where two would break the pace
        frames = []
        if depth_changed:
            frames.append(self._depth_request() if depth else self._cancel(CANCEL_DEPTH))
        if trades_changed:
            frames.append(self._trade_request() if trades else self._cancel(CANCEL_TRADE))
        return frames

    def heartbeat(self) -> str:
        """The 22000 keep-alive request, due every 10 s."""
        return self._encode(Heartbeat(*self._next_ids(), Empty()))

    def decode(self, frame: bytes | str | msgspec.Raw, ts_recv_ns: int) -> list[Decoded]:
        """Decode one frame: a push becomes a Trade or a BookSnapshot, a reply a control.

        Args:
            frame: the frame as received, or as a recording hands it over (``msgspec.Raw``).
            ts_recv_ns: when it arrived, integer ns.

        Raises:
            ProviderProtocolError: the frame breaks the documentation; nothing else.
        """
        # check_depth's own first test, inline for the frames the loop hands over (bytes, Raw)
        kind = type(frame)
        data = bytes(frame) if kind is msgspec.Raw or kind is bytes else None  # type: ignore[arg-type]
        if data is None or data.count(b"[") + data.count(b"{") > validation.MAX_DEPTH:
            validation.check_depth(NAME, frame)
        msg = _decode(_INBOUND, frame)
        if isinstance(msg, TradeTickPush):
            trade = _trade(msg.data, frame, ts_recv_ns)
            # The screen's rules, inline for a trade (its price and size are finite and >= 0,
            # its time >= 0 already): one that passes is kept as the screen would keep it;
            # any other goes through the screen, which drops it and counts why.
            screen, ts = self.screen, trade.ts_event_ns
            window = screen.window_ns
            if (
                trade.price > 0.0
                and trade.size >= screen.size_floor
                and len(trade.symbol) <= validation.MAX_SYMBOL
                and ts <= validation.MAX_NS
                and 0 <= ts_recv_ns <= validation.MAX_NS
                and (window is None or -window <= ts_recv_ns - ts <= window)
            ):
                return [trade]
            return self.screen([trade], ts_recv_ns)
        if isinstance(msg, OrderBookPush):
            return self.screen([_book(msg.data, frame, ts_recv_ns)], ts_recv_ns)
        return [_control(msg)]

    def reset(self) -> None:
        """Forget the subscriptions and restart ``seq_id``: a new connection begins."""
        self._depth, self._trades = {}, {}
        self._connection += 1
        self._seq = 0

    def _depth_request(self) -> str:
        symbols = tuple(DepthSymbol(code, d or UNSET) for code, d in self._depth.items())
        return self._encode(DepthSubscribe(*self._next_ids(), DepthSubscribeData(symbols)))

    def _trade_request(self) -> str:
        symbols = tuple(TradeSymbol(code) for code in self._trades)
        return self._encode(TradeSubscribe(*self._next_ids(), TradeSubscribeData(symbols)))

    def _cancel(self, cancel_type: Literal[0, 1, 2]) -> str:
        return self._encode(Cancel(*self._next_ids(), CancelData(cancel_type)))

    def _next_ids(self) -> tuple[int, str]:
        self._seq = self._seq % MAX_SEQ + 1
        return self._seq, f"papertrade-{self._connection}-{self._seq}"

    @staticmethod
    def _encode(request: Request) -> str:
        return _ENCODER.encode(request).decode()


if TYPE_CHECKING:
    _CONFORMS: type[Codec] = AllTickCodec  # mypy checks that the class satisfies the Protocol


# --- private helpers ---------------------------------------------------------------------------

# Subscribed codes repeat on every push; the cache keeps the symbol mapping off the hot path.
# Bounded in entries and, since only short codes are cached, in size.
_cached_instrument: Final = functools.lru_cache(maxsize=4096)(from_alltick)


def _instrument(code: str) -> str:
    if len(code) <= validation.MAX_SYMBOL:
        return _cached_instrument(code)
    return from_alltick(code)  # the rule set drops its event; nothing about it is kept


def _decode(decoder: msgspec.json.Decoder[_T], frame: bytes | str | msgspec.Raw) -> _T:
    try:
        return decoder.decode(frame)
    except msgspec.ValidationError as exc:
        text = str(exc)
        at = _AT_PATH.search(text)
        reason = text[: at.start()] if at else text
        raise _error(frame, reason, at.group(1) if at else "$") from exc
    except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
        # UnicodeError: a str frame with lone surrogates; RecursionError: absurd nesting.
        reason = "empty frame" if len(frame) == 0 else f"not JSON: {exc}"
        raise _error(frame, reason) from exc


def _trade(tick: TradeTick, frame: bytes | str | msgspec.Raw, ts_recv_ns: int) -> ev.Trade:
    """The trade of a 22998 push. The common case inline (finite prices and sizes >= 0, a
    known direction, a tick_time in ms); anything else is :func:`_trade_checked`'s, which
    gives the same trade or says what is wrong."""
    try:
        price, size = float(tick.price), float(tick.volume)
    except ValueError:
        price = size = -1.0
    side = _SIDES.get(tick.trade_direction)
    ms = tick.tick_time
    if (
        0.0 <= price < _INF
        and 0.0 <= size < _INF
        and side is not None
        and type(ms) is int
        and _SECONDS_BELOW <= ms <= _MAX_TICK_MS
    ):
        code = tick.code
        instrument = _cached_instrument(code) if len(code) <= validation.MAX_SYMBOL else None
        if instrument is not None:
            return ev.Trade(NAME, instrument, code, ms * 1_000_000, ts_recv_ns, price, size, side)
    return _trade_checked(tick, frame, ts_recv_ns)


def _trade_checked(tick: TradeTick, frame: bytes | str | msgspec.Raw, ts_recv_ns: int) -> ev.Trade:
    price = _float(tick.price)
    if price is None:
        raise _error(frame, f"price {tick.price[:40]!r} is not a number", "$.data.price")
    size = _float(tick.volume)
    if size is None:
        raise _error(frame, f"volume {tick.volume[:40]!r} is not a number", "$.data.volume")
    side = _SIDES.get(tick.trade_direction)
    if side is None:
        raise _error(frame, "trade_direction is not 0, 1 or 2", "$.data.trade_direction")
    ts_event_ns = _tick_ns(tick.tick_time, frame)
    code = tick.code
    return ev.Trade(NAME, _instrument(code), code, ts_event_ns, ts_recv_ns, price, size, side)


def _book(book: OrderBook, frame: bytes | str | msgspec.Raw, ts_recv_ns: int) -> ev.BookSnapshot:
    bids = _levels(book.bids, frame, "bids")
    asks = _levels(book.asks, frame, "asks")
    ts_event_ns = _tick_ns(book.tick_time, frame)
    code = book.code
    return ev.BookSnapshot(NAME, _instrument(code), code, ts_event_ns, ts_recv_ns, bids, asks)


def _levels(
    levels: tuple[PriceLevel, ...], frame: bytes | str | msgspec.Raw, side: str
) -> tuple[ev.Level, ...]:
    out: list[ev.Level] = []
    for index, level in enumerate(levels):
        price = _float(level.price)
        if price is None:
            raise _error(frame, "price is not a number", f"$.data.{side}[{index}].price")
        if price == 0.0:
            continue  # the empty side at limit-up or limit-down
        # Forex, metals and CFD depth gives prices only: no volume, or volume 0.
        size = ev.UNKNOWN_SIZE if level.volume is UNSET else _float(level.volume)
        if size is None:
            raise _error(frame, "volume is not a number", f"$.data.{side}[{index}].volume")
        if size == 0.0:
            size = ev.UNKNOWN_SIZE  # a priced level is displayed; 0 would say it is not
        out.append((price, size))
    return tuple(out)


def _tick_ns(tick_time: int | str, frame: bytes | str | msgspec.Raw) -> int:
    value = tick_time
    if isinstance(value, str):
        # At most 19 digits, so int() never meets a string of megabytes.
        ok = 0 < len(value) <= 19 and value.isascii() and value.isdigit()
        value = int(value) if ok else -1
    if not 0 <= value <= _MAX_TICK_MS:
        raise _error(frame, "tick_time is not a time in ms", "$.data.tick_time")
    if value < _SECONDS_BELOW:
        value *= 1000  # ten digits, as in the documented example: seconds
    return value * 1_000_000


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    # float() also takes "nan" and "inf", which no price or volume can be.
    return value if math.isfinite(value) and value >= 0.0 else None


def _control(msg: Reply) -> Decoded:
    if isinstance(msg, HeaderInvalidReply):
        return ErrorReply(NAME, msg.ret, msg.msg, None)  # ties to no request
    if msg.ret != RET_OK:
        return ErrorReply(NAME, msg.ret, msg.msg, msg.seq_id)
    if isinstance(msg, HeartbeatReply):
        return Pong(NAME, msg.seq_id)
    return Ack(NAME, msg.seq_id, str(msg.__struct_config__.tag))


def _one_endpoint(codes: Sequence[str]) -> Endpoint | None:
    stock = [code for code in dict.fromkeys(codes) if endpoint(code) == "stock"]
    other = [code for code in dict.fromkeys(codes) if endpoint(code) == "forex"]
    if stock and other:
        raise ConfigError(
            f"AllTick serves stock codes ({', '.join(stock)}) and other codes "
            f"({', '.join(other)}) on two endpoints: put them in two connections"
        )
    if stock:
        return "stock"
    return "forex" if other else None


def _unsupported(sub: Subscription) -> ConfigError:
    return ConfigError(
        f"AllTick has no {sub.channel!r} channel (for {sub.symbol}): it pushes 'trades' and "
        "'book' only"
    )


def _error(frame: bytes | str | msgspec.Raw, reason: str, path: str = "") -> ProviderProtocolError:
    # Copy only the excerpt's worth of a frame that may be megabytes long.
    head = frame if isinstance(frame, str) else bytes(memoryview(frame)[:_EXCERPT_BYTES])
    return ProviderProtocolError(NAME, head, reason, path)


def _reconnect_spacing_s(options: Mapping[str, str]) -> float:
    # The free plan allows a connection every 10 s; a paid plan ("plan" other than "free") 3 s.
    return 10.0 if options.get("plan", "free") == "free" else 3.0


SPEC: Final = Provider(
    name=NAME,
    codec=lambda options: AllTickCodec(),
    from_native=lambda symbol, options: from_alltick(symbol),
    heartbeat_s=HEARTBEAT_INTERVAL_S,  # the server closes after 30 s without one
    reconnect_spacing_s=_reconnect_spacing_s,
    # A second request within 1 s is rejected; 0.1 s of margin for the network's jitter.
    request_spacing_s=REQUEST_SPACING_S + 0.1,
    key_env="ALLTICK_TOKEN",
    key_refusal="401",  # {"ret":401,"msg":"token invalid"}, then a close
)
"""AllTick, described once (see ``providers.base.Provider``)."""
