"""The private events are the documented Cryptomus private frames, byte for byte.

Each documented example (seed 002, "order", "balance" and "deals" sections) is quoted verbatim
below, then only its documented slips are fixed: the "updated" order has a trailing comma after
``updateTs``, and the "finished" order lacks the comma in ``"state": "completed""internalState"``.
The events are built from Decimals with ``framework.money.render`` (16 decimals) and
``render8`` (``newBalance``), encoded with msgspec, and compared with the documented JSON
re-serialised compactly in its own key order. The same documented frames, decoded by the
Cryptomus codec, give back exactly those events.
"""

from __future__ import annotations

import json
from decimal import Decimal

import msgspec
import pytest

from framework import events as ev
from framework.errors import ProviderProtocolError
from framework.money import render, render8
from framework.providers.cryptomus import CryptomusCodec

ORDER_ID = "01JYET5DQ772MPYHHE417FQF1J"
PRICE = Decimal("0.22")
QUANTITY = Decimal(50)

ORDER_CREATED = """{
  "id": "1",
  "method": "order_update",
  "data": {
    "type": "created",
    "info": {
      "id": "01JYET5DQ772MPYHHE417FQF1J",
      "symbol": "TRX_USDT",
      "orderType": "limit",
      "direction": "sell",
      "price": "0.2200000000000000",
      "quantity": "50.0000000000000000",
      "value": "11.0000000000000000",
      "filledQuantity": "0.0000000000000000",
      "filledValue": "0.0000000000000000",
      "clientOid": null,
      "createTs": 1750696376
    }
  },
  "error": null
}"""

ORDER_UPDATED = """{
  "id": "3",
  "method": "order_update",
  "data": {
    "type": "updated",
    "info": {
      "id": "01JYET5DQ772MPYHHE417FQF1J",
      "symbol": "TRX_USDT",
      "orderType": "limit",
      "direction": "sell",
      "price": "0.2200000000000000",
      "quantity": "50.0000000000000000",
      "value": "11.0000000000000000",
      "filledQuantity": "20.0000000000000000",
      "filledValue": "4.4000000000000000",
      "clientOid": null,
      "createTs": 1750696376,
      "updateTs": 1750696487,
    }
  },
  "error": null
}"""

ORDER_FINISHED = """{
  "id": "3",
  "method": "order_update",
  "data": {
    "type": "finished",
    "info": {
      "id": "01JYET5DQ772MPYHHE417FQF1J",
      "symbol": "TRX_USDT",
      "orderType": "limit",
      "direction": "sell",
      "price": "0.2200000000000000",
      "quantity": "50.0000000000000000",
      "value": "11.0000000000000000",
      "filledQuantity": "50.0000000000000000",
      "filledValue": "11.0000000000000000",
      "clientOid": null,
      "createTs": 1750696376,
      "finishTs": 1750696417,
      "state": "completed""internalState": "filled"
    }
  },
  "error": null
}"""

BALANCE = """{
  "id": "4",
  "method": "balance_update",
  "data": {
    "info": {
      "walletId": "01J7E836F6K5KCX5DP2W0F6FAG",
      "currencyCode": "USDT",
      "amount": "50.0000000000000000",
      "oldBalance": "40000.0000000000000000",
      "newBalance": "39950.00000000"
    }
  },
  "error": null
}"""

DEAL = """{
  "id": "4",
  "method": "deal_update",
  "data": {
    "info": {
      "dealId": "01JYH50V5VWPP3QTYGM6CPZ0AR",
      "symbol": "TRX_USDT",
      "dealState": "completed",
      "transactionId": "01JYH50V5YM8M3943KJ9HY2VXM",
      "filledPrice": "0.2726960000000000",
      "filledQuantity": "100.0000000000000000",
      "filledValue": "27.2696000000000000",
      "fee": "1.0907840000000000",
      "feeCurrency": "USDT",
      "tradeRole": "taker",
      "committedAt": 1750774869
    }
  },
  "error": null
}"""


def fix_slips(documented: str) -> str:
    """The documented text with its two known slips fixed, and nothing else."""
    return documented.replace("1750696487,\n", "1750696487\n").replace(
        '"completed""internalState"', '"completed", "internalState"'
    )


def unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate key in {keys}"
    return dict(pairs)


def documented_bytes(documented: str) -> bytes:
    """The documented frame, compact, in its own key order."""
    parsed = json.loads(fix_slips(documented), object_pairs_hook=unique_keys)
    return json.dumps(parsed, separators=(",", ":")).encode()


def order(kind: str, request_id: str, filled: Decimal, **extra: int | str) -> ev.OrderUpdate:
    info = ev.OrderInfo(
        id=ORDER_ID,
        symbol="TRX_USDT",
        orderType="limit",
        direction="sell",
        price=render(PRICE),
        quantity=render(QUANTITY),
        value=render(PRICE * QUANTITY),
        filledQuantity=render(filled),
        filledValue=render(PRICE * filled),
        clientOid=None,
        createTs=1750696376,
        **extra,  # type: ignore[arg-type]
    )
    return ev.OrderUpdate(id=request_id, data=ev.OrderUpdateData(kind, info))  # type: ignore[arg-type]


CREATED = order("created", "1", Decimal(0))
UPDATED = order("updated", "3", Decimal(20), updateTs=1750696487)
FINISHED = order(
    "finished", "3", QUANTITY, finishTs=1750696417, state="completed", internalState="filled"
)
FILLED_VALUE = Decimal("0.272696") * 100
DEAL_EVENT = ev.DealUpdate(
    id="4",
    data=ev.DealUpdateData(
        ev.DealInfo(
            dealId="01JYH50V5VWPP3QTYGM6CPZ0AR",
            symbol="TRX_USDT",
            dealState="completed",
            transactionId="01JYH50V5YM8M3943KJ9HY2VXM",
            filledPrice=render(Decimal("0.272696")),
            filledQuantity=render(Decimal(100)),
            filledValue=render(FILLED_VALUE),
            fee=render(FILLED_VALUE * Decimal("0.04")),  # a 4% taker fee: 1.090784
            feeCurrency="USDT",
            tradeRole="taker",
            committedAt=1750774869,
        )
    ),
)
BALANCE_EVENT = ev.BalanceUpdate(
    id="4",
    data=ev.BalanceUpdateData(
        ev.BalanceInfo(
            walletId="01J7E836F6K5KCX5DP2W0F6FAG",
            currencyCode="USDT",
            amount=render(Decimal(50)),
            oldBalance=render(Decimal(40000)),
            newBalance=render8(Decimal(40000) - Decimal(50)),
        )
    ),
)
EXAMPLES = {
    "order_created": (ORDER_CREATED, CREATED),
    "order_updated": (ORDER_UPDATED, UPDATED),
    "order_finished": (ORDER_FINISHED, FINISHED),
    "deal_update": (DEAL, DEAL_EVENT),
    "balance_update": (BALANCE, BALANCE_EVENT),
}


def test_order_created_encodes_as_documented() -> None:
    assert msgspec.json.encode(CREATED) == documented_bytes(ORDER_CREATED)


def test_order_updated_encodes_as_documented() -> None:
    assert msgspec.json.encode(UPDATED) == documented_bytes(ORDER_UPDATED)


def test_order_finished_encodes_as_documented() -> None:
    assert msgspec.json.encode(FINISHED) == documented_bytes(ORDER_FINISHED)


def test_deal_update_encodes_as_documented() -> None:
    assert msgspec.json.encode(DEAL_EVENT) == documented_bytes(DEAL)


def test_balance_update_encodes_as_documented_with_eight_decimal_new_balance() -> None:
    assert msgspec.json.encode(BALANCE_EVENT) == documented_bytes(BALANCE)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_documented_private_frame_decodes_to_the_event(name: str) -> None:
    documented, event = EXAMPLES[name]
    assert CryptomusCodec().decode(fix_slips(documented), 1_000) == [event]


def test_private_frame_with_an_integer_id_decodes() -> None:
    numbered = fix_slips(DEAL).replace('"id": "4"', '"id": 4')
    (decoded,) = CryptomusCodec().decode(numbered, 1_000)
    assert isinstance(decoded, ev.DealUpdate) and decoded.id == 4


def test_order_update_of_an_undocumented_type_is_a_protocol_error() -> None:
    with pytest.raises(ProviderProtocolError) as info:
        CryptomusCodec().decode(ORDER_CREATED.replace('"created"', '"deleted"'), 1_000)
    assert info.value.path == "$.data.type"


def test_documented_finished_order_is_rejected_before_its_slip_is_fixed() -> None:
    with pytest.raises(ProviderProtocolError):
        CryptomusCodec().decode(ORDER_FINISHED, 1_000)
