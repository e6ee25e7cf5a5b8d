"""PaperExchange: the simulated venue strategies trade on, fed by the market data the loop routes.

It is a plain synchronous component: no trio, no I/O, no wall clock. Time is whatever the
caller says: a command's ``now_ns``, a market event's ``ts_recv_ns``.

* **Commands** (:meth:`PaperExchange.submit`, :meth:`PaperExchange.cancel`) travel to the venue
  for ``latency_ms`` of simulated time. They are applied, in the order they were sent, by
  :meth:`PaperExchange.advance`, which the run calls when the clock reaches their arrival
  (a clock timer, ``framework.desk``): before any market event stamped at or after it. So
  market data that arrives meanwhile is matched without them, as the venue would have seen it.
  With no latency a command is applied at once, as the queue would apply it.
* **Market data** (:attr:`PaperExchange.feed`, ``feed.MarketFeed``) comes from the run's market state
  (``framework.marketbook.MarketState``, :attr:`PaperExchange.state`) once it has applied the
  event, for the configured markets only (a trade only while a paper order rests there): the
  venue reads that state, updates only its overlay (consumed liquidity, queue positions, see
  ``book``), then fills or stops our resting orders by the rules in ``matching``. Nothing is
  converted to Decimal until something fills. Whoever feeds the state applies due commands
  first (:meth:`PaperExchange.advance`).
* **Events**: every private event is passed to ``emit`` as it happens (see ``execution`` for
  their order and ``frames`` for their shape). A refused order or cancel is an
  ``order_rejected`` event, never an exception.

Market data for instruments that have no rules in the config is ignored.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Final

import msgspec

from framework import events as ev
from framework.errors import ConfigError
from framework.exchange.accounts import Account
from framework.exchange.book import Market
from framework.exchange.execution import Executor
from framework.exchange.feed import MarketFeed
from framework.exchange.frames import DealRecord, Frames, PrivateLines
from framework.exchange.orders import OrderRequest, OrderView, make_view
from framework.exchange.rules import ExchangeConfig, MarketRules, check_config
from framework.exchange.validation import Rejection
from framework.ids import UlidGenerator
from framework.marketbook import MarketState
from framework.money import from_float, quantize

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
            ``OrderRejected``) in the order they happen; a run's, as lines (see ``frames``).
        seed: seeds order, deal and transaction ids and wallet ids; the same inputs and seed
            give the same events.
        state: the run's market state, which the venue reads (a new, empty one if not given).
        on_deal: receives each fill's :class:`~framework.exchange.frames.DealRecord`, right
            after its ``deal_update`` is emitted.

    Raises:
        ConfigError: the config is inconsistent (a fee rate of 100 %, min above max...).
    """

    def __init__(
        self,
        config: ExchangeConfig,
        emit: Callable[[ev.PrivateEvent], None] | PrivateLines,
        seed: int = 0,
        state: MarketState | None = None,
        on_deal: Callable[[DealRecord], None] | None = None,
    ) -> None:
        check_config(config)
        self._config = config
        self._latency_ns = config.latency_ns
        self.state = state if state is not None else MarketState()
        self._markets = {
            name: Market(self.state.of(name), rules) for name, rules in config.markets.items()
        }
        self._account = Account(config.balances)
        self._ids = UlidGenerator(seed)
        self._frames = Frames(emit, seed, on_deal)
        self._exec = Executor(config, self._markets, self._account, self._frames, self._ids)
        self.feed = MarketFeed(self._markets, self._exec, config.queue_when_depth_unknown)
        for market in self._markets.values():
            market.state.venue = self.feed  # the state hands the venue its events
            market.state.overlay = market
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
        if not self._latency_ns and not self._pending:  # _send, the usual case written out
            self._seq += 1
            self._exec.arrive(order_id, req, self._seq, now_ns, now_ns)
        else:
            self._send(_SUBMIT, order_id, req, now_ns)
        return order_id

    def refuse(self, req: OrderRequest, now_ns: int, message: str) -> str:
        """Refuse an order at once, for a rule of the run rather than of the market (warm-up).

        Returns:
            The refused order's id; its ``order_rejected`` (code 0, ``message``) follows.
        """
        order_id = self._ids.new(now_ns)
        self._exec.refuse(Rejection(0, message), order_id, req, now_ns)
        return order_id

    def cancel(self, order_id: str, now_ns: int) -> None:
        """Send a cancel for a limit order; it reaches the venue ``latency_ms`` later."""
        self._send(_CANCEL, order_id, None, now_ns)

    def advance(self, now_ns: int) -> None:
        """Apply every command that has reached the venue by ``now_ns``."""
        if self._pending and self._pending[0].arrive_ns <= now_ns:
            self._apply_due(now_ns)

    def fill_waiting_at_last(self, now_ns: int) -> None:
        """End of the data: fill every order waiting for a next bar at the market's last price.

        With bars only, a market order fills at the next bar's open; when no bar follows (the
        run finalizes its positions), the last close is the only price there is.
        """
        for market in self._markets.values():
            last = market.last
            if market.waiting and last is not None:
                price = quantize(from_float(last), market.rules.quote_prec)
                for order in list(market.waiting):
                    self._exec.fill_all_at(order, price, "taker", now_ns)
                    if order.is_open:
                        self._exec.finish(order, "expire", now_ns)

    def settle_lines(self) -> None:
        """Write the private events' lines kept back (nobody reads them yet) to the log."""
        self._frames.settle()

    # --- read access -----------------------------------------------------------------------

    def balance(self, currency: str) -> tuple[Decimal, Decimal]:
        """(available, held) of one currency; zeros for a currency never held."""
        return self._account.available(currency), self._account.held(currency)

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """(available, held) of every currency the account has had, sorted by currency code."""
        return {c: self.balance(c) for c in self._account.currencies()}

    def balance_views(self) -> tuple[Mapping[str, Decimal], Mapping[str, Decimal]]:
        """Live read-only views of the available and held balances (``Account.views``)."""
        return self._account.views()

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
        orders = self._exec.orders
        order = orders.get(order_id)
        if order is None or order.state in ("pending", "open", "partially_filled"):
            return
        del orders[order_id]
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
        return market.state.last if market is not None else None

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
        if not self._latency_ns and not self._pending:
            # At once, as the heap would have applied it: nothing else can be due before it.
            if req is not None:
                self._exec.arrive(order_id, req, self._seq, now_ns, now_ns)
            else:
                self._exec.cancel(order_id, now_ns)
            return
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
