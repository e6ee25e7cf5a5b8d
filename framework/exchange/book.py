"""What the venue knows about one market: the feed's L2 book, its last prices, and our orders.

The L2 book is two dicts of float price -> float size, updated in place from snapshots and
deltas; nothing is sorted until an order needs to walk it. Beside each side sits the size our
own taker fills consumed at each price: that liquidity stays consumed until the feed refreshes
the level (a delta that names the price, or a snapshot), so two orders never fill from the same
displayed size. A book is trusted from a snapshot until its venue disconnects.

Our resting orders are indexed by price per side, and four float thresholds summarise them
(highest bid, lowest ask, lowest buy stop-loss, highest sell stop-loss), so that a trade in a
market with orders resting far away costs four comparisons.

Which data the market has decides how orders fill (see ``matching``): :meth:`Market.mode` is
``"book"`` with a trusted book, else ``"trades"`` once a trade, last price or ticker was seen,
else ``"bars"`` once a closed bar was seen, else ``"none"``.

This module keeps state and answers questions about it; it decides no fills and emits nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

from framework.events import Level
from framework.exchange.orders import Order
from framework.exchange.rules import MarketRules
from framework.instruments import to_cryptomus

__all__ = ["INF", "Market", "Mode", "available_size"]

INF: Final = float("inf")
_DIGITS: Final = 13  # price and size bounds keep every product inside 28 significant digits
Mode = Literal["book", "trades", "bars", "none"]


class Market:
    """One market's book, prices and resting orders. Attributes are read by the matcher."""

    __slots__ = (
        "active",
        "ask_levels",
        "asks",
        "bar_close_ns",
        "bid_levels",
        "bids",
        "has_bars",
        "has_trades",
        "hi_bid",
        "instrument",
        "last",
        "lo_ask",
        "orders",
        "price_cap",
        "price_floor",
        "rules",
        "size_cap",
        "stop_down",
        "stop_up",
        "symbol",
        "taken_asks",
        "taken_bids",
        "trusted",
        "venue",
        "waiting",
    )

    def __init__(self, instrument: str, rules: MarketRules) -> None:
        self.instrument = instrument
        self.symbol = to_cryptomus(instrument)
        self.rules = rules
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.taken_bids: dict[float, float] = {}
        self.taken_asks: dict[float, float] = {}
        self.trusted = False
        self.venue = ""
        self.last: float | None = None
        self.has_trades = False
        self.has_bars = False
        self.bar_close_ns: int | None = None  # when the last closed bar seen ended
        self.orders: dict[str, Order] = {}  # resting, in arrival order
        self.waiting: list[Order] = []  # bars only: orders that fill at the next bar's open
        self.bid_levels: dict[float, list[Order]] = {}
        self.ask_levels: dict[float, list[Order]] = {}
        self.active = False
        self.hi_bid = -INF
        self.lo_ask = INF
        self.stop_up = INF
        self.stop_down = -INF
        # The prices and sizes the market's precisions can express as exact money: a price
        # below one unit of quote_prec would be quantized to zero, one too large would not fit
        # the 28 digits of decimal arithmetic. Market data outside them is ignored.
        self.price_floor = 10.0**-rules.quote_prec
        self.price_cap = 10.0 ** (_DIGITS - rules.quote_prec)
        self.size_cap = 10.0 ** (_DIGITS - rules.base_prec)

    def fits(self, price: float, size: float = 0.0) -> bool:
        """Whether a price and size can be traded on in this market (see ``price_floor``)."""
        return self.price_floor <= price <= self.price_cap and 0.0 <= size <= self.size_cap

    def fitting(self, levels: tuple[Level, ...]) -> tuple[Level, ...]:
        """``levels`` without those :meth:`fits` refuses (the same tuple when none is)."""
        for price, size in levels:
            if not self.fits(price, size):
                return tuple(level for level in levels if self.fits(*level))
        return levels

    def mode(self) -> Mode:
        """How orders in this market fill now: by the book, by trades, by bars, or not at all."""
        if self.trusted:
            return "book"
        if self.has_trades:
            return "trades"
        return "bars" if self.has_bars else "none"

    # --- the feed's book -------------------------------------------------------------------

    def apply_snapshot(self, venue: str, bids: Sequence[Level], asks: Sequence[Level]) -> None:
        """Replace the book; every consumed size is forgotten and the book is trusted."""
        self.bids = {price: size for price, size in bids if size > 0}
        self.asks = {price: size for price, size in asks if size > 0}
        self.taken_bids.clear()
        self.taken_asks.clear()
        self.trusted = True
        self.venue = venue
        if self.active:  # every one of our levels may have changed
            _refresh_queues(self.bid_levels, self.bids, [(p, 0.0) for p in self.bid_levels])
            _refresh_queues(self.ask_levels, self.asks, [(p, 0.0) for p in self.ask_levels])

    def apply_delta(self, bids: Sequence[Level], asks: Sequence[Level]) -> None:
        """Apply changed levels (size 0 removes one); a changed level is no longer consumed."""
        _apply_levels(self.bids, self.taken_bids, bids)
        _apply_levels(self.asks, self.taken_asks, asks)
        if self.bid_levels:
            _refresh_queues(self.bid_levels, self.bids, bids)
        if self.ask_levels:
            _refresh_queues(self.ask_levels, self.asks, asks)

    def best_ask(self) -> float:
        """Lowest ask with size left after our own consumption, or +inf."""
        return min(
            (p for p, s in self.asks.items() if available_size(s, self.taken_asks, p) > 0),
            default=INF,
        )

    def best_bid(self) -> float:
        """Highest bid with size left after our own consumption, or -inf."""
        return max(
            (p for p, s in self.bids.items() if available_size(s, self.taken_bids, p) > 0),
            default=-INF,
        )

    def takes_part(self, order: Order, bar_open_ns: int, bar_close_ns: int) -> bool:
        """True if a bar can fill ``order``: the bar is after those known when the order
        arrived, and had not ended by then."""
        return bar_open_ns >= order.bar_floor_ns and bar_close_ns > order.arrived_ns

    def stop_reached(self, order: Order) -> bool:
        """True if the market is at or past ``order``'s stop-loss price right now."""
        stop = order.stop_f
        if stop is None:
            return False
        if self.trusted:
            return self.best_bid() >= stop if order.is_buy else self.best_ask() <= stop
        if self.last is None:
            return False
        return self.last >= stop if order.is_buy else self.last <= stop

    def displayed(self, is_buy: bool, price: float) -> float:
        """The size the feed shows on our side at ``price`` (bids for a buy)."""
        return (self.bids if is_buy else self.asks).get(price, 0.0)

    # --- our resting orders ----------------------------------------------------------------

    def add_resting(self, order: Order) -> None:
        """Index a resting order at its price, behind our earlier orders at that price."""
        self.orders[order.id] = order
        levels = self.bid_levels if order.is_buy else self.ask_levels
        levels.setdefault(order.price_f, []).append(order)
        self.reindex()

    def remove_resting(self, order: Order) -> None:
        """Forget a resting order that finished."""
        if self.orders.pop(order.id, None) is None:
            return
        levels = self.bid_levels if order.is_buy else self.ask_levels
        queue = levels[order.price_f]
        queue.remove(order)
        if not queue:
            del levels[order.price_f]
        self.reindex()

    def reindex(self) -> None:
        """Recompute the four thresholds the hot path compares against."""
        self.active = bool(self.orders) or bool(self.waiting)
        self.hi_bid = max(self.bid_levels, default=-INF)
        self.lo_ask = min(self.ask_levels, default=INF)
        buy_stops = [o.stop_f for o in self.orders.values() if o.is_buy and o.stop_f is not None]
        sell_stops = [
            o.stop_f for o in self.orders.values() if not o.is_buy and o.stop_f is not None
        ]
        self.stop_up = min(buy_stops, default=INF)
        self.stop_down = max(sell_stops, default=-INF)


def available_size(size: float, taken: dict[float, float], price: float) -> float:
    """Displayed size at ``price`` minus what our own taker fills consumed there."""
    return size - taken.get(price, 0.0) if taken else size


def _refresh_queues(
    levels: dict[float, list[Order]], side: dict[float, float], changed: Sequence[Level]
) -> None:
    # Cancellations are assumed to come from behind us: the queue ahead can only shrink
    # to what is displayed, never grow. A level missing from the book shows 0.
    for price, _ in changed:
        queue = levels.get(price)
        if queue:
            shown = side.get(price, 0.0)
            for order in queue:
                if order.ahead is not None and order.ahead > shown:
                    order.ahead = shown


def _apply_levels(
    side: dict[float, float], taken: dict[float, float], levels: Sequence[Level]
) -> None:
    for price, size in levels:
        if size > 0:
            side[price] = size
        else:
            side.pop(price, None)
        if taken:
            taken.pop(price, None)
