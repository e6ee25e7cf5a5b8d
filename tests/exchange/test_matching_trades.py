"""Matching with trades only (no L2 book): last price with slippage, queue assumption, stops."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

Make = Callable[..., Any]


def _deals(h: Any, frames: list[dict[str, Any]]) -> list[tuple[str, str, str, str, str]]:
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


def _end(h: Any, frames: list[dict[str, Any]]) -> tuple[str, str]:
    info = h.infos(frames, "order_update")[-1]
    return info["state"], info["internalState"]


def test_market_buy_fills_at_the_last_price_plus_slippage(make: Make) -> None:
    # 100 + 10 bp = 100.1; 0.5 x 100.1 = 50.05; fee 0.1 % = 0.05005.
    h = make(balances={"USDT": "1000"}, slippage_bps="10", taker_fee_percent="0.1")
    h.trade(100.0, 1.0)
    h.order(direction="buy", type="market", quantity="0.5")
    frames = h.take()
    assert _deals(h, frames) == [("100.1", "0.5", "50.05", "0.05005", "taker")]
    assert h.x.balance("USDT") == (D("949.89995"), 0)  # 1000 - 50.05 - 0.05005


def test_market_sell_fills_at_the_last_price_minus_slippage(make: Make) -> None:
    # 100 - 10 bp = 99.9; 0.5 x 99.9 = 49.95; fee 0.1 % = 0.04995.
    h = make(balances={"BTC": "1"}, slippage_bps="10", taker_fee_percent="0.1")
    h.trade(100.0, 1.0)
    h.order(direction="sell", type="market", quantity="0.5")
    assert _deals(h, h.take()) == [("99.9", "0.5", "49.95", "0.04995", "taker")]
    assert h.x.balance("USDT") == (D("49.90005"), 0)


def test_market_buy_by_value_buys_what_the_value_pays_for(make: Make) -> None:
    # 100 USDT at 100.1: 0.99900099 BTC (rounded down), value 99.999999099 -> 99.999999.
    h = make(balances={"USDT": "1000"}, slippage_bps="10")
    h.trade(100.0, 1.0)
    h.order(direction="buy", type="market", value="100")
    frames = h.take()
    assert _deals(h, frames) == [("100.1", "0.99900099", "99.999999", "0", "taker")]
    assert _end(h, frames) == ("completed", "filled")


def test_marketable_limit_never_fills_past_its_own_price(make: Make) -> None:
    h = make(balances={"USDT": "1000"}, slippage_bps="10")
    h.trade(100.0, 1.0)
    h.buy("1", "100.05")  # slippage would make it 100.1
    assert _deals(h, h.take()) == [("100.05", "1", "100.05", "0", "taker")]


def test_limit_below_the_last_price_rests(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.trade(100.0, 1.0)
    h.buy("1", "99")
    assert h.kinds(h.take()) == ["order_update:created", "balance_update:USDT"]


def test_resting_order_fills_in_full_on_a_trade_through_its_price(make: Make) -> None:
    h = make(balances={"BTC": "2"}, maker_fee_percent="0.1")
    h.trade(100.0, 1.0)
    h.sell("2", "101")
    h.take()
    h.trade(101.5, 0.001, t=1)  # 2 x 101 = 202, fee 0.202
    frames = h.take()
    assert _deals(h, frames) == [("101", "2", "202", "0.202", "maker")]
    assert h.x.balance("USDT") == (D("201.798"), 0)


def test_trade_at_the_price_does_not_fill_when_assumed_last_in_queue(make: Make) -> None:
    h = make(balances={"BTC": "2"})  # queue_when_depth_unknown defaults to 1: last in queue
    h.trade(100.0, 1.0)
    h.sell("2", "101")
    h.take()
    h.trade(101.0, 50.0, t=1)
    assert h.take() == []


def test_trade_at_the_price_fills_the_assumed_share_of_its_size(make: Make) -> None:
    h = make(balances={"BTC": "2"}, queue_when_depth_unknown=0.5)
    h.trade(100.0, 1.0)
    h.sell("2", "101")
    h.take()
    h.trade(101.0, 1.0, t=1)  # half of 1.0 reaches us
    assert _deals(h, h.take()) == [("101", "0.5", "50.5", "0", "maker")]
    h.trade(101.0, 4.0, t=2)  # half of 4.0 is 2.0; 1.5 is left to fill
    frames = h.take()
    assert _deals(h, frames) == [("101", "1.5", "151.5", "0", "maker")]
    assert _end(h, frames) == ("completed", "filled")


def test_trade_reaching_the_stop_loss_cancels_the_order_and_releases_its_hold(
    make: Make,
) -> None:
    h = make(balances={"USDT": "1000"})
    h.trade(100.0, 1.0)
    h.buy("1", "99", stop_loss_price="102")
    h.take()
    h.trade(102.0, 0.1, t=1)
    frames = h.take()
    assert h.kinds(frames) == ["balance_update:USDT", "order_update:finished"]
    assert _end(h, frames) == ("cancelled", "stop_loss")
    assert h.x.balance("USDT") == (D(1000), 0)


def test_sell_stop_loss_below_the_price_triggers_on_a_falling_trade(make: Make) -> None:
    h = make(balances={"BTC": "1"})
    h.trade(100.0, 1.0)
    h.sell("1", "101", stop_loss_price="98")
    h.trade(98.5, 0.1, t=1)
    assert h.x.open_orders() != []
    h.trade(98.0, 0.1, t=2)
    assert _end(h, h.take()) == ("cancelled", "stop_loss")


def test_last_price_reaching_the_stop_loss_cancels_but_never_fills(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.trade(100.0, 1.0)
    h.buy("1", "99", stop_loss_price="102")
    h.take()
    h.last_price(98.0, t=1)  # through the limit: a last price fills nothing
    assert h.take() == []
    h.last_price(102.5, t=2)
    assert _end(h, h.take()) == ("cancelled", "stop_loss")


def test_stop_loss_after_a_partial_fill_says_partially_filled(make: Make) -> None:
    h = make(balances={"BTC": "2"}, queue_when_depth_unknown=0)
    h.trade(100.0, 1.0)
    h.sell("2", "101", stop_loss_price="99")
    h.trade(101.0, 0.5, t=1)
    h.take()
    h.trade(99.0, 0.1, t=2)
    frames = h.take()
    assert _end(h, frames) == ("cancelled", "partially_filled_stop_loss")
    assert h.x.balance("BTC") == (D("1.5"), 0)


def test_ioc_limit_that_is_not_marketable_expires_at_once(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.trade(100.0, 1.0)
    h.buy("1", "99", time_in_force="ioc")
    frames = h.take()
    assert h.kinds(frames) == [
        "order_update:created",
        "balance_update:USDT",
        "balance_update:USDT",
        "order_update:finished",
    ]
    assert _end(h, frames) == ("cancelled", "expired")


def test_order_whose_stop_loss_is_already_reached_is_cancelled_on_arrival(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.trade(103.0, 1.0)
    h.buy("1", "99", stop_loss_price="102")
    frames = h.take()
    assert h.kinds(frames) == [
        "order_update:created",
        "balance_update:USDT",
        "balance_update:USDT",
        "order_update:finished",
    ]
    assert _end(h, frames) == ("cancelled", "stop_loss")


def test_post_only_at_the_last_price_is_rejected(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.trade(100.0, 1.0)
    h.buy("1", "100", post_only=True)
    rejected = h.infos(h.take(), "order_rejected")
    assert [(r["code"], r["message"]) for r in rejected] == [
        (0, "A post-only order would take liquidity.")
    ]


def test_fok_that_is_marketable_fills_whole_at_the_last_price(make: Make) -> None:
    h = make(balances={"BTC": "3"})
    h.trade(100.0, 0.01)  # trades say nothing of depth: the whole order fills
    h.sell("3", "99.5", time_in_force="fok")
    frames = h.take()
    assert _deals(h, frames) == [("100", "3", "300", "0", "taker")]
    assert _end(h, frames) == ("completed", "filled")


def test_taker_price_follows_the_last_price_per_side_and_is_never_stale(make: Make) -> None:
    # The price a taker gets at a last price is remembered per side: a buy at 100 must not
    # lend its 100.1 to a sell (99.9), and a new last price is priced anew, then reused.
    h = make(balances={"USDT": "1000", "BTC": "1"}, slippage_bps="10")
    h.trade(100.0, 1.0)
    h.order(direction="buy", type="market", quantity="0.1")
    h.order(direction="sell", type="market", quantity="0.1")
    h.trade(101.0, 1.0, t=1)
    h.order(direction="buy", type="market", quantity="0.1", t=1)
    h.trade(100.0, 1.0, t=2)
    h.order(direction="buy", type="market", quantity="0.1", t=2)
    h.order(direction="sell", type="market", quantity="0.1", t=2)
    prices = [price for price, *_ in _deals(h, h.take())]
    assert prices == ["100.1", "99.9", "101.101", "100.1", "99.9"]


def test_taker_prices_remembered_stay_bounded_and_right(make: Make) -> None:
    # More distinct last prices than are kept: the memory is cleared, prices stay exact.
    h = make(balances={"USDT": "100000000"}, slippage_bps="10")
    market = h.x._markets["BTC/USDT"]
    for i in range(4200):
        h.trade(10.0 + i / 100, 1.0, t=i)
        h.order(direction="buy", type="market", quantity="0.001", t=i)
        assert len(market.slipped_buy) <= 4096
    deals = _deals(h, h.take())
    assert len(deals) == 4200
    # 10 + i/100 plus 10 bp, at 6 decimals: i = 4199 is 51.99 x 1.001 = 52.04199.
    assert deals[0][0] == "10.01" and deals[-1][0] == "52.04199"
    assert len(market.slipped_buy) == 4200 - 4096
