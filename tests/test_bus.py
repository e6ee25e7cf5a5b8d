"""The dispatcher delivers each event to its type's handlers, in routing order, then applies
the barrier: queued commands after the last handler, in order, then the private events."""

from __future__ import annotations

import pytest

from framework.bus import Dispatcher
from framework.events import LastPrice, Trade

TRADE = Trade("v", "BTC/USDT", "BTC_USDT", 1, 2, 10.0, 1.0, "buy")


def _fail(strategy: object, callback: str, event: object, exc: Exception) -> None:
    raise exc


def test_handlers_run_in_routing_order() -> None:
    d = Dispatcher(_fail)
    calls: list[str] = []
    d.route(Trade, lambda e: calls.append("state"))
    d.route(Trade, lambda e: calls.append("venue"))
    d.route(Trade, lambda e: calls.append("strategy"))
    d.publish([TRADE])
    assert calls == ["state", "venue", "strategy"]


def test_events_reach_only_handlers_of_their_exact_type() -> None:
    d = Dispatcher(_fail)
    got: list[object] = []
    d.route(LastPrice, got.append)
    last = LastPrice("v", "BTC/USDT", "BTC_USDT", 1, 2, 10.0)
    d.publish([TRADE, last])
    assert got == [last]


def test_unrouted_type_is_a_no_op() -> None:
    assert Dispatcher(_fail).handlers(Trade) == ()


def test_commands_wait_for_the_last_handler_and_keep_their_order() -> None:
    d = Dispatcher(_fail)
    log: list[str] = []
    d.route(Trade, lambda e: (log.append("a"), d.commands.append(lambda: log.append("a1"))))
    d.route(Trade, lambda e: (log.append("b"), d.commands.append(lambda: log.append("b1"))))
    d.route(Trade, lambda e: log.append("c"))
    d.publish([TRADE, TRADE])
    assert log == ["a", "b", "c", "a1", "b1", "a", "b", "c", "a1", "b1"]


def test_the_table_is_fixed_once_sealed() -> None:
    d = Dispatcher(_fail)
    d.seal()
    with pytest.raises(RuntimeError, match="fixed"):
        d.route(Trade, print)
