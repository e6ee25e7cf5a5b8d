"""Config files and --set pairs: strict, with errors a user can act on."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from framework.config import config_hash, load_config, parse_set
from framework.errors import ConfigError


def test_defaults_without_a_file() -> None:
    config = load_config(None)
    assert config.run.seed == 0
    assert config.run.currency == ""  # the quote currency of the feeds' first market
    assert config.params == {}


def test_a_file_sets_run_exchange_and_params(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[run]\nseed = 42\n[exchange]\ntaker_fee_percent = "0.2"\n[params]\nfast = 5\n"SmaCross.slow" = 40\n'
    )
    config = load_config(path)
    assert config.run.seed == 42
    assert config.exchange.taker_fee_percent == Decimal("0.2")
    assert config.params == {"fast": 5, "SmaCross.slow": 40}


def test_unknown_key_is_named_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[run]\nsed = 1\n")
    with pytest.raises(ConfigError, match=r"sed.*\$\.run"):
        load_config(path)


def test_unknown_table_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[runn]\nseed = 1\n")
    with pytest.raises(ConfigError, match="runn"):
        load_config(path)


def test_wrong_type_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[run]\nseed = "many"\n')
    with pytest.raises(ConfigError, match="seed"):
        load_config(path)


def test_missing_file_and_bad_toml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\nseed=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_set_pairs_override_file_params(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[params]\nfast = 5\nslow = 30\n")
    config = load_config(path, parse_set(["fast=7"]))
    assert config.params == {"fast": "7", "slow": 30}


@pytest.mark.parametrize("pair", ["fast", "=3", ""])
def test_malformed_set_pair_is_a_config_error(pair: str) -> None:
    with pytest.raises(ConfigError, match="name=value"):
        parse_set([pair])


def test_config_hash_is_stable_and_sensitive(tmp_path: Path) -> None:
    a = tmp_path / "a.toml"
    a.write_text("[run]\nseed = 1\n[params]\nb = 2\na = 1\n")
    b = tmp_path / "b.toml"
    b.write_text("[params]\na = 1\nb = 2\n[run]\nseed = 1\n")
    assert config_hash(load_config(a)) == config_hash(load_config(b))
    assert config_hash(load_config(a)) != config_hash(load_config(a, {"a": "2"}))


def test_the_report_currency_follows_the_first_subscribed_market() -> None:
    from framework.providers.base import Subscription
    from framework.recording import ProviderSpec
    from framework.run import RunSetup, report_currency

    setup = RunSetup(strategies=(), strategy_sources={}, config=load_config(None), seed=0)
    stock = ProviderSpec("finazon", (Subscription("bars", "AAPL"),), {"dataset": "sip_pro"})
    crypto = ProviderSpec("cryptomus", (Subscription("trades", "BTC_USDT"),))
    unknown = ProviderSpec("alltick", (Subscription("trades", "XYZABC"),))
    assert report_currency(setup, [stock]) == "USD"
    assert report_currency(setup, [crypto]) == "USDT"
    assert report_currency(setup, [unknown]) == "USDT"
