"""Normalized events: what codecs produce, the bus carries, and strategies receive.

Three families, all frozen msgspec Structs:

* **Market events** (:data:`MarketEvent`): Trade, Bar, BarUpdate, BookSnapshot, BookDelta, Ticker,
  LastPrice. Each carries the provider (``venue``), the canonical instrument id
  (``framework.instruments``), the provider's native ``symbol``, and two integer-nanosecond
  stamps: ``ts_event_ns`` (the provider's time) and ``ts_recv_ns`` (when the frame arrived; the
  loop's clock follows it). Market data is float: it is what the feed said, not account money.
  The ``type`` tag is written first when an event is encoded (``papertrade inspect``).
* **Connection events** (:data:`ConnectionEvent`): Connected, Disconnected, Subscribed. Live
  sessions produce them, recordings keep them, replay reproduces them.
* **Private events** (:data:`PrivateEvent`): the paper exchange's output, shaped byte for byte
  as the Cryptomus private channels (``order_update``, ``deal_update``, ``balance_update``) plus
  the framework's own ``order_rejected``. Field names and order follow the documented examples;
  money fields are strings rendered by ``framework.money`` (16 decimals; ``newBalance`` as the
  documented example shows it, with 8), never Decimal objects, because msgspec would render a
  zero Decimal as ``"0E-16"``.

This module only defines data; it does no I/O and holds no state.
"""

from __future__ import annotations

import math
from typing import Final, Literal

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "UNKNOWN_SIZE",
    "BalanceInfo",
    "BalanceUpdate",
    "BalanceUpdateData",
    "Bar",
    "BarUpdate",
    "BookDelta",
    "BookSnapshot",
    "Connected",
    "ConnectionEvent",
    "DealInfo",
    "DealUpdate",
    "DealUpdateData",
    "Disconnected",
    "Event",
    "LastPrice",
    "Level",
    "MarketEvent",
    "OrderInfo",
    "OrderRejected",
    "OrderRejectedData",
    "OrderRejectedInfo",
    "OrderUpdate",
    "OrderUpdateData",
    "PrivateEvent",
    "Side",
    "Subscribed",
    "Ticker",
    "Trade",
]

Side = Literal["buy", "sell", ""]
"""Aggressor side of a trade; ``""`` where the provider does not say (AllTick direction 0)."""

Level = tuple[float, float]
"""One price level: (price, size). Size 0 is no level (in a BookDelta it removes the level);
:data:`UNKNOWN_SIZE` is a displayed price whose size the provider does not give."""

UNKNOWN_SIZE: Final = math.nan
"""The size of a level whose price is displayed but whose size is not (AllTick forex, metals)."""


class _Market(msgspec.Struct, frozen=True, gc=False, tag_field="type"):
    venue: str  # provider registry name: "cryptomus", "alltick", "finazon"
    instrument: str  # canonical id, the same across providers: "BTC/USDT", "AAPL.US"
    symbol: str  # the provider's own spelling: "BTC_USDT", "BTCUSDT", "BTC/USDT"
    ts_event_ns: int  # provider's event time, integer ns since the Unix epoch
    ts_recv_ns: int  # receive time of the frame, integer ns; the loop's clock follows it


class Trade(_Market, frozen=True, gc=False, tag="trade"):
    """One printed trade."""

    price: float
    size: float
    side: Side  # aggressor side


class Bar(_Market, frozen=True, gc=False, tag="bar"):
    """A closed OHLCV bar. ``ts_event_ns`` is the bar's open time."""

    interval_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class BarUpdate(_Market, frozen=True, gc=False, tag="bar_update"):
    """The bar still forming: same fields as :class:`Bar`, values may still change."""

    interval_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class BookSnapshot(_Market, frozen=True, gc=False, tag="book_snapshot"):
    """The full visible L2 book; replaces everything known before. Bids best first, asks best first."""

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


class BookDelta(_Market, frozen=True, gc=False, tag="book_delta"):
    """Changed L2 levels; a level with size 0 is removed. Applies on top of the last snapshot."""

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


class Ticker(_Market, frozen=True, gc=False, tag="ticker"):
    """24-hour statistics (Cryptomus ``ticker_update``)."""

    price: float
    open: float
    high: float
    low: float
    volume: float
    quote_volume: float
    price_change: float  # percent, as the provider sends it


class LastPrice(_Market, frozen=True, gc=False, tag="last_price"):
    """The last traded price (Cryptomus ``lastprice_update``)."""

    price: float


MarketEvent = Trade | Bar | BarUpdate | BookSnapshot | BookDelta | Ticker | LastPrice


# --- connection events -----------------------------------------------------------------------


class _Connection(msgspec.Struct, frozen=True, gc=False, tag_field="type"):
    venue: str  # provider registry name
    conn: int  # connection id within the run, from 1
    ts_ns: int  # when it happened (receive clock)


class Connected(_Connection, frozen=True, gc=False, tag="connected"):
    """A provider connection is open (URL redacted)."""

    url: str


class Disconnected(_Connection, frozen=True, gc=False, tag="disconnected"):
    """A provider connection is gone. Books from it are not to be trusted until a snapshot."""

    reason: str


class Subscribed(_Connection, frozen=True, gc=False, tag="subscribed"):
    """Subscriptions were (re)sent on a connection. Instruments are canonical ids."""

    instruments: tuple[str, ...]


ConnectionEvent = Connected | Disconnected | Subscribed


# --- private events: Cryptomus private-channel frames ------------------------------------------


class OrderInfo(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """``order_update.data.info``, fields in the documented order."""

    id: str  # order id, a ULID
    symbol: str  # market, "TRX_USDT"
    orderType: str  # "limit" | "market"
    direction: str  # "buy" | "sell"
    price: str  # 16 decimals
    quantity: str  # base quantity, 16 decimals
    value: str  # quote value, 16 decimals
    filledQuantity: str
    filledValue: str
    clientOid: str | None
    createTs: int  # Unix seconds
    updateTs: int | UnsetType = UNSET  # on "updated" only
    finishTs: int | UnsetType = UNSET  # on "finished" only
    state: str | UnsetType = UNSET  # on "finished": "completed" | "cancelled"
    internalState: str | UnsetType = UNSET  # on "finished": "filled" | "cancelled" | ...


class OrderUpdateData(msgspec.Struct, frozen=True, gc=False):
    type: Literal["created", "updated", "finished"]
    info: OrderInfo


class OrderUpdate(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A full ``order_update`` frame."""

    id: str | int  # request id; papertrade writes a string, as the documented examples do
    method: Literal["order_update"] = "order_update"
    data: OrderUpdateData
    error: None = None


class DealInfo(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """``deal_update.data.info``: one fill."""

    dealId: str
    symbol: str
    dealState: str  # "completed"
    transactionId: str
    filledPrice: str
    filledQuantity: str
    filledValue: str
    fee: str
    feeCurrency: str
    tradeRole: str  # "maker" | "taker"
    committedAt: int  # Unix seconds


class DealUpdateData(msgspec.Struct, frozen=True, gc=False):
    info: DealInfo


class DealUpdate(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A full ``deal_update`` frame."""

    id: str | int  # request id; papertrade writes a string, as the documented examples do
    method: Literal["deal_update"] = "deal_update"
    data: DealUpdateData
    error: None = None


class BalanceInfo(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """``balance_update.data.info``: one change of one currency's available balance."""

    walletId: str
    currencyCode: str
    amount: str  # size of the change, unsigned, 16 decimals
    oldBalance: str  # 16 decimals
    newBalance: str  # 8 decimals, as the documented example renders it


class BalanceUpdateData(msgspec.Struct, frozen=True, gc=False):
    info: BalanceInfo


class BalanceUpdate(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A full ``balance_update`` frame."""

    id: str | int  # request id; papertrade writes a string, as the documented examples do
    method: Literal["balance_update"] = "balance_update"
    data: BalanceUpdateData
    error: None = None


class OrderRejectedInfo(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """Why an order or cancel was refused, with Cryptomus's order-error code and wording.

    ``code``: 0 validation, 1 market, 2 precision, 3 range, 4 stop-loss, 5 order not found,
    6 insufficient balance, 7 client_order_id.
    """

    code: int
    message: str
    symbol: str
    direction: str  # "" for a cancel
    orderType: str  # "limit" | "market" | "cancel"
    clientOid: str | None
    orderId: str | None  # the order a cancel named, or the id submit() gave the refused order
    ts: int  # Unix seconds


class OrderRejectedData(msgspec.Struct, frozen=True, gc=False):
    info: OrderRejectedInfo


class OrderRejected(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """The framework's own ``order_rejected`` frame, shaped like the Cryptomus private frames."""

    id: str | int  # request id; papertrade writes a string, as the documented examples do
    method: Literal["order_rejected"] = "order_rejected"
    data: OrderRejectedData
    error: None = None


PrivateEvent = OrderUpdate | DealUpdate | BalanceUpdate | OrderRejected

Event = MarketEvent | ConnectionEvent | PrivateEvent
