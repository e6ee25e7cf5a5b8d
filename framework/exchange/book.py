"""What the venue adds to one market's state: liquidity our orders consumed, and our orders.

The feed's book, last price and the kinds of data seen are the run's market state
(``framework.marketbook.InstrumentState``), which strategies read too; the dispatcher updates
it before the venue sees the event. This module is the venue's **overlay** on it. Beside each
side of the book sits the size our own taker fills consumed at each price: that liquidity stays
consumed until the feed refreshes the level (a delta that names the price, or a snapshot), so
two orders never fill from the same displayed size. A level of unknown size
(``marketbook.UNKNOWN_SIZE``) has nothing available to match.

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
from decimal import Decimal
from typing import Final, Literal

from framework.events import Level
from framework.exchange.orders import Order
from framework.exchange.rules import MarketRules
from framework.instruments import to_cryptomus
from framework.marketbook import InstrumentState, size_known
from framework.money import step

__all__ = ["INF", "Market", "Mode", "available_size"]

INF: Final = float("inf")
_DIGITS: Final = 13  # price and size bounds keep every product inside 28 significant digits
Mode = Literal["book", "trades", "bars", "none"]


class Market:
    """One market's overlay and resting orders, over its shared state. Read by the matcher.

    ``bids`` and ``asks`` are the shared book's own dicts (updated in place, never replaced);
    ``state`` is the instrument's shared state, for trust, the last price and the data seen.
    """

    __slots__ = (
        "active",
        "ask_levels",
        "asks",
        "base_step",
        "bid_levels",
        "bids",
        "book",
        "hi_bid",
        "instrument",
        "lo_ask",
        "orders",
        "price_cap",
        "price_floor",
        "quote_prec",
        "quote_step",
        "rules",
        "size_cap",
        "slipped_buy",
        "slipped_sell",
        "state",
        "stop_down",
        "stop_up",
        "symbol",
        "taken_asks",
        "taken_bids",
        "waiting",
    )

    def __init__(self, state: InstrumentState, rules: MarketRules) -> None:
        self.instrument = state.instrument
        self.symbol = to_cryptomus(state.instrument)
        self.rules = rules
        self.state = state
        self.book = state.book
        self.bids = state.book.bids
        self.asks = state.book.asks
        self.taken_bids: dict[float, float] = {}
        self.taken_asks: dict[float, float] = {}
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
        # the 28 digits of decimal arithmetic. The venue trades on nothing outside them.
        self.price_floor = 10.0**-rules.quote_prec
        self.price_cap = 10.0 ** (_DIGITS - rules.quote_prec)
        self.size_cap = 10.0 ** (_DIGITS - rules.base_prec)
        # Derived from the rules, which are fixed for the market's life (``MarketRules`` is
        # frozen and the venue never replaces a market's): the quanta every fill quantizes to.
        self.quote_step = step(rules.quote_prec)
        self.base_step = step(rules.base_prec)
        self.quote_prec = rules.quote_prec
        # The venue's price for a taker buy and sell at a last trade price (slippage applied,
        # quantized), by that price (``execution.Executor._slipped``).
        self.slipped_buy: dict[float, Decimal] = {}
        self.slipped_sell: dict[float, Decimal] = {}

    def fits(self, price: float, size: float = 0.0) -> bool:
        """Whether a price and size can be traded on in this market (see ``price_floor``)."""
        return self.price_floor <= price <= self.price_cap and 0.0 <= size <= self.size_cap

    def mode(self) -> Mode:
        """How orders in this market fill now: by the book, by trades, by bars, or not at all."""
        if self.book.trusted:
            return "book"
        state = self.state
        if state.has_trades:
            return "trades"
        return "bars" if state.has_bars else "none"

    @property
    def trusted(self) -> bool:
        """True while the shared book is trusted (fills go by the book)."""
        return self.book.trusted

    @property
    def last(self) -> float | None:
        """The shared last price."""
        return self.state.last

    # --- the overlay, after the shared book changed --------------------------------------------

    def snapshot_applied(self) -> None:
        """The book was replaced: every consumed size is forgotten, every queue re-checked."""
        self.taken_bids.clear()
        self.taken_asks.clear()
        if self.active:  # every one of our levels may have changed
            _refresh_queues(self.bid_levels, self.bids, [(p, 0.0) for p in self.bid_levels])
            _refresh_queues(self.ask_levels, self.asks, [(p, 0.0) for p in self.ask_levels])

    def delta_applied(self, bids: Sequence[Level], asks: Sequence[Level]) -> None:
        """Levels changed: a changed level is no longer consumed; queues there re-checked."""
        if self.taken_bids:
            _forget_taken(self.taken_bids, bids)
        if self.taken_asks:
            _forget_taken(self.taken_asks, asks)
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
        if self.book.trusted:
            return self.best_bid() >= stop if order.is_buy else self.best_ask() <= stop
        last = self.state.last
        if last is None:
            return False
        return last >= stop if order.is_buy else last <= stop

    def displayed(self, is_buy: bool, price: float) -> float | None:
        """The size the feed shows on our side at ``price`` (bids for a buy); None if unknown."""
        size = (self.bids if is_buy else self.asks).get(price, 0.0)
        return size if size_known(size) else None

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
    """Displayed size at ``price`` minus what our own taker fills consumed there (0 if the
    size is unknown)."""
    if size != size:  # UNKNOWN_SIZE
        return 0.0
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


def _forget_taken(taken: dict[float, float], levels: Sequence[Level]) -> None:
    for price, _ in levels:
        taken.pop(price, None)
