"""The trade-momentum example: buys when the last window's trades lean to the buy side, sells
when its timer fires or when the flow reverses.

With window 10 s, threshold 0.6 and at least 3 trades, the trades below give these
imbalances (buy size minus sell size, over all size, in the window):

* t=3: (0.1 + 0.1 - 0.2) / 0.4 = 0: nothing;
* t=4: (0.1 + 0.1 - 0.2 + 0.6) / 1.0 = 0.6, not above 0.6: nothing;
* t=5: (0.1 + 0.1 - 0.2 + 0.6 + 0.4) / 1.4 = 0.714: **buy** 1000 USDT at the last trade,
  100000: 0.01 BTC, fee 1 USDT.

With no book, the paper exchange fills a market order at the last trade price.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from framework import events as ev
from framework.run import load_strategy
from framework.testing import DEFAULT_START_S, RunResult, Scenario, run_strategy
from framework.testing.markets import trade_markets

ROOT = Path(__file__).resolve().parents[2]
TradeMomentum, _ = load_strategy(str(ROOT / "strategies" / "trade_momentum.py"))
REPLAY = ROOT / "replays" / "cryptomus-btc-usdt.jsonl.gz"
PARAMS = {"window_s": 10.0, "threshold": 0.6, "min_trades": 3, "hold_s": 30.0, "stake": "1000"}


def entry() -> Scenario:
    return (
        Scenario("BTC/USDT")
        .trade(1, 100000, 0.1, "buy")
        .trade(2, 100000, 0.1, "buy")
        .trade(3, 100100, 0.2, "sell")
        .trade(4, 100200, 0.6, "buy")
        .trade(5, 100000, 0.4, "buy")
    )


def test_enters_on_the_first_trade_that_tips_the_imbalance_over_the_threshold(
    tmp_path: Path,
) -> None:
    result = run_strategy(TradeMomentum, entry(), params=PARAMS, tmp_path=tmp_path)
    assert [(o.direction, o.createTs - DEFAULT_START_S) for o in result.orders] == [("buy", 5)]
    assert [(f.price, f.quantity, f.fee) for f in result.fills] == [
        (Decimal("100000"), Decimal("0.01"), Decimal("1"))
    ]


def test_exits_when_the_holding_timer_fires(tmp_path: Path) -> None:
    # t=20: one trade in its window, too few to act on; the timer set at 5 fires at 35.
    scenario = entry().trade(20, 101000, 0.1, "buy").tick(40)
    result = run_strategy(TradeMomentum, scenario, params=PARAMS, tmp_path=tmp_path)
    assert [(o.direction, o.createTs - DEFAULT_START_S) for o in result.orders] == [
        ("buy", 5),
        ("sell", 35),
    ]
    # sold 0.01 at the last trade, 101000: 1010 USDT, fee 1.01
    result.assert_balance("USDT", "10007.99")  # 10000 - 1000 - 1 + 1010 - 1.01


def test_exits_early_when_the_flow_reverses(tmp_path: Path) -> None:
    # t=6: (1.0 - 3.0) / 4.4 = -0.45: holds; t=7: (1.0 - 6.0) / 7.4 = -0.68: sells at 98000.
    # The entry's timer still fires at 35 and finds nothing to sell.
    scenario = entry().trade(6, 99000, 3.0, "sell").trade(7, 98000, 3.0, "sell").tick(40)
    result = run_strategy(TradeMomentum, scenario, params=PARAMS, tmp_path=tmp_path)
    assert [(o.direction, o.createTs - DEFAULT_START_S) for o in result.orders] == [
        ("buy", 5),
        ("sell", 7),
    ]
    result.assert_balance("USDT", "9978.02")  # 10000 - 1000 - 1 + 980 - 0.98


def test_does_not_act_on_fewer_trades_than_min_trades(tmp_path: Path) -> None:
    scenario = Scenario("BTC/USDT").trade(1, 100000, 1.0, "buy").trade(2, 100000, 1.0, "buy")
    result = run_strategy(TradeMomentum, scenario, params=PARAMS, tmp_path=tmp_path)
    assert result.orders == []


def test_trades_the_bundled_recording_one_entry_at_a_time(tmp_path: Path) -> None:
    result = run_strategy(TradeMomentum, REPLAY, tmp_path=tmp_path)
    result.assert_no_rejections()
    directions = [o.direction for o in result.orders]
    assert directions[:2] == ["buy", "sell"]
    # strictly alternating: never a second entry while one is held
    assert all(d == ("buy" if i % 2 == 0 else "sell") for i, d in enumerate(directions))


# --- property: on any market, one entry at a time, never more than the stake -----------------


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=trade_markets())
def test_on_any_market_one_entry_at_a_time_within_the_stake(scenario: Scenario) -> None:
    result = run_strategy(TradeMomentum, scenario, params=PARAMS)
    for order, held, open_orders in order_states(result):
        assert open_orders == 0  # never acts while its last order is still open
        if order.direction == "buy":
            assert held == 0  # enters only when flat: one entry at a time
            spent = sum((f.value for f in result.fills if f.order_id == order.id), Decimal(0))
            assert spent <= Decimal(PARAMS["stake"])
        else:
            assert 0 < Decimal(order.quantity) <= held  # sells only what it holds


def order_states(result: RunResult) -> list[tuple[ev.OrderInfo, Decimal, int]]:
    """Each order as created, with the position held and the orders open just before it."""
    side = {f.deal_id: f.direction for f in result.fills}  # one deal per order, a fill per part
    held, open_orders, out = Decimal(0), 0, []
    for event in result.events:
        if isinstance(event, ev.OrderUpdate) and event.data.type == "created":
            out.append((event.data.info, held, open_orders))
            open_orders += 1
        elif isinstance(event, ev.OrderUpdate) and event.data.type == "finished":
            open_orders -= 1
        elif isinstance(event, ev.DealUpdate):
            filled = Decimal(event.data.info.filledQuantity)
            held += filled if side[event.data.info.dealId] == "buy" else -filled
    return out
