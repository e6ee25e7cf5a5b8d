"""PaperExchange: the simulated venue strategies trade on, fed by the market data the loop routes.

It is a plain synchronous component: no trio, no I/O, no wall clock. Time is whatever the
caller says: a command's ``now_ns``, a market event's ``ts_recv_ns``.

* **Commands** (:meth:`PaperExchange.submit`, :meth:`PaperExchange.cancel`) travel to the venue
  for ``latency_ms`` of simulated time. They are applied, in the order they were sent, as soon
  as the clock reaches their arrival: before a market event stamped at or after it is matched,
  or on :meth:`PaperExchange.advance`. So market data that arrives meanwhile is matched without
  them, as the venue would have seen it.
* **Market data** (``on_trade``, ``on_book_snapshot``, ``on_book_delta``, ``on_bar``,
  ``on_last_price``, ``on_ticker``, ``on_disconnect``) updates the market's state, then fills or
  stops our resting orders by the rules in ``matching``. With no resting order in a market,
  an event costs a dict lookup, a comparison and the update of the last price (or of the book's
  dicts); nothing is converted to Decimal until something fills.
* **Events**: every private event is passed to ``emit`` as it happens (see ``execution`` for
  their order and ``frames`` for their shape). A refused order or cancel is an
  ``order_rejected`` event, never an exception.

Market data for instruments that have no rules in the config is ignored.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from decimal import Decimal
from typing import Final

import msgspec

from framework import events as ev
from framework.errors import ConfigError
from framework.events import Level
from framework.exchange.accounts import Account
from framework.exchange.book import Market
from framework.exchange.execution import Executor
from framework.exchange.frames import Frames
from framework.exchange.matching import Fill, bar_outcome, bar_path, cross_fills, queue_fills
from framework.exchange.orders import Order, OrderRequest, OrderView, make_view
from framework.exchange.rules import ExchangeConfig, MarketRules, check_config
from framework.ids import UlidGenerator
from framework.money import ZERO, from_float, quantize

__all__ = ["PaperExchange"]

_SUBMIT: Final = 0
_CANCEL: Final = 1


class _Command(msgspec.Struct, frozen=True, gc=False, order=True):
    arrive_ns: int
    seq: int  # sending order; breaks ties between commands arriving at the same time
    kind: int  # _SUBMIT or _CANCEL
    order_id: str
    req: OrderRequest | None
    sent_ns: int


class PaperExchange:
    """The paper exchange: orders in, private events out, matched against the feeds' data.

    Args:
        config: markets, balances, fees, latency, slippage and the queue assumption.
        emit: receives every private event (``OrderUpdate``, ``DealUpdate``, ``BalanceUpdate``,
            ``OrderRejected``) in the order they happen.
        seed: seeds order, deal and transaction ids and wallet ids; the same inputs and seed
            give the same events.

    Raises:
        ConfigError: the config is inconsistent (a fee rate of 100 %, min above max...).
    """

    def __init__(
        self, config: ExchangeConfig, emit: Callable[[ev.PrivateEvent], None], seed: int = 0
    ) -> None:
        check_config(config)
        self._config = config
        self._latency_ns = config.latency_ns
        self._share_ahead = config.queue_when_depth_unknown
        self._markets = {name: Market(name, rules) for name, rules in config.markets.items()}
        self._account = Account(config.balances)
        self._ids = UlidGenerator(seed)
        self._exec = Executor(config, self._markets, self._account, Frames(emit, seed), self._ids)
        self._pending: list[_Command] = []  # a heap by (arrival, sending order)
        self._seq = 0

    # --- commands --------------------------------------------------------------------------

    def submit(self, req: OrderRequest, now_ns: int) -> str:
        """Send an order; it reaches the venue ``latency_ms`` later and is checked there.

        Returns:
            The new order's id, a ULID of ``now_ns``. Every later event of the order (or its
            ``order_rejected``) carries it.
        """
        order_id = self._ids.new(now_ns)
        self._send(_SUBMIT, order_id, req, now_ns)
        return order_id

    def cancel(self, order_id: str, now_ns: int) -> None:
        """Send a cancel for a limit order; it reaches the venue ``latency_ms`` later."""
        self._send(_CANCEL, order_id, None, now_ns)

    def advance(self, now_ns: int) -> None:
        """Apply every command that has reached the venue by ``now_ns``."""
        if self._pending and self._pending[0].arrive_ns <= now_ns:
            self._apply_due(now_ns)

    # --- market data -----------------------------------------------------------------------

    def on_trade(self, event: ev.Trade) -> None:
        """A printed trade: the last price; fills resting orders at or through its price."""
        pending = self._pending
        if pending and pending[0].arrive_ns <= event.ts_recv_ns:
            self._apply_due(event.ts_recv_ns)
        market = self._markets.get(event.instrument)
        if market is None:
            return
        price = event.price
        market.last = price
        market.has_trades = True
        if market.active and (
            price <= market.hi_bid
            or price >= market.lo_ask
            or price >= market.stop_up
            or price <= market.stop_down
            or market.waiting
        ):
            self._match_trade(market, price, event.size, event.ts_recv_ns)

    def on_book_snapshot(self, event: ev.BookSnapshot) -> None:
        """A full L2 book: replaces the market's book and makes it trusted."""
        market = self._prepare(event)
        if market is not None:
            market.apply_snapshot(event.venue, event.bids, event.asks)
            self._after_book(market, event.bids, event.asks, event.ts_recv_ns)

    def on_book_delta(self, event: ev.BookDelta) -> None:
        """Changed L2 levels; ignored unless they apply to a trusted book from the same venue."""
        market = self._prepare(event)
        if market is not None and market.trusted and market.venue == event.venue:
            market.apply_delta(event.bids, event.asks)
            self._after_book(market, event.bids, event.asks, event.ts_recv_ns)

    def on_bar(self, event: ev.Bar | ev.BarUpdate) -> None:
        """A closed bar; fills orders in markets that have only bars. A BarUpdate is ignored."""
        if isinstance(event, ev.BarUpdate):
            return
        market = self._prepare(event)
        if market is None:
            return
        market.has_bars = True
        market.bar_close_ns = event.ts_event_ns + event.interval_ns
        if not market.has_trades:
            market.last = event.close
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

    def fill_waiting_at_last(self, now_ns: int) -> None:
        """End of the data: fill every order waiting for a next bar at the market's last price.

        With bars only, a market order fills at the next bar's open; when no bar follows (the
        run finalizes its positions), the last close is the only price there is.
        """
        for market in self._markets.values():
            if market.waiting and market.last is not None:
                price = quantize(from_float(market.last), market.rules.quote_prec)
                for order in list(market.waiting):
                    self._exec.fill_all_at(order, price, "taker", now_ns)
                    if order.is_open:
                        self._exec.finish(order, "expire", now_ns)

    def on_disconnect(self, venue: str) -> None:
        """A provider connection dropped: its books are not trusted until a new snapshot."""
        for market in self._markets.values():
            if market.venue == venue and market.trusted:
                market.trusted = False
                market.taken_bids.clear()
                market.taken_asks.clear()

    # --- read access -----------------------------------------------------------------------

    def balance(self, currency: str) -> tuple[Decimal, Decimal]:
        """(available, held) of one currency; zeros for a currency never held."""
        return self._account.available(currency), self._account.held(currency)

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """(available, held) of every currency the account has had, sorted by currency code."""
        return {c: self.balance(c) for c in self._account.currencies()}

    def open_orders(self, instrument: str | None = None) -> list[OrderView]:
        """Orders not yet finished (including those still travelling), oldest first."""
        views: list[tuple[int, OrderView]] = [
            (o.seq, o.view())
            for o in self._exec.orders.values()
            if o.is_open and (instrument is None or o.req.instrument == instrument)
        ]
        for cmd in self._pending:
            if cmd.req is not None and (instrument is None or cmd.req.instrument == instrument):
                views.append((cmd.seq, make_view(cmd.order_id, cmd.req, "pending", cmd.sent_ns)))
        return [view for _, view in sorted(views, key=lambda item: item[0])]

    def markets(self) -> dict[str, MarketRules]:
        """Every market the exchange trades, by canonical instrument id."""
        return dict(self._config.markets)

    def forget(self, order_id: str) -> None:
        """Drop the record of a finished order whose events have all been delivered.

        Keeps memory flat over long runs: the loop calls it once the order's ``finished``
        update is delivered. A cancel of a forgotten order is refused as not found (code 5),
        as it would be for any finished order; its client order id stays taken.
        """
        order = self._exec.orders.get(order_id)
        if order is None or order.state in ("pending", "open", "partially_filled"):
            return
        del self._exec.orders[order_id]
        if order.deal_id is not None:
            self._exec.deal_orders.pop(order.deal_id, None)

    def order_id_of_deal(self, deal_id: str) -> str | None:
        """The id of the order a ``deal_update``'s ``dealId`` belongs to, or None if unknown."""
        return self._exec.deal_orders.get(deal_id)

    def position(self, instrument: str) -> Decimal:
        """The account's total (available + held) of the instrument's base currency."""
        base = self.rules(instrument).base_currency
        return self._account.available(base) + self._account.held(base)

    def last_price(self, instrument: str) -> float | None:
        """The last trade (or last-price, ticker, bar close) price seen, or None."""
        market = self._markets.get(instrument)
        return market.last if market is not None else None

    def rules(self, instrument: str) -> MarketRules:
        """The trading rules of a configured market.

        Raises:
            ConfigError: the market is not in the config.
        """
        market = self._markets.get(instrument)
        if market is None:
            known = ", ".join(sorted(self._markets))
            raise ConfigError(f"no market {instrument!r} in exchange.markets (known: {known})")
        return market.rules

    # --- internals -------------------------------------------------------------------------

    def _send(self, kind: int, order_id: str, req: OrderRequest | None, now_ns: int) -> None:
        self._seq += 1
        command = _Command(now_ns + self._latency_ns, self._seq, kind, order_id, req, now_ns)
        heapq.heappush(self._pending, command)
        self.advance(now_ns)

    def _apply_due(self, now_ns: int) -> None:
        pending = self._pending
        while pending and pending[0].arrive_ns <= now_ns:
            cmd = heapq.heappop(pending)
            if cmd.req is not None:
                self._exec.arrive(cmd.order_id, cmd.req, cmd.seq, cmd.sent_ns, cmd.arrive_ns)
            else:
                self._exec.cancel(cmd.order_id, cmd.arrive_ns)

    def _prepare(self, event: ev.MarketEvent) -> Market | None:
        if self._pending and self._pending[0].arrive_ns <= event.ts_recv_ns:
            self._apply_due(event.ts_recv_ns)
        return self._markets.get(event.instrument)

    def _on_price(self, event: ev.LastPrice | ev.Ticker, price: float) -> None:
        market = self._prepare(event)
        if market is None:
            return
        market.last = price
        market.has_trades = True
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
