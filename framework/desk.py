"""The order desk: strategies' orders and cancels on their way to the venue, and who owns what.

A strategy's ``buy_limit`` (and the rest) lands here: the request is checked for exact numbers
and queued on the dispatcher, which applies it after the event being handled (the barrier
rule, ``framework.bus``). When it is applied, the desk submits it to the paper venue and
remembers which strategy owns the order, so that the order's private events go back to that
strategy only, and so that each fill is booked in the results model as that strategy's
(:meth:`OrderDesk.book_deal`: the one place fills are attributed). Balance updates go to every strategy that listens. A command that reaches the
venue later (``latency_ms``) is applied by a clock timer at its arrival, so that market data
stamped at or after it is matched with it and no data stamped before it is.

Private events are lines (``framework.exchange.frames``), which the venue appends to the run's
log as it makes them (:meth:`OrderDesk.log_to`). It queues for delivery only the events that
something follows: a ``finished`` order update (the order is let go of), a balance update (the
equity sampler), and, while someone reads Structs (a strategy that listens to order or deal
updates, or an :attr:`OrderDesk.on_private` sink: the run database, the dashboard, a resumed
session's check), every event. Each is delivered by its kind's route (:attr:`OrderDesk.routes`),
which decodes its Struct from the line only if a sink or the owner's callback wants it, once
for both. The routes are chosen again whenever the readers change.
"""

from __future__ import annotations

from collections.abc import Callable

from framework import events as ev
from framework.bus import Delivery, Dispatcher, PrivateRoute, Target
from framework.clock import Clock
from framework.exchange import DealRecord, OrderRequest, OrderView, PaperExchange
from framework.exchange.frames import BALANCE, CREATED, DEAL, REJECTED, PrivateLines, decode
from framework.report.results import Results
from framework.strategy import OrderTicket, Strategy

__all__ = ["LineSink", "OrderDesk", "PrivateSink"]

PrivateSink = Callable[[ev.PrivateEvent], None]
LineSink = Callable[[bytes, str], None]
"""Takes a private event's line (empty while the venue defers its lines: nobody reads them)
and the id of the order it is about (a route of its own)."""
_NONE: tuple[Target, ...] = ()


def _discard(line: bytes, order_id: str) -> None:
    pass


class OrderDesk:
    """Orders in from strategies, private events out to their owners."""

    def __init__(
        self,
        exchange: PaperExchange,
        clock: Clock,
        dispatcher: Dispatcher,
        latency_ns: int,
        results: Results,
        lines: PrivateLines,
    ) -> None:
        # Follows each balance update as it is delivered (the equity sampler).
        self.on_balance: LineSink = _discard
        self._lines = lines
        self._sink: PrivateSink | None = None  # every private event's Struct, in order
        # A rule of the run that refuses orders (the warm-up): the reason, or None to let go.
        self.gate: Callable[[int], str | None] = lambda now_ns: None
        self._exchange = exchange
        self._clock = clock
        self._dispatcher = dispatcher
        self._latency_ns = latency_ns
        self._owners: dict[str, Strategy] = {}
        self._results = results
        self._finalizing: set[str] = set()  # orders placed to close positions; membership only
        # The owner of the order being submitted, and whether it is finalizing: an order that
        # fills at once (no latency) fills before its id is known here.
        self._submitting: Strategy | None = None
        self._submitting_finalizing = False
        self._order_targets: dict[Strategy, dict[type, Target]] = {}
        self._balance_targets: tuple[Target, ...] = ()
        self.routes: tuple[PrivateRoute, ...] = ()
        self._reroute()

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
        self._reroute()

    @property
    def on_private(self) -> PrivateSink | None:
        """Called with every private event's Struct, in order, after the log (None: nobody)."""
        return self._sink

    @on_private.setter
    def on_private(self, sink: PrivateSink | None) -> None:
        self._sink = sink
        self._reroute()

    def log_to(self, log: bytearray, flush: Callable[[], None], on_balance: LineSink) -> None:
        """Append every private event's line to ``log`` as the venue makes it (``flush``
        once it is full), and call ``on_balance`` as each balance update is delivered."""
        self._lines.settle()  # lines kept back go to the log they were made for
        self._lines.log, self._lines.flush, self.on_balance = log, flush, on_balance
        self._reroute()

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
                self._submitting, self._submitting_finalizing = strategy, finalizing
                try:
                    order_id = self._exchange.submit(request, now)
                finally:
                    self._submitting = None
            ticket.order_id = order_id
            self._owners[order_id] = strategy
            if finalizing:
                self._finalizing.add(order_id)
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

    def _reroute(self) -> None:
        """Tell the venue which events to queue, choose each kind's route (see the module
        doc), and hand the table to the dispatcher."""
        lines = self._lines
        lines.settle()  # the lines kept back are written before the readers change
        lines.structs = self._sink is not None or bool(self._order_targets)
        # Nobody reads a line before the log is flushed: the venue may render them later.
        lines.defer = not lines.structs and not self._balance_targets
        lines.balance_queued = False
        if self._sink or self._balance_targets:
            balances: PrivateRoute = self._balance_update
        else:
            balances = self._balances_changed if lines.defer else self.on_balance
        order = self._order_update
        self.routes = (order, order, self._finished, self._deal_update, balances, self._rejected)
        self._dispatcher.private_routes = self.routes

    def _deliver(self, kind: int, line: bytes, order_id: str, cls: type) -> Delivery | None:
        """The Struct of an event for the sink and the owner's callback, if either wants it."""
        owner = self._owners.get(order_id)
        targets = self._order_targets.get(owner) if owner is not None else None
        target = targets.get(cls) if targets else None
        if (target is None and self._sink is None) or not line:
            # (no line: it was made while nobody read them, before a reader came)
            return None
        event = decode(kind, line)
        if self._sink is not None:
            self._sink(event)
        return ((target,), (event,)) if target is not None else None

    def _order_update(self, line: bytes, order_id: str) -> Delivery | None:
        """A ``created`` or ``updated`` order update (queued only when someone reads it)."""
        return self._deliver(CREATED, line, order_id, ev.OrderUpdate)

    def _deal_update(self, line: bytes, order_id: str) -> Delivery | None:
        return self._deliver(DEAL, line, order_id, ev.DealUpdate)

    def _rejected(self, line: bytes, order_id: str) -> Delivery | None:
        return self._deliver(REJECTED, line, order_id, ev.OrderRejected)

    def _balance_update(self, line: bytes, order_id: str) -> Delivery | None:
        """A balance update, for the sampler and a sink or strategies that listen."""
        self.on_balance(line, order_id)
        if not line:  # made while nobody read them, before a reader came
            return None
        event = decode(BALANCE, line)
        if self._sink is not None:
            self._sink(event)
        return (self._balance_targets, (event,)) if self._balance_targets else None

    def _balances_changed(self, line: bytes, order_id: str) -> None:
        """Balances changed, while the venue defers its lines: one update queued stands for
        all those made until its delivery (the sampler's answer is the same for each)."""
        self._lines.balance_queued = False
        self.on_balance(line, order_id)

    def _finished(self, line: bytes, order_id: str) -> Delivery | None:
        """An order's last update: once it is out, the order is let go of, so memory stays
        flat."""
        delivery = (
            self._deliver(CREATED, line, order_id, ev.OrderUpdate) if self._lines.structs else None
        )
        self._owners.pop(order_id, None)
        self._finalizing.discard(order_id)
        self._exchange.forget(order_id)
        return delivery

    def undelivered(self, kind: int, line: bytes) -> None:
        """An event that will not be delivered (the run stopped): its line is in the log
        already; the sampler and the sink still follow it."""
        if kind == BALANCE:
            self._lines.balance_queued = False
            self.on_balance(line, "")
        if self._sink is not None and line:
            self._sink(decode(kind, line))

    # --- the results -----------------------------------------------------------------------------

    def book_deal(self, deal: DealRecord) -> None:
        """Book a fill as its owner's as the venue makes it, before any callback, so
        ``position()`` counts it as soon as the account does. An order that fills while it is
        being submitted (no latency) is the one being submitted: no other order can fill then,
        as nothing else reaches the venue during a submit at latency 0."""
        order_id = deal.order_id
        owner = self._owners.get(order_id)
        if owner is not None:
            finalizing = order_id in self._finalizing
        else:
            owner, finalizing = self._submitting, self._submitting_finalizing
            if owner is None:
                raise RuntimeError(f"a fill of order {order_id}, which no strategy placed")
        self._results.deal(deal, owner.name, finalizing)
