"""Private events, encoded exactly as the Cryptomus private channels document them.

Each frame gets ``id`` = a running counter per exchange, as a string (``"1"``, ``"2"``...), as
the documented examples write it. Times are Unix seconds of the simulated clock. Money is
rendered with ``framework.money``: 16 decimals, and ``newBalance`` with 8, as documented.

``order_update`` fields, per type (as the documented examples show them):

* ``created``: no ``updateTs``, ``finishTs``, ``state`` or ``internalState``;
* ``updated``: adds ``updateTs`` (the fill's time);
* ``finished``: adds ``finishTs``, ``state`` and ``internalState`` (see ``orders``).

``price`` is the limit price, and 0 for a market order. ``quantity`` is the requested base
quantity (0 for a market buy by value); ``value`` is price x quantity for a limit order, and for
a market order the requested quote value (0 for an order by quantity), so neither changes over
the order's life. ``filledQuantity`` and ``filledValue`` are the sums of the order's deals.

``deal_update``: one per fill. ``dealId`` is one per order (made at its first fill),
``transactionId`` one per fill, ``dealState`` always ``completed`` (the fill is committed),
``fee`` and ``feeCurrency`` in the market's quote currency, ``tradeRole`` ``maker`` or ``taker``.

Each fill is also handed, as a :class:`DealRecord` with its exact Decimals, to ``on_deal``: the
one record of a fill that the run's views (``fills.csv``, the statistics) are made from, so
nothing downstream parses a rendered string back or looks an order up by its deal id.

``balance_update``: ``walletId`` is stable per currency, derived from the seed and the currency
code alone, so it is the same in every run with the same seed.

This module builds and hands over frames; it decides nothing about orders or balances.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from decimal import Decimal
from typing import Final, Literal

import msgspec
from msgspec import UNSET, UnsetType

from framework import events as ev
from framework.exchange.accounts import BalanceChange
from framework.exchange.matching import Fill
from framework.exchange.orders import Order, OrderRequest, finished_states
from framework.exchange.validation import Rejection
from framework.ids import UlidGenerator
from framework.instruments import to_cryptomus
from framework.money import ZERO, at16, quantize, render, render8

__all__ = ["DealRecord", "Frames", "seconds", "wallet_id"]

_NS_PER_S: Final = 1_000_000_000
# Wallets are made "when the account opened"; a fixed instant keeps their ids stable.
_WALLET_EPOCH_NS: Final = 1_704_067_200 * _NS_PER_S  # 2024-01-01T00:00:00Z
_ZERO_TEXT: Final = render(ZERO)  # "0.0000000000000000"


class DealRecord(msgspec.Struct, frozen=True, gc=False):
    """One fill as the venue made it, money exact: what its ``deal_update`` renders, each
    amount at the event's 16 decimals."""

    ts_ns: int  # the fill's simulated time in whole seconds (its ``committedAt``), in ns
    order_id: str
    deal_id: str
    transaction_id: str
    instrument: str  # canonical id, "BTC/USDT"
    symbol: str  # Cryptomus spelling, "BTC_USDT"
    side: Literal["buy", "sell"]
    role: Literal["maker", "taker"]
    price: Decimal
    quantity: Decimal  # base
    value: Decimal  # quote, price x quantity at the market's quote precision
    fee: Decimal
    fee_currency: str


def seconds(ts_ns: int) -> int:
    """Unix seconds of a simulated time in ns."""
    return ts_ns // _NS_PER_S


def wallet_id(seed: int, currency: str) -> str:
    """The stable wallet id (a ULID) of ``currency`` for a run seeded with ``seed``."""
    digest = hashlib.sha256(f"{seed}:{currency}".encode()).digest()
    return UlidGenerator(int.from_bytes(digest[:8], "big")).new(_WALLET_EPOCH_NS)


class Frames:
    """Builds private-event frames and passes each to ``emit`` in the order they happen."""

    def __init__(
        self,
        emit: Callable[[ev.PrivateEvent], None],
        seed: int,
        on_deal: Callable[[DealRecord], None] | None = None,
    ) -> None:
        self._emit = emit
        self._on_deal = on_deal
        self._seed = seed
        self._count = 0
        self._wallets: dict[str, str] = {}

    def order(
        self, kind: Literal["created", "updated", "finished"], order: Order, ts_ns: int
    ) -> None:
        """An ``order_update`` of type ``kind`` describing ``order`` as it is now."""
        req = order.req
        fixed = order.rendered
        if fixed is None:
            fixed = order.rendered = _fixed_fields(order)
        symbol, price, quantity, value = fixed
        update_ts: int | UnsetType = UNSET
        finish_ts: int | UnsetType = UNSET
        state: str | UnsetType = UNSET
        internal: str | UnsetType = UNSET
        if kind == "updated":
            update_ts = seconds(ts_ns)
        elif kind == "finished":
            finish_ts = seconds(ts_ns)
            state, internal = finished_states(order)
        # Rendered by the deal_update just before (one fill so far), or zero, or now.
        known = order.filled_text
        if known is not None and known[0] is order.filled_qty and known[1] is order.filled_value:
            filled_qty, filled_value = known[2], known[3]
        elif not order.filled_qty and not order.filled_value:
            filled_qty = filled_value = _ZERO_TEXT
        else:
            filled_qty, filled_value = render(order.filled_qty), render(order.filled_value)
        info = ev.OrderInfo(
            id=order.id,
            symbol=symbol,
            orderType=req.type,
            direction=req.direction,
            price=price,
            quantity=quantity,
            value=value,
            filledQuantity=filled_qty,
            filledValue=filled_value,
            clientOid=req.client_order_id,
            createTs=order.create_ts,
            updateTs=update_ts,
            finishTs=finish_ts,
            state=state,
            internalState=internal,
        )
        self._emit(ev.OrderUpdate(id=self._next(), data=ev.OrderUpdateData(type=kind, info=info)))

    def deal(
        self, order: Order, fill: Fill, value: Decimal, fee: Decimal, tx_id: str, ts_ns: int
    ) -> None:
        """A ``deal_update`` for one fill of ``order``."""
        # The record holds what the event says: each amount at the event's 16 decimals.
        quantity, value16 = at16(fill.quantity), at16(value)
        quantity_text, value_text = render(quantity), render(value16)
        if order.filled_qty == fill.quantity and order.filled_value == value:  # its first fill
            order.filled_text = (order.filled_qty, order.filled_value, quantity_text, value_text)
        committed = seconds(ts_ns)
        record = DealRecord(
            ts_ns=committed * _NS_PER_S,
            order_id=order.id,
            deal_id=order.deal_id or "",
            transaction_id=tx_id,
            instrument=order.req.instrument,
            symbol=_symbol(order),
            side=order.req.direction,
            role=fill.role,
            price=at16(fill.price),
            quantity=quantity,
            value=value16,
            fee=at16(fee),
            fee_currency=order.rules.quote_currency,
        )
        info = ev.DealInfo(
            dealId=record.deal_id,
            symbol=record.symbol,
            dealState="completed",
            transactionId=tx_id,
            filledPrice=render(record.price),
            filledQuantity=quantity_text,
            filledValue=value_text,
            fee=render(record.fee),
            feeCurrency=record.fee_currency,
            tradeRole=fill.role,
            committedAt=committed,
        )
        self._emit(ev.DealUpdate(id=self._next(), data=ev.DealUpdateData(info=info)))
        if self._on_deal is not None:
            self._on_deal(record)

    def balance(self, change: BalanceChange | None) -> None:
        """A ``balance_update`` for one change of an available balance (nothing for None)."""
        if change is None:
            return
        info = ev.BalanceInfo(
            walletId=self._wallet(change.currency),
            currencyCode=change.currency,
            amount=render(change.amount),
            oldBalance=render(change.old),
            newBalance=render8(change.new),
        )
        self._emit(ev.BalanceUpdate(id=self._next(), data=ev.BalanceUpdateData(info=info)))

    def rejected(
        self,
        rejection: Rejection,
        order_id: str,
        req: OrderRequest | None,
        order_type: str,
        ts_ns: int,
    ) -> None:
        """An ``order_rejected`` for a refused order or cancel (``order_type`` ``"cancel"``).

        ``req`` is the refused order's request, or for a cancel the named order's, if known.
        """
        info = ev.OrderRejectedInfo(
            code=rejection.code,
            message=rejection.message,
            symbol=to_cryptomus(req.instrument) if req else "",
            direction=req.direction if req and order_type != "cancel" else "",
            orderType=order_type,
            clientOid=req.client_order_id if req else None,
            orderId=order_id,
            ts=seconds(ts_ns),
        )
        self._emit(ev.OrderRejected(id=self._next(), data=ev.OrderRejectedData(info=info)))

    def _next(self) -> str:
        self._count += 1
        return str(self._count)

    def _wallet(self, currency: str) -> str:
        wallet = self._wallets.get(currency)
        if wallet is None:
            wallet = self._wallets[currency] = wallet_id(self._seed, currency)
        return wallet


def _fixed_fields(order: Order) -> tuple[str, str, str, str]:
    """Symbol, price, quantity and value of an ``order_update``: they never change."""
    req = order.req
    limit = req.type == "limit"
    price = req.price if limit and req.price is not None else ZERO
    quantity = req.quantity if req.quantity is not None else ZERO
    if limit:
        value = quantize(price * quantity, order.rules.quote_prec)
    else:
        value = req.value if req.value is not None else ZERO
    return (
        to_cryptomus(req.instrument),
        render(price) if price else _ZERO_TEXT,
        render(quantity) if quantity else _ZERO_TEXT,
        render(value) if value else _ZERO_TEXT,
    )


def _symbol(order: Order) -> str:
    fixed = order.rendered
    return fixed[0] if fixed is not None else to_cryptomus(order.req.instrument)
