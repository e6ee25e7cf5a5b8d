"""Private events are encoded byte for byte as the documented Cryptomus frames.

The documented frames below are the Cryptomus WebSocket page's examples (shared/seeds 002/003).
Two of them carry slips on the page: the "updated" example has a trailing comma after
``updateTs`` and the "finished" example lacks the comma between ``state`` and
``internalState``; they are written here with those two characters fixed and nothing else.
Only the ids (frame id, order/deal/transaction/wallet ids) are ours: they come from the seeded
generator, so the test takes them from our frame and compares everything else, key order
included, by encoding both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from framework.exchange.frames import wallet_id

T0 = 1_750_696_376  # the harness's time origin: the documented order's createTs
_ID_FIELDS = ("id", "walletId", "dealId", "transactionId")
Make = Callable[..., Any]


def _same_but_ids(ours: Any, documented: str) -> tuple[bytes, bytes]:
    """Both frames encoded, the documented one carrying our ids."""
    ours_dict = msgspec.to_builtins(ours)
    doc = msgspec.json.decode(documented)
    doc["id"] = ours_dict["id"]
    for field in _ID_FIELDS:
        if field in doc["data"]["info"]:
            doc["data"]["info"][field] = ours_dict["data"]["info"][field]
    return msgspec.json.encode(ours), msgspec.json.encode(doc)


def _trx_seller(make: Make) -> Any:
    # The documented order: sell 50 TRX at 0.22 while TRX last traded at 0.21.
    h = make("TRX/USDT", balances={"TRX": "50"}, queue_when_depth_unknown=0)
    h.trade(0.21, 100.0, t=-1)
    h.sell("50", "0.22", t=0)
    return h


def test_order_created_matches_the_documented_frame(
    make: Make, documented: Callable[..., str]
) -> None:
    h = _trx_seller(make)
    created = [e for e in h.events if e.method == "order_update"]
    ours, doc = _same_but_ids(created[0], documented("cryptomus", "order_created.txt", fixed=True))
    assert ours == doc


def test_order_updated_matches_the_documented_frame(
    make: Make, documented: Callable[..., str]
) -> None:
    h = _trx_seller(make)
    h.trade(0.22, 20.0, t=1750696487 - T0)  # first in the queue: the whole trade fills it
    updated = [e for e in h.events if e.method == "order_update"][-1]
    ours, doc = _same_but_ids(updated, documented("cryptomus", "order_updated.txt", fixed=True))
    assert ours == doc


def test_order_finished_matches_the_documented_frame(
    make: Make, documented: Callable[..., str]
) -> None:
    h = _trx_seller(make)
    h.trade(0.23, 1.0, t=1750696417 - T0)  # a trade through 0.22 fills the whole order
    finished = [e for e in h.events if e.method == "order_update"][-1]
    ours, doc = _same_but_ids(finished, documented("cryptomus", "order_finished.txt", fixed=True))
    assert ours == doc


def test_balance_update_of_a_hold_matches_the_documented_frame(
    make: Make, documented: Callable[..., str]
) -> None:
    # Buying 200 TRX at 0.25 with no fees holds 50 USDT of 40000.
    h = make("TRX/USDT", balances={"USDT": "40000"})
    h.trade(0.26, 1.0, t=-1)
    h.buy("200", "0.25")
    hold = next(e for e in h.events if e.method == "balance_update")
    ours, doc = _same_but_ids(hold, documented("cryptomus", "balance_update.json", fixed=True))
    assert ours == doc


def test_deal_update_of_a_taker_buy_matches_the_documented_frame(
    make: Make, documented: Callable[..., str]
) -> None:
    # 100 TRX taken at 0.272696: value 27.2696, fee 4 % = 1.090784 USDT.
    h = make("TRX/USDT", balances={"USDT": "100"}, taker_fee_percent="4")
    t = 1750774869 - T0
    h.book([(0.27, 500.0)], [(0.272696, 500.0)], t=t)
    h.order(t, direction="buy", type="market", quantity="100")
    deal = next(e for e in h.events if e.method == "deal_update")
    ours, doc = _same_but_ids(deal, documented("cryptomus", "deal_update.json", fixed=True))
    assert ours == doc


def test_frame_ids_count_up_from_one_as_strings(make: Make) -> None:
    h = _trx_seller(make)
    h.trade(0.23, 1.0, t=5)
    assert [e.id for e in h.events] == ["1", "2", "3", "4", "5"]


def test_wallet_id_is_the_same_for_a_currency_in_every_event_and_run(make: Make) -> None:
    first, second = _trx_seller(make), _trx_seller(make)
    for h in (first, second):
        h.trade(0.23, 1.0, t=5)
    wallets = {
        (e.data.info.currencyCode, e.data.info.walletId)
        for h in (first, second)
        for e in h.events
        if e.method == "balance_update"
    }
    assert sorted(wallets) == [("TRX", wallet_id(0, "TRX")), ("USDT", wallet_id(0, "USDT"))]


def test_wallet_ids_differ_by_currency_and_by_seed() -> None:
    ids = [wallet_id(0, "USDT"), wallet_id(0, "TRX"), wallet_id(1, "USDT")]
    assert len(set(ids)) == 3
    assert all(len(i) == 26 for i in ids)


def test_rejection_frame_carries_code_message_and_the_order(make: Make) -> None:
    h = make("TRX/USDT", balances={"USDT": "35.216174"})
    h.trade(0.3, 1.0, t=-1)
    order_id = h.buy("200", "0.25", t=0, client_order_id="mine-1")
    assert h.take() == [
        {
            "id": "1",
            "method": "order_rejected",
            "data": {
                "info": {
                    "code": 6,
                    "message": "Insufficient funds. USDT wallet balance is 35.21617400.",
                    "symbol": "TRX_USDT",
                    "direction": "buy",
                    "orderType": "limit",
                    "clientOid": "mine-1",
                    "orderId": order_id,
                    "ts": T0,
                }
            },
            "error": None,
        }
    ]
