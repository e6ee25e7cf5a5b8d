"""The account: available and held per currency, exact Decimal, and the fee arithmetic."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from framework.exchange.accounts import Account, BalanceChange, fee_for, hold_fee


def test_hold_moves_funds_from_available_to_held_and_reports_the_available_change() -> None:
    account = Account({"USDT": D(40000)})
    change = account.hold("USDT", D(50))
    assert change == BalanceChange("USDT", D(50), D(40000), D(39950))
    assert (account.available("USDT"), account.held("USDT")) == (D(39950), D(50))


def test_release_moves_held_funds_back_to_available() -> None:
    account = Account({"USDT": D(100)})
    account.hold("USDT", D(30))
    change = account.release("USDT", D(10))
    assert change == BalanceChange("USDT", D(10), D(70), D(80))
    assert account.held("USDT") == D(20)


def test_spending_held_funds_changes_no_available_balance() -> None:
    account = Account({"USDT": D(100)})
    account.hold("USDT", D(30))
    account.spend_held("USDT", D(30))
    assert (account.available("USDT"), account.held("USDT")) == (D(70), D(0))


def test_credit_and_debit_change_available_of_any_currency() -> None:
    account = Account({})
    assert account.credit("BTC", D("0.5")) == BalanceChange("BTC", D("0.5"), D(0), D("0.5"))
    assert account.debit("BTC", D("0.1")) == BalanceChange("BTC", D("0.1"), D("0.5"), D("0.4"))
    assert account.currencies() == ["BTC"]


def test_a_change_of_zero_reports_nothing() -> None:
    account = Account({"USDT": D(1)})
    assert account.hold("USDT", D(0)) is None
    assert account.credit("USDT", D("0.000")) is None


def test_available_never_goes_negative() -> None:
    account = Account({"USDT": D(10)})
    with pytest.raises(RuntimeError, match=r"USDT: available 10 cannot change by -10\.01"):
        account.hold("USDT", D("10.01"))
    assert account.available("USDT") == D(10)


def test_held_never_goes_negative() -> None:
    account = Account({"USDT": D(10)})
    account.hold("USDT", D(5))
    with pytest.raises(RuntimeError, match="spending 6 held, but only 5 is held"):
        account.spend_held("USDT", D(6))


def test_currencies_are_listed_sorted() -> None:
    account = Account({"USDT": D(1), "BTC": D(1)})
    account.credit("ETH", D(1))
    assert account.currencies() == ["BTC", "ETH", "USDT"]


def test_fee_is_percent_of_the_value_at_quote_precision() -> None:
    # The documented deal: 4 % of 27.2696 is 1.090784.
    assert fee_for(D("27.2696"), D(4), 6) == D("1.090784")


def test_fee_rounds_half_even() -> None:
    # 0.1 % of 50.999999 = 0.050999999 -> 0.051000; of 12.5 at 2 places = 0.0125 -> 0.01.
    assert fee_for(D("50.999999"), D("0.1"), 6) == D("0.051000")
    assert fee_for(D("12.5"), D("0.1"), 2) == D("0.01")


def test_fee_to_hold_is_rounded_up() -> None:
    # 0.1 % of 12.5 at 2 places: 0.0125 is held as 0.02, so the hold always covers the fee.
    assert hold_fee(D("12.5"), D("0.1"), 2) == D("0.02")
    assert hold_fee(D("121.8"), D("0.1"), 6) == D("0.121800")
