"""A bar-driven fill is stamped when its price happened, not when the bar was received."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from framework import events as ev
from framework.strategy import Strategy
from framework.testing import DEFAULT_START_S, Scenario, run_strategy

S = 1_000_000_000


class BuysOnFirstBar(Strategy):
    limit = ""  # a limit price, or "" for a market order

    def on_bar(self, bar: ev.Bar) -> None:
        if self.position(bar.instrument) == 0 and not self.open_orders():
            if self.limit:
                self.buy_limit(bar.instrument, "0.01", self.limit)
            else:
                self.buy_market(bar.instrument, quantity="0.01")


class BuysBelow(BuysOnFirstBar):
    limit = "99"


# One-minute bars with a gap: the order is placed when the first bar closes (60 s); the next bar
# opens at 180 s and is received when it closes, at 240 s.
SCENARIO = (
    Scenario("BTC/USDT")
    .bar(0, 100, 101, 99.5, 100.5)
    .bar(180, 105, 106, 98, 104)
    .bar(240, 104, 104, 103, 103.5)
)


def test_a_market_order_filled_at_a_bars_open_is_stamped_with_the_open(tmp_path: Path) -> None:
    result = run_strategy(BuysOnFirstBar, SCENARIO, tmp_path=tmp_path)
    (fill,) = result.fills
    assert (fill.price, fill.ts_ns) == (D("105"), (DEFAULT_START_S + 180) * S)
    updates = [e for e in result.events if isinstance(e, ev.OrderUpdate)]
    created, finished = updates
    # events keep their order; the order was created when it arrived, at the first bar's close
    assert created.data.info.createTs == DEFAULT_START_S + 60
    assert finished.data.info.finishTs == DEFAULT_START_S + 180


def test_a_limit_filled_inside_a_bar_is_stamped_at_the_bars_close(tmp_path: Path) -> None:
    result = run_strategy(BuysBelow, SCENARIO, tmp_path=tmp_path)
    (fill,) = result.fills
    # the second bar's low (98) passes the limit (99): filled at 99, some time before 240 s
    assert (fill.price, fill.role, fill.ts_ns) == (D("99"), "maker", (DEFAULT_START_S + 240) * S)


def test_an_order_arriving_after_the_open_is_stamped_at_its_arrival(tmp_path: Path) -> None:
    scenario = Scenario("BTC/USDT").bar(0, 100, 101, 99.5, 100.5).bar(60, 102, 103, 101, 102.5)
    result = run_strategy(BuysOnFirstBar, scenario, tmp_path=tmp_path)
    (fill,) = result.fills
    # placed when the first bar closed, at 60 s, the very time the next bar opened
    assert (fill.price, fill.ts_ns) == (D("102"), (DEFAULT_START_S + 60) * S)
