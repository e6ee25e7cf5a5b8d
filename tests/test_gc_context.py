"""A run leaves the garbage collector as it found it, in the test kit too."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from framework import Scenario, Strategy, Trade, run_strategy
from framework.run import fewer_collections


@pytest.fixture
def collector() -> Iterator[None]:
    old = gc.get_threshold()
    yield
    gc.set_threshold(*old)
    gc.unfreeze()


class Buyer(Strategy):
    def on_trade(self, trade: Trade) -> None:
        if self.position(trade.instrument) == 0 and not self.open_orders():
            self.buy_market(trade.instrument, value="100")


def test_run_strategy_restores_thresholds_and_freezes_nothing(
    collector: None, tmp_path: Path
) -> None:
    gc.set_threshold(1234, 11, 12)
    run_strategy(Buyer, Scenario("BTC/USDT").trade(0, 100.0, 1.0), tmp_path=tmp_path)
    assert gc.get_threshold() == (1234, 11, 12)
    assert gc.get_freeze_count() == 0


def test_objects_the_caller_froze_stay_frozen(collector: None) -> None:
    gc.freeze()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    with fewer_collections():
        assert gc.get_threshold()[0] >= 50_000
    assert gc.get_freeze_count() == frozen  # not unfrozen behind the caller's back


def test_nested_contexts_unfreeze_once_at_the_outermost(collector: None) -> None:
    before = gc.get_threshold()
    with fewer_collections():
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with fewer_collections():
            pass
        assert gc.get_freeze_count() == frozen  # the inner one left the outer's freeze alone
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
