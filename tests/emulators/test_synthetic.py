"""Any well-formed symbol is served: a market derived from its id, at a plausible level.

The levels checked are the round figures the module documents (USD/JPY about 149, gold about
2330, TRX about 0.27) or the class's range; ticks are the class's grid (cents, Hong Kong's
ladder, five decimals for forex and three for yen).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import msgspec
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from trio_websocket import WebSocketConnection, open_websocket_url

from framework.emulators import alltick, cryptomus, finazon
from framework.emulators.market import PRESETS, MarketModel
from framework.emulators.source import Generated, ModelSource
from framework.emulators.synthetic import _tick, asset_class, params_for
from framework.providers.cryptomus import MARKETS_PATH

NS = 1_000_000_000
START_NS = 1_750_953_600 * NS


@pytest.mark.parametrize(
    ("instrument", "kind", "start", "tick"),
    [
        ("USD/JPY", "forex", Decimal("149.254"), Decimal("0.001")),
        ("GBP/USD", "forex", Decimal("1.27000"), Decimal("0.00001")),
        ("GOLD", "commodity", Decimal("2330.00"), Decimal("0.01")),
        ("Silver", "commodity", Decimal("29.5000"), Decimal("0.0001")),
        ("TRX/USDT", "crypto", Decimal("0.270000"), Decimal("0.000001")),
        ("SOL/USDT", "crypto", Decimal("150.000"), Decimal("0.001")),
    ],
)
def test_known_currencies_coins_and_commodities_start_at_their_level(
    instrument: str, kind: str, start: Decimal, tick: Decimal
) -> None:
    params = params_for(instrument)
    assert (asset_class(instrument), params.start_price, params.tick) == (kind, start, tick)
    assert params.start_price.as_tuple() == start.as_tuple()  # exactly on the grid


@pytest.mark.parametrize(
    ("instrument", "low", "high"),
    [
        ("UNH.US", 10, 500),
        ("700.HK", 1, 500),
        ("600519.SH", 5, 200),
        ("ZZZ/USDT", Decimal("0.05"), 50),
        ("FOOBAR", 10, 5000),
    ],
)
def test_other_instruments_start_within_their_class_range(
    instrument: str, low: Decimal, high: Decimal
) -> None:
    assert low <= params_for(instrument).start_price <= high


@pytest.mark.parametrize(
    ("price", "tick"),
    [(0.3, "0.005"), (5, "0.01"), (15, "0.02"), (50, "0.05"), (150, "0.1"), (300, "0.2")],
)
def test_hong_kong_ticks_follow_the_exchange_ladder(price: float, tick: str) -> None:
    assert _tick("hk_stock", price, "X.HK") == Decimal(tick)


def test_presets_are_kept() -> None:
    assert params_for("BTC/USDT") is PRESETS["BTC/USDT"]


@given(st.from_regex(r"\A[A-Z]{2,6}/(USDT|USD|EUR|BTC|JPY)\Z|\A[A-Z]{1,5}\.US\Z|\A\d{1,5}\.HK\Z"))
def test_any_well_formed_id_gives_a_market_that_runs(instrument: str) -> None:
    params = params_for(instrument)
    assert params == params_for(instrument)  # derived from the id alone
    assert params.start_price > 0 and params.start_price % params.tick == 0
    model = MarketModel(params, 1, START_NS)
    happenings = model.advance_to(START_NS + 5 * NS)
    assert happenings  # books at least
    for happening in happenings:
        assert getattr(happening, "price", params.tick) > 0


def test_a_model_added_while_serving_starts_at_the_next_step_deterministically() -> None:
    def run() -> list[bytes]:
        source = ModelSource(["BTC/USDT"], 3, START_NS)
        batches = source.batches()
        out = [msgspec.json.encode(next(batches)) for _ in range(5)]
        source.add("TRX/USDT", params_for("TRX/USDT"))
        later = [next(batches) for _ in range(40)]
        first_trx = min(
            b.ts_ns for b in later for i in b.items if isinstance(i, Generated)
            and i.instrument == "TRX/USDT"
        )  # fmt: skip
        assert first_trx > msgspec.json.decode(out[-1])["ts_ns"]
        return out + [msgspec.json.encode(b) for b in later]

    assert run() == run()


# --- through the emulators -------------------------------------------------------------------


@asynccontextmanager
async def ws_to(url: str) -> AsyncIterator[WebSocketConnection]:
    async with open_websocket_url(url) as ws:
        yield ws


async def test_alltick_serves_gold_and_usdjpy_from_the_seeded_market(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    emulator = alltick.AllTickEmulator(source=alltick.market_source(1, START_NS))
    base = await nursery.start(emulator.serve)
    request = (
        '{"cmd_id":22002,"seq_id":1,"trace":"t","data":{"symbol_list":'
        '[{"code":"GOLD","depth_level":5},{"code":"USDJPY"},{"code":"gold"}]}}'
    )
    async with ws_to(f"{base}/quote-b-ws-api?token={alltick.DEFAULT_TOKEN}") as ws:
        await ws.send_message(request)
        assert '"ret":200' in str(await ws.get_message())
        books = [msgspec.json.decode(await ws.get_message())["data"] for _ in range(6)]
    assert {b["code"] for b in books} == {"GOLD", "USDJPY"}  # "gold" is not a code
    for book in books:
        # metals and forex have one level, price only (protocols.md 1.7)
        assert len(book["bids"]) == len(book["asks"]) == 1
        price = Decimal(book["bids"][0]["price"])
        assert 2200 < price < 2500 if book["code"] == "GOLD" else 140 < price < 160


async def test_alltick_refuses_a_list_of_malformed_codes_with_600(nursery: trio.Nursery) -> None:
    emulator = alltick.AllTickEmulator(source=alltick.market_source(1, START_NS))
    base = await nursery.start(emulator.serve)
    request = '{"cmd_id":22004,"seq_id":1,"trace":"t","data":{"symbol_list":[{"code":"a b"}]}}'
    async with ws_to(f"{base}/quote-b-ws-api?token={alltick.DEFAULT_TOKEN}") as ws:
        await ws.send_message(request)
        assert '"ret":600,"msg":"code invalid"' in str(await ws.get_message())


async def test_cryptomus_lists_and_serves_a_market_first_subscribed(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    from tests.emulators.test_cryptomus_emulator import fetch_token, http_get

    emulator = cryptomus.CryptomusEmulator(source=cryptomus.market_source(1, START_NS))
    base = await nursery.start(emulator.serve)
    async with ws_to(f"{base}/ws?token={await fetch_token(emulator)}") as ws:
        await ws.send_message('{"id":1,"method":"trade_subscribe","params":["TRX_USDT"]}')
        assert '"status":"success"' in str(await ws.get_message())
        update = msgspec.json.decode(await ws.get_message())
    assert (update["method"], update["data"]["symbol"]) == ("trade_update", "TRX_USDT")
    assert 0.2 < update["data"]["trades"][0]["price"] < 0.35
    _, body = await http_get(emulator.rest_port, MARKETS_PATH)
    listed = {m["symbol"]: m for m in msgspec.json.decode(body)["result"]}
    assert list(listed) == ["BTC_USDT", "ETH_USDT", "TRX_USDT"]
    assert (listed["TRX_USDT"]["basePrec"], listed["TRX_USDT"]["quotePrec"]) == ("0", "6")


async def test_finazon_serves_any_ticker_of_a_documented_dataset(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    emulator = finazon.FinazonEmulator(source=finazon.market_source(1, START_NS))
    base = await nursery.start(emulator.serve)
    request = (
        '{"event":"subscribe","dataset":"sip_pro","tickers":["UNH"],"channel":"bars",'
        '"frequency":"1s","aggregation":"1m","request_id":1}'
    )
    async with ws_to(f"{base}/v1?apikey={finazon.DEFAULT_API_KEY}") as ws:
        await ws.send_message(request)
        assert await ws.get_message() == (
            '{"status":"success","code":"SUCCESS_SUBSCRIPTION","data":["UNH"],"request_id":1}'
        )
        bar = msgspec.json.decode(await ws.get_message())
    assert (bar["d"], bar["s"], bar["f"]) == ("sip_pro", "UNH", "1s")
    assert 10 <= bar["c"] <= 500


@given(
    st.one_of(
        st.from_regex(alltick._STOCK_CODE, fullmatch=True),
        st.from_regex(alltick._FOREX_CODE, fullmatch=True),
        st.text(max_size=12),
    )
)
def test_every_code_alltick_accepts_gets_a_market_that_runs(code: str) -> None:
    source = alltick.market_source(1, START_NS, ())
    emulator = alltick.AllTickEmulator(instruments=(), source=source)
    endpoint = "stock" if code.endswith((".US", ".HK", ".SH", ".SZ")) else "forex"
    if not emulator._serves(code, endpoint):
        return
    name = emulator.codes[code]
    batches = source.batches()
    happenings = [i for _ in range(30) for i in next(batches).items if i.instrument == name]  # type: ignore[union-attr]
    assert happenings, code


@given(st.one_of(st.from_regex(cryptomus._MARKET, fullmatch=True), st.text(max_size=12)))
def test_every_market_cryptomus_accepts_is_listed_with_rules_on_its_grid(symbol: str) -> None:
    emulator = cryptomus.CryptomusEmulator(instruments=())
    if not emulator._list(symbol):
        assert not re.fullmatch(r"[A-Z0-9]{2,12}_[A-Z0-9]{2,12}", symbol)
        return
    (market,) = emulator.markets
    assert market.symbol == symbol
    assert Decimal(market.baseMinSize) > 0 and int(market.quotePrec) >= 0
