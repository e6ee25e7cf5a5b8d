"""Cryptomus codec: subscriptions out, frames in. No sockets, no sleeping, no clock.

The wire Structs (``cryptomus_wire``) mirror the documented JSON of the exchange WebSocket
(``wss://api-ws.cryptomus.com/ws?token=<one-time token>``) field for field; ``CryptomusCodec``
turns them into ``framework.events``. Time arrives as ``ts_recv_ns``; the provider's own time
is Unix seconds, converted to integer nanoseconds.

Theory of operation for ``decode``: every update frame carries ``method``, so one tagged-union
decoder types the common frames in a single pass (``trade_update`` first: it is the replay hot
path). What the union cannot type (acks, which the documentation shows with and without
``method``, and error replies, whose ``data`` is null) falls back to a loose envelope; a frame
that fits neither breaks the documentation and raises ``ProviderProtocolError``, carrying the
union's reason and ``$.path``. The codec must not raise anything else, and keeps only
per-connection request ids (plus a cache of symbol spellings, which is not connection state).

The REST side (signing, the token request, the market list) is in ``cryptomus_rest``; this
module re-exports both, so ``framework.providers.cryptomus`` is the one name to import.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from operator import itemgetter
from typing import Final
from urllib.parse import quote, urlsplit

import msgspec
from msgspec import UNSET, UnsetType

from framework import events as ev
from framework.errors import ConfigError, ProviderProtocolError
from framework.instruments import from_cryptomus
from framework.providers import base, validation
from framework.providers.cryptomus_rest import (
    MARKETS_PATH,
    REST_BASE,
    TOKEN_PATH,
    DepthScale,
    DepthScales,
    Market,
    MarketList,
    TokenReply,
    decode_depth_scales,
    decode_markets,
    decode_token_reply,
    sign,
    token_request,
)
from framework.providers.cryptomus_wire import (
    AckData,
    BalanceUpdate,
    DealUpdate,
    DepthData,
    DepthUpdate,
    ErrorBody,
    Inbound,
    LastPriceData,
    LastPriceUpdate,
    OrderUpdate,
    Pong,
    Reply,
    Request,
    TickerData,
    TickerUpdate,
    TradeData,
    TradeItem,
    TradeUpdate,
)

__all__ = [
    "CHANNEL_KINDS",
    "DEFAULT_HOST",
    "MARKETS_PATH",
    "NAME",
    "REST_BASE",
    "SPEC",
    "TOKEN_PATH",
    "AckData",
    "BalanceUpdate",
    "CryptomusCodec",
    "DealUpdate",
    "DepthData",
    "DepthScale",
    "DepthScales",
    "DepthUpdate",
    "ErrorBody",
    "Inbound",
    "LastPriceData",
    "LastPriceUpdate",
    "Market",
    "MarketList",
    "OrderUpdate",
    "Pong",
    "Reply",
    "Request",
    "TickerData",
    "TickerUpdate",
    "TokenReply",
    "TradeData",
    "TradeItem",
    "TradeUpdate",
    "decode_depth_scales",
    "decode_markets",
    "decode_token_reply",
    "sign",
    "token_request",
]

NAME: Final = "cryptomus"
DEFAULT_HOST: Final = "api-ws.cryptomus.com"
CHANNEL_KINDS: Final[dict[str, str]] = {
    "trades": "trade",
    "book": "depth",
    "ticker": "ticker",
    "last_price": "lastprice",
}
"""Framework channel -> Cryptomus kind (``<kind>_subscribe``, ``<kind>_update``)."""
_KINDS: Final = ("trade", "depth", "ticker", "lastprice", "order", "deal", "balance")
# Methods whose replies are acks; the union does not type them (see the module docstring).
_ACKED: Final = frozenset(
    f"{kind}_{verb}" for kind in _KINDS for verb in ("subscribe", "unsubscribe")
)
_ALL: Final = ("all",)
_NS: Final = 1_000_000_000
_MAX_SYMBOLS: Final = 4096  # bounds the symbol cache against a feed that invents symbols
_EXCERPT_BYTES: Final = 1024  # errors.py keeps 200 characters; never copy a huge frame whole
_price: Final = itemgetter(0)
_Trade: Final = ev.Trade  # one global lookup instead of two on the hot path


class _Envelope(msgspec.Struct, frozen=True, gc=False):
    """Any reply, loosely: what the fallback path reads when the union cannot type a frame."""

    id: int | str | None
    data: msgspec.Raw
    error: ErrorBody | None
    method: str | UnsetType = UNSET


_INBOUND: Final = msgspec.json.Decoder(Inbound)
_ENVELOPE: Final = msgspec.json.Decoder(_Envelope)
_ACK_DATA: Final = msgspec.json.Decoder(AckData)
_ENCODER: Final = msgspec.json.Encoder()


class CryptomusCodec:
    """The Cryptomus exchange WebSocket, as a sans-IO :class:`~framework.providers.base.Codec`.

    Request ids come from a per-connection counter starting at 1; :meth:`reset` restarts it.
    """

    name: str = NAME
    wire_type: Final = Inbound  # what decode_wire accepts; see framework.providers.base

    def __init__(self) -> None:
        self._next_id = 1
        self._instruments: dict[str, str] = {}
        # The last symbol decoded: feeds repeat it, and a string compare costs less than
        # hashing a freshly decoded string for the dict.
        self._last_symbol = ""
        self._last_instrument = ""
        self.screen = validation.Screen(NAME)  # drops invalid market data, counting why

    def url(
        self, subs: Sequence[base.Subscription], host: str = DEFAULT_HOST, key: str = ""
    ) -> str:
        """The connection URL: ``wss://{host}/ws?token={key}``.

        Args:
            subs: unused; Cryptomus subscribes after connecting.
            host: a host (``api-ws.cryptomus.com``) or a base URL with a ``ws://``/``wss://``
                scheme (``ws://127.0.0.1:8765``); a base URL with a path keeps its path.
            key: the one-time token from the token request. It is a secret: redact the URL.

        Raises:
            ConfigError: ``host`` has a scheme other than ``ws`` or ``wss``.
        """
        base_url = (host or DEFAULT_HOST).rstrip("/")
        if "://" not in base_url:
            base_url = f"wss://{base_url}"
        parts = urlsplit(base_url)
        if parts.scheme not in ("ws", "wss"):
            raise ConfigError(f"cryptomus host {host!r}: the scheme must be ws:// or wss://")
        if not parts.path:
            base_url += "/ws"
        return f"{base_url}?token={quote(key, safe='')}"

    def subscribe(self, subs: Sequence[base.Subscription]) -> list[str]:
        """One ``<kind>_subscribe`` frame per channel, in the order channels first appear.

        Raises:
            ConfigError: a subscription names a channel Cryptomus does not offer (``bars``).
        """
        return self._requests(subs, "subscribe")

    def unsubscribe(self, subs: Sequence[base.Subscription]) -> list[str]:
        """One ``<kind>_unsubscribe`` frame per channel, like :meth:`subscribe`."""
        return self._requests(subs, "unsubscribe")

    def heartbeat(self) -> str:
        """``{"id":N,"method":"ping","params":[]}``; the server wants one at least every 60 s."""
        return self.request("ping", ())

    def order_subscribe(self, params: Sequence[str] = _ALL) -> str:
        """Subscribe to the private ``order_update`` channel (all markets by default)."""
        return self.request("order_subscribe", params)

    def deal_subscribe(self, params: Sequence[str] = _ALL) -> str:
        """Subscribe to the private ``deal_update`` channel (all markets by default)."""
        return self.request("deal_subscribe", params)

    def balance_subscribe(self, params: Sequence[str] = _ALL) -> str:
        """Subscribe to the private ``balance_update`` channel (all currencies by default)."""
        return self.request("balance_subscribe", params)

    def request(self, method: str, params: Sequence[str]) -> str:
        """Any request, with the next request id: ``{"id":N,"method":...,"params":[...]}``."""
        request_id, self._next_id = self._next_id, self._next_id + 1
        return _ENCODER.encode(Request(request_id, method, list(params))).decode("utf-8")

    def reset(self) -> None:
        """Forget the connection: request ids start again at 1."""
        self._next_id = 1

    def decode(self, frame: bytes | str | msgspec.Raw, ts_recv_ns: int) -> list[base.Decoded]:
        """Decode one frame into events and control replies, in frame order.

        Args:
            frame: the frame as received, or as a recording hands it over (``msgspec.Raw``).
            ts_recv_ns: when the frame arrived, integer nanoseconds.

        Raises:
            ProviderProtocolError: the frame breaks the documentation; nothing else is raised.
        """
        validation.check_depth(NAME, frame)
        try:
            msg = _INBOUND.decode(frame)
        except msgspec.ValidationError as exc:
            return [self._reply(frame, exc)]
        except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
            raise _malformed(frame, exc) from exc
        return self.decode_wire(msg, ts_recv_ns, frame)

    def decode_wire(
        self, msg: Inbound, ts_recv_ns: int, frame: bytes | str | msgspec.Raw = b""
    ) -> list[base.Decoded]:
        """Turn an already decoded :data:`wire_type` message into events (the replay fast path).

        A recording reader may decode frames straight into :data:`wire_type` while it parses
        the recording's lines, saving a second JSON pass; ``decode`` is exactly ``decode_wire``
        of ``_INBOUND.decode(frame)``. ``frame`` only feeds error excerpts.
        """
        if type(msg) is TradeUpdate:
            # The replay hot path: one trade per push. Inline, because a call or a
            # comprehension would cost a third of the whole decode.
            data = msg.data
            trades = data.trades
            if len(trades) == 1:
                symbol = data.symbol
                if symbol == self._last_symbol:
                    instrument = self._last_instrument
                else:
                    instrument = self._instrument(symbol)
                t = trades[0]
                return self.screen(
                    [
                        _Trade(
                            NAME, instrument, symbol, t.timestamp * _NS, ts_recv_ns,
                            t.price, t.quantity, t.direction,
                        )
                    ],
                    ts_recv_ns,
                )  # fmt: skip
        try:
            return self.screen(self._route(msg, frame, ts_recv_ns), ts_recv_ns)
        except ProviderProtocolError as exc:
            if frame:
                raise
            # Decoded ahead by a recording reader: rebuild an excerpt only now, on error.
            raise ProviderProtocolError(NAME, _ENCODER.encode(msg), exc.reason, exc.path) from exc

    def _trades(self, data: TradeData, ts: int) -> list[base.Decoded]:
        symbol = data.symbol
        instrument = self._instrument(symbol)
        return [
            _Trade(
                NAME, instrument, symbol, t.timestamp * _NS, ts, t.price, t.quantity, t.direction
            )
            for t in data.trades
        ]

    def _route(self, msg: Inbound, frame: bytes | str | msgspec.Raw, ts: int) -> list[base.Decoded]:
        match msg:
            case TradeUpdate(data=d):
                return self._trades(d, ts)
            case DepthUpdate(data=d):
                return [self._book(d, frame, ts)]
            case TickerUpdate(data=d):
                return [self._ticker(d, frame, ts)]
            case LastPriceUpdate(data=d):
                price = _num(frame, d.price, "price")
                symbol = d.symbol
                return [
                    ev.LastPrice(
                        NAME, self._instrument(symbol), symbol, d.timestamp * _NS, ts, price
                    )
                ]
            case OrderUpdate():
                return [ev.OrderUpdate(id=msg.id, data=msg.data)]
            case DealUpdate():
                return [ev.DealUpdate(id=msg.id, data=msg.data)]
            case BalanceUpdate():
                return [ev.BalanceUpdate(id=msg.id, data=msg.data)]
            case Pong():
                return [base.Pong(NAME, msg.id)]

    def _ticker(self, d: TickerData, frame: bytes | str | msgspec.Raw, ts: int) -> base.Decoded:
        return ev.Ticker(
            NAME, self._instrument(d.symbol), d.symbol, d.timestamp * _NS, ts,
            _num(frame, d.price, "price"), _num(frame, d.open, "open"),
            _num(frame, d.high, "high"), _num(frame, d.low, "low"),
            _num(frame, d.volume, "volume"), _num(frame, d.quote_volume, "quote_volume"),
            _num(frame, d.price_change, "price_change"),
        )  # fmt: skip

    def _book(self, d: DepthData, frame: bytes | str | msgspec.Raw, ts: int) -> base.Decoded:
        bids = _levels(d.bids, frame, "bids")
        asks = _levels(d.asks, frame, "asks")
        bids.sort(key=_price, reverse=True)
        asks.sort(key=_price)
        args = (NAME, self._instrument(d.symbol), d.symbol, d.timestamp * _NS, ts)
        if d.full_reload:
            return ev.BookSnapshot(*args, tuple(bids), tuple(asks))
        return ev.BookDelta(*args, tuple(bids), tuple(asks))

    def _reply(
        self, frame: bytes | str | msgspec.Raw, union_exc: msgspec.ValidationError
    ) -> base.Decoded:
        """The fallback path: an ack or an error reply, or else the union's complaint."""
        try:
            env = _ENVELOPE.decode(frame)
        except msgspec.ValidationError as exc:
            # When the union could not even tell the frame's type, the envelope's reason is
            # the more precise one; otherwise the union's names the documented field.
            untyped = _where(union_exc)[1] in ("", "$.method")
            raise _invalid(frame, exc if untyped else union_exc) from union_exc
        except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
            # The union stopped at a bad tag before reaching the broken JSON further on.
            raise _malformed(frame, exc) from exc
        if env.error is not None:
            return base.ErrorReply(NAME, env.error.code, env.error.message, env.id)
        if env.method is not UNSET and env.method not in _ACKED:
            raise _invalid(frame, union_exc) from union_exc
        try:
            data = _ACK_DATA.decode(env.data)
        except msgspec.DecodeError as exc:
            reason, path = _where(exc)
            raise _error(frame, reason, "$.data" + path[1:]) from exc
        detail = "" if env.method is UNSET else env.method
        if data.status == "success":
            return base.Ack(NAME, env.id, detail)
        message = f"{detail or 'request'} answered status {data.status!r}"
        return base.ErrorReply(NAME, data.status, message, env.id)

    def _instrument(self, symbol: str) -> str:
        """The canonical id of a native symbol, remembered (framework.instruments decides)."""
        if symbol == self._last_symbol:
            return self._last_instrument
        instrument = self._instruments.get(symbol)
        if instrument is None:
            if len(symbol) > validation.MAX_SYMBOL:
                return from_cryptomus(symbol)  # the rule set drops its event; nothing is kept
            if len(self._instruments) >= _MAX_SYMBOLS:
                self._instruments.clear()
            instrument = self._instruments[symbol] = from_cryptomus(symbol)
        self._last_symbol, self._last_instrument = symbol, instrument
        return instrument

    def _requests(self, subs: Sequence[base.Subscription], verb: str) -> list[str]:
        # dicts, not sets: frames and params keep the order the caller gave (determinism).
        params: dict[str, dict[str, None]] = {}
        for sub in subs:
            kind = CHANNEL_KINDS.get(sub.channel)
            if kind is None:
                raise ConfigError(
                    f"cryptomus has no {sub.channel!r} channel (candles are not offered); "
                    f"use one of {', '.join(CHANNEL_KINDS)}"
                )
            param = (
                f"{sub.symbol}:{sub.depth}"
                if kind == "depth" and sub.symbol != "all"
                else sub.symbol
            )
            params.setdefault(kind, {})[param] = None
        return [self.request(f"{kind}_{verb}", list(p)) for kind, p in params.items()]


def _levels(
    raw: list[tuple[str, str]], frame: bytes | str | msgspec.Raw, side: str
) -> list[ev.Level]:
    try:
        levels = [(float(p), float(q)) for p, q in raw]
    except ValueError:
        levels = []
    # One sum catches nan and inf anywhere (float() accepts both spellings).
    if len(levels) == len(raw) and math.isfinite(sum(p + q for p, q in levels)):
        return levels
    for i, level in enumerate(raw):
        for j, text in enumerate(level):
            _num(frame, text, f"{side}[{i}][{j}]")
    raise _error(frame, "book levels out of range", f"$.data.{side}")


def _num(frame: bytes | str | msgspec.Raw, text: str, field: str) -> float:
    """A documented decimal string as a float, or ProviderProtocolError at ``$.data.<field>``."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if math.isfinite(value):
        return value
    raise _error(frame, f"expected a decimal string, got {text[:40]!r}", f"$.data.{field}")


def _where(exc: msgspec.DecodeError) -> tuple[str, str]:
    """Split msgspec's "reason - at `$.path`" into (reason, path)."""
    reason, _, path = str(exc).partition(" - at `")
    return reason, path.rstrip("`")


def _invalid(
    frame: bytes | str | msgspec.Raw, exc: msgspec.ValidationError
) -> ProviderProtocolError:
    return _error(frame, *_where(exc))


def _malformed(frame: bytes | str | msgspec.Raw, exc: Exception) -> ProviderProtocolError:
    if not isinstance(exc, RecursionError) and len(frame) == 0:
        return _error(frame, "empty frame", "")
    return _error(frame, f"invalid JSON: {exc}", "")


def _error(frame: bytes | str | msgspec.Raw, reason: str, path: str) -> ProviderProtocolError:
    if not isinstance(frame, str):
        frame = bytes(memoryview(frame)[:_EXCERPT_BYTES])
    return ProviderProtocolError(NAME, frame, reason, path)


SPEC: Final = base.Provider(
    name=NAME,
    codec=lambda options: CryptomusCodec(),
    from_native=lambda symbol, options: from_cryptomus(symbol),
    heartbeat_s=50.0,  # a ping within every 50 s: the server drops a socket idle for 60 s
    reconnect_spacing_s=lambda options: 1.0,
    ws_token=True,  # the socket's token comes from the REST API, with the key and a user id
    key_env="CRYPTOMUS_API_KEY",
    user_id_env="CRYPTOMUS_USER_ID",
)
"""Cryptomus, described once (see ``providers.base.Provider``)."""
