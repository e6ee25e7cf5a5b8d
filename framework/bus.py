"""Synchronous publish/subscribe keyed by event type, with a fixed delivery order.

Handlers are plain functions, called in the order they subscribed: the loop subscribes the paper
exchange first and the strategies after it, so the exchange always sees market data before any
strategy can react to it. Nothing here awaits: trio runs tasks in a random order on purpose,
and anything awaited after the merge point would make replays diverge.

Dispatch is one dict lookup per event; the table of handlers per type is a tuple rebuilt only
when a subscription changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Bus", "Handler"]

Handler = Callable[[Any], None]


class Bus:
    """Route each published event to the handlers subscribed to its exact type."""

    def __init__(self) -> None:
        self._routes: dict[type, tuple[Handler, ...]] = {}

    def subscribe(self, event_type: type, handler: Handler) -> None:
        """Deliver events of ``event_type`` to ``handler``, after the handlers already there."""
        self._routes[event_type] = (*self._routes.get(event_type, ()), handler)

    def handlers(self, event_type: type) -> tuple[Handler, ...]:
        """The handlers for one type, in delivery order."""
        return self._routes.get(event_type, ())

    def table(self) -> dict[type, tuple[Handler, ...]]:
        """The live routing table (type -> handlers), for a dispatch loop that inlines publish."""
        return self._routes

    def publish(self, event: object) -> None:
        """Call every handler of ``type(event)`` with it, in subscription order."""
        for handler in self._routes.get(type(event), ()):
            handler(event)
