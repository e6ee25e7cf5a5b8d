"""The venue's side of market data: each event, after the market state applied it, fills or
stops our resting orders by the rules in ``matching``.

The run's market state (``framework.marketbook``) calls :class:`MarketFeed` for the markets the
venue trades (a trade only while a paper order rests or waits there): the venue reads the
shared state, updates only its overlay (``book.Market``: consumed liquidity, queue positions),
and matches. Nothing is converted to Decimal until something fills.
"""

from __future__ import annotations

from decimal import Decimal

from framework import events as ev
from framework.events import Level
from framework.exchange.book import Market
from framework.exchange.execution import Executor
from framework.exchange.matching import Fill, bar_outcome, bar_path, cross_fills, queue_fills
from framework.exchange.orders import Order
from framework.money import ZERO, from_float, quantize

__all__ = ["MarketFeed"]


class MarketFeed:
    """Market data in, fills and stops out (through the executor), per configured market."""

    def __init__(self, markets: dict[str, Market], executor: Executor, share_ahead: float) -> None:
        self._markets = markets
        self._exec = executor
        self._share_ahead = share_ahead

    def on_trade(self, event: ev.Trade) -> None:
        """A printed trade: fills resting orders at or through its price."""
        market = self._markets.get(event.instrument)
        if market is None or not market.fits(event.price, event.size):
            return
        price = event.price
        if market.active and (
            price <= market.hi_bid
            or price >= market.lo_ask
            or price >= market.stop_up
            or price <= market.stop_down
            or market.waiting
        ):
            self._match_trade(market, price, event.size, event.ts_recv_ns)

    def on_book_snapshot(self, event: ev.BookSnapshot) -> None:
        """The shared book was replaced: our consumed sizes are forgotten; crossed orders fill."""
        market = self._markets.get(event.instrument)
        if market is not None:
            market.snapshot_applied()
            self._after_book(market, event.bids, event.asks, event.ts_recv_ns)

    def on_book_delta(self, event: ev.BookDelta) -> None:
        """Changed L2 levels, if the shared book accepted them (trusted, same venue)."""
        market = self._markets.get(event.instrument)
        if market is not None and market.book.accepts(event):
            market.delta_applied(event.bids, event.asks)
            self._after_book(market, event.bids, event.asks, event.ts_recv_ns)

    def on_bar(self, event: ev.Bar | ev.BarUpdate) -> None:
        """A closed bar; fills orders in markets that have only bars. A BarUpdate is ignored."""
        if isinstance(event, ev.BarUpdate):
            return
        market = self._markets.get(event.instrument)
        if market is None or not all(
            market.fits(p) for p in (event.open, event.high, event.low, event.close)
        ):
            return
        if market.active and market.mode() == "bars":
            self._match_bar(market, event)

    def on_last_price(self, event: ev.LastPrice) -> None:
        """The venue's last price: updates it and may trigger stop-losses.

        It fills no resting order; it does count as a trade price for orders arriving later,
        and for orders that were waiting for a bar in this market, which start again at it.
        """
        self._on_price(event, event.price)

    def on_ticker(self, event: ev.Ticker) -> None:
        """Ticker statistics: only the last price is used, as with :meth:`on_last_price`."""
        self._on_price(event, event.price)

    # --- matching -------------------------------------------------------------------------

    def _on_price(self, event: ev.LastPrice | ev.Ticker, price: float) -> None:
        market = self._markets.get(event.instrument)
        if market is None or not market.fits(price):
            return
        if market.waiting:
            self._exec.retry_waiting(market, event.ts_recv_ns)
        if market.active and (price >= market.stop_up or price <= market.stop_down):
            self._stop_orders(market, price, price, event.ts_recv_ns)

    def _match_trade(self, market: Market, price: float, size: float, now_ns: int) -> None:
        if market.waiting:
            self._exec.retry_waiting(market, now_ns)
        fills: list[tuple[Order, Fill]] = []
        base_prec = market.rules.base_prec
        for level in sorted((p for p in market.bid_levels if p >= price), reverse=True):
            fills += self._level_fills(market.bid_levels[level], level > price, size, base_prec)
        for level in sorted(p for p in market.ask_levels if p <= price):
            fills += self._level_fills(market.ask_levels[level], level < price, size, base_prec)
        for order, fill in fills:
            if order.is_open:
                self._exec.fill(order, fill, now_ns)
        self._stop_orders(market, price, price, now_ns)

    def _level_fills(
        self, queue: list[Order], through: bool, size: float, base_prec: int
    ) -> list[tuple[Order, Fill]]:
        if through:
            return [(o, _maker(o, o.remaining)) for o in queue]
        return [
            (o, _maker(o, q)) for o, q in queue_fills(queue, size, self._share_ahead, base_prec)
        ]

    def _after_book(
        self, market: Market, bids: tuple[Level, ...], asks: tuple[Level, ...], now_ns: int
    ) -> None:
        """Fill or stop resting orders that the changed levels cross or reach.

        After every book event no resting order is left crossed, so only a level that this
        event added or refreshed can cross one (a snapshot passes all its levels).
        """
        if not market.active:
            return
        if market.waiting:
            self._exec.retry_waiting(market, now_ns)
        cross_bids = cross_asks = stop = False
        for price, size in asks:
            if size > 0:
                cross_bids = cross_bids or price <= market.hi_bid
                stop = stop or price <= market.stop_down
        for price, size in bids:
            if size > 0:
                cross_asks = cross_asks or price >= market.lo_ask
                stop = stop or price >= market.stop_up
        fills: list[tuple[Order, Decimal]] = []
        if cross_bids:
            fills += cross_fills(market, True)
        if cross_asks:
            fills += cross_fills(market, False)
        for order, qty in fills:
            if order.is_open:
                self._exec.fill(order, _maker(order, qty), now_ns)
        if stop:
            self._stop_orders(market, market.best_bid(), market.best_ask(), now_ns)

    def _stop_orders(self, market: Market, high: float, low: float, now_ns: int) -> None:
        """Cancel orders whose stop-loss the market reached: buys at ``high``, sells at ``low``."""
        if high < market.stop_up and low > market.stop_down:
            return
        for order in list(market.orders.values()):
            stop = order.stop_f
            if stop is not None and (high >= stop if order.is_buy else low <= stop):
                self._exec.finish(order, "stop_loss", now_ns)

    def _match_bar(self, market: Market, bar: ev.Bar) -> None:
        """Fill or stop what this bar reaches. A fill is stamped when its price happened, as
        far as a bar tells: at the open (or the order's arrival, if later) for a fill at the
        open, at the bar's close for one inside its range; never later than the clock."""
        path = bar_path(bar)
        now_ns = bar.ts_recv_ns
        open_price = quantize(from_float(bar.open), market.rules.quote_prec)
        opens, closes = bar.ts_event_ns, bar.ts_event_ns + bar.interval_ns
        inside_ns = min(closes, now_ns)
        for order in list(market.waiting):
            if not market.takes_part(order, opens, closes):
                continue
            limit = order.price_f if order.req.type == "limit" else None
            if bar_outcome(order.is_buy, limit, None, path) == "open":
                self._exec.fill_all_at(order, open_price, "taker", _at_open(order, opens, now_ns))
            if order.is_open:
                self._exec.finish(order, "expire", now_ns)
        for order in list(market.orders.values()):
            if not order.is_open or not market.takes_part(order, opens, closes):
                continue
            outcome = bar_outcome(order.is_buy, order.price_f, order.stop_f, path)
            if outcome == "open":
                self._exec.fill_all_at(order, open_price, "taker", _at_open(order, opens, now_ns))
            elif outcome == "price":
                self._exec.fill(order, _maker(order, order.remaining), inside_ns)
            elif outcome == "stop":
                self._exec.finish(order, "stop_loss", inside_ns)


def _at_open(order: Order, opens_ns: int, now_ns: int) -> int:
    """When a fill at a bar's open happened: the open, or the order's arrival if later."""
    return min(max(opens_ns, order.arrived_ns), now_ns)


def _maker(order: Order, quantity: Decimal) -> Fill:
    """A maker fill of ``quantity`` at the order's own limit price."""
    return Fill(order.req.price or ZERO, quantity, "maker")
