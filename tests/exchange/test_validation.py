"""Rejections: Cryptomus's order-error codes and wording, delivered as events."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.exchange import DEFAULT_MARKETS, OrderRequest, validation
from framework.exchange.validation import Rejection, check_request

Make = Callable[..., Any]


def _req(**fields: Any) -> OrderRequest:
    fields.setdefault("instrument", "BTC/USDT")
    fields.setdefault("direction", "buy")
    fields.setdefault("type", "limit")
    for name in ("quantity", "price", "value", "stop_loss_price"):
        if isinstance(fields.get(name), str):
            fields[name] = D(fields[name])
    return OrderRequest(**fields)


def _check(**fields: Any) -> Rejection | None:
    req = _req(**fields)
    return check_request(req, DEFAULT_MARKETS.get(req.instrument))


def _rejections(h: Any) -> list[tuple[int, str]]:
    return [(r["code"], r["message"]) for r in h.infos(h.take(), "order_rejected")]


def test_unknown_market_is_code_1() -> None:
    assert _check(instrument="DOGE/USDT", quantity="1", price="1") == (
        1,
        "Market DOGE_USDT not found.",
    )


def test_too_many_decimals_in_the_quantity_is_code_2() -> None:
    assert _check(quantity="0.000010001", price="100") == (
        2,
        "Incorrect amount or price accuracy: BTC_USDT allows 8 decimals in the quantity.",
    )


def test_too_many_decimals_in_the_price_is_code_2() -> None:
    assert _check(instrument="SOL/USDT", quantity="1", price="150.12345") == (
        2,
        "Incorrect amount or price accuracy: SOL_USDT allows 4 decimals in the price.",
    )


def test_quantity_below_the_minimum_is_code_3_in_the_documented_words() -> None:
    assert _check(instrument="TRX/USDT", quantity="5", price="0.3") == (
        3,
        "Order quantity must be between 10 and 10000000000 size.",
    )


def test_value_below_the_quote_minimum_is_code_3() -> None:
    # SOL/USDT: 0.01 x 100 = 1 USDT, under the documented quoteMinSize of 5.
    assert _check(instrument="SOL/USDT", quantity="0.01", price="100") == (
        3,
        "Order value must be between 5 and 10000000 USDT.",
    )


def test_market_buy_value_above_the_quote_maximum_is_code_3() -> None:
    assert _check(type="market", value="10000001") == (
        3,
        "Order value must be between 0.1 and 10000000 USDT.",
    )


def test_buy_stop_loss_at_or_below_the_price_is_code_4() -> None:
    assert _check(quantity="1", price="100", stop_loss_price="100") == (
        4,
        "The stop loss price of a buy order must be above its price.",
    )


def test_sell_stop_loss_at_or_above_the_price_is_code_4() -> None:
    assert _check(direction="sell", quantity="1", price="100", stop_loss_price="101") == (
        4,
        "The stop loss price of a sell order must be below its price.",
    )


def test_stop_loss_on_a_market_order_is_code_4() -> None:
    assert _check(type="market", quantity="1", stop_loss_price="90") == (
        4,
        "A stop loss price is allowed on limit orders only.",
    )


def test_documented_stop_loss_example_is_accepted() -> None:
    # Cryptomus's example: buy 20 TRX at 0.2964 with stop_loss_price 0.31.
    assert (
        _check(instrument="TRX/USDT", quantity="20", price="0.2964", stop_loss_price="0.31") is None
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"quantity": "1"}, "A limit order needs a price and a quantity."),
        (
            {"quantity": "1", "price": "1", "value": "1"},
            "A limit order takes a quantity, not a value.",
        ),
        ({"type": "market", "quantity": "1", "price": "1"}, "A market order takes no price."),
        (
            {"type": "market", "quantity": "1", "value": "10"},
            "A market buy needs either a quantity or a value.",
        ),
        ({"type": "market"}, "A market buy needs either a quantity or a value."),
        (
            {"type": "market", "direction": "sell", "value": "10"},
            "A market sell needs a quantity and no value.",
        ),
        ({"quantity": "-1", "price": "100"}, "The quantity must be greater than 0."),
        ({"quantity": 1.0, "price": "100"}, "The quantity must be a finite Decimal."),
        ({"quantity": "NaN", "price": "100"}, "The quantity must be a finite Decimal."),
        (
            {"quantity": "1", "price": "100", "post_only": True, "time_in_force": "ioc"},
            "A post-only order must be good till cancelled.",
        ),
        (
            {"type": "market", "quantity": "1", "post_only": True},
            "A market order cannot be post-only.",
        ),
        (
            {"direction": "hold", "quantity": "1", "price": "1"},
            "Direction must be buy or sell, not 'hold'.",
        ),
        (
            {"quantity": "1", "price": "1", "time_in_force": "day"},
            "Time in force must be gtc, ioc or fok, not 'day'.",
        ),
    ],
)
def test_malformed_request_is_code_0(fields: dict[str, Any], message: str) -> None:
    assert _check(**fields) == (0, message)


def test_insufficient_balance_is_code_6_with_the_wallet_balance(make: Make) -> None:
    # 1 x 100 plus the 0.1 % fee is 100.1 USDT; 100.05 is there.
    h = make(balances={"USDT": "100.05"}, maker_fee_percent="0.1", taker_fee_percent="0.1")
    h.trade(101.0, 1.0)
    h.buy("1", "100")
    assert _rejections(h) == [(6, "Insufficient funds. USDT wallet balance is 100.05000000.")]


def test_sell_of_more_than_the_base_balance_is_code_6(make: Make) -> None:
    h = make(balances={"BTC": "0.5"})
    h.trade(100.0, 1.0)
    h.order(direction="sell", type="market", quantity="0.6")
    assert _rejections(h) == [(6, "Insufficient funds. BTC wallet balance is 0.50000000.")]


def test_client_order_id_used_before_in_the_run_is_code_7(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.trade(100.0, 1.0)
    first = h.buy("1", "99", client_order_id="a")
    h.cancel(first)
    h.buy("1", "98", client_order_id="a")
    assert _rejections(h) == [(7, "Order with client_order_id a already exists.")]


def test_cancel_of_an_unknown_order_is_code_5_naming_it(make: Make) -> None:
    h = make()
    h.cancel("01JF0NE1AXA5SS3NSP2EGJ0ARS")
    rejected = h.infos(h.take(), "order_rejected")
    assert rejected == [
        {
            "code": 5,
            "message": "Order 01JF0NE1AXA5SS3NSP2EGJ0ARS not found.",
            "symbol": "",
            "direction": "",
            "orderType": "cancel",
            "clientOid": None,
            "orderId": "01JF0NE1AXA5SS3NSP2EGJ0ARS",
            "ts": 1_750_696_376,
        }
    ]


def test_cancel_of_a_finished_order_is_code_5(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.trade(100.0, 1.0)
    order_id = h.buy("1", "99", client_order_id="x")
    h.cancel(order_id)
    h.take()
    h.cancel(order_id)
    rejected = h.infos(h.take(), "order_rejected")
    assert [(r["code"], r["symbol"], r["clientOid"]) for r in rejected] == [(5, "BTC_USDT", "x")]


def test_cancel_of_a_market_order_is_refused(make: Make) -> None:
    h = make("AAPL.US", balances={"USD": "10000"})
    h.bar(190, 191, 189, 190, opens=-60, closes=0)
    order_id = h.order(0, direction="buy", type="market", quantity="1")  # waits for a bar
    h.cancel(order_id)
    assert _rejections(h) == [(0, "Only limit orders can be cancelled.")]


def test_market_order_with_no_market_data_is_refused(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.order(direction="buy", type="market", value="10")
    assert _rejections(h) == [(0, "No market data for BTC_USDT yet.")]


def test_a_rejection_never_raises_and_leaves_the_account_alone(make: Make) -> None:
    h = make(balances={"USDT": "1000"})
    h.buy("1", "99.1234567")
    assert [code for code, _ in _rejections(h)] == [2]
    assert h.x.balance("USDT") == (D(1000), 0)
    assert h.x.open_orders() == []


def test_a_huge_quantity_is_out_of_range_not_an_error() -> None:
    assert _check(quantity="1e60", price="100") == (
        3,
        "Order quantity must be between 0.00001 and 1000 size.",
    )


_NUMBERS = st.one_of(
    st.none(),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(["1", "1.000", "0.00000001", "0.000000001", "1E+30", "1E+999", "-1", "0"]).map(
        D
    ),
    st.integers(-10, 10**16).map(lambda n: D(n).scaleb(-8)),
)


@settings(max_examples=600, deadline=None)
@given(
    instrument=st.sampled_from(sorted(DEFAULT_MARKETS)),
    direction=st.sampled_from(["buy", "sell", "hold"]),
    kind=st.sampled_from(["market", "limit", "stop"]),
    time_in_force=st.sampled_from(["gtc", "ioc", "fok", "day"]),
    post_only=st.booleans(),
    quantity=_NUMBERS,
    price=_NUMBERS,
    value=_NUMBERS,
    stop=st.one_of(st.none(), _NUMBERS),
)
def test_the_quick_check_of_usual_requests_agrees_with_the_exact_checks(
    instrument: str,
    direction: Any,
    kind: Any,
    time_in_force: Any,
    post_only: bool,
    quantity: D | None,
    price: D | None,
    value: D | None,
    stop: D | None,
) -> None:
    req = OrderRequest(
        instrument=instrument,
        direction=direction,
        type=kind,
        time_in_force=time_in_force,
        post_only=post_only,
        quantity=quantity,
        price=price,
        value=value,
        stop_loss_price=stop,
    )
    rules = DEFAULT_MARKETS[instrument]
    exact = (
        validation._check_shape(req)
        or validation._check_precision(req, rules)
        or validation._check_range(req, rules)
        or validation._check_stop_loss(req)
    )
    assert check_request(req, rules) == exact


@settings(max_examples=400, deadline=None)
@given(number=st.decimals(allow_nan=False, allow_infinity=False, min_value=D("1E-20")))
def test_precision_is_refused_exactly_when_the_number_has_more_decimals_than_allowed(
    number: D,
) -> None:
    # BTC/USDT: 8 decimals of quantity. A number's decimals, trailing zeros dropped.
    decimals = max(0, -number.normalize().as_tuple().exponent)  # type: ignore[operator]
    rules = DEFAULT_MARKETS["BTC/USDT"]
    rejection = validation._check_precision(_req(type="market", quantity=number), rules)
    assert (rejection is not None) == (decimals > 8)
    if rejection is not None:
        assert rejection.code == 2


_NEAR_VALID = st.one_of(
    st.none(),
    st.integers(1, 10**12).map(lambda n: D(n).scaleb(-8)),  # on BTC's quantity grid
    st.integers(1, 10**12).map(lambda n: D(n).scaleb(-9)),  # one decimal too many, often
    st.sampled_from(["0.00001", "0.000009", "1000", "1000.00000001", "0.1", "10000000"]).map(D),
)


@settings(max_examples=600, deadline=None)
@given(
    direction=st.sampled_from(["buy", "sell"]),
    kind=st.sampled_from(["market", "limit"]),
    time_in_force=st.sampled_from(["gtc", "ioc", "fok"]),
    quantity=_NEAR_VALID,
    price=_NEAR_VALID,
    value=st.one_of(st.none(), _NEAR_VALID),
)
def test_the_quick_check_agrees_on_nearly_valid_requests(
    direction: Any,
    kind: Any,
    time_in_force: Any,
    quantity: D | None,
    price: D | None,
    value: D | None,
) -> None:
    req = OrderRequest(
        instrument="BTC/USDT",
        direction=direction,
        type=kind,
        time_in_force=time_in_force,
        quantity=quantity,
        price=price,
        value=value,
    )
    rules = DEFAULT_MARKETS["BTC/USDT"]
    exact = (
        validation._check_shape(req)
        or validation._check_precision(req, rules)
        or validation._check_range(req, rules)
        or validation._check_stop_loss(req)
    )
    assert check_request(req, rules) == exact


def test_the_quick_check_says_yes_to_the_usual_orders_only() -> None:
    rules = DEFAULT_MARKETS["BTC/USDT"]
    assert validation._usual(_req(type="market", quantity="1"), rules)
    assert validation._usual(_req(direction="sell", type="market", quantity="0.5"), rules)
    assert validation._usual(_req(quantity="0.01", price="65000.5"), rules)
    assert not validation._usual(_req(type="market", value="100"), rules)  # by value
    assert not validation._usual(_req(quantity="0.01", price="65000.5", post_only=True), rules)
    assert not validation._usual(_req(type="market", quantity="0.000000001"), rules)
    assert not validation._usual(_req(type="market", quantity="1001"), rules)
    assert not validation._usual(_req(quantity="0.00001", price="1"), rules)  # value below 0.1
