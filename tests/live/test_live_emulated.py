"""Which providers get the built-in emulator: those without credentials, said in words."""

from __future__ import annotations

import pytest
import trio
from trio_websocket import open_websocket_url

from framework.config import ProviderConfig
from framework.live.emulated import DEFAULT_PROVIDERS, missing_credentials, serve_missing
from framework.providers.base import Subscription

SUBS = (Subscription("trades", "BTC_USDT"),)


def test_a_key_variable_that_is_not_set_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PT_TEST_ALLTICK_TOKEN", raising=False)
    provider = ProviderConfig(name="alltick", subscriptions=SUBS, key_env="PT_TEST_ALLTICK_TOKEN")
    assert missing_credentials(provider) == "$PT_TEST_ALLTICK_TOKEN is not set"


def test_a_key_in_the_environment_is_enough_for_alltick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PT_TEST_ALLTICK_TOKEN", "a-real-looking-token")
    provider = ProviderConfig(name="alltick", subscriptions=SUBS, key_env="PT_TEST_ALLTICK_TOKEN")
    assert missing_credentials(provider) == ""


def test_cryptomus_also_needs_a_user_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PT_TEST_CRYPTOMUS_KEY", "a-real-looking-key")
    provider = ProviderConfig(name="cryptomus", subscriptions=SUBS, key_env="PT_TEST_CRYPTOMUS_KEY")
    assert missing_credentials(provider) == "no user id configured"


def test_the_default_provider_is_cryptomus_btc_usdt_trades_and_depth() -> None:
    (provider,) = DEFAULT_PROVIDERS
    assert (provider.name, provider.subscriptions) == (
        "cryptomus",
        (Subscription("trades", "BTC_USDT"), Subscription("book", "BTC_USDT", depth=0)),
    )
    assert missing_credentials(provider) == "no key configured"


async def test_the_emulator_a_run_falls_back_to_refuses_what_only_samples_do() -> None:
    # The project's own sessions keep every documented rule: the fallback emulator is strict,
    # so two requests less than 1 s apart (AllTick's Go sample does that) are refused.
    provider = ProviderConfig(name="alltick", subscriptions=SUBS)
    lines: list[str] = []
    with trio.fail_after(10):
        async with serve_missing(
            [provider], seed=1, clock=lambda: 1_750_000_000 * 10**9, echo=lines.append
        ) as live:
            pointed = live.providers[0]
            url = f"{pointed.host}/quote-b-ws-api?token={pointed.key}"
            async with open_websocket_url(url) as ws:
                head = '"seq_id":1,"trace":"t","data":{"symbol_list":[{"code":"BTCUSDT"}]}}'
                await ws.send_message('{"cmd_id":22002,' + head)
                assert '"ret":200' in str(await ws.get_message())
                await ws.send_message('{"cmd_id":22004,' + head)
                assert '"ret":605' in str(await ws.get_message())
    assert live.emulated == ("alltick",)
