"""The SMA crossover example: it buys on the bar where fast crosses above slow, sells on the
bar where it crosses below, and fills at the next bar's open.

With fast=2 and slow=3, the closes below (in thousands: 100 90 80 70 120 130 50 40) give, at
each bar from the fourth on (fast vs slow now; fast vs slow one bar earlier):

* bar 3: 75 vs 80; 85 vs 90: below, no cross;
* bar 4: 95 vs 90; 75 vs 80: **crosses above**: buy 1000 USDT, filled at bar 5's open 125000;
* bar 5: 125 vs 106.7; 95 vs 90: above, no cross;
* bar 6: 90 vs 100; 125 vs 106.7: **crosses below**: sell it all, filled at bar 7's open 55000.

So 1000 / 125000 = 0.008 BTC bought (fee 1 USDT), sold for 0.008 x 55000 = 440 (fee 0.44):
10000 - 1000 - 1 + 440 - 0.44 = 9438.56 USDT.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from framework.run import load_strategy
from framework.testing import DEFAULT_START_S, Scenario, run_strategy
from framework.testing.markets import bar_markets

ROOT = Path(__file__).resolve().parents[2]
SmaCrossover, _ = load_strategy(str(ROOT / "strategies" / "sma_crossover.py"))
REPLAY = ROOT / "replays" / "finazon-btc-usdt-bars.jsonl.gz"
BARS = [  # open, high, low, close, in thousands
    (100, 100, 100, 100), (100, 100, 90, 90), (90, 90, 80, 80), (80, 80, 70, 70),
    (70, 120, 70, 120), (125, 130, 120, 130), (130, 130, 50, 50), (55, 55, 40, 40),
]  # fmt: skip
PARAMS = {"fast": 2, "slow": 3, "stake": "1000"}


def scenario() -> Scenario:
    script = Scenario("BTC/USDT")
    for i, (o, h, low, c) in enumerate(BARS):
        script.bar(60 * i, o * 1000, h * 1000, low * 1000, c * 1000, 1.0)
    return script


def test_buys_when_bar_4_closes_and_sells_when_bar_6_closes(tmp_path: Path) -> None:
    result = run_strategy(SmaCrossover, scenario(), params=PARAMS, tmp_path=tmp_path)
    # bar i closes at 60 (i + 1) seconds
    assert [(o.direction, o.orderType, o.createTs - DEFAULT_START_S) for o in result.orders] == [
        ("buy", "market", 300),
        ("sell", "market", 420),
    ]


def test_fills_at_the_next_bars_open(tmp_path: Path) -> None:
    result = run_strategy(SmaCrossover, scenario(), params=PARAMS, tmp_path=tmp_path)
    assert [(f.direction, f.price, f.quantity, f.fee) for f in result.fills] == [
        ("buy", Decimal("125000"), Decimal("0.008"), Decimal("1")),
        ("sell", Decimal("55000"), Decimal("0.008"), Decimal("0.44")),
    ]


def test_ends_flat_with_the_round_trips_loss(tmp_path: Path) -> None:
    result = run_strategy(SmaCrossover, scenario(), params=PARAMS, tmp_path=tmp_path)
    result.assert_no_rejections()
    assert result.position("BTC/USDT") == 0
    result.assert_balance("USDT", "9438.56")


def test_makes_round_trips_on_the_bundled_bars(tmp_path: Path) -> None:
    result = run_strategy(SmaCrossover, REPLAY, tmp_path=tmp_path)
    result.assert_no_rejections()
    assert result.summary["round_trips"] >= 3
    assert len(result.buys) in (len(result.sells), len(result.sells) + 1)


# --- property: on any bars, fully in or flat, and within the stake ---------------------------


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=bar_markets(min_bars=5, max_bars=40))
def test_on_any_bars_it_is_fully_in_or_flat_within_the_stake(scenario: Scenario) -> None:
    result = run_strategy(SmaCrossover, scenario, params=PARAMS)
    directions = [o.direction for o in result.orders]
    assert directions == ["buy", "sell"] * (len(directions) // 2) + ["buy"] * (len(directions) % 2)
    assert not result.rejections
    held = Decimal(0)
    for order in result.orders:
        fills = [f for f in result.fills if f.order_id == order.id]
        if order.direction == "buy":
            assert sum((f.value for f in fills), Decimal(0)) <= Decimal(PARAMS["stake"])
            held += sum((f.quantity for f in fills), Decimal(0))
        else:  # the whole position, no more
            assert Decimal(order.quantity) == held
            held = Decimal(0)
