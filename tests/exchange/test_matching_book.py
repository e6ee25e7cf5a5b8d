"""Matching against an L2 book (Cryptomus or AllTick depth), with values worked out by hand.

BTC/USDT rules throughout: quantities with 8 decimals, prices and quote amounts with 6.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

Make = Callable[..., Any]


def _deals(h: Any, frames: list[dict[str, Any]]) -> list[tuple[str, str, str, str, str]]:
    """(price, quantity, value, fee, role) of each deal, with trailing zeros dropped."""
    return [
        (
            _n(d["filledPrice"]),
            _n(d["filledQuantity"]),
            _n(d["filledValue"]),
            _n(d["fee"]),
            d["tradeRole"],
        )
        for d in h.infos(frames, "deal_update")
    ]


def _n(text: str) -> str:
    return format(D(text).normalize(), "f")


def _finished(h: Any, frames: list[dict[str, Any]]) -> tuple[str, str, str, str]:
    info = h.infos(frames, "order_update")[-1]
    return info["state"], info["internalState"], _n(info["filledQuantity"]), _n(info["filledValue"])


def test_marketable_limit_buy_walks_levels_at_their_prices_then_releases_the_rest(
    make: Make,
) -> None:
    # Hold: 1.2 x 101.5 = 121.8, plus 0.1 % fee = 0.1218 -> 121.9218 USDT.
    # Fills: 0.5 @ 100 (50, fee 0.05) and 0.7 @ 101 (70.7, fee 0.0707); cost 120.8207.
    # Release: 121.9218 - 120.8207 = 1.1011.
    h = make(balances={"USDT": "10000"}, taker_fee_percent="0.1")
    h.book([(99.0, 1.0)], [(100.0, 0.5), (101.0, 1.0), (102.0, 2.0)])
    h.buy("1.2", "101.5")
    frames = h.take()
    assert h.kinds(frames) == [
        "order_update:created",
        "balance_update:USDT",
        "deal_update",
        "balance_update:BTC",
        "order_update:updated",
        "deal_update",
        "balance_update:BTC",
        "balance_update:USDT",
        "order_update:finished",
    ]
    assert _deals(h, frames) == [
        ("100", "0.5", "50", "0.05", "taker"),
        ("101", "0.7", "70.7", "0.0707", "taker"),
    ]
    balances = [(_n(b["amount"]), _n(b["newBalance"])) for b in h.infos(frames, "balance_update")]
    assert balances == [
        ("121.9218", "9878.0782"),
        ("0.5", "0.5"),
        ("0.7", "1.2"),
        ("1.1011", "9879.1793"),
    ]
    assert _finished(h, frames) == ("completed", "filled", "1.2", "120.7")
    assert h.x.balance("USDT") == (D("9879.1793"), 0)


def test_liquidity_taken_stays_taken_until_the_feed_refreshes_the_level(make: Make) -> None:
    h = make(balances={"USDT": "10000"})
    h.book([(99.0, 1.0)], [(100.0, 0.5), (101.0, 1.0)])
    h.buy("1.2", "101")  # takes 0.5 @ 100 and 0.7 @ 101
    h.take()
    h.buy("0.5", "101", time_in_force="ioc")  # only 0.3 @ 101 is left
    assert _deals(h, h.take()) == [("101", "0.3", "30.3", "0", "taker")]
    h.delta(asks=[(100.0, 0.5)])  # the feed shows the 100 level again
    h.buy("0.2", "100", time_in_force="ioc")
    assert _deals(h, h.take()) == [("100", "0.2", "20", "0", "taker")]


def test_resting_order_waits_for_the_queue_ahead_then_fills_as_maker(make: Make) -> None:
    # 2.0 is displayed at 99 when the order arrives: trades at 99 use that up first.
    h = make(balances={"USDT": "1000"}, maker_fee_percent="0.2")
    h.book([(99.0, 2.0)], [(100.0, 1.0)])
    h.buy("1", "99")
    h.take()
    h.trade(99.0, 1.5, t=1)  # 0.5 still ahead
    assert h.take() == []
    h.trade(99.0, 1.0, t=2)  # 0.5 to the queue, 0.5 to us; fee 0.2 % of 49.5 = 0.099
    frames = h.take()
    assert _deals(h, frames) == [("99", "0.5", "49.5", "0.099", "maker")]
    assert h.kinds(frames)[-1] == "order_update:updated"


def test_our_earlier_order_at_a_price_stays_ahead_of_our_next_one(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.book([(99.0, 1.0)], [(100.0, 1.0)])
    first = h.buy("1", "99")
    second = h.buy("1", "99")
    h.take()
    h.trade(99.0, 2.5, t=1)  # 1.0 displayed ahead, then 1 to the first order, 0.5 to the second
    fills = [(u["id"], _n(u["filledQuantity"])) for u in h.infos(h.take(), "order_update")]
    assert fills == [(first, "1"), (second, "0.5")]


def test_queue_ahead_shrinks_when_the_displayed_size_drops(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.book([(99.0, 3.0)], [(100.0, 1.0)])
    h.buy("1", "99")
    h.delta(bids=[(99.0, 0.5)], t=1)  # cancellations: at most 0.5 can still be ahead
    h.take()
    h.trade(99.0, 1.0, t=2)
    assert _deals(h, h.take()) == [("99", "0.5", "49.5", "0", "maker")]


def test_trade_through_the_price_fills_the_whole_order_as_maker(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.book([(99.0, 3.0)], [(100.0, 1.0)])
    h.buy("2", "99")
    h.take()
    h.trade(98.5, 0.01, t=1)
    frames = h.take()
    assert _deals(h, frames) == [("99", "2", "198", "0", "maker")]
    assert _finished(h, frames) == ("completed", "filled", "2", "198")


def test_book_crossing_a_resting_order_fills_it_as_maker_up_to_the_crossing_size(
    make: Make,
) -> None:
    h = make(balances={"USDT": "1000"})
    h.book([(98.0, 3.0)], [(100.0, 1.0)])
    h.buy("2", "99")
    h.take()
    h.delta(asks=[(98.8, 0.5)], t=1)  # 0.5 offered below our bid
    assert _deals(h, h.take()) == [("99", "0.5", "49.5", "0", "maker")]
    h.delta(asks=[(98.9, 3.0)], t=2)  # 98.8 was taken by us and not refreshed
    assert _deals(h, h.take()) == [("99", "1.5", "148.5", "0", "maker")]


def test_post_only_order_that_would_take_is_rejected(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.book([(99.0, 1.0)], [(100.0, 1.0)])
    h.buy("1", "100", post_only=True)
    rejected = h.infos(h.take(), "order_rejected")
    assert [(r["code"], r["message"]) for r in rejected] == [
        (0, "A post-only order would take liquidity.")
    ]


def test_post_only_order_below_the_ask_rests(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.book([(99.0, 1.0)], [(100.0, 1.0)])
    h.buy("1", "99.5", post_only=True)
    assert h.kinds(h.take()) == ["order_update:created", "balance_update:USDT"]
    assert [o.price for o in h.x.open_orders()] == [D("99.5")]


def test_ioc_fills_what_it_can_and_expires_the_rest(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.book([(99.0, 1.0)], [(100.0, 0.3)])
    h.buy("1", "100", time_in_force="ioc")  # holds 100, spends 30, releases 70
    frames = h.take()
    assert _deals(h, frames) == [("100", "0.3", "30", "0", "taker")]
    assert _finished(h, frames) == ("cancelled", "partially_filled_expired", "0.3", "30")
    assert h.x.balance("USDT") == (D(970), 0)


def test_fok_that_cannot_fill_whole_takes_nothing(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.book([(99.0, 1.0)], [(100.0, 0.3), (101.0, 1.0)])
    h.buy("1", "100", time_in_force="fok")
    frames = h.take()
    assert _deals(h, frames) == []
    assert _finished(h, frames) == ("cancelled", "expired", "0", "0")
    h.buy("0.3", "100", time_in_force="ioc")  # the FOK consumed nothing
    assert _deals(h, h.take()) == [("100", "0.3", "30", "0", "taker")]


def test_fok_that_can_fill_whole_fills(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.book([(99.0, 1.0)], [(100.0, 0.3), (101.0, 1.0)])
    h.buy("1", "101", time_in_force="fok")
    frames = h.take()
    assert _deals(h, frames) == [
        ("100", "0.3", "30", "0", "taker"),
        ("101", "0.7", "70.7", "0", "taker"),
    ]
    assert _finished(h, frames) == ("completed", "filled", "1", "100.7")


def test_market_buy_by_value_spends_the_value_across_levels(make: Make) -> None:
    # Hold 101 + 0.1 % = 101.101. Fills: 0.5 @ 100 (50, fee 0.05); then 51 / 101 =
    # 0.50495049 @ 101 (value 50.99999949 -> 50.999999, fee 0.050999999 -> 0.051).
    # Cost 101.100999; release 0.000001.
    h = make(balances={"USDT": "10000"}, taker_fee_percent="0.1")
    h.book([(99.0, 1.0)], [(100.0, 0.5), (101.0, 1.0)])
    h.order(direction="buy", type="market", value="101")
    frames = h.take()
    assert _deals(h, frames) == [
        ("100", "0.5", "50", "0.05", "taker"),
        ("101", "0.50495049", "50.999999", "0.051", "taker"),
    ]
    assert _finished(h, frames) == ("completed", "filled", "1.00495049", "100.999999")
    created = h.infos(frames, "order_update")[0]
    assert (created["price"], created["quantity"], created["value"]) == (
        "0.0000000000000000",
        "0.0000000000000000",
        "101.0000000000000000",
    )
    assert h.x.balance("USDT") == (D("9898.899001"), 0)
    assert h.x.balance("BTC") == (D("1.00495049"), 0)


def test_market_sell_pays_the_fee_from_its_proceeds(make: Make) -> None:
    # 0.4 @ 99 = 39.6 (fee 0.0396), 0.1 @ 98 = 9.8 (fee 0.0098): +49.3506 USDT.
    h = make(balances={"BTC": "1", "USDT": "10000"}, taker_fee_percent="0.1")
    h.book([(99.0, 0.4), (98.0, 1.0)], [(100.0, 1.0)])
    h.order(direction="sell", type="market", quantity="0.5")
    frames = h.take()
    assert h.kinds(frames) == [
        "order_update:created",
        "balance_update:BTC",
        "deal_update",
        "balance_update:USDT",
        "balance_update:USDT",
        "order_update:updated",
        "deal_update",
        "balance_update:USDT",
        "balance_update:USDT",
        "order_update:finished",
    ]
    assert h.x.balance("USDT") == (D("10049.3506"), 0)
    assert h.x.balance("BTC") == (D("0.5"), 0)


def test_market_buy_by_quantity_on_a_thin_book_expires_the_rest(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.book([(99.0, 1.0)], [(100.0, 0.3)])
    h.order(direction="buy", type="market", quantity="0.5")  # holds the 30 the book offers
    frames = h.take()
    assert _finished(h, frames) == ("cancelled", "partially_filled_expired", "0.3", "30")
    assert h.x.balance("USDT") == (D(970), 0)


def test_no_book_matching_after_a_disconnect_until_a_new_snapshot(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.book([(99.0, 1.0)], [(100.0, 1.0)])
    h.x.state.disconnect("cryptomus")
    h.delta(asks=[(99.5, 5.0)], t=1)  # ignored: nothing to apply it to
    h.order(t=2, direction="buy", type="market", quantity="0.5")
    rejected = h.infos(h.take(), "order_rejected")
    assert [(r["code"], r["message"]) for r in rejected] == [
        (0, "No market data for BTC_USDT yet.")
    ]
    h.book([(99.0, 1.0)], [(100.5, 1.0)], t=3)
    h.order(t=4, direction="buy", type="market", quantity="0.5")
    assert _deals(h, h.take()) == [("100.5", "0.5", "50.25", "0", "taker")]


def test_limit_order_placed_while_the_book_is_stale_fills_on_the_next_snapshot(
    make: Make,
) -> None:
    h = make(balances={"USDT": "1000"})
    h.book([(99.0, 1.0)], [(100.0, 1.0)])
    h.x.state.disconnect("cryptomus")
    h.buy("1", "101", t=1)  # the stale 100 ask is not taken
    assert h.kinds(h.take()) == ["order_update:created", "balance_update:USDT"]
    h.book([(99.0, 1.0)], [(100.5, 2.0)], t=2)  # crosses it: maker fill at its own price
    assert _deals(h, h.take()) == [("101", "1", "101", "0", "maker")]


def test_delta_from_another_venue_does_not_change_the_book(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.book([(99.0, 1.0)], [(100.0, 1.0)], venue="cryptomus")
    h.delta(asks=[(99.5, 1.0)], venue="alltick")
    h.order(direction="buy", type="market", quantity="0.5")
    assert _deals(h, h.take()) == [("100", "0.5", "50", "0", "taker")]


def test_a_snapshot_without_our_level_puts_us_first_in_its_queue(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.book([(99.0, 3.0)], [(100.0, 1.0)])
    h.buy("1", "99")
    h.book([(98.5, 1.0)], [(100.0, 1.0)], t=1)  # nobody is displayed at 99 any more
    h.take()
    h.trade(99.0, 0.4, t=2)
    assert _deals(h, h.take()) == [("99", "0.4", "39.6", "0", "maker")]


def test_best_bid_reaching_a_buy_stop_loss_cancels_it(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.book([(99.0, 1.0)], [(100.0, 1.0)])
    h.buy("1", "98", stop_loss_price="100.5")
    h.delta(bids=[(100.0, 1.0)], asks=[(100.0, 0.0), (101.0, 1.0)], t=1)
    assert h.x.open_orders() != []
    h.delta(bids=[(100.5, 1.0)], t=2)
    assert _finished(h, h.take()) == ("cancelled", "stop_loss", "0", "0")
