"""Orders: the request a strategy sends, the record the venue keeps, and its state machine.

Rule 1: every change of an order's state goes through :func:`transition`, which looks it up in
the table below; a change the table does not list is a bug in the exchange and raises.
Rule 2: this module knows nothing about books, balances or events.

Theory of operation::

    pending --accept--> open --fill--> partially_filled --fill--> partially_filled
       |                 |  \\                |   \\
     reject           fill_all  cancel       fill_all  cancel / expire / stop_loss
       v                 v       expire         v        v
    rejected           filled    stop_loss    filled   cancelled / expired / stop_loss

``rejected`` never reaches the venue's book (the strategy gets an ``order_rejected``). Each of
``filled``, ``cancelled``, ``expired`` and ``stop_loss`` is final: the order gets exactly one
``order_update`` of type ``finished`` and nothing after it.

The ``order_update`` of a finished order says ``state`` ``completed`` when the whole order filled
and ``cancelled`` otherwise. Its ``internalState`` names the reason, prefixed with
``partially_filled_`` when some of the order had filled:

=================================  ==========================================================
internalState                      meaning
=================================  ==========================================================
``filled``                         everything filled (``state`` ``completed``)
``cancelled``                      cancelled by the strategy
``stop_loss``                      cancelled because the market reached its stop-loss price
``expired``                        an IOC, FOK or market order whose rest could not fill at once
``partially_filled_<reason>``      one of the three above, after a partial fill
=================================  ==========================================================
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final, Literal

import msgspec

from framework.exchange.rules import MarketRules
from framework.money import ZERO

__all__ = [
    "FINAL_STATES",
    "Order",
    "OrderRequest",
    "OrderState",
    "OrderView",
    "finished_states",
    "make_view",
    "transition",
]

OrderState = Literal[
    "pending",
    "open",
    "partially_filled",
    "filled",
    "cancelled",
    "expired",
    "stop_loss",
    "rejected",
]

_TRANSITIONS: Final[dict[tuple[str, str], OrderState]] = {
    ("pending", "accept"): "open",
    ("pending", "reject"): "rejected",
    ("open", "fill"): "partially_filled",
    ("open", "fill_all"): "filled",
    ("open", "cancel"): "cancelled",
    ("open", "expire"): "expired",
    ("open", "stop_loss"): "stop_loss",
    ("partially_filled", "fill"): "partially_filled",
    ("partially_filled", "fill_all"): "filled",
    ("partially_filled", "cancel"): "cancelled",
    ("partially_filled", "expire"): "expired",
    ("partially_filled", "stop_loss"): "stop_loss",
}
# The same table by state, then event: one lookup of two strings, no tuple to build and hash.
_NEXT: Final[dict[str, dict[str, OrderState]]] = {
    state: {event: to for (src, event), to in _TRANSITIONS.items() if src == state}
    for state, _ in _TRANSITIONS
}
FINAL_STATES: Final = frozenset({"filled", "cancelled", "expired", "stop_loss", "rejected"})


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What a strategy asks for. Checked when it reaches the venue, never when it is built.

    A limit order needs ``price`` and ``quantity``. A market buy gives either ``value`` (quote
    to spend, fees on top) or ``quantity`` (base to buy); a market sell gives ``quantity``.
    ``time_in_force`` ``ioc`` fills what it can at once and expires the rest; ``fok`` fills
    everything at once or nothing. Market orders are always immediate; ``fok`` makes a market
    order all or nothing too. ``stop_loss_price`` (limit orders only) cancels the order when
    the market reaches it: above the price for a buy, below it for a sell, as in Cryptomus's
    documented example (buy at 0.2964 with a stop-loss at 0.31).
    """

    instrument: str  # canonical id: "BTC/USDT"
    direction: Literal["buy", "sell"]
    type: Literal["limit", "market"]
    quantity: Decimal | None = None  # base quantity
    price: Decimal | None = None  # limit price, in quote
    value: Decimal | None = None  # market buy: quote to spend
    time_in_force: Literal["gtc", "ioc", "fok"] = "gtc"
    post_only: bool = False  # rejected (code 0) if it would take liquidity on arrival
    client_order_id: str | None = None  # unique per account, over the whole run
    stop_loss_price: Decimal | None = None


class OrderView(msgspec.Struct, frozen=True, kw_only=True):
    """A read-only picture of one open order, for strategies.

    ``state`` is ``pending`` while the order travels to the venue (latency), then ``open`` or
    ``partially_filled``. Market orders show ``price`` None; ``quantity`` is None for a buy by
    value.
    """

    id: str
    client_order_id: str | None
    instrument: str
    direction: str
    type: str
    price: Decimal | None
    quantity: Decimal | None
    value: Decimal | None
    filled_quantity: Decimal
    filled_value: Decimal
    time_in_force: str
    post_only: bool
    stop_loss_price: Decimal | None
    state: OrderState
    submitted_ns: int


class Order:
    """The venue's mutable record of one order. Account-side numbers are Decimal.

    ``price_f`` and ``stop_f`` are float copies of the limit and stop-loss prices, compared with
    float market data on the hot path. ``ahead`` is the displayed size (float, market units)
    queued ahead of a resting order at its price, or None when the depth was unknown as it
    started resting. ``reserve`` is what the account holds for the order, in ``hold_currency``.
    """

    __slots__ = (
        "ahead",
        "arrived_ns",
        "bar_floor_ns",
        "create_ts",
        "deal_id",
        "fees",
        "filled_qty",
        "filled_text",
        "filled_value",
        "hold_currency",
        "id",
        "price_f",
        "rendered",
        "req",
        "reserve",
        "rules",
        "seq",
        "state",
        "stop_f",
        "submitted_ns",
    )

    def __init__(
        self, order_id: str, req: OrderRequest, rules: MarketRules, seq: int, submitted_ns: int
    ) -> None:
        self.id = order_id
        self.req = req
        self.rules = rules
        self.seq = seq
        self.submitted_ns = submitted_ns
        self.arrived_ns = submitted_ns
        self.bar_floor_ns = submitted_ns  # bars that open before this never fill the order
        self.create_ts = 0
        self.state: OrderState = "pending"
        self.filled_qty = ZERO
        self.filled_value = ZERO
        self.fees = ZERO
        self.reserve = ZERO
        self.hold_currency = ""
        self.deal_id: str | None = None
        # its symbol and the parts of its order_update that never change over its life, so
        # rendered once (frames.Frames.order), not on every update.
        self.rendered: tuple[str, str, str] | None = None
        # filled_qty, filled_value and their text, when a deal_update has just rendered them.
        self.filled_text: tuple[Decimal, Decimal, str, str] | None = None
        self.ahead: float | None = None
        self.price_f = float(req.price) if req.type == "limit" and req.price is not None else 0.0
        stop = req.stop_loss_price
        self.stop_f: float | None = float(stop) if stop is not None else None

    @property
    def is_buy(self) -> bool:
        """True for a buy."""
        return self.req.direction == "buy"

    @property
    def is_open(self) -> bool:
        """True while the order is at the venue and not finished."""
        return self.state in ("open", "partially_filled")

    @property
    def remaining(self) -> Decimal:
        """Base quantity still to fill; for a market buy by value, 0 (it fills by value)."""
        quantity = self.req.quantity
        return quantity - self.filled_qty if quantity is not None else ZERO

    def view(self) -> OrderView:
        """A frozen picture of the order for strategies."""
        return make_view(
            self.id, self.req, self.state, self.submitted_ns, self.filled_qty, self.filled_value
        )


def make_view(
    order_id: str,
    req: OrderRequest,
    state: OrderState,
    submitted_ns: int,
    filled_quantity: Decimal = ZERO,
    filled_value: Decimal = ZERO,
) -> OrderView:
    """An :class:`OrderView` of a request in ``state`` (also for orders still travelling)."""
    return OrderView(
        id=order_id,
        client_order_id=req.client_order_id,
        instrument=req.instrument,
        direction=req.direction,
        type=req.type,
        price=req.price if req.type == "limit" else None,
        quantity=req.quantity,
        value=req.value,
        filled_quantity=filled_quantity,
        filled_value=filled_value,
        time_in_force=req.time_in_force,
        post_only=req.post_only,
        stop_loss_price=req.stop_loss_price,
        state=state,
        submitted_ns=submitted_ns,
    )


def transition(order: Order, event: str) -> OrderState:
    """Move ``order`` to its next state for ``event`` and return that state.

    Raises:
        RuntimeError: the table has no such transition; the exchange broke its own rules.
    """
    try:
        order.state = _NEXT[order.state][event]
    except KeyError:
        raise RuntimeError(
            f"order {order.id}: no transition from {order.state!r} on {event!r}"
        ) from None
    return order.state


def finished_states(order: Order) -> tuple[str, str]:
    """The ``state`` and ``internalState`` of a finished order's last ``order_update``."""
    if order.state == "filled":
        return "completed", "filled"
    prefix = "partially_filled_" if order.filled_qty > 0 else ""
    return "cancelled", prefix + order.state
