"""The bus delivers each event to its type's handlers, in subscription order."""

from __future__ import annotations

from framework.bus import Bus
from framework.events import LastPrice, Trade


def test_handlers_run_in_subscription_order() -> None:
    bus = Bus()
    calls: list[str] = []
    bus.subscribe(Trade, lambda e: calls.append("exchange"))
    bus.subscribe(Trade, lambda e: calls.append("strategy"))
    bus.publish(Trade("v", "BTC/USDT", "BTC_USDT", 1, 2, 10.0, 1.0, "buy"))
    assert calls == ["exchange", "strategy"]


def test_events_reach_only_handlers_of_their_exact_type() -> None:
    bus = Bus()
    got: list[object] = []
    bus.subscribe(LastPrice, got.append)
    trade = Trade("v", "BTC/USDT", "BTC_USDT", 1, 2, 10.0, 1.0, "buy")
    last = LastPrice("v", "BTC/USDT", "BTC_USDT", 1, 2, 10.0)
    bus.publish(trade)
    bus.publish(last)
    assert got == [last]


def test_unsubscribed_type_is_a_no_op() -> None:
    assert Bus().handlers(Trade) == ()
