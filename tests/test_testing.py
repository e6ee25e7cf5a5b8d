"""The user test kit: scenarios in the providers' wire formats, runs through the real loop and
exchange, and the codec conformance check run on every registered codec.

Frames in ``DOCUMENTED`` are verbatim from the provider pages (shared/seeds: 000 Finazon, 002
Cryptomus with its ``//`` comments and ``...`` placeholders removed) and from the AllTick
examples in protocols.md section 1.4, compacted to one line.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from framework import events as ev
from framework.config import Config, RunConfig
from framework.errors import ConfigError, ProviderProtocolError, StrategyError
from framework.providers import PROVIDERS, make_codec
from framework.providers.base import Subscription
from framework.providers.cryptomus import CryptomusCodec
from framework.recording import Frame, RecordingReader
from framework.run import RunSetup, replay
from framework.strategy import Strategy, param
from framework.testing import DEFAULT_START_S, Scenario, check_codec, run_strategy

NS = 1_000_000_000
T0_NS = DEFAULT_START_S * NS

DOCUMENTED: dict[str, list[str]] = {
    "alltick": [
        '{"ret":200,"msg":"ok","cmd_id":22003,"seq_id":123,"trace":"asdfsdfa","data":{}}',
        '{"ret":200,"msg":"ok","cmd_id":22005,"seq_id":106254124,"trace":"3baaa938-f92c-4a74-a228-fd49d5e2","data":{}}',
        '{"cmd_id":22998,"data":{"code":"1288.HK","seq":1605509068000001,"tick_time":1605509068,"price":"651.12","volume":"300","turnover":"12345.6","trade_direction":1}}',
        '{"cmd_id":22999,"data":{"code":"HK-1288","seq":1605509068000001,"tick_time":1605509068,"bids":[{"price":"9.12","volume":"9.12"}],"asks":[{"price":"147.12","volume":"147.12"}]}}',
        '{"ret":200,"msg":"ok","cmd_id":22007,"seq_id":123,"trace":"asdfsdfa","data":{}}',
    ],
    "cryptomus": [
        '{"id":0,"method":"trade_subscribe","data":{"status":"success"},"error":null}',
        '{"id":0,"method":"trade_update","data":{"symbol":"BTC_USDT","timestamp":1750953177,"trades":[{"price":107100.01,"quantity":0.000254,"timestamp":1750953177,"direction":"buy"}]},"error":null}',
        '{"id":0,"method":"depth_update","data":{"symbol":"BTC_USDT","timestamp":1750952911,"full_reload":false,"scale_index":0,"asks":[["107043.93","0.304313"]],"bids":[["106976.11","0"]]},"error":null}',
        '{"id":0,"method":"ticker_update","data":{"symbol":"BTC_USDT","timestamp":1750953144,"price":"107090.35","open":"107042.21","high":"108248.15","low":"106573.19","volume":"1531.027982","quote_volume":"164564314.80174687","price_change":"0.04"},"error":null}',
        '{"id":0,"method":"lastprice_update","data":{"symbol":"BTC_USDT","timestamp":1750953362,"price":"107152.55"},"error":null}',
        '{"id":"1","method":"order_update","data":{"type":"created","info":{"id":"01JYET5DQ772MPYHHE417FQF1J","symbol":"TRX_USDT","orderType":"limit","direction":"sell","price":"0.2200000000000000","quantity":"50.0000000000000000","value":"11.0000000000000000","filledQuantity":"0.0000000000000000","filledValue":"0.0000000000000000","clientOid":null,"createTs":1750696376}},"error":null}',
        '{"id":"4","method":"deal_update","data":{"info":{"dealId":"01JYH50V5VWPP3QTYGM6CPZ0AR","symbol":"TRX_USDT","dealState":"completed","transactionId":"01JYH50V5YM8M3943KJ9HY2VXM","filledPrice":"0.2726960000000000","filledQuantity":"100.0000000000000000","filledValue":"27.2696000000000000","fee":"1.0907840000000000","feeCurrency":"USDT","tradeRole":"taker","committedAt":1750774869}},"error":null}',
        '{"id":"4","method":"balance_update","data":{"info":{"walletId":"01J7E836F6K5KCX5DP2W0F6FAG","currencyCode":"USDT","amount":"50.0000000000000000","oldBalance":"40000.0000000000000000","newBalance":"39950.00000000"}},"error":null}',
        '{"id":0,"method":"pong","data":null,"error":null}',
        '{"id":0,"data":{"status":"success"},"error":null}',
    ],
    "finazon": [
        '{"status":"success","code":"SUCCESS_SUBSCRIPTION","data":["BTC/USDT","ALEX/USDT"],"request_id":106}',
        '{"d":"kucoin","p":"kucoin","ch":"bars","f":"1s","aggr":"1m","s":"BTC/USDT","t":1699540020,"o":220.06,"h":220.13,"l":219.92,"c":219.96,"v":4572}',
    ],
}  # fmt: skip
SUBSCRIPTIONS: dict[str, list[Subscription]] = {
    "alltick": [Subscription("trades", "BTCUSDT"), Subscription("book", "BTCUSDT", depth=5)],
    "cryptomus": [Subscription("trades", "BTC_USDT"), Subscription("book", "BTC_USDT")],
    "finazon": [Subscription("bars", "BTC/USDT", interval="1s")],
}


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_every_registered_codec_passes_the_conformance_check(name: str) -> None:
    check_codec(make_codec(name), DOCUMENTED[name], SUBSCRIPTIONS[name])


def test_the_conformance_check_covers_every_registered_provider() -> None:
    # A new provider must bring its documented frames here.
    assert sorted(DOCUMENTED) == sorted(PROVIDERS)


def test_the_conformance_check_returns_what_each_frame_decoded_to() -> None:
    decoded = check_codec(CryptomusCodec(), DOCUMENTED["cryptomus"][1:2])
    assert decoded == [[
        ev.Trade(venue="cryptomus", instrument="BTC/USDT", symbol="BTC_USDT",
                 ts_event_ns=1_750_953_177 * NS, ts_recv_ns=1_000, price=107100.01,
                 size=0.000254, side="buy")
    ]]  # fmt: skip


# --- the conformance check catches broken codecs ------------------------------------------------


class _RaisesOnEmpty(CryptomusCodec):
    def decode(self, frame, ts_recv_ns):  # type: ignore[no-untyped-def]
        if not frame:
            raise IndexError("empty")
        return super().decode(frame, ts_recv_ns)


class _WrongVenue(CryptomusCodec):
    def decode(self, frame, ts_recv_ns):  # type: ignore[no-untyped-def]
        return [msgspec.structs.replace(e, venue="elsewhere") if isinstance(e, ev.Trade) else e
                for e in super().decode(frame, ts_recv_ns)]  # fmt: skip


class _RemembersAcrossReset(CryptomusCodec):
    seen = 0

    def decode(self, frame, ts_recv_ns):  # type: ignore[no-untyped-def]
        self.seen += 1
        return [msgspec.structs.replace(e, size=float(self.seen)) if isinstance(e, ev.Trade)
                else e for e in super().decode(frame, ts_recv_ns)]  # fmt: skip


class _KeyInPlainSight(CryptomusCodec):
    def url(self, subs, host="", key=""):  # type: ignore[no-untyped-def]
        return f"wss://api-ws.cryptomus.com/ws?auth={key}"


class _RefusesDocumentedTrades(CryptomusCodec):
    def decode(self, frame, ts_recv_ns):  # type: ignore[no-untyped-def]
        if b"trade_update" in bytes(frame if not isinstance(frame, str) else frame.encode()):
            raise ProviderProtocolError("cryptomus", frame, "refused")
        return super().decode(frame, ts_recv_ns)


@pytest.mark.parametrize(
    ("codec", "complaint"),
    [
        (_RaisesOnEmpty(), "decode raised IndexError \\(not ProviderProtocolError\\) on ''"),
        (_WrongVenue(), "frame 1: venue 'elsewhere'"),
        (_RemembersAcrossReset(), "decodes differently after reset\\(\\) or as bytes/Raw"),
        (_KeyInPlainSight(), "url\\(\\) puts the key where redaction misses it"),
        (_RefusesDocumentedTrades(), "documented frame 1 was refused"),
    ],
    ids=["other-exception", "wrong-venue", "hidden-state", "leaked-key", "refuses-docs"],
)
def test_the_conformance_check_names_the_broken_promise(codec: object, complaint: str) -> None:
    with pytest.raises(AssertionError, match=f"^cryptomus: {complaint}"):
        check_codec(codec, DOCUMENTED["cryptomus"], SUBSCRIPTIONS["cryptomus"])  # type: ignore[arg-type]


# --- scenarios are written in the providers' wire formats ---------------------------------------


def payloads(scenario: Scenario) -> list[tuple[int, str, dict[str, object]]]:
    return [(line.t - T0_NS, line.p, json.loads(bytes(line.payload())))  # type: ignore[arg-type]
            for line in scenario.lines() if isinstance(line, Frame)]  # fmt: skip


def test_a_trade_is_a_cryptomus_trade_update() -> None:
    scenario = Scenario("BTC/USDT").trade(2.5, 107100.01, 0.000254, "sell")
    assert payloads(scenario) == [(
        2_500_000_000, "cryptomus",
        {"id": 0, "method": "trade_update", "data": {"symbol": "BTC_USDT",
         "timestamp": DEFAULT_START_S + 2, "trades": [{"price": 107100.01, "quantity": 0.000254,
         "timestamp": DEFAULT_START_S + 2, "direction": "sell"}]}, "error": None},
    )]  # fmt: skip


def test_a_book_is_a_full_reload_and_a_book_update_a_partial_one() -> None:
    scenario = (
        Scenario("ETH/USDT")
        .book(0, bids=[(99.5, 2)], asks=[("100.25", Decimal("1.5"))])
        .book_update(1, asks=[(100.25, 0)])
    )
    assert payloads(scenario) == [
        (0, "cryptomus", {"id": 0, "method": "depth_update", "data": {"symbol": "ETH_USDT",
         "timestamp": DEFAULT_START_S, "full_reload": True, "scale_index": 0,
         "asks": [["100.25", "1.5"]], "bids": [["99.5", "2"]]}, "error": None}),
        (NS, "cryptomus", {"id": 0, "method": "depth_update", "data": {"symbol": "ETH_USDT",
         "timestamp": DEFAULT_START_S + 1, "full_reload": False, "scale_index": 0,
         "asks": [["100.25", "0"]], "bids": []}, "error": None}),
    ]  # fmt: skip


def test_a_bar_arrives_at_its_close_followed_by_the_next_bars_opening_push() -> None:
    scenario = Scenario("BTC/USDT").bar(0, 10, 12, 9, 11, 5)
    candle = {"d": "csv", "p": "csv", "ch": "bars", "f": "1m", "aggr": "1m", "s": "BTC/USDT"}
    assert payloads(scenario) == [
        (60 * NS, "finazon", {**candle, "t": DEFAULT_START_S, "o": 10.0, "h": 12.0, "l": 9.0,
                               "c": 11.0, "v": 5.0}),
        (60 * NS, "finazon", {**candle, "t": DEFAULT_START_S + 60, "o": 11.0, "h": 11.0,
                               "l": 11.0, "c": 11.0, "v": 0.0}),
    ]  # fmt: skip


def test_items_are_delivered_in_time_order_ties_in_the_order_added() -> None:
    scenario = Scenario().trade(5, 1, 1).tick(3).bar(0, 1, 1, 1, 1).trade(60, 2, 1).tick(1)
    assert [(line.t - T0_NS) // NS for line in scenario.lines()] == [1, 3, 5, 60, 60, 60]
    assert [type(line).__name__ for line in scenario.lines()][3:] == ["Frame"] * 3
    assert [line.p for line in scenario.lines()[3:]] == ["finazon", "finazon", "cryptomus"]  # type: ignore[union-attr]


def test_the_header_names_the_providers_and_subscriptions_used() -> None:
    header = Scenario("BTC/USDT").trade(0, 1, 1).book(0, [], []).bar(0, 1, 1, 1, 1).header()
    assert [(p.name, p.subscriptions, p.options) for p in header.providers] == [
        ("cryptomus", (Subscription("trades", "BTC_USDT"), Subscription("book", "BTC_USDT")), {}),
        ("finazon", (Subscription("bars", "BTC/USDT", interval="1m"),), {"dataset": "csv"}),
    ]


def test_a_written_scenario_is_a_readable_recording(tmp_path: Path) -> None:
    path = Scenario().trade(0, 100, 1).write(tmp_path / "s.jsonl")
    with RecordingReader(path) as reader:
        assert [line.t for line in reader] == [T0_NS]


@pytest.mark.parametrize(
    ("build", "complaint"),
    [
        (lambda s: s.bar(0.5, 1, 1, 1, 1), "bars open on whole seconds"),
        (lambda s: s.bar(0, 1, 1, 1, 1).bar(30, 1, 1, 1, 1), "starts before the previous bar"),
        (lambda s: s.trade(-1, 1, 1), "is before the start"),
    ],
    ids=["fractional-bar", "overlapping-bars", "negative-time"],
)
def test_scenario_mistakes_are_config_errors(build: object, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        build(Scenario())  # type: ignore[operator]


# --- running strategies ---------------------------------------------------------------------------


class BuyOnFirstTrade(Strategy):
    """Buys ``size`` BTC at market on the first trade; sells ``sell_first`` before, if set."""

    size = param("0.01")
    sell_first = param(False)

    def on_start(self) -> None:
        self.done = False

    def on_trade(self, trade: ev.Trade) -> None:
        if self.done:
            return
        self.done = True
        if self.sell_first:
            self.sell_market("BTC/USDT", "0.01")
        self.buy_market("BTC/USDT", quantity=self.size)


class Raises(Strategy):
    def on_trade(self, trade: ev.Trade) -> None:
        raise ValueError("boom")


BOOK_AND_TRADE = Scenario("BTC/USDT").book(0, [(100.0, 1.0)], [(101.0, 1.0)]).trade(1, 100.5, 0.1)


def test_a_market_buy_fills_at_the_best_ask_and_pays_the_taker_fee(tmp_path: Path) -> None:
    result = run_strategy(BuyOnFirstTrade, BOOK_AND_TRADE, tmp_path=tmp_path)
    # 0.01 x 101 = 1.01 USDT, fee 0.1 % = 0.00101: 10000 - 1.01 - 0.00101 = 9998.98899
    assert [(f.direction, f.role, f.price, f.quantity, f.value, f.fee) for f in result.fills] == [
        ("buy", "taker", Decimal("101"), Decimal("0.01"), Decimal("1.01"), Decimal("0.00101"))
    ]
    assert (result.balances["USDT"], result.position("BTC/USDT")) == (
        Decimal("9998.98899"),
        Decimal("0.01"),
    )


def test_orders_hold_each_orders_last_state_in_creation_order(tmp_path: Path) -> None:
    result = run_strategy(BuyOnFirstTrade, BOOK_AND_TRADE, tmp_path=tmp_path)
    assert [(o.orderType, o.direction, o.filledQuantity, o.state) for o in result.orders] == [
        ("market", "buy", "0.0100000000000000", "completed")
    ]


def test_events_are_the_private_events_in_order(tmp_path: Path) -> None:
    result = run_strategy(BuyOnFirstTrade, BOOK_AND_TRADE, tmp_path=tmp_path)
    updates = [e.data.type for e in result.events if isinstance(e, ev.OrderUpdate)]
    assert updates == ["created", "finished"]
    assert isinstance(result.events[0], ev.OrderUpdate)
    assert sum(isinstance(e, ev.DealUpdate) for e in result.events) == 1
    assert len(result.events) == len((tmp_path / "out" / "events.jsonl").read_bytes().splitlines())


def test_rejections_are_collected_and_named_by_the_assertion(tmp_path: Path) -> None:
    result = run_strategy(BuyOnFirstTrade, BOOK_AND_TRADE, params={"sell_first": True})
    assert [(r.code, r.direction) for r in result.rejections] == [(6, "sell")]
    with pytest.raises(AssertionError, match=r"1 rejected: market sell BTC_USDT: \[6\]"):
        result.assert_no_rejections()


def test_params_reach_the_strategy_instance() -> None:
    result = run_strategy(BuyOnFirstTrade, BOOK_AND_TRADE, params={"size": "0.02"})
    assert result.strategy.size == "0.02"  # type: ignore[attr-defined]
    assert result.position("BTC/USDT") == Decimal("0.02")


def test_assert_balance_shows_the_run_when_it_fails() -> None:
    result = run_strategy(BuyOnFirstTrade, BOOK_AND_TRADE)
    with pytest.raises(AssertionError, match=r"(?s)USDT balance is 9998\.98899.*fill buy 0\.01"):
        result.assert_balance("USDT", "10000")


def test_output_files_are_kept_only_under_a_given_directory(tmp_path: Path) -> None:
    kept = run_strategy(BuyOnFirstTrade, BOOK_AND_TRADE, tmp_path=tmp_path)
    assert kept.out_dir == tmp_path / "out"
    assert (tmp_path / "out" / "summary.json").is_file()
    assert run_strategy(BuyOnFirstTrade, BOOK_AND_TRADE).out_dir is None


@pytest.mark.parametrize("finalize", [False, True])
def test_a_recording_replays_exactly_as_papertrade_run_replays_it(
    tmp_path: Path, finalize: bool
) -> None:
    recording = BOOK_AND_TRADE.write(tmp_path / "s.jsonl")
    config = Config(run=RunConfig(finalize=finalize))
    setup = RunSetup(strategies=(BuyOnFirstTrade,), strategy_sources={}, config=config, seed=3)
    replay(setup, recording, tmp_path / "cli")
    run_strategy(BuyOnFirstTrade, recording, config=config, seed=3, tmp_path=tmp_path / "kit")
    assert (tmp_path / "kit" / "out" / "events.jsonl").read_bytes() == (
        tmp_path / "cli" / "events.jsonl"
    ).read_bytes()


def test_a_strategy_that_raises_stops_the_run_with_a_strategy_error() -> None:
    with pytest.raises(
        StrategyError,
        match=r"'Raises' raised ValueError: boom at .*test_testing\.py:\d+ in on_trade",
    ):
        run_strategy(Raises, BOOK_AND_TRADE)


def test_a_scenario_frame_the_codec_refuses_is_a_config_error() -> None:
    scenario = Scenario().trade(0, 100.0, 1.0, "sideways")  # Cryptomus directions: buy, sell
    with pytest.raises(ConfigError, match="1 scenario frame\\(s\\) did not decode"):
        run_strategy(BuyOnFirstTrade, scenario)
