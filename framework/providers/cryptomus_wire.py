"""Cryptomus WebSocket wire messages: one msgspec Struct per documented message, both ways.

Field names are the documented JSON keys, verbatim, each with its meaning. Server updates are a
union tagged by ``method`` (:data:`Inbound`), which the codec decodes in one pass; requests and
replies are plain Structs whose encoding keeps the documented key order, so the emulator can
decode what a client sends and answer exactly as the documentation shows. (A tagged Struct
encodes its tag first: ``{"method":"trade_update","id":0,...}``; the keys are the same.)

Data only: no decoding logic, no I/O. ``framework.providers.cryptomus`` re-exports every name.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, UnsetType

from framework import events as ev

__all__ = [
    "AckData",
    "BalanceUpdate",
    "DealUpdate",
    "DepthData",
    "DepthUpdate",
    "ErrorBody",
    "Inbound",
    "LastPriceData",
    "LastPriceUpdate",
    "OrderUpdate",
    "Pong",
    "Reply",
    "Request",
    "TickerData",
    "TickerUpdate",
    "TradeData",
    "TradeItem",
    "TradeUpdate",
]


# --- requests (client -> server) ---------------------------------------------------------------


class Request(msgspec.Struct, frozen=True, gc=False):
    """Every documented request: ``ping``, ``<kind>_subscribe``, ``<kind>_unsubscribe``."""

    id: int  # request id, echoed by the reply; unique per connection
    method: str  # "ping", "trade_subscribe", "depth_unsubscribe"...
    params: list[str]  # markets ("BTC_USDT"), "BTC_USDT:0" for depth, ["all"], or [] for ping


# --- replies (server -> client): acks, pong, errors ------------------------------------------


class AckData(msgspec.Struct, frozen=True, gc=False):
    """``data`` of a (un)subscribe ack."""

    status: str  # "success"; anything else is reported as an ErrorReply


class ErrorBody(msgspec.Struct, frozen=True, gc=False):
    """``error`` of a failed request."""

    code: int  # 1 = invalid message format, 2 = other errors
    message: str  # the server's wording


class Reply(msgspec.Struct, frozen=True, gc=False):
    """A reply in the documented key order: ack (with or without ``method``), pong, error.

    Decoding never yields it (acks and errors arrive through the fallback path, pong through
    the union); it exists so that replies can be encoded exactly as documented.
    """

    id: int | str | None  # the request's id
    method: str | UnsetType = UNSET  # "trade_subscribe", "pong"; unsubscribe acks omit it
    data: AckData | None = None  # null when the request failed
    error: ErrorBody | None = None  # null when it succeeded


class _Tagged(msgspec.Struct, frozen=True, gc=False, tag_field="method"):
    """Base of the frames the union types by ``method``."""

    id: int | str | None  # 0 in the public examples; private frames carry strings


class Pong(_Tagged, frozen=True, gc=False, tag="pong"):
    """``{"id":0,"method":"pong","data":null,"error":null}``: the reply to ``ping``."""

    data: None  # always null
    error: None  # always null


# --- updates (server -> client) -------------------------------------------------------------


class LastPriceData(msgspec.Struct, frozen=True, gc=False):
    """``lastprice_update.data``."""

    symbol: str  # market, "BTC_USDT"
    timestamp: Annotated[int, msgspec.Meta(ge=0)]  # Unix seconds
    price: str  # last price, decimal string


class LastPriceUpdate(_Tagged, frozen=True, gc=False, tag="lastprice_update"):
    """``lastprice_update``."""

    data: LastPriceData  # the pushed values
    error: None  # always null on an update


class DepthData(msgspec.Struct, frozen=True, gc=False):
    """``depth_update.data``: a full book or changed levels of one market and scale."""

    symbol: str  # market, "BTC_USDT"
    timestamp: Annotated[int, msgspec.Meta(ge=0)]  # Unix seconds
    full_reload: bool  # true: the whole book; false: changed levels, quantity "0" removes
    scale_index: int  # the depth scale subscribed to ("BTC_USDT:0" -> 0)
    asks: list[tuple[str, str]]  # [price, quantity] decimal strings, unordered
    bids: list[tuple[str, str]]  # [price, quantity] decimal strings, unordered


class DepthUpdate(_Tagged, frozen=True, gc=False, tag="depth_update"):
    """``depth_update``."""

    data: DepthData  # the pushed values
    error: None  # always null on an update


class TickerData(msgspec.Struct, frozen=True, gc=False):
    """``ticker_update.data``: 24-hour statistics; numbers are decimal strings."""

    symbol: str  # market, "BTC_USDT"
    timestamp: Annotated[int, msgspec.Meta(ge=0)]  # Unix seconds
    price: str  # last price
    open: str  # 24-hour open
    high: str  # 24-hour high
    low: str  # 24-hour low
    volume: str  # 24-hour base volume
    quote_volume: str  # 24-hour quote volume
    price_change: str  # 24-hour change, percent


class TickerUpdate(_Tagged, frozen=True, gc=False, tag="ticker_update"):
    """``ticker_update``."""

    data: TickerData  # the pushed values
    error: None  # always null on an update


class TradeItem(msgspec.Struct, frozen=True, gc=False):
    """One item of ``trade_update.data.trades``."""

    price: float  # a JSON number here, unlike every other price on this API
    quantity: float  # base quantity, a JSON number
    timestamp: Annotated[int, msgspec.Meta(ge=0)]  # Unix seconds
    direction: Literal["buy", "sell"]  # aggressor side


class TradeData(msgspec.Struct, frozen=True, gc=False):
    """``trade_update.data``."""

    symbol: str  # market, "BTC_USDT"
    timestamp: Annotated[int, msgspec.Meta(ge=0)]  # Unix seconds of the push
    trades: list[TradeItem]  # oldest first, as sent


class TradeUpdate(_Tagged, frozen=True, gc=False, tag="trade_update"):
    """``trade_update``: one ``Trade`` per item of ``data.trades``."""

    data: TradeData  # the pushed values
    error: None  # always null on an update


class OrderUpdate(msgspec.Struct, frozen=True, gc=False, tag_field="method", tag="order_update"):
    """``order_update``, decoded into ``framework.events.OrderUpdate`` (which also encodes it)."""

    id: str | int  # a string in the documented examples
    data: ev.OrderUpdateData  # type (created | updated | finished) and info
    error: None  # always null on an update


class DealUpdate(msgspec.Struct, frozen=True, gc=False, tag_field="method", tag="deal_update"):
    """``deal_update``, decoded into ``framework.events.DealUpdate``."""

    id: str | int  # a string in the documented examples
    data: ev.DealUpdateData  # info: one fill
    error: None  # always null on an update


class BalanceUpdate(
    msgspec.Struct, frozen=True, gc=False, tag_field="method", tag="balance_update"
):
    """``balance_update``, decoded into ``framework.events.BalanceUpdate``."""

    id: str | int  # a string in the documented examples
    data: ev.BalanceUpdateData  # info: one balance change
    error: None  # always null on an update


Inbound = (
    TradeUpdate
    | DepthUpdate
    | TickerUpdate
    | LastPriceUpdate
    | OrderUpdate
    | DealUpdate
    | BalanceUpdate
    | Pong
)
"""Every server frame the tagged union types."""
