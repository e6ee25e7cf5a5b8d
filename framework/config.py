"""The run configuration: frozen Structs decoded from TOML, strict about unknown keys.

A config file has up to four tables; every key is optional::

    [run]                 # how the loop runs: seed, report currency, equity sampling
    [exchange]            # the paper exchange: markets, balances, fees, latency (see exchange)
    [params]              # strategy parameters: "fast = 5", or "SmaCross.fast = 5" for one
    [[providers]]         # live feeds: name, subscriptions, host, key_env... (live mode)

An unknown key anywhere is a ConfigError naming it and where it is (``$.run.sed``). Secrets
(API keys, user ids) are read from the environment variables the config names; a key written
in the file itself is accepted but redacted everywhere. Nothing here reads the clock.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from framework.errors import ConfigError
from framework.exchange import ExchangeConfig
from framework.providers import PROVIDERS
from framework.providers.base import Subscription
from framework.redact import register_secret

__all__ = [
    "Config",
    "ProviderConfig",
    "RunConfig",
    "config_hash",
    "load_config",
    "parse_set",
]


class RunConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How the loop runs."""

    seed: int = 0  # seeds order ids and anything random in the exchange
    # Equity and returns are reported in this currency; "" picks the quote currency of the
    # first market the feeds carry (USDT for BTC/USDT, USD for AAPL.US).
    currency: str = ""
    # equity.csv gets a row when the account or a price changes, at most once per this many
    # seconds of simulated time; 0 samples once per bar of bar data, else once a minute.
    equity_interval_s: float = 0.0
    isolate_strategy_errors: bool = False  # log and skip a failing callback instead of stopping
    # at the end of the data, close every strategy's position at market (None: on for replays,
    # off for live runs and for replays of a live session's recording)
    finalize: bool | None = None
    # Orders are refused and statistics wait until this has passed: a duration ("30m", "2h")
    # from the first line, or a count of closed bars ("50 bars"); "" for none.
    warmup: str = ""
    # Market data whose own time lies further than this from its receive time is dropped.
    event_time_window_s: float = 86_400.0


class ProviderConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One live provider connection."""

    name: str  # a registered provider (framework.providers)
    subscriptions: tuple[Subscription, ...]
    host: str = ""  # WebSocket host (or ws://127.0.0.1:port); "" = the documented host
    rest_host: str = ""  # Cryptomus REST host for the one-time token; "" = documented host
    key_env: str = ""  # environment variable holding the API key (AllTick/Finazon token)
    user_id_env: str = ""  # Cryptomus: environment variable holding the user id
    key: str = ""  # discouraged: the key itself; prefer key_env
    user_id: str = ""  # discouraged: prefer user_id_env
    options: dict[str, str] = {}  # provider options: Finazon "dataset", AllTick "plan"
    stale_after_s: float = 30.0  # reconnect when no frame arrived for this long

    def __post_init__(self) -> None:

        if self.name not in PROVIDERS:
            raise ValueError(
                f"unknown provider {self.name!r} (known: {', '.join(sorted(PROVIDERS))})"
            )

    def secret(self) -> str:
        """The API key: from ``key_env`` if set and present, else ``key``; "" if none."""
        value = os.environ.get(self.key_env, "") if self.key_env else ""
        value = value or self.key
        register_secret(value)
        return value

    def user(self) -> str:
        """The Cryptomus user id, from ``user_id_env`` or ``user_id``; "" if none."""
        value = os.environ.get(self.user_id_env, "") if self.user_id_env else ""
        value = value or self.user_id
        register_secret(value)
        return value

    def __repr__(self) -> str:
        return f"ProviderConfig(name={self.name!r}, subscriptions={len(self.subscriptions)})"


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A whole run's configuration."""

    run: RunConfig = RunConfig()
    exchange: ExchangeConfig = msgspec.field(default_factory=ExchangeConfig)
    params: dict[str, Any] = {}
    providers: tuple[ProviderConfig, ...] = ()


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> Config:
    """Read a TOML config (or the defaults, when ``path`` is None) and apply ``--set`` pairs.

    Raises:
        ConfigError: the file is missing or not TOML, or a key is unknown or mistyped.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {path}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    data.pop("sweep", None)  # read by ``papertrade sweep`` (framework.sweeps.command) alone
    if overrides:
        data = {**data, "params": {**data.get("params", {}), **overrides}}
    try:
        config = msgspec.convert(data, Config, strict=False)
    except msgspec.ValidationError as exc:
        where = f" in {path}" if path else ""
        raise ConfigError(f"invalid config{where}: {exc}") from exc
    for provider in config.providers:
        register_secret(provider.key)
        register_secret(provider.user_id)
    return config


def parse_set(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Parse ``--set name=value`` pairs (``Strategy.name=value`` for one strategy).

    Raises:
        ConfigError: a pair has no ``=`` or an empty name.
    """
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(f"--set expects name=value, got {pair!r}")
        out[name] = value.strip()
    return out


def config_hash(config: Config) -> str:
    """SHA-256 of the config's canonical JSON (sorted keys, secrets left out): a fingerprint part."""
    data = msgspec.to_builtins(config)
    for provider in data.get("providers", []):
        provider.pop("key", None)
        provider.pop("user_id", None)
    canonical = msgspec.json.encode(data, order="sorted")
    return hashlib.sha256(canonical).hexdigest()
