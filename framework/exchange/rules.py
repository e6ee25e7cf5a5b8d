"""Market rules and the exchange's configuration: what may be traded, how finely, at what cost.

A market's rules mirror one entry of Cryptomus's market list (``GET
/v2/user-api/exchange/markets``): base and quote currency, min and max size in base and in quote,
and the precision of each. Here ``base_prec`` is the number of decimals of a quantity and
``quote_prec`` the number of decimals of a price and of every quote amount (order value, fill
value, fee): the documented deal (``filledPrice 0.272696``, ``fee 1.090784``) has both at six.

Default markets (those of the bundled recordings; a config replaces the whole table):

===========  ======================  ==============  ==============  =======================
market       min size base / quote   max base        max quote       precision base / quote
===========  ======================  ==============  ==============  =======================
BTC/USDT     0.00001 / 0.1           1000            10,000,000      8 / 6 (market list)
ETH/USDT     0.0001 / 0.1            10,000          10,000,000      4 / 6
TRX/USDT     10 / 0.1                10,000,000,000  10,000,000      4 / 6 (sizes from the
                                                                     documented error text)
SOL/USDT     0.01 / 5                500             10,000,000      4 / 4 (documented example)
EUR/USD      1 / 1                   10,000,000      100,000,000     2 / 5 (a pipette)
AAPL.US      1 / 1                   100,000         10,000,000      0 / 2 (whole shares, cents)
===========  ======================  ==============  ==============  =======================

The maximum sizes of BTC/USDT, and all of ETH/USDT, EUR/USD and AAPL.US, are our choice (no
documented entry): steps that match how those markets quote. Default balances are 10,000 USDT
and 10,000 USD.

Fees are in percent, as Cryptomus's ``account/tariffs`` reply gives ``maker_percent`` and
``taker_percent`` (``0.1`` means 0.1 %). The defaults, 0.1 % for both, are a common spot base
rate, not a documented Cryptomus figure (the documented deal shows 4 %, one account's rate):
set the account's own tariff in the config. The other knobs (latency, slippage, the queue
assumption) are described on :class:`ExchangeConfig`.

This module only defines data and checks it; it holds no state and never reads the clock.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated, Final

import msgspec

from framework.errors import ConfigError

__all__ = ["DEFAULT_BALANCES", "DEFAULT_MARKETS", "ExchangeConfig", "MarketRules", "check_config"]

_NS_PER_MS: Final = 1_000_000
_MAX_PREC: Final = 16  # Cryptomus renders money with 16 decimals; finer makes no sense
# The largest starting balance: 12 whole digits and 16 decimals are the 28 significant digits
# of Decimal's default context, so no sum of balances and fees is ever rounded by it.
_MAX_AMOUNT: Final = 10**12
_MAX_SIZE: Final = 10**15  # the largest order size or value a market may allow ("no limit")
_MAX_LATENCY_MS: Final = 86_400_000.0  # a day of simulated delay; more is a typo

Fraction = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class MarketRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One market's trading rules, as one entry of the Cryptomus market list gives them."""

    base_currency: str  # "BTC"; the currency a quantity is counted in
    quote_currency: str  # "USDT"; the currency prices, values and fees are counted in
    base_min_size: Decimal  # smallest order quantity (baseMinSize)
    base_max_size: Decimal  # largest order quantity (baseMaxSize)
    quote_min_size: Decimal  # smallest order value, price x quantity (quoteMinSize)
    quote_max_size: Decimal  # largest order value (quoteMaxSize)
    base_prec: int  # decimals of a quantity (basePrec)
    quote_prec: int  # decimals of a price and of any quote amount (quotePrec)


def _rules(
    base: str, quote: str, sizes: tuple[str, str, str, str], prec: tuple[int, int]
) -> MarketRules:
    base_min, base_max, quote_min, quote_max = (Decimal(s) for s in sizes)
    return MarketRules(
        base_currency=base,
        quote_currency=quote,
        base_min_size=base_min,
        base_max_size=base_max,
        quote_min_size=quote_min,
        quote_max_size=quote_max,
        base_prec=prec[0],
        quote_prec=prec[1],
    )


DEFAULT_MARKETS: Final[dict[str, MarketRules]] = {
    "AAPL.US": _rules("AAPL", "USD", ("1", "100000", "1", "10000000"), (0, 2)),
    "BTC/USDT": _rules("BTC", "USDT", ("0.00001", "1000", "0.1", "10000000"), (8, 6)),
    "ETH/USDT": _rules("ETH", "USDT", ("0.0001", "10000", "0.1", "10000000"), (4, 6)),
    "EUR/USD": _rules("EUR", "USD", ("1", "10000000", "1", "100000000"), (2, 5)),
    "SOL/USDT": _rules("SOL", "USDT", ("0.01", "500", "5", "10000000"), (4, 4)),
    "TRX/USDT": _rules("TRX", "USDT", ("10", "10000000000", "0.1", "10000000"), (4, 6)),
}

DEFAULT_BALANCES: Final[dict[str, Decimal]] = {"USD": Decimal(10000), "USDT": Decimal(10000)}


class ExchangeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The paper exchange's setup: the ``[exchange]`` table of a config file.

    Decimals may be written as strings (``maker_fee_percent = "0.1"``) so they stay exact.

    Attributes:
        markets: rules per canonical instrument id; orders for any other market are rejected
            with code 1. Replaces the default table as a whole.
        balances: the account's starting balances per currency code (all available).
        maker_fee_percent: fee rate for fills of a resting order, in percent of the fill value.
        taker_fee_percent: fee rate for fills that take liquidity, in percent.
        latency_ms: simulated delay between a command (order or cancel) and its arrival at the
            venue, on the simulated clock. Market data that arrives in between is matched
            without the order.
        slippage_bps: with trades only (no L2 book), a marketable order fills at the last trade
            price moved against it by this many basis points (1 bp = 0.01 %).
        queue_when_depth_unknown: with no L2 book when a limit order starts resting, the share
            of every trade printed at the order's own price that goes to orders assumed ahead of
            it: 0 means the order is first in the queue (any trade at its price fills it, up to
            the trade's size); 1 (the default, the conservative choice) means it is last, so
            only trades through its price fill it.
    """

    markets: dict[str, MarketRules] = msgspec.field(default_factory=lambda: dict(DEFAULT_MARKETS))
    balances: dict[str, Decimal] = msgspec.field(default_factory=lambda: dict(DEFAULT_BALANCES))
    maker_fee_percent: Decimal = Decimal("0.1")
    taker_fee_percent: Decimal = Decimal("0.1")
    latency_ms: Annotated[float, msgspec.Meta(ge=0.0)] = 0.0
    slippage_bps: Decimal = Decimal(0)
    queue_when_depth_unknown: Fraction = 1.0

    @property
    def latency_ns(self) -> int:
        """``latency_ms`` in integer nanoseconds of simulated time."""
        return round(self.latency_ms * _NS_PER_MS)


def check_config(config: ExchangeConfig) -> None:
    """Check what the types alone cannot: sane ranges and consistent market rules.

    Raises:
        ConfigError: naming the field and the value that is wrong.
    """
    for name in ("maker_fee_percent", "taker_fee_percent"):
        rate: Decimal = getattr(config, name)
        if not (rate.is_finite() and 0 <= rate < 100):
            raise ConfigError(f"exchange.{name} must be at least 0 and below 100, not {rate}")
    if not (config.slippage_bps.is_finite() and 0 <= config.slippage_bps < 10000):
        raise ConfigError(
            f"exchange.slippage_bps must be at least 0 and below 10000, not {config.slippage_bps}"
        )
    if not (math.isfinite(config.latency_ms) and 0 <= config.latency_ms <= _MAX_LATENCY_MS):
        raise ConfigError(
            f"exchange.latency_ms must be between 0 and {_MAX_LATENCY_MS:g} (a day), "
            f"not {config.latency_ms}"
        )
    for currency, amount in config.balances.items():
        if not (amount.is_finite() and 0 <= amount <= _MAX_AMOUNT):
            raise ConfigError(
                f"exchange.balances.{currency} must be between 0 and {_MAX_AMOUNT:,}, not {amount}"
            )
    for instrument, rules in config.markets.items():
        _check_rules(instrument, rules)


def _check_rules(instrument: str, rules: MarketRules) -> None:
    where = f"exchange.markets.{instrument!r}"
    for prec_name in ("base_prec", "quote_prec"):
        prec: int = getattr(rules, prec_name)
        if not 0 <= prec <= _MAX_PREC:
            raise ConfigError(f"{where}.{prec_name} must be between 0 and 16, not {prec}")
    pairs = (("base_min_size", "base_max_size"), ("quote_min_size", "quote_max_size"))
    for low_name, high_name in pairs:
        low: Decimal = getattr(rules, low_name)
        high: Decimal = getattr(rules, high_name)
        if not (low.is_finite() and high.is_finite() and 0 < low <= high <= _MAX_SIZE):
            raise ConfigError(
                f"{where}: {low_name} ({low}) and {high_name} ({high}) must satisfy "
                f"0 < min <= max <= {_MAX_SIZE:,}"
            )
    if not rules.base_currency or rules.base_currency == rules.quote_currency:
        raise ConfigError(
            f"{where}: base_currency {rules.base_currency!r} and quote_currency "
            f"{rules.quote_currency!r} must be two different currency codes"
        )
