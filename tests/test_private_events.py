"""The private events are the documented Cryptomus private frames, byte for byte.

Each documented example (seed 002, "order", "balance" and "deals" sections) is kept verbatim
in ``tests/providers/frames/cryptomus/``, and only its documented slips are fixed: the "updated" order has a trailing comma after
``updateTs``, and the "finished" order lacks the comma in ``"state": "completed""internalState"``.
The events are built from Decimals with ``framework.money.render`` (16 decimals) and
``render8`` (``newBalance``), encoded with msgspec, and compared with the documented JSON
re-serialised compactly in its own key order. The same documented frames, decoded by the
Cryptomus codec, give back exactly those events.
"""

from __future__ import annotations

import json
from collections.abc import Callable
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


def unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate key in {keys}"
    return dict(pairs)


def documented_bytes(documented: str) -> bytes:
    """The documented frame, compact, in its own key order."""
    parsed = json.loads(documented, object_pairs_hook=unique_keys)
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
    "order_created.txt": CREATED,
    "order_updated.txt": UPDATED,
    "order_finished.txt": FINISHED,
    "deal_update.json": DEAL_EVENT,
    "balance_update.json": BALANCE_EVENT,
}
Documented = Callable[..., str]


def test_order_created_encodes_as_documented(documented: Documented) -> None:
    text = documented("cryptomus", "order_created.txt", fixed=True)
    assert msgspec.json.encode(CREATED) == documented_bytes(text)


def test_order_updated_encodes_as_documented(documented: Documented) -> None:
    text = documented("cryptomus", "order_updated.txt", fixed=True)
    assert msgspec.json.encode(UPDATED) == documented_bytes(text)


def test_order_finished_encodes_as_documented(documented: Documented) -> None:
    text = documented("cryptomus", "order_finished.txt", fixed=True)
    assert msgspec.json.encode(FINISHED) == documented_bytes(text)


def test_deal_update_encodes_as_documented(documented: Documented) -> None:
    text = documented("cryptomus", "deal_update.json", fixed=True)
    assert msgspec.json.encode(DEAL_EVENT) == documented_bytes(text)


def test_balance_update_encodes_as_documented_with_eight_decimal_new_balance(
    documented: Documented,
) -> None:
    text = documented("cryptomus", "balance_update.json", fixed=True)
    assert msgspec.json.encode(BALANCE_EVENT) == documented_bytes(text)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_documented_private_frame_decodes_to_the_event(name: str, documented: Documented) -> None:
    frame = documented("cryptomus", name, fixed=True)
    assert CryptomusCodec().decode(frame, 1_000) == [EXAMPLES[name]]


def test_private_frame_with_an_integer_id_decodes(documented: Documented) -> None:
    numbered = documented("cryptomus", "deal_update.json").replace('"id": "4"', '"id": 4')
    (decoded,) = CryptomusCodec().decode(numbered, 1_000)
    assert isinstance(decoded, ev.DealUpdate) and decoded.id == 4


def test_order_update_of_an_undocumented_type_is_a_protocol_error(documented: Documented) -> None:
    created = documented("cryptomus", "order_created.txt")
    with pytest.raises(ProviderProtocolError) as info:
        CryptomusCodec().decode(created.replace('"created"', '"deleted"'), 1_000)
    assert info.value.path == "$.data.type"


def test_documented_finished_order_is_rejected_before_its_slip_is_fixed(
    documented: Documented,
) -> None:
    with pytest.raises(ProviderProtocolError):
        CryptomusCodec().decode(documented("cryptomus", "order_finished.txt"), 1_000)
