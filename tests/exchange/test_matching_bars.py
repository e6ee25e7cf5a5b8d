"""Matching with bars only (Finazon, imported CSV), on AAPL.US: whole shares, prices in cents.

A bar is known when it closes. The harness's ``bar(o, h, l, c, opens, closes)`` sends a closed
bar whose open time is ``opens`` and which is received at ``closes`` (seconds).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

Make = Callable[..., Any]


def _deals(h: Any, frames: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (_n(d["filledPrice"]), _n(d["filledQuantity"]), d["tradeRole"])
        for d in h.infos(frames, "deal_update")
    ]


def _n(text: str) -> str:
    return format(D(text).normalize(), "f")


def _end(h: Any, frames: list[dict[str, Any]]) -> tuple[str, str]:
    info = h.infos(frames, "order_update")[-1]
    return info["state"], info["internalState"]


def _stock(make: Make, **fields: Any) -> Any:
    fields.setdefault("balances", {"USD": "10000"})
    h = make("AAPL.US", **fields)
    h.bar(190, 191.5, 189.5, 191, opens=-60, closes=0)  # last close 191
    return h


def test_market_buy_fills_at_the_next_bar_open_holding_more_if_it_gapped_up(
    make: Make,
) -> None:
    h = _stock(make)
    h.order(0, direction="buy", type="market", quantity="10")  # holds 10 x 191 = 1910
    assert h.kinds(h.take()) == ["order_update:created", "balance_update:USD"]
    h.bar(192, 195, 191, 194, opens=0, closes=60)  # 10 x 192 = 1920: 10 more is held first
    frames = h.take()
    assert h.kinds(frames) == [
        "balance_update:USD",
        "deal_update",
        "balance_update:AAPL",
        "order_update:finished",
    ]
    assert _n(h.infos(frames, "balance_update")[0]["amount"]) == "10"
    assert _deals(h, frames) == [("192", "10", "taker")]
    assert h.x.balance("USD") == (D(8080), 0)


def test_order_arriving_after_the_next_bar_began_still_fills_at_its_open(make: Make) -> None:
    h = _stock(make, latency_ms=500)
    h.order(0, direction="buy", type="market", quantity="10")  # sent on the close, at 0
    h.bar(192, 195, 191, 194, opens=0, closes=60)  # it reached the venue at 0.5
    assert _deals(h, h.take()) == [("192", "10", "taker")]


def test_a_bar_that_ended_before_the_order_arrived_does_not_fill_it(make: Make) -> None:
    h = _stock(make)  # the last bar seen ended at 0
    h.order(600, direction="buy", type="market", quantity="10")
    h.take()
    h.bar(192, 195, 191, 194, opens=540, closes=600)  # over by the time the order arrived
    assert h.take() == []
    h.bar(193, 196, 192, 195, opens=600, closes=660)
    assert _deals(h, h.take()) == [("193", "10", "taker")]


def test_market_buy_by_value_buys_whole_shares_at_the_open(make: Make) -> None:
    h = _stock(make)
    h.order(0, direction="buy", type="market", value="1000")
    h.bar(192, 195, 191, 194, opens=0, closes=60)  # 1000 / 192 -> 5 shares, 960 USD
    frames = h.take()
    assert _deals(h, frames) == [("192", "5", "taker")]
    assert _end(h, frames) == ("completed", "filled")
    assert h.x.balance("USD") == (D(9040), 0)


def test_limit_buy_fills_at_its_price_when_the_range_reaches_it(make: Make) -> None:
    h = _stock(make)
    h.buy("10", "189")
    h.take()
    h.bar(190, 191, 188, 190.5, opens=0, closes=60)
    assert _deals(h, h.take()) == [("189", "10", "maker")]


def test_limit_buy_fills_at_the_open_when_the_bar_opens_through_it(make: Make) -> None:
    h = _stock(make)
    h.buy("10", "189")
    h.take()
    h.bar(188.5, 190, 188, 189.5, opens=0, closes=60)
    assert _deals(h, h.take()) == [("188.5", "10", "taker")]
    assert h.x.balance("USD") == (D(8115), 0)  # the hold of 1890 is released down to 1885


def test_limit_sell_fills_at_its_price_when_the_high_reaches_it(make: Make) -> None:
    h = _stock(make, balances={"AAPL": "5"})
    h.sell("5", "193")
    h.take()
    h.bar(190, 193.5, 189, 192, opens=0, closes=60)
    assert _deals(h, h.take()) == [("193", "5", "maker")]
    assert h.x.balance("USD") == (D(965), 0)


def test_a_bar_that_closes_up_reaches_its_low_before_its_high(make: Make) -> None:
    h = _stock(make)
    h.buy("10", "189", stop_loss_price="193")
    h.take()
    h.bar(190, 194, 188, 192, opens=0, closes=60)  # path 190, 188, 194, 192: fills first
    assert _deals(h, h.take()) == [("189", "10", "maker")]


def test_a_bar_that_closes_down_reaches_its_high_before_its_low(make: Make) -> None:
    h = _stock(make)
    h.buy("10", "189", stop_loss_price="193")
    h.take()
    h.bar(190, 194, 188, 189, opens=0, closes=60)  # path 190, 194, 188, 189: stops first
    frames = h.take()
    assert _deals(h, frames) == []
    assert _end(h, frames) == ("cancelled", "stop_loss")


def test_ioc_gets_the_next_open_if_it_is_marketable(make: Make) -> None:
    h = _stock(make)
    h.buy("10", "191", time_in_force="ioc")
    h.bar(190, 192, 189, 191, opens=0, closes=60)
    assert _deals(h, h.take()) == [("190", "10", "taker")]


def test_ioc_expires_if_the_next_open_is_not_marketable(make: Make) -> None:
    h = _stock(make)
    h.buy("10", "189", time_in_force="ioc")
    h.take()
    h.bar(190, 192, 188, 191, opens=0, closes=60)  # the low reaches 189, the open does not
    frames = h.take()
    assert _deals(h, frames) == []
    assert _end(h, frames) == ("cancelled", "expired")


def test_a_bar_still_forming_is_ignored(make: Make) -> None:
    h = _stock(make)
    h.buy("10", "189")
    h.take()
    h.bar_update(185, 186, 184, 185, opens=0, t=30)  # would open through 189
    assert h.take() == []


def test_bars_do_not_fill_orders_in_a_market_that_has_trades(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.trade(100.0, 1.0)
    h.buy("1", "99")
    h.take()
    h.bar(100, 101, 98, 100, opens=0, closes=60)
    assert h.take() == []


def test_fok_fills_whole_at_the_next_open_if_it_is_marketable(make: Make) -> None:
    h = _stock(make, balances={"AAPL": "7"})
    h.sell("7", "189.5", time_in_force="fok")
    h.bar(190, 192, 189, 191, opens=0, closes=60)
    frames = h.take()
    assert _deals(h, frames) == [("190", "7", "taker")]
    assert h.x.balance("USD") == (D(1330), 0)


def test_post_only_through_the_last_close_is_rejected(make: Make) -> None:
    h = _stock(make)
    h.buy("1", "191.5", post_only=True)  # the last close is 191
    rejected = h.infos(h.take(), "order_rejected")
    assert [r["code"] for r in rejected] == [0]
