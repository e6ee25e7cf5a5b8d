"""PaperExchange as strategies see it: read access, cancels, ignored data, determinism."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import msgspec
import pytest

from framework.errors import ConfigError

Make = Callable[..., Any]


def _session(make: Make, seed: int) -> Any:
    h = make(balances={"USDT": "1000", "BTC": "1"}, seed=seed, taker_fee_percent="0.1")
    h.book([(99.0, 1.0)], [(100.0, 0.5), (101.0, 1.0)])
    h.buy("0.8", "100.5", t=1)
    h.sell("0.5", "102", t=2)
    h.trade(102.5, 0.1, t=3)
    return h


def test_balances_are_available_and_held_sorted_by_currency(make: Make) -> None:
    h = make(balances={"USDT": "1000", "BTC": "1"})
    h.trade(100.0, 1.0)
    h.sell("0.4", "101")
    assert h.x.balances() == {"BTC": (D("0.6"), D("0.4")), "USDT": (D(1000), D(0))}


def test_position_is_the_total_of_the_base_currency(make: Make) -> None:
    h = make(balances={"BTC": "1"})
    h.trade(100.0, 1.0)
    h.sell("0.4", "101")
    assert h.x.position("BTC/USDT") == D(1)


def test_last_price_follows_trades(make: Make) -> None:
    h = make()
    assert h.x.last_price("BTC/USDT") is None
    h.trade(100.25, 1.0)
    assert h.x.last_price("BTC/USDT") == 100.25


def test_rules_of_an_unknown_market_is_a_config_error(make: Make) -> None:
    h = make()
    with pytest.raises(ConfigError, match=r"no market 'DOGE/USDT' in exchange\.markets"):
        h.x.rules("DOGE/USDT")


def test_open_orders_are_filtered_by_instrument_oldest_first(make: Make) -> None:
    h = make(balances={"USDT": "1000", "ETH": "1"})
    h.trade(100.0, 1.0)
    first = h.buy("1", "90")
    second = h.buy("1", "91")
    h.instrument, h.symbol = "ETH/USDT", "ETH_USDT"
    h.trade(2000.0, 1.0)
    h.sell("1", "2100")
    assert [o.id for o in h.x.open_orders("BTC/USDT")] == [first, second]
    assert len(h.x.open_orders()) == 3


def test_cancel_releases_the_hold_and_finishes_the_order(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.trade(100.0, 1.0)
    order_id = h.buy("1", "99")
    h.take()
    h.cancel(order_id, t=1)
    frames = h.take()
    assert h.kinds(frames) == ["balance_update:USDT", "order_update:finished"]
    info = h.infos(frames, "order_update")[0]
    assert (info["state"], info["internalState"], info["finishTs"]) == (
        "cancelled",
        "cancelled",
        1_750_696_377,
    )
    assert h.x.balance("USDT") == (D(1000), D(0))


def test_cancel_after_a_partial_fill_keeps_the_fill(make: Make) -> None:
    h = make(balances={"USDT": "1000"}, queue_when_depth_unknown=0)
    h.trade(100.0, 1.0)
    order_id = h.buy("1", "99")
    h.trade(99.0, 0.25, t=1)
    h.cancel(order_id, t=2)
    info = h.infos(h.take(), "order_update")[-1]
    assert (info["internalState"], info["filledQuantity"]) == (
        "partially_filled_cancelled",
        "0.2500000000000000",
    )
    assert h.x.balance("USDT") == (D("975.25"), D(0))
    assert h.x.balance("BTC") == (D("0.25"), D(0))


def test_market_data_for_an_unconfigured_instrument_is_ignored(make: Make) -> None:
    h = make("DOGE/USDT")
    h.trade(0.1, 100.0)
    h.book([(0.09, 1.0)], [(0.11, 1.0)])
    assert h.events == []
    assert h.x.last_price("DOGE/USDT") is None


def test_trades_with_nothing_resting_emit_nothing(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    for i in range(100):
        h.trade(100.0 + i % 3, 1.0, t=i)
    assert h.events == []
    assert h.x.last_price("BTC/USDT") == 100.0


def test_same_inputs_and_seed_give_the_same_events(make: Make) -> None:
    first, second = _session(make, 7), _session(make, 7)
    encode = msgspec.json.encode
    assert [encode(e) for e in first.events] == [encode(e) for e in second.events]
    assert len(first.events) > 5


def test_another_seed_gives_other_ids_and_the_same_fills(make: Make) -> None:
    first, second = _session(make, 7), _session(make, 8)
    ids = [o.id for o in first.x.open_orders()], [o.id for o in second.x.open_orders()]
    assert ids[0] != ids[1]
    assert first.x.balances() == second.x.balances()


def test_a_deal_id_names_its_order(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.book([(99.0, 1.0)], [(100.0, 0.5), (101.0, 1.0)])
    order_id = h.buy("1", "101")
    deals = h.infos(h.take(), "deal_update")
    assert [h.x.order_id_of_deal(d["dealId"]) for d in deals] == [order_id, order_id]
    assert h.x.order_id_of_deal("01JYH50V5VWPP3QTYGM6CPZ0AR") is None
