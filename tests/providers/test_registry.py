"""One description per provider: a fourth provider needs no change outside its own module.

The toy provider below is everything a new provider brings (a codec and its ``Provider``
description); registering it is the one step, and the config, the reconnect policy, the
symbol mapping and a whole replay then work with it, untouched.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import pytest

from framework import events as ev
from framework import providers
from framework.config import Config, ProviderConfig, RunConfig
from framework.errors import ConfigError
from framework.exchange import ExchangeConfig
from framework.live.backoff import policy_for
from framework.providers.base import Decoded, Provider, Subscription, WireDefaults
from framework.recording import FORMAT, VERSION, Frame, Header, ProviderSpec, RecordingWriter
from framework.run import RunSetup, replay
from framework.strategy import Strategy

ROOT = Path(__file__).resolve().parents[2]
S = 1_000_000_000
T0 = 1_750_000_000


class ToyCodec(WireDefaults):
    """Frames are ``{"s": "BTC-USDT", "p": 100.5, "q": 0.2}``: one trade each."""

    name = "toy"

    def url(self, subs: Sequence[Subscription], host: str, key: str) -> str:
        return f"ws://{host}/toy"

    def subscribe(self, subs: Sequence[Subscription]) -> list[str]:
        return []

    def unsubscribe(self, subs: Sequence[Subscription]) -> list[str]:
        return []

    def heartbeat(self) -> str:
        return "{}"

    def decode(self, frame: bytes | str | msgspec.Raw, ts_recv_ns: int) -> list[Decoded]:
        msg = msgspec.json.decode(frame)
        inst = _from_native(msg["s"], {})
        return [ev.Trade("toy", inst, msg["s"], ts_recv_ns, ts_recv_ns, msg["p"], msg["q"], "")]

    def reset(self) -> None:
        pass


def _from_native(symbol: str, options: Mapping[str, str]) -> str:
    return symbol.replace("-", "/")


TOY = Provider(
    name="toy",
    codec=lambda options: ToyCodec(),
    from_native=_from_native,
    heartbeat_s=15.0,
    reconnect_spacing_s=lambda options: 2.5,
    key_env="TOY_KEY",
)


@pytest.fixture
def toy() -> Iterator[Provider]:
    providers.register(TOY)
    try:
        yield TOY
    finally:
        del providers.PROVIDERS["toy"]


class Count(Strategy):
    trades: ClassVar[list[tuple[str, float]]] = []

    def on_trade(self, trade: ev.Trade) -> None:
        Count.trades.append((trade.instrument, trade.price))
        if len(Count.trades) == 1:
            self.buy_market(trade.instrument, quantity="0.1")


def test_a_fourth_provider_is_one_registration(toy: Provider, tmp_path: Path) -> None:
    assert providers.make_codec("toy").name == "toy"
    assert providers.from_native("toy", "ETH-USDT") == "ETH/USDT"
    assert policy_for("toy").min_spacing_s == 2.5
    config = msgspec.convert(
        {"name": "toy", "subscriptions": [{"channel": "trades", "symbol": "BTC-USDT"}]},
        ProviderConfig,
    )
    assert config.name == "toy"
    # a whole replay of a recording of it: decoded, matched, reported in its quote currency
    path = tmp_path / "toy.jsonl"
    header = Header(FORMAT, VERSION, (ProviderSpec("toy", (Subscription("trades", "BTC-USDT"),)),))
    with RecordingWriter(path, header) as writer:
        writer.write(
            [
                Frame((T0 + i) * S, "toy", 1, f=msgspec.Raw(b'{"s":"BTC-USDT","p":%d,"q":1}' % p))
                for i, p in enumerate([100, 101, 102])
            ]
        )
    Count.trades = []
    setup = RunSetup(
        strategies=(Count,),
        strategy_sources={},
        config=Config(
            run=RunConfig(finalize=False), exchange=ExchangeConfig(balances={"USDT": Decimal(1000)})
        ),
        seed=1,
    )
    summary: dict[str, Any] = replay(setup, path, tmp_path / "out")
    assert Count.trades == [("BTC/USDT", 100.0), ("BTC/USDT", 101.0), ("BTC/USDT", 102.0)]
    assert summary["counts"]["frames"] == 3 and summary["counts"]["decode_errors"] == 0
    fills = (tmp_path / "out" / "fills.csv").read_text().splitlines()
    assert len(fills) == 2  # the header and the one market buy, filled at the toy's price


def test_an_unregistered_provider_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown provider 'toy'"):
        providers.make_codec("toy")
    with pytest.raises(msgspec.ValidationError, match="unknown provider 'toy'"):
        msgspec.convert({"name": "toy", "subscriptions": []}, ProviderConfig)


def _names_in_code(path: Path, names: set[str]) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value in names
        and id(node) not in docstrings
    ]


def test_no_provider_name_is_spelled_outside_providers_and_emulators() -> None:
    names = set(providers.PROVIDERS)
    allowed = (ROOT / "framework" / "providers", ROOT / "framework" / "emulators")
    found = {
        str(path.relative_to(ROOT)): hits
        for path in sorted((ROOT / "framework").rglob("*.py"))
        if not any(path.is_relative_to(a) for a in allowed)
        if (hits := _names_in_code(path, names))
    }
    assert found == {}


def test_each_provider_describes_its_schedules_once() -> None:
    # The facts that used to be copied (and differ) between modules, now read from one place.
    alltick, cryptomus, finazon = (
        providers.provider(n) for n in ("alltick", "cryptomus", "finazon")
    )
    assert alltick.request_spacing_s == pytest.approx(1.1)  # 1 s documented, plus a margin
    assert alltick.reconnect_spacing_s({}) == 10.0
    assert alltick.reconnect_spacing_s({"plan": "pro"}) == 3.0
    assert cryptomus.ws_token and not alltick.ws_token and not finazon.ws_token
    assert finazon.ws_ping_s == 30.0 and alltick.ws_ping_s is None
    assert {p.key_env for p in (alltick, cryptomus, finazon)} == {
        "ALLTICK_TOKEN", "CRYPTOMUS_API_KEY", "FINAZON_API_KEY",
    }  # fmt: skip
    for name in providers.PROVIDERS:
        assert (ROOT / "configs" / f"{name}.toml").is_file()  # its config example
