"""AllTick WebSocket wire messages: one msgspec Struct per documented message, both ways.

Field names are the documented JSON keys, verbatim, each with its meaning. Every message
carries ``cmd_id``, so requests (:data:`Request`) and server frames (:data:`Inbound`) are
unions tagged by it, each decoded in one pass; the AllTick emulator decodes client requests
and encodes server frames with the same types as the codec.

Data only: no decoding logic, no I/O. ``framework.providers.alltick`` re-exports the
Structs and the ``Request`` and ``Inbound`` unions; import them from there.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "MAX_SEQ",
    "Cancel",
    "CancelData",
    "CancelReply",
    "DepthSubscribe",
    "DepthSubscribeData",
    "DepthSubscribeReply",
    "DepthSymbol",
    "Empty",
    "HeaderInvalidReply",
    "Heartbeat",
    "HeartbeatReply",
    "Inbound",
    "OrderBook",
    "OrderBookPush",
    "PriceLevel",
    "Reply",
    "Request",
    "TradeSubscribe",
    "TradeSubscribeData",
    "TradeSubscribeReply",
    "TradeSymbol",
    "TradeTick",
    "TradeTickPush",
]

MAX_SEQ: Final = 0xFFFFFFFF  # seq_id is a uint32

_Seq = Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)]
_Trace = Annotated[str, msgspec.Meta(max_length=64)]
_Depth = Annotated[int, msgspec.Meta(ge=1)]


# --- client requests -------------------------------------------------------------------------


class Empty(msgspec.Struct, frozen=True, gc=False):
    """The documented ``{}`` body of heartbeats and replies; unknown keys are ignored."""


class DepthSymbol(msgspec.Struct, frozen=True, gc=False):
    code: str  # product code, case-sensitive: "700.HK", "EURUSD"
    depth_level: _Depth | UnsetType = UNSET  # levels wanted; absent = 1 level


class TradeSymbol(msgspec.Struct, frozen=True, gc=False):
    code: str  # product code, case-sensitive


class DepthSubscribeData(msgspec.Struct, frozen=True, gc=False):
    symbol_list: tuple[DepthSymbol, ...]  # the complete depth list; replaces the previous one


class TradeSubscribeData(msgspec.Struct, frozen=True, gc=False):
    symbol_list: tuple[TradeSymbol, ...]  # the complete trade list; replaces the previous one


class CancelData(msgspec.Struct, frozen=True, gc=False):
    cancel_type: Literal[0, 1, 2]  # 0 all, 1 depth only, 2 trades only


class _Request(msgspec.Struct, frozen=True, gc=False, tag_field="cmd_id"):
    seq_id: _Seq  # chosen by the client, echoed in the reply; may repeat
    trace: _Trace  # chosen by the client, echoed in the reply; unique per request


class Heartbeat(_Request, frozen=True, gc=False, tag=22000):
    """22000: keep-alive, every 10 s."""

    data: Empty  # always {}


class DepthSubscribe(_Request, frozen=True, gc=False, tag=22002):
    """22002: subscribe order books (replaces the depth list)."""

    data: DepthSubscribeData  # the codes and their depth


class TradeSubscribe(_Request, frozen=True, gc=False, tag=22004):
    """22004: subscribe trade ticks (replaces the trade list)."""

    data: TradeSubscribeData  # the codes


class Cancel(_Request, frozen=True, gc=False, tag=22006):
    """22006: cancel subscriptions of one kind or both."""

    data: CancelData  # which kind


Request = Heartbeat | DepthSubscribe | TradeSubscribe | Cancel


# --- server replies ----------------------------------------------------------------------------
# msgspec writes the tag first, so an encoded reply reads {"cmd_id":..,"ret":..,"msg":..}; the
# documented examples put ret and msg first. JSON key order carries no meaning here.


class _Reply(msgspec.Struct, frozen=True, gc=False, tag_field="cmd_id"):
    ret: int  # result code, see RET_TEXTS; 200 = ok
    msg: str  # the code's text
    seq_id: int  # the request's seq_id, echoed (0 when cmd_id is 0)
    trace: str  # the request's trace, echoed ("" when cmd_id is 0)
    data: Empty = Empty()  # always {}


class HeaderInvalidReply(_Reply, frozen=True, gc=False, tag=0):
    """cmd_id 0: an unparsable request header (ret 400, 201 in examples), or a bad token (401)."""


class HeartbeatReply(_Reply, frozen=True, gc=False, tag=22001):
    """22001: the reply to a heartbeat."""


class DepthSubscribeReply(_Reply, frozen=True, gc=False, tag=22003):
    """22003: the reply to a depth subscription."""


class TradeSubscribeReply(_Reply, frozen=True, gc=False, tag=22005):
    """22005: the reply to a trade subscription."""


class CancelReply(_Reply, frozen=True, gc=False, tag=22007):
    """22007: the reply to a cancel."""


# Every server reply: what the codec turns into an Ack, a Pong or an ErrorReply.
Reply = (
    HeaderInvalidReply | HeartbeatReply | DepthSubscribeReply | TradeSubscribeReply | CancelReply
)


# --- server pushes -----------------------------------------------------------------------------


class TradeTick(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    code: str  # product code
    seq: int | str  # quote sequence number (a string in older docs)
    tick_time: int | str  # trade time, ms (a string in older docs; an example shows seconds)
    price: str  # trade price, a decimal string
    volume: str  # trade volume, a decimal string
    turnover: str | UnsetType = UNSET  # price * volume; absent for forex, metals, energy
    trade_direction: int | str  # 0 neutral, 1 aggressive buy, 2 aggressive sell


class TradeTickPush(msgspec.Struct, frozen=True, gc=False, tag_field="cmd_id", tag=22998):
    """22998: one trade."""

    data: TradeTick  # the trade


class PriceLevel(msgspec.Struct, frozen=True, gc=False):
    price: str  # level price; "0" on the empty side at limit-up or limit-down
    volume: str | UnsetType = UNSET  # level size; absent or "0" where only prices are given


class OrderBook(msgspec.Struct, frozen=True, gc=False):
    code: str  # product code ("HK-1288" in one documented example)
    seq: int | str  # quote sequence number (a string in older docs)
    tick_time: int | str  # book time, ms (a string in older docs; an example shows seconds)
    bids: tuple[PriceLevel, ...]  # best first, top N; may be empty
    asks: tuple[PriceLevel, ...]  # best first, top N; may be empty


class OrderBookPush(msgspec.Struct, frozen=True, gc=False, tag_field="cmd_id", tag=22999):
    """22999: a full snapshot of the top N levels (no deltas)."""

    data: OrderBook  # the book


Inbound = (TradeTickPush | OrderBookPush | HeartbeatReply | DepthSubscribeReply
           | TradeSubscribeReply | CancelReply | HeaderInvalidReply)  # fmt: skip
