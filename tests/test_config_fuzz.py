"""Hostile config values, generated (hypothesis): a run either starts and ends, or says why.

Each case is a TOML file whose ``[run]``, ``[exchange]``, ``[exchange.balances]``,
``[exchange.markets."BTC/USDT"]`` and ``[params]`` tables hold the real keys (and some unknown
ones) with values of every TOML kind: huge and negative integers, NaN and infinities, empty,
unicode and long strings, booleans, arrays, inline tables. The file is loaded as
``papertrade run --config`` loads it and a short replay with a trading strategy runs on it;
only the project's typed errors may come out, and a ``ConfigError`` must name what is wrong.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.config import load_config
from framework.errors import ConfigError, PapertradeError
from framework.events import Trade
from framework.providers.base import Subscription
from framework.recording import FORMAT, VERSION, Header, ProviderSpec
from framework.run import RunSetup, replay
from framework.strategy import Strategy

CASES: Counter[str] = Counter()
ERRORS: Counter[str] = Counter()

_RUN_KEYS = (
    "seed", "currency", "equity_interval_s", "isolate_strategy_errors", "finalize", "warmup",
    "event_time_window_s",
)  # fmt: skip
_EXCHANGE_KEYS = (
    "maker_fee_percent", "taker_fee_percent", "latency_ms", "slippage_bps",
    "queue_when_depth_unknown",
)  # fmt: skip
_MARKET_KEYS = (
    "base_currency", "quote_currency", "base_min_size", "base_max_size", "quote_min_size",
    "quote_max_size", "base_prec", "quote_prec",
)  # fmt: skip
# A whole market table (as in the README), so that one hostile value in it is what is tested.
_MARKET = {
    "base_currency": '"BTC"', "quote_currency": '"USDT"', "base_min_size": '"0.00001"',
    "base_max_size": '"1000"', "quote_min_size": '"0.1"', "quote_max_size": '"10000000"',
    "base_prec": "8", "quote_prec": "2",
}  # fmt: skip


def _string(text: str) -> str:
    return msgspec.json.encode(text).decode()  # a JSON string is a valid TOML basic string


_scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(str),
    st.sampled_from(["0", "-1", "1", "16", "17", "100", "1e308", "-0.0", "1e-30"]),
    st.sampled_from(["nan", "inf", "-inf", "+inf"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.booleans().map(lambda b: "true" if b else "false"),
    st.text(max_size=20).map(_string),
    st.sampled_from(['"0.1"', '"-5"', '"1e999999"', '"NaN"', '"30m"', '"50 bars"', '"x" ', '""']),
    st.sampled_from(['"' + "9" * 400 + '"', '"BTC"', '"USDT"', '"2h"', '"-3 bars"']),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.dictionaries(st.sampled_from(["a", "b", "seed"]), inner, max_size=2).map(
            lambda d: "{" + ", ".join(f"{k} = {v}" for k, v in d.items()) + "}"
        ),
    ),
    max_leaves=4,
)


# Values a user might well write (most cases should get past loading and into the run).
_plausible = st.sampled_from(
    ["0", "1", "2", "8", "0.5", "1e-9", "1e12", '"0.1"', '"0.00000001"', '"100000"', '"1"',
     '"10000"', "true", "false", '"USDT"', '"BTC"', '"1m"', '"2 bars"', '""', "60", "-0.0"]
)  # fmt: skip


class Trader(Strategy):
    """A market buy on the first trade and a limit sell on the fifth: the config's fees,
    precisions, sizes, latency and balances all come into play."""

    def on_start(self) -> None:
        self.n = 0

    def on_trade(self, trade: Trade) -> None:
        self.n += 1
        if self.n == 1:
            self.buy_market(trade.instrument, quantity=Decimal("0.01"))
        elif self.n == 5:
            self.sell_limit(trade.instrument, Decimal("0.01"), Decimal("101000"))


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfgfuzz") / "rec.jsonl"
    header = Header(
        FORMAT, VERSION, (ProviderSpec("cryptomus", (Subscription("trades", "BTC_USDT"),)),)
    )
    lines = [msgspec.json.encode(header).decode()]
    t0 = 1_750_000_000
    for i in range(12):
        frame = (
            f'{{"id":0,"method":"trade_update","data":{{"symbol":"BTC_USDT","timestamp":{t0 + i},'
            f'"trades":[{{"price":{100000 + 50 * (i % 3)}.5,"quantity":0.5,'
            f'"timestamp":{t0 + i},"direction":"buy"}}]}},"error":null}}'
        )
        lines.append(f'{{"k":"frame","t":{(t0 + i) * 10**9},"p":"cryptomus","c":1,"f":{frame}}}')
    path.write_text("\n".join(lines) + "\n")
    return path


_KEYS = (
    [("run", k) for k in (*_RUN_KEYS, "unknown_key")]
    + [("exchange", k) for k in _EXCHANGE_KEYS]
    + [("exchange.balances", _string(k)) for k in ("USDT", "BTC", "", "é")]
    + [('exchange.markets."BTC/USDT"', k) for k in _MARKET_KEYS]
    + [("params", k) for k in ("fast", "slow")]
)


FUZZ = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _error_key(message: str, path: Path) -> str:
    return message.replace(str(path), "FILE")


def _check(recording: Path, tmp: Path, entries: dict[tuple[str, str], str], kind: str) -> None:
    market = 'exchange.markets."BTC/USDT"'
    base = (
        {(market, k): v for k, v in _MARKET.items()} if any(t == market for t, _ in entries) else {}
    )
    tables: dict[str, list[str]] = {}
    for (table, key), value in {**base, **entries}.items():
        tables.setdefault(table, []).append(f"{key} = {value}\n")
    config_path = tmp / "config.toml"
    text = "\n".join(f"[{name}]\n" + "".join(rows) for name, rows in sorted(tables.items()))
    config_path.write_text(text, encoding="utf-8")
    try:
        config = load_config(config_path)
        setup = RunSetup(strategies=(Trader,), strategy_sources={}, config=config, seed=1)
        summary = replay(setup, recording, tmp / "out")
    except ConfigError as exc:
        CASES[f"{kind}: config error"] += 1
        message = str(exc)
        ERRORS[_error_key(message, config_path)[:90]] += 1
        assert message and "Traceback" not in message
        # It names what is wrong: one of the keys written (or, for TOML syntax, the file).
        named = [key.strip('"') for _, key in entries] + [t.split(".")[-1] for t, _ in entries]
        assert "FILE" in _error_key(message, config_path) or any(n in message for n in named), (
            message
        )
        return
    except PapertradeError:
        CASES[f"{kind}: other typed error"] += 1
        return
    CASES[f"{kind}: ran"] += 1
    assert summary["counts"]["frames"] == 12


@FUZZ
@given(
    entries=st.dictionaries(
        st.sampled_from(_KEYS), st.one_of(_plausible, _plausible, _plausible, _values), max_size=3
    )
)
def test_hostile_config_values_start_a_run_or_give_a_config_error(
    recording: Path,
    tmp_path_factory: pytest.TempPathFactory,
    entries: dict[tuple[str, str], str],
) -> None:
    _check(recording, tmp_path_factory.mktemp("case"), entries, "any value")


# Scalars of the right kind but the wrong size or sign: most of these load, so the run itself
# meets them (fees, precisions, sizes, latency, warm-up, intervals, balances).
_EDGES = st.sampled_from(
    ["nan", "inf", "-inf", "-1", "0", "1e308", "9223372036854775807", "-9223372036854775808",
     "1e-300", '"-5"', '"1e999999"', '"NaN"', '"Infinity"', '"-0"', '"0.000000000000000001"',
     '"-3 bars"', '"99999999999 bars"', '"0 bars"', '"1e9d"', '"-1m"', '"9999999999h"', "17",
     "-2", '"é"', '""', '"BTC"', '"USDT"']
)  # fmt: skip


@FUZZ
@given(entries=st.dictionaries(st.sampled_from(_KEYS), st.one_of(_plausible, _EDGES), max_size=2))
def test_out_of_range_config_values_start_a_run_or_give_a_config_error(
    recording: Path,
    tmp_path_factory: pytest.TempPathFactory,
    entries: dict[tuple[str, str], str],
) -> None:
    _check(recording, tmp_path_factory.mktemp("case"), entries, "edge value")


def teardown_module() -> None:
    print(f"\nconfig fuzz cases: {dict(sorted(CASES.items()))}")
    for message, n in ERRORS.most_common(12):
        print(f"  {n:4d} {message}")
