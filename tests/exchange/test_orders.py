"""The order state machine: its table, its finished states, and the views strategies get."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from framework.exchange import DEFAULT_MARKETS, OrderRequest
from framework.exchange.orders import FINAL_STATES, Order, finished_states, transition

_REQ = OrderRequest(
    instrument="BTC/USDT", direction="buy", type="limit", quantity=D(2), price=D(100)
)


def _order(state: str = "pending") -> Order:
    order = Order("01JYET5DQ772MPYHHE417FQF1J", _REQ, DEFAULT_MARKETS["BTC/USDT"], 1, 5)
    order.state = state  # type: ignore[assignment]
    return order


def test_an_accepted_order_is_open() -> None:
    assert transition(_order(), "accept") == "open"


def test_a_fill_of_part_leaves_it_partially_filled() -> None:
    assert transition(_order("open"), "fill") == "partially_filled"


def test_the_last_fill_makes_it_filled() -> None:
    assert transition(_order("partially_filled"), "fill_all") == "filled"


@pytest.mark.parametrize("event", ["cancel", "expire", "stop_loss"])
def test_an_open_order_can_end_without_filling(event: str) -> None:
    assert transition(_order("open"), event) in FINAL_STATES


@pytest.mark.parametrize("state", sorted(FINAL_STATES))
def test_a_finished_order_has_no_next_state(state: str) -> None:
    with pytest.raises(RuntimeError, match=f"no transition from '{state}' on 'fill'"):
        transition(_order(state), "fill")


def test_a_pending_order_cannot_fill() -> None:
    with pytest.raises(RuntimeError):
        transition(_order("pending"), "fill")


def test_filled_order_is_completed_filled() -> None:
    assert finished_states(_order("filled")) == ("completed", "filled")


def test_cancelled_order_with_nothing_filled_is_cancelled_cancelled() -> None:
    assert finished_states(_order("cancelled")) == ("cancelled", "cancelled")


def test_order_ended_after_a_partial_fill_says_so() -> None:
    order = _order("stop_loss")
    order.filled_qty = D("0.5")
    assert finished_states(order) == ("cancelled", "partially_filled_stop_loss")


def test_view_shows_the_request_and_the_fills_so_far() -> None:
    order = _order("partially_filled")
    order.filled_qty, order.filled_value = D("0.5"), D(50)
    view = order.view()
    assert (view.id, view.price, view.quantity, view.filled_quantity, view.filled_value) == (
        "01JYET5DQ772MPYHHE417FQF1J",
        D(100),
        D(2),
        D("0.5"),
        D(50),
    )
    assert (view.state, view.submitted_ns, view.time_in_force) == ("partially_filled", 5, "gtc")


def test_remaining_is_what_is_left_of_the_quantity() -> None:
    order = _order("partially_filled")
    order.filled_qty = D("0.75")
    assert order.remaining == D("1.25")
