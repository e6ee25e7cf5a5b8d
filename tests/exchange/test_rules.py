"""The exchange config: defaults, decoding from TOML-like data, and what check_config refuses."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import msgspec
import pytest

from framework.errors import ConfigError
from framework.exchange import PaperExchange
from framework.exchange.rules import DEFAULT_MARKETS, ExchangeConfig, MarketRules, check_config


def _decode(data: dict[str, Any]) -> ExchangeConfig:
    return msgspec.convert(data, ExchangeConfig, strict=False)


def test_sol_usdt_defaults_are_the_documented_market_list_entry() -> None:
    # {"symbol":"SOL_USDT","baseMinSize":"0.01000000","quoteMinSize":"5.00000000",
    #  "baseMaxSize":"500.00000000","quoteMaxSize":"10000000.00000000",
    #  "basePrec":"4","quotePrec":"4"}
    sol = ExchangeConfig().markets["SOL/USDT"]
    assert sol == MarketRules(
        base_currency="SOL",
        quote_currency="USDT",
        base_min_size=D("0.01"),
        base_max_size=D(500),
        quote_min_size=D(5),
        quote_max_size=D(10000000),
        base_prec=4,
        quote_prec=4,
    )


def test_defaults_cover_the_markets_of_the_bundled_recordings() -> None:
    assert sorted(ExchangeConfig().markets) == [
        "AAPL.US",
        "BTC/USDT",
        "ETH/USDT",
        "EUR/USD",
        "SOL/USDT",
        "TRX/USDT",
    ]


def test_decimals_decode_exactly_from_strings() -> None:
    config = _decode({"maker_fee_percent": "0.08", "balances": {"USDT": "1234.5678"}})
    assert config.maker_fee_percent == D("0.08")
    assert config.balances == {"USDT": D("1234.5678")}


def test_latency_is_converted_to_nanoseconds() -> None:
    assert _decode({"latency_ms": 2.5}).latency_ns == 2_500_000


def test_an_unknown_key_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field `latency`"):
        _decode({"latency": 5})


def test_queue_assumption_must_be_a_share_between_0_and_1() -> None:
    with pytest.raises(msgspec.ValidationError, match="queue_when_depth_unknown"):
        _decode({"queue_when_depth_unknown": 1.5})


def test_a_fee_of_100_percent_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"exchange\.taker_fee_percent must be at least 0"):
        check_config(_decode({"taker_fee_percent": "100"}))


def test_a_negative_balance_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"exchange\.balances\.USDT must be between 0 and"):
        check_config(_decode({"balances": {"USDT": "-1"}}))


def test_a_balance_too_large_for_exact_arithmetic_is_refused() -> None:
    # 1e308 USDT once crashed the first balance_update with decimal.InvalidOperation.
    with pytest.raises(
        ConfigError, match=r"balances\.USDT must be between 0 and 1,000,000,000,000"
    ):
        check_config(_decode({"balances": {"USDT": "1e308"}}))
    check_config(_decode({"balances": {"USDT": "1000000000000"}}))


def test_an_infinite_latency_is_refused_by_name() -> None:
    # latency_ms = inf once escaped as OverflowError when the engine was built.
    with pytest.raises(ConfigError, match=r"exchange\.latency_ms must be between 0 and"):
        check_config(_decode({"latency_ms": float("inf")}))


def test_a_market_with_min_above_max_is_refused_by_name() -> None:
    market = {
        "base_currency": "X",
        "quote_currency": "USDT",
        "base_min_size": "10",
        "base_max_size": "1",
        "quote_min_size": "1",
        "quote_max_size": "10",
        "base_prec": 2,
        "quote_prec": 2,
    }
    with pytest.raises(ConfigError, match=r"exchange.markets.'X/USDT': base_min_size \(10\)"):
        PaperExchange(_decode({"markets": {"X/USDT": market}}), lambda e: None)


def test_a_precision_finer_than_16_decimals_is_refused() -> None:
    rules = msgspec.structs.replace(ExchangeConfig().markets["BTC/USDT"], base_prec=17)
    with pytest.raises(ConfigError, match="base_prec must be between 0 and 16, not 17"):
        check_config(ExchangeConfig(markets={"BTC/USDT": rules}))


def test_a_markets_quanta_are_its_rules_precisions_and_the_rules_cannot_change() -> None:
    # Market derives its quanta once from its rules: that is right only because rules are
    # frozen, so a market's precision cannot change under it.
    from framework.exchange.book import Market
    from framework.marketbook import MarketState

    state = MarketState()
    for name, rules in DEFAULT_MARKETS.items():
        market = Market(state.of(name), rules)
        assert market.quote_step == D(1).scaleb(-rules.quote_prec)
        assert market.base_step == D(1).scaleb(-rules.base_prec)
        assert market.quote_step.as_tuple().exponent == -rules.quote_prec
        with pytest.raises(AttributeError):
            rules.quote_prec = 2  # type: ignore[misc]
