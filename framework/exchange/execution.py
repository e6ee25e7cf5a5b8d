"""Order life at the venue: arrival checks, holds, fills, and the end of an order.

Rule: every change of a balance or an order state that the strategy can see goes through here,
and each one emits its event at once, in this order:

* an order that arrives: ``order_update`` ``created`` (the first event of every order), then
  the ``balance_update`` of its hold;
* each fill: ``deal_update``, then the ``balance_update`` of what the order received, then (on a
  sell) of the fee, then, if the fill ends the order, of the release of what is left of its
  hold, then ``order_update`` (``updated``, or ``finished`` for the fill that completes it);
* an order that ends unfilled or part filled: the release of its hold, then ``finished``.

So after ``created``, an ``order_update`` comes after the balance changes it accounts for, and
every ``deal_update`` is followed by its own order's ``order_update`` before any other deal.

What an order holds when it arrives: a sell holds its base quantity; a limit buy holds price x
quantity plus the fee at the higher of the maker and taker rates; a market buy by value holds
the value plus the taker fee on it; a market buy by quantity holds the cost the book (or the
last trade price with slippage, or the last close with bars) says it will have, plus the taker
fee. If a fill costs more than the order still holds (a rounding, or a bar opening higher than
the last close), the difference is held from available first (its ``balance_update`` comes
before the fill's ``deal_update``); if that is not there, the fill is cut to what the order can
pay for.

This module does not decide which orders fill on market data (``matching`` does, driven by
``venue``); it applies what was decided.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Final

from framework.exchange.accounts import Account, fee_for
from framework.exchange.book import Market, Mode
from framework.exchange.frames import Frames
from framework.exchange.matching import (
    Fill,
    Role,
    commit_walk,
    quantity_for_value,
    slipped_price,
    walk_book,
    would_take,
)
from framework.exchange.orders import Order, OrderRequest, transition
from framework.exchange.rules import ExchangeConfig
from framework.exchange.validation import (
    MARKET,
    VALIDATION,
    Rejection,
    check_request,
    duplicate_client_id,
    insufficient_funds,
    not_found,
)
from framework.ids import UlidGenerator
from framework.instruments import to_cryptomus
from framework.money import CONTEXT, ZERO, from_float, quantize, step

__all__ = ["Executor"]

_IMMEDIATE: Final = ("ioc", "fok")
_HUNDRED: Final = Decimal(100)
_NS_PER_S: Final = 1_000_000_000
_SLIPPED_KEPT: Final = 4096  # prices remembered per market and side (all forgotten when full)


class Executor:
    """Applies commands and fills to orders and the account, emitting every event."""

    def __init__(
        self,
        config: ExchangeConfig,
        markets: dict[str, Market],
        account: Account,
        frames: Frames,
        ids: UlidGenerator,
    ) -> None:
        self._markets = markets
        self._account = account
        self._frames = frames
        self._ids = ids
        self._maker = config.maker_fee_percent
        self._taker = config.taker_fee_percent
        # The rates as fractions: ``value * (rate / 100)`` is ``value * rate / 100`` (the
        # same digits rounded the same way, then an exact shift), one operation fewer a fee.
        self._maker_share = self._maker / _HUNDRED
        self._taker_share = self._taker / _HUNDRED
        self._limit_hold_share = max(self._maker, self._taker) / _HUNDRED
        self._slippage = config.slippage_bps
        self.orders: dict[str, Order] = {}  # every order accepted, in arrival order
        self.deal_orders: dict[str, str] = {}  # deal id -> order id
        self._client_ids: set[str] = set()  # membership only, never iterated

    # --- commands --------------------------------------------------------------------------

    def refuse(self, rejection: Rejection, order_id: str, req: OrderRequest, now_ns: int) -> None:
        """Refuse an order that never reaches the venue (a rule of the run, such as warm-up)."""
        self._frames.rejected(rejection, order_id, req, req.type, now_ns)

    def arrive(self, order_id: str, req: OrderRequest, seq: int, sent_ns: int, now_ns: int) -> None:
        """An order reaches the venue: check it, hold its funds, and fill what fills at once."""
        market = self._markets.get(req.instrument)
        rejection = check_request(req, market.rules if market else None)
        if market is None:
            self._frames.rejected(rejection or _no_market(req), order_id, req, req.type, now_ns)
            return
        mode = market.mode()  # nothing below changes it: the events wait for the barrier
        if rejection is None and (
            req.client_order_id is not None or req.post_only or mode == "none"
        ):  # the only requests _venue_check can refuse
            rejection = self._venue_check(req, market, mode)
        if rejection is not None:
            self._frames.rejected(rejection, order_id, req, req.type, now_ns)
            return
        currency, amount = self._hold_for(req, market, mode)
        account = self._account
        if amount > account.available(currency):
            rejection = insufficient_funds(currency, account.available(currency))
            self._frames.rejected(rejection, order_id, req, req.type, now_ns)
            return
        order = Order(order_id, req, market.rules, seq, sent_ns)
        order.arrived_ns = now_ns
        closed_ns = market.state.bar_close_ns
        order.bar_floor_ns = closed_ns if closed_ns is not None else now_ns
        order.create_ts = now_ns // _NS_PER_S  # frames.seconds
        transition(order, "accept")
        self.orders[order_id] = order
        if req.client_order_id is not None:
            self._client_ids.add(req.client_order_id)
        order.hold_currency, order.reserve = currency, amount
        self._frames.order("created", order, now_ns)
        self._frames.balance(account.hold(currency, amount))
        self._start(order, market, now_ns, mode)

    def cancel(self, order_id: str, now_ns: int) -> None:
        """A cancel reaches the venue: end the named limit order, or refuse (code 5 or 0)."""
        order = self.orders.get(order_id)
        req = order.req if order else None
        if order is None or not order.is_open:
            self._frames.rejected(not_found(order_id), order_id, req, "cancel", now_ns)
        elif order.req.type != "limit":
            rejection = Rejection(VALIDATION, "Only limit orders can be cancelled.")
            self._frames.rejected(rejection, order_id, req, "cancel", now_ns)
        else:
            self.finish(order, "cancel", now_ns)

    # --- fills and endings -----------------------------------------------------------------

    def fill(self, order: Order, fill: Fill, now_ns: int, completes: bool = False) -> None:
        """Apply one fill; ``completes`` ends a market buy by value (it has spent what it can)."""
        # Runs for every fill: quantizing, the fee and the settlement are written out here
        # (``money.quantize``, ``accounts.fee_for``), with the market's own quantum.
        req, rules, account = order.req, order.rules, self._account
        market = self._markets[req.instrument]
        quantum = market.quote_step
        if fill.role == "maker":
            rate, share = self._maker, self._maker_share
        else:
            rate, share = self._taker, self._taker_share
        value = (fill.price * fill.quantity).quantize(quantum, ROUND_HALF_EVEN, CONTEXT)
        fee = (value * share).quantize(quantum, ROUND_HALF_EVEN, CONTEXT)
        quantity = fill.quantity
        if req.direction == "buy":
            cost = value + fee
            if cost > order.reserve:  # more than the order holds (_fit_buy's ``short > 0``)
                fitted = self._fit_buy(order, fill, rate, cost)
                if fitted is None:
                    return
                if fitted is not fill:  # cut to what the order can pay for
                    completes = completes and fitted == fill
                    fill = fitted
                    quantity = fill.quantity
                    value = quantize(fill.price * quantity, rules.quote_prec)
                    fee = fee_for(value, rate, rules.quote_prec)
                    cost = value + fee
            account.spend_held(rules.quote_currency, cost)
            order.reserve -= cost
            received = account.credit(rules.base_currency, quantity)
            charged = None
        else:
            account.spend_held(rules.base_currency, quantity)
            order.reserve -= quantity
            received = account.credit(rules.quote_currency, value)
            charged = account.debit(rules.quote_currency, fee)
        order.filled_qty += quantity
        order.filled_value += value
        order.fees += fee
        ids = self._ids
        if order.deal_id is None:
            order.deal_id = ids.new(now_ns)
            self.deal_orders[order.deal_id] = order.id
        frames = self._frames
        frames.deal(order, fill, value, fee, ids.new(now_ns), now_ns)
        frames.balance(received)
        if charged is not None:
            frames.balance(charged)
        ordered = req.quantity
        if completes or (ordered is not None and order.filled_qty >= ordered):
            self._end(order, "fill_all", now_ns, market)
        else:
            transition(order, "fill")
            frames.order("updated", order, now_ns)

    def finish(self, order: Order, event: str, now_ns: int) -> None:
        """End an open order unfilled or part filled: ``cancel``, ``expire`` or ``stop_loss``."""
        self._end(order, event, now_ns, self._markets[order.req.instrument])

    def retry_waiting(self, market: Market, now_ns: int) -> None:
        """Orders that waited for a bar, in a market that now has better data: start them again."""
        waiting, market.waiting = market.waiting, []
        market.reindex()
        for order in waiting:
            self._start(order, market, now_ns, market.mode())

    # --- arrival helpers -------------------------------------------------------------------

    def _venue_check(self, req: OrderRequest, market: Market, mode: Mode) -> Rejection | None:
        if req.client_order_id is not None and req.client_order_id in self._client_ids:
            return duplicate_client_id(req.client_order_id)
        if req.type == "market" and mode == "none":
            return _no_data(req.instrument)
        if (
            req.post_only
            and req.price is not None
            and would_take(market, req.direction == "buy", float(req.price))
        ):
            return Rejection(VALIDATION, "A post-only order would take liquidity.")
        return None

    def _hold_for(self, req: OrderRequest, market: Market, mode: Mode) -> tuple[str, Decimal]:
        rules = market.rules
        if req.direction == "sell":
            assert req.quantity is not None  # checked: a sell always has a quantity
            return rules.base_currency, req.quantity
        quantum = market.quote_step
        if req.type == "limit":
            assert req.price is not None and req.quantity is not None
            value = (req.price * req.quantity).quantize(quantum, ROUND_HALF_EVEN, CONTEXT)
            share = self._limit_hold_share
        elif req.value is not None:
            value, share = req.value, self._taker_share
        else:
            value, share = self._market_buy_cost(req, market, mode), self._taker_share
        # accounts.hold_fee, written out: the fee at the rate, never rounded down.
        exact = value * share
        fee = exact.quantize(quantum, ROUND_DOWN, CONTEXT)
        return rules.quote_currency, value + (fee if fee == exact else fee + quantum)

    def _market_buy_cost(self, req: OrderRequest, market: Market, mode: Mode) -> Decimal:
        rules = market.rules
        quantity = req.quantity or ZERO
        if mode == "book":
            walk = walk_book(market, True, None, quantity, None)
            return sum((quantize(f.price * f.quantity, rules.quote_prec) for f in walk.fills), ZERO)
        last = market.state.last  # 0.0 unless it is a price the market fits (market.fits)
        if last is None or not market.price_floor <= last <= market.price_cap:
            last = 0.0
        if mode == "trades":
            price = market.slipped_buy.get(last) or self._slipped(market, last, True)
        else:
            price = quantize(from_float(last), rules.quote_prec)
        return (price * quantity).quantize(market.quote_step, ROUND_HALF_EVEN, CONTEXT)

    def _slipped(self, market: Market, last: float, is_buy: bool) -> Decimal:
        """``matching.slipped_price`` at ``last``, remembered per market, side and price: a
        float's conversion to Decimal costs more than the rest of a fill, and prices recur."""
        known = market.slipped_buy if is_buy else market.slipped_sell
        price = known.get(last)
        if price is None:
            if len(known) >= _SLIPPED_KEPT:
                known.clear()
            # ``last`` is a price the market fits, or 0.0: never NaN nor -0.0, whose keys
            # would not find, or would share, an entry.
            price = known[last] = slipped_price(last, is_buy, self._slippage, market.quote_prec)
        return price

    def _start(self, order: Order, market: Market, now_ns: int, mode: Mode) -> None:
        """What a new order does at once (in ``market.mode()``): fill, rest, wait for the next
        bar, or expire."""
        immediate = order.req.type == "market" or order.req.time_in_force in _IMMEDIATE
        if mode == "book":
            self._take_from_book(order, market, now_ns)
        elif mode == "trades":
            self._take_at_last(order, market, now_ns)
        elif mode == "bars" and immediate:
            market.waiting.append(order)
            market.reindex()
            return
        if order.state != "open" and order.state != "partially_filled":  # not is_open
            return
        if immediate:
            self._end(order, "expire", now_ns, market)
        else:
            order.ahead = market.displayed(order.is_buy, order.price_f) if market.trusted else None
            market.add_resting(order)
            if market.stop_reached(order):  # already past its stop-loss: cancelled at once
                self.finish(order, "stop_loss", now_ns)

    def _take_from_book(self, order: Order, market: Market, now_ns: int) -> None:
        req = order.req
        limit = order.price_f if req.type == "limit" else None
        walk = walk_book(market, order.is_buy, limit, req.quantity, req.value)
        if req.time_in_force == "fok" and not walk.complete:
            return
        commit_walk(market, order.is_buy, walk)
        for i, fill in enumerate(walk.fills):
            last = i == len(walk.fills) - 1
            self.fill(order, fill, now_ns, completes=last and walk.complete)

    def _take_at_last(self, order: Order, market: Market, now_ns: int) -> None:
        req = order.req
        last = market.state.last
        assert last is not None  # mode "trades" means a last price was seen
        if not market.price_floor <= last <= market.price_cap:  # not market.fits(last)
            return  # a price the market cannot express as money: no fill at it
        is_buy = req.direction == "buy"
        if req.type == "limit" and (order.price_f < last if is_buy else order.price_f > last):
            return
        price = (market.slipped_buy if is_buy else market.slipped_sell).get(last) or self._slipped(
            market, last, is_buy
        )
        if req.price is not None:
            price = min(price, req.price) if is_buy else max(price, req.price)
        if req.value is None and req.quantity is not None:  # fill_all_at, by quantity
            remaining = req.quantity - order.filled_qty
            if remaining > ZERO:
                self.fill(order, Fill(price, remaining, "taker"), now_ns)
        else:
            self.fill_all_at(order, price, "taker", now_ns)

    def fill_all_at(self, order: Order, price: Decimal, role: Role, now_ns: int) -> None:
        """Fill the whole rest of ``order`` at ``price`` (a market buy by value: all it buys)."""
        rules = order.rules
        if order.req.value is not None:
            qty = quantity_for_value(order.req.value, price, rules.base_prec, rules.quote_prec)
            if qty > 0:
                self.fill(order, Fill(price, qty, role), now_ns, completes=True)
        elif order.remaining > 0:
            self.fill(order, Fill(price, order.remaining, role), now_ns)

    # --- settlement ------------------------------------------------------------------------

    def _fit_buy(
        self, order: Order, fill: Fill, rate: Decimal, cost: Decimal | None = None
    ) -> Fill | None:
        """The fill a buy can pay for: hold any shortfall from available, or cut the fill.
        ``cost`` is the fill's cost with its fee, when the caller has it."""
        rules = order.rules
        if cost is None:
            cost = _cost(fill.price, fill.quantity, rate, rules.quote_prec)
        short = cost - order.reserve
        if short <= 0:
            return fill
        currency = rules.quote_currency
        if short <= self._account.available(currency):
            self._frames.balance(self._account.hold(currency, short))
            order.reserve += short
            return fill
        budget = order.reserve + self._account.available(currency)
        per_unit = fill.price * (1 + rate / _HUNDRED)
        qty = min(fill.quantity, quantize(budget / per_unit, rules.base_prec, down=True))
        while qty > 0 and _cost(fill.price, qty, rate, rules.quote_prec) > budget:
            qty -= step(rules.base_prec)
        if qty <= 0:
            return None
        return self._fit_buy(order, Fill(fill.price, qty, fill.role), rate)

    def _end(self, order: Order, event: str, now_ns: int, market: Market) -> None:
        transition(order, event)
        if order.reserve > ZERO:
            self._frames.balance(self._account.release(order.hold_currency, order.reserve))
            order.reserve = ZERO
        if market.orders:
            market.remove_resting(order)
        if market.waiting and order in market.waiting:
            market.waiting.remove(order)
            market.reindex()
        self._frames.order("finished", order, now_ns)


def _cost(price: Decimal, qty: Decimal, rate: Decimal, quote_prec: int) -> Decimal:
    """What a buy of ``qty`` at ``price`` costs in quote, fee included."""
    value = quantize(price * qty, quote_prec)
    return value + fee_for(value, rate, quote_prec)


def _no_data(instrument: str) -> Rejection:
    return Rejection(VALIDATION, f"No market data for {to_cryptomus(instrument)} yet.")


def _no_market(req: OrderRequest) -> Rejection:
    return Rejection(MARKET, f"Market {to_cryptomus(req.instrument)} not found.")
