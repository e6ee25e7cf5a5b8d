"""The order desk: strategies' orders and cancels on their way to the venue, and who owns what.

A strategy's ``buy_limit`` (and the rest) lands here: the request is checked for exact numbers
and queued on the dispatcher, which applies it after the event being handled (the barrier
rule, ``framework.bus``). When it is applied, the desk submits it to the paper venue and
remembers which strategy owns the order, so that the order's private events go back to that
strategy only, and so that each fill is booked in the results model as that strategy's
(:meth:`OrderDesk.book`: the one place fills are attributed). Balance updates go to every strategy that listens. A command that reaches the
venue later (``latency_ms``) is applied by a clock timer at its arrival, so that market data
stamped at or after it is matched with it and no data stamped before it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from framework import events as ev
from framework.bus import Dispatcher, Target
from framework.clock import Clock
from framework.exchange import DealRecord, OrderRequest, OrderView, PaperExchange
from framework.report.results import Fill, Results
from framework.strategy import OrderTicket, Strategy

__all__ = ["OrderDesk", "PrivateSink"]

PrivateSink = Callable[[ev.PrivateEvent], None]
_NONE: tuple[Target, ...] = ()


class OrderDesk:
    """Orders in from strategies, private events out to their owners."""

    def __init__(
        self,
        exchange: PaperExchange,
        clock: Clock,
        dispatcher: Dispatcher,
        latency_ns: int,
        results: Results,
    ) -> None:
        self.on_private: PrivateSink | None = None  # every private event, in order: the output
        # A rule of the run that refuses orders (the warm-up): the reason, or None to let go.
        self.gate: Callable[[int], str | None] = lambda now_ns: None
        self._exchange = exchange
        self._clock = clock
        self._dispatcher = dispatcher
        self._latency_ns = latency_ns
        self._owners: dict[str, Strategy] = {}
        self._results = results
        self._finalizing: set[str] = set()  # orders placed to close positions; membership only
        self._unbooked: list[DealRecord] = []  # fills of an order still being submitted
        self._order_targets: dict[Strategy, dict[type, Target]] = {}
        self._balance_targets: tuple[Target, ...] = ()

    def listen(
        self, strategy: Strategy, kind: type[ev.PrivateEvent], target: Target | None
    ) -> None:
        """Wire ``strategy``'s callback for private events of ``kind`` (None: not listening)."""
        if target is None:
            return
        if kind is ev.BalanceUpdate:
            self._balance_targets = (*self._balance_targets, target)
        else:
            self._order_targets.setdefault(strategy, {})[kind] = target

    # --- commands ------------------------------------------------------------------------------

    def queue_order(
        self, strategy: Strategy, request: OrderRequest, *, finalizing: bool = False
    ) -> OrderTicket:
        """Queue ``request`` for ``strategy``; it is submitted when the event is handled.

        ``finalizing`` marks an order the run placed to close the strategy's position.
        """
        ticket = OrderTicket(request.client_order_id)

        def submit() -> None:
            now = self._clock.now_ns
            refused = self.gate(now)
            if refused is not None:
                order_id = self._exchange.refuse(request, now, refused)
            else:
                order_id = self._exchange.submit(request, now)
            ticket.order_id = order_id
            self._owners[order_id] = strategy
            if finalizing:
                self._finalizing.add(order_id)
            self._book_unbooked()
            if self._latency_ns:
                self._wake_on_arrival()

        self._dispatcher.commands.append(submit)
        return ticket

    def queue_cancel(self, order_id: str) -> None:
        """Queue a cancel; it is sent when the event is handled."""

        def cancel() -> None:
            self._exchange.cancel(order_id, self._clock.now_ns)
            if self._latency_ns:
                self._wake_on_arrival()

        self._dispatcher.commands.append(cancel)

    def open_orders(self, strategy: Strategy, instrument: str | None) -> list[OrderView]:
        """The strategy's own open orders."""
        owners = self._owners
        return [o for o in self._exchange.open_orders(instrument) if owners.get(o.id) is strategy]

    def owner_name(self, order_id: str) -> str | None:
        """The name of the strategy that placed a not yet forgotten order, or None."""
        owner = self._owners.get(order_id)
        return owner.name if owner is not None else None

    def _wake_on_arrival(self) -> None:
        self._clock.call_at(self._clock.now_ns + self._latency_ns, "venue", self._arrive)

    def _arrive(self, _: str, ts_ns: int) -> None:
        self._exchange.advance(ts_ns)
        self._dispatcher.deliver(_NONE)  # the barrier: deliver what the arrival emitted

    # --- private events --------------------------------------------------------------------------

    def route_private(self, event: ev.PrivateEvent) -> Sequence[Target]:
        """Write ``event`` to the output, and name the callbacks it goes to."""
        if self.on_private is not None:
            self.on_private(event)
        kind = type(event)  # exact types, compared by identity: this runs per private event
        if kind is ev.BalanceUpdate:
            return self._balance_targets
        owner: Strategy | None
        data: Any = event.data  # its type follows ``kind`` (no cast: this runs per event)
        if kind is ev.OrderUpdate:
            order_id = data.info.id
            owner = self._owners.get(order_id)
            if data.type == "finished":
                # Every event of this order is out: let go of it, so memory stays flat.
                self._owners.pop(order_id, None)
                self._finalizing.discard(order_id)
                self._exchange.forget(order_id)
        elif kind is ev.DealUpdate:
            owner = self._owners.get(self._exchange.order_id_of_deal(data.info.dealId) or "")
        else:
            owner = self._owners.get(data.info.orderId or "")
        targets = self._order_targets.get(owner) if owner is not None else None
        target = targets.get(kind) if targets else None
        return (target,) if target is not None else _NONE

    # --- the results -----------------------------------------------------------------------------

    def book(self, event: ev.PrivateEvent) -> None:
        """Count an event in the results as the venue emits it: an accepted order, a refusal.
        (Fills are booked from the venue's own record, :meth:`book_deal`.)"""
        if type(event) is ev.OrderUpdate:
            if event.data.type == "created":
                self._results.add_order()
        elif type(event) is ev.OrderRejected:
            self._results.add_rejection(event.data.info)

    def book_deal(self, deal: DealRecord) -> None:
        """Book a fill as its owner's as the venue makes it, before any callback, so
        ``position()`` counts it as soon as the account does. An order that fills while it is
        being submitted (no latency) has no owner yet: its fills are booked right after
        ``submit()`` returns."""
        order_id = deal.order_id
        owner = self._owners.get(order_id)
        if owner is None:
            self._unbooked.append(deal)
            return
        self._results.add_fill(
            Fill(
                ts_ns=deal.ts_ns,
                strategy=owner.name,
                instrument=deal.instrument,
                symbol=deal.symbol,
                order_id=order_id,
                deal_id=deal.deal_id,
                transaction_id=deal.transaction_id,
                side=deal.side,
                role=deal.role,
                price=deal.price,
                quantity=deal.quantity,
                value=deal.value,
                fee=deal.fee,
                fee_currency=deal.fee_currency,
                finalizing=order_id in self._finalizing,
            )
        )

    def _book_unbooked(self) -> None:
        unbooked, self._unbooked = self._unbooked, []
        for deal in unbooked:
            self.book_deal(deal)
