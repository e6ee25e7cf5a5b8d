"""The paper account: per-currency balances split into available and held, and fee arithmetic.

Each balance is a pair of Decimals. An order *holds* funds when it reaches the venue (available
goes down, held goes up), *spends* held funds as it fills, and *releases* what is left when it
ends (held goes down, available goes up). Whatever an order receives is *credited* to
available; a fee charged on proceeds is *debited* from available.

``balance_update`` reports the **available** balance, the one a strategy can spend: the
documented example (``oldBalance`` 40000, ``newBalance`` 39950, ``amount`` 50) is a hold of 50
USDT. Every method that changes the available balance returns a :class:`BalanceChange`, and
returns None when the amount is zero, so no event ever reports a change of nothing. Spending
held funds leaves available untouched and so returns nothing.

Fees are charged in the market's quote currency, as in the documented deal (a TRX_USDT buy
with ``fee`` 1.090784 ``feeCurrency`` USDT, 4 % of ``filledValue`` 27.2696): a buy pays its fee
from its hold (which covers price x quantity plus the fee at the higher of the two rates), a
sell from its proceeds. Fees are rounded half-even to the market's quote precision.

This module never lets a balance go negative: a change that would is a bug in the exchange and
raises. It emits no events and knows nothing of orders or markets.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Final

import msgspec

from framework.money import ZERO, quantize, step

__all__ = ["Account", "BalanceChange", "fee_for", "hold_fee"]

_HUNDRED: Final = Decimal(100)


class BalanceChange(msgspec.Struct, frozen=True, gc=False):
    """One change of a currency's available balance; ``amount`` is unsigned."""

    currency: str
    amount: Decimal
    old: Decimal
    new: Decimal


class Account:
    """Balances per currency code. Unknown currencies have zero balances."""

    def __init__(self, initial: dict[str, Decimal]) -> None:
        self._available: dict[str, Decimal] = {c: Decimal(a) for c, a in sorted(initial.items())}
        self._held: dict[str, Decimal] = {c: ZERO for c in self._available}

    def available(self, currency: str) -> Decimal:
        """What can be spent or held now."""
        return self._available.get(currency, ZERO)

    def held(self, currency: str) -> Decimal:
        """What open orders hold."""
        return self._held.get(currency, ZERO)

    def views(self) -> tuple[Mapping[str, Decimal], Mapping[str, Decimal]]:
        """Live read-only views of the available and the held balances by currency: a reader
        can tell what changed since it last looked without a call per currency (every change
        stores a new Decimal, so an entry still the same object holds the same amount)."""
        return MappingProxyType(self._available), MappingProxyType(self._held)

    def currencies(self) -> list[str]:
        """Every currency the account has ever had, sorted."""
        return sorted(self._available)

    # Each method below is written out in full, without calls to the others: they run a few
    # times for every order.

    def hold(self, currency: str, amount: Decimal) -> BalanceChange | None:
        """Move ``amount`` from available to held."""
        delta = -amount
        old = self._available.get(currency, ZERO)
        new = old + delta
        if new < ZERO:
            raise RuntimeError(f"{currency}: available {old} cannot change by {delta}")
        self._available[currency] = new
        held = self._held
        held[currency] = held.get(currency, ZERO) + amount
        if not delta:  # zero
            return None
        return BalanceChange(currency, abs(delta), old, new)

    def release(self, currency: str, amount: Decimal) -> BalanceChange | None:
        """Move ``amount`` from held back to available."""
        held = self._held.get(currency, ZERO)
        if amount > held:
            raise RuntimeError(f"{currency}: spending {amount} held, but only {held} is held")
        self._held[currency] = held - amount
        old = self._available.get(currency, ZERO)
        new = old + amount
        if new < ZERO:
            raise RuntimeError(f"{currency}: available {old} cannot change by {amount}")
        self._available[currency] = new
        if not amount:  # zero
            return None
        return BalanceChange(currency, abs(amount), old, new)

    def spend_held(self, currency: str, amount: Decimal) -> None:
        """Remove ``amount`` from held: paid away by a fill. Available does not change."""
        held = self._held.get(currency, ZERO)
        if amount > held:
            raise RuntimeError(f"{currency}: spending {amount} held, but only {held} is held")
        self._held[currency] = held - amount

    def credit(self, currency: str, amount: Decimal) -> BalanceChange | None:
        """Add ``amount`` to available: received by a fill."""
        old = self._available.get(currency, ZERO)
        new = old + amount
        if new < ZERO:
            raise RuntimeError(f"{currency}: available {old} cannot change by {amount}")
        self._available[currency] = new
        if currency not in self._held:
            self._held[currency] = ZERO
        if not amount:  # zero
            return None
        return BalanceChange(currency, abs(amount), old, new)

    def debit(self, currency: str, amount: Decimal) -> BalanceChange | None:
        """Take ``amount`` from available: a fee charged on proceeds."""
        delta = -amount
        old = self._available.get(currency, ZERO)
        new = old + delta
        if new < ZERO:
            raise RuntimeError(f"{currency}: available {old} cannot change by {delta}")
        self._available[currency] = new
        if currency not in self._held:
            self._held[currency] = ZERO
        if not delta:  # zero
            return None
        return BalanceChange(currency, abs(delta), old, new)


def fee_for(value: Decimal, rate_percent: Decimal, quote_prec: int) -> Decimal:
    """The fee on a fill of quote ``value`` at ``rate_percent``, half-even to ``quote_prec``."""
    return quantize(value * rate_percent / _HUNDRED, quote_prec)


def hold_fee(value: Decimal, rate_percent: Decimal, quote_prec: int) -> Decimal:
    """The fee to hold for ``value``: like :func:`fee_for`, but never rounded down."""
    exact = value * rate_percent / _HUNDRED
    fee = quantize(exact, quote_prec, down=True)
    return fee if fee == exact else fee + step(quote_prec)
