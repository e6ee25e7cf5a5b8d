"""Latency: commands reach the venue after ``latency_ms`` of simulated time, and not before."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

from framework.ids import encode_ulid

Make = Callable[..., Any]
T0 = 1_750_696_376


def test_nothing_happens_before_the_order_reaches_the_venue(make: Make) -> None:
    h = make(balances={"USDT": "1000"}, latency_ms=100)
    h.book([(99.0, 1.0)], [(100.0, 1.0)])
    h.order(0, direction="buy", type="market", quantity="0.5")
    h.x.advance(T0 * 1_000_000_000 + 99_999_999)
    assert h.take() == []


def test_order_is_matched_against_the_book_as_it_is_when_the_order_arrives(make: Make) -> None:
    h = make(balances={"USDT": "1000"}, latency_ms=100)
    h.book([(99.0, 1.0)], [(100.0, 1.0)])
    h.order(0, direction="buy", type="market", quantity="0.5")
    h.delta(asks=[(100.0, 0.0), (100.5, 1.0)], t=0.05)  # the 100 ask is gone by arrival
    assert h.take() == []
    h.trade(100.5, 0.1, t=0.2)  # the order (due at 0.1) is applied before this trade
    deals = h.infos(h.take(), "deal_update")
    assert [(d["filledPrice"], d["filledQuantity"]) for d in deals] == [
        ("100.5000000000000000", "0.5000000000000000")
    ]


def test_an_event_stamped_at_the_arrival_time_comes_after_the_order(make: Make) -> None:
    h = make(balances={"BTC": "1"}, latency_ms=100, queue_when_depth_unknown=0)
    h.trade(100.0, 1.0)
    h.sell("1", "101", t=0)
    h.trade(101.0, 0.4, t=0.1)  # arrives at 0.1, then this trade fills 0.4 of it
    deals = h.infos(h.take(), "deal_update")
    assert [d["filledQuantity"] for d in deals] == ["0.4000000000000000"]


def test_advance_applies_commands_that_have_arrived(make: Make) -> None:
    h = make(balances={"USDT": "1000"}, latency_ms=100)
    h.trade(100.0, 1.0)
    h.buy("1", "99", t=0)
    h.x.advance(T0 * 1_000_000_000 + 100_000_000)
    assert h.kinds(h.take()) == ["order_update:created", "balance_update:USDT"]


def test_a_fill_before_the_cancel_arrives_wins(make: Make) -> None:
    h = make(balances={"BTC": "1"}, latency_ms=100)
    h.trade(100.0, 1.0)
    order_id = h.sell("1", "101", t=0)
    h.x.advance(T0 * 1_000_000_000 + 100_000_000)
    h.cancel(order_id, t=1)  # arrives at 1.1
    h.trade(101.5, 0.1, t=1.05)  # through the price: the order fills at 1.05
    h.x.advance(T0 * 1_000_000_000 + 1_100_000_000)
    frames = h.take()
    assert h.kinds(frames)[-1] == "order_rejected"
    rejected = h.infos(frames, "order_rejected")[0]
    assert (rejected["code"], rejected["message"]) == (5, f"Order {order_id} not found.")
    assert h.x.balance("USDT") == (D(101), 0)


def test_open_orders_shows_an_order_in_flight_as_pending_then_open(make: Make) -> None:
    h = make(balances={"USDT": "1000"}, latency_ms=100)
    h.trade(100.0, 1.0)
    order_id = h.buy("1", "99", t=0)
    assert [(o.id, o.state) for o in h.x.open_orders()] == [(order_id, "pending")]
    h.x.advance(T0 * 1_000_000_000 + 100_000_000)
    assert [(o.id, o.state) for o in h.x.open_orders()] == [(order_id, "open")]


def test_order_id_is_a_ulid_of_the_submission_time(make: Make) -> None:
    h = make(balances={"USDT": "1000"}, latency_ms=100)
    order_id = h.buy("1", "99", t=2.5)
    assert order_id[:10] == encode_ulid(T0 * 1000 + 2500, 0)[:10]


def test_created_carries_the_arrival_second(make: Make) -> None:
    h = make(balances={"USDT": "1000"}, latency_ms=1500)
    h.trade(100.0, 1.0)
    h.buy("1", "99", t=0)
    h.x.advance(T0 * 1_000_000_000 + 1_500_000_000)
    created = h.infos(h.take(), "order_update")[0]
    assert created["createTs"] == T0 + 1


def test_commands_reach_the_venue_in_the_order_they_were_sent(make: Make) -> None:
    h = make(balances={"USDT": "1000"}, latency_ms=100)
    h.trade(100.0, 1.0)
    first = h.buy("1", "99", t=0, client_order_id="same")
    second = h.buy("1", "98", t=0, client_order_id="same")  # sent second: the duplicate
    h.x.advance(T0 * 1_000_000_000 + 100_000_000)
    frames = h.take()
    assert [u["id"] for u in h.infos(frames, "order_update")] == [first]
    assert [(r["orderId"], r["code"]) for r in h.infos(frames, "order_rejected")] == [(second, 7)]


def test_a_cancel_that_arrives_first_stops_a_later_fill(make: Make) -> None:
    h = make(balances={"BTC": "1"}, latency_ms=100)
    h.trade(100.0, 1.0)
    order_id = h.sell("1", "101", t=0)
    h.cancel(order_id, t=1)  # arrives at 1.1
    h.trade(101.5, 0.1, t=1.2)  # the cancel is applied first, then this trade
    frames = h.take()
    assert h.infos(frames, "deal_update") == []
    assert h.infos(frames, "order_update")[-1]["internalState"] == "cancelled"
    assert h.x.balance("BTC") == (D(1), 0)
