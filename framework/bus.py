"""The dispatcher: the one path every event of a run takes to its handlers, and the one barrier.

Every callback goes through :class:`Dispatcher`: market events and control replies
(:meth:`Dispatcher.publish`, through a routing table built once when the run is wired: the
market state first, then the paper venue, then the strategies in the order given), and
private events, timers, connection events, start and stop (:meth:`Dispatcher.deliver`, to the
targets the caller names). No strings and no ``getattr`` at dispatch: the table holds the
handlers themselves, typed, and who is to blame for each.

**The barrier rule** (stated here once; :meth:`Dispatcher.barrier` is the code): orders and
cancels placed while an event is handled are queued, and applied only after the event's last
handler has returned, in the order they were placed. The private events they produce are then
delivered one at a time, each as an event of its own under the same rule. So no strategy's
reaction changes what another strategy is shown of the same event, and the same input always
gives the same sequence of callbacks. The barrier is iterative: a strategy answering every
order update with a new order builds no stack.

Private events are queued as lines (``framework.exchange.frames``: kind, line, order id) and
delivered through a table of routes by kind (``framework.desk``): one call per event, which
writes it to the run's output and names the callbacks it goes to, if any.

Nothing here awaits: trio runs tasks in a random order on purpose, and anything awaited after
the merge point would make replays diverge.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framework import events as ev
    from framework.exchange.frames import Emitted
    from framework.strategy import Strategy

__all__ = [
    "Blame",
    "Delivery",
    "Dispatcher",
    "FailureHandler",
    "Handler",
    "PrivateRoute",
    "Target",
]

Handler = Callable[..., None]
Blame = tuple["Strategy", str] | None
"""Whose code a handler is (strategy, callback name, for messages only); None for the run's own."""
Target = tuple[Handler, Blame]
FailureHandler = Callable[["Strategy", str, object, Exception], None]
"""Called when a strategy's handler raised; raises to stop the run or returns to go on."""
Delivery = tuple[Sequence[Target], tuple["ev.PrivateEvent"]]
"""The callbacks a private event goes to, and their argument: the event's Struct."""
PrivateRoute = Callable[[bytes, str], Delivery | None]
"""Records a private event of one kind (its line, its order id), and names the callbacks it
goes to: None when there are none, as for most."""


class Dispatcher:
    """Routes events to handlers and applies the barrier rule after each event.

    Args:
        on_failure: called when a strategy's handler raises (see :data:`FailureHandler`).
    """

    def __init__(self, on_failure: FailureHandler) -> None:
        self.commands: deque[Callable[[], None]] = deque()  # strategies' orders and cancels
        self.private: deque[Emitted] = deque()  # what the venue emitted, in order
        # One route per kind of private event, indexed by it (see framework.exchange.frames).
        self.private_routes: Sequence[PrivateRoute] = ()
        self._on_failure = on_failure
        self._routes: dict[type, tuple[Handler, ...]] = {}
        self._blame: dict[type, tuple[Blame, ...]] = {}
        self._sealed = False
        self._settling = False

    # --- wiring ----------------------------------------------------------------------------------

    def route(self, kind: type, handler: Handler, blame: Blame = None) -> None:
        """Deliver events of exactly type ``kind`` to ``handler``, after those routed before."""
        if self._sealed:
            raise RuntimeError("the routing table is fixed once the run is wired")
        self._routes[kind] = (*self._routes.get(kind, ()), handler)
        self._blame[kind] = (*self._blame.get(kind, ()), blame)

    def seal(self) -> None:
        """Fix the routing table: the run is wired."""
        self._sealed = True

    def handlers(self, kind: type) -> tuple[Handler, ...]:
        """The handlers of one type, in delivery order."""
        return self._routes.get(kind, ())

    def table(self) -> Mapping[type, tuple[Handler, ...]]:
        """The routing table, for the loop, which walks it inline (see :meth:`publish`)."""
        return self._routes

    # --- delivery ---------------------------------------------------------------------------------

    def publish(self, items: Sequence[object]) -> None:
        """Deliver each item of one frame to its routed handlers, with the barrier after each.

        ``loop.Engine.process`` has this loop inlined (a call per frame is a tenth of the
        replay's time): change both together.
        """
        routes = self._routes
        for item in items:
            handlers = routes.get(type(item))
            if handlers:
                try:
                    for handler in handlers:
                        handler(item)
                except Exception as exc:
                    self.failed(item, handlers.index(handler), exc)
                if self.commands or self.private:
                    self.barrier()

    def failed(self, event: object, index: int, exc: Exception) -> None:
        """Routed handler ``index`` of ``event``'s type raised: blame, then call the rest."""
        kind = type(event)
        targets = list(zip(self._routes[kind], self._blame[kind], strict=True))
        self._failed(targets, index, (event,), exc)

    def deliver(self, targets: Sequence[Target], *args: Any) -> None:
        """Call every target with ``args`` (one event: a timer, a connection, a private event,
        start or stop), then apply the barrier."""
        self._call(targets, args)
        if (self.commands or self.private) and not self._settling:
            self.barrier()

    def barrier(self) -> None:
        """Apply queued commands, then deliver private events, until both queues are empty."""
        commands, private = self.commands, self.private
        routes = self.private_routes
        self._settling = True
        try:
            while commands or private:
                while commands:
                    commands.popleft()()
                while private and not commands:
                    kind, line, key = private.popleft()
                    delivery = routes[kind](line, key)
                    if delivery is not None:  # most private events have no listener
                        self._call(*delivery)
        finally:
            self._settling = False

    def _call(self, targets: Sequence[Target], args: tuple[Any, ...]) -> None:
        index = 0
        try:
            for handler, _ in targets:
                handler(*args)
                index += 1
        except Exception as exc:
            self._failed(targets, index, args, exc)

    def _failed(
        self, targets: Sequence[Target], index: int, args: tuple[Any, ...], exc: Exception
    ) -> None:
        """Target ``index`` raised: blame its strategy (or re-raise), then call the rest."""
        blame = targets[index][1]
        if blame is None:
            raise exc
        self._on_failure(blame[0], blame[1], args[0] if args else None, exc)
        self._call(targets[index + 1 :], args)
