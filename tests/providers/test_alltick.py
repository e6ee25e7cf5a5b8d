"""AllTick codec: the documented frames in, the documented requests out, and nothing else.

Frames are quoted from the protocol digest (section 1) and the AllTick seed page; expected
events are worked out by hand. ``tick_time`` 1605509068 is ten digits, so it is read as
seconds: 1_605_509_068_000_000_000 ns.
"""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import events as ev
from framework.errors import ConfigError, ProviderProtocolError
from framework.instruments import QUOTE_CURRENCIES, from_alltick, to_alltick
from framework.providers.alltick import (
    AllTickCodec,
    Cancel,
    CancelData,
    DepthSubscribe,
    DepthSubscribeData,
    DepthSymbol,
    Empty,
    Heartbeat,
    OrderBook,
    OrderBookPush,
    PriceLevel,
    TradeSubscribe,
    TradeSubscribeData,
    TradeSymbol,
    TradeTick,
    TradeTickPush,
    decode_request,
    endpoint,
)
from framework.providers.base import Ack, ErrorReply, Pong, Subscription
from framework.recording import frame_from_wire

DOC_TRADE = '{"cmd_id":22998,"data":{"code":"1288.HK","seq":1605509068000001,"tick_time":1605509068,"price":"651.12","volume":"300","turnover":"12345.6","trade_direction":1}}'
DOC_BOOK = '{"cmd_id":22999,"data":{"code":"HK-1288","seq":1605509068000001,"tick_time":1605509068,"bids":[{"price":"9.12","volume":"9.12"}],"asks":[{"price":"147.12","volume":"147.12"}]}}'
DOC_DEPTH_SUB = '{"cmd_id":22002,"seq_id":123,"trace":"asdfsdfa","data":{"symbol_list":[{"code":"700.HK","depth_level":5},{"code":"UNH.US","depth_level":5}]}}'
DOC_TRADE_SUB = '{"cmd_id":22004,"seq_id":106254124,"trace":"3baaa938-f92c-4a74-a228-fd49d5e2","data":{"symbol_list":[{"code":"1288.HK"},{"code":"AAPL.US"}]}}'
DOC_CANCEL = '{"cmd_id":22006,"seq_id":123,"trace":"asdfsdfa","data":{"cancel_type":1}}'
DOC_HEARTBEAT = '{"cmd_id": 22000, "seq_id": 123, "trace": "3baaa938-f92c-4a74-a228-fd49d5e2f8bc-1678419657806", "data": {}}'
SEED_JAVA_DEPTH_SUB = '{"cmd_id": 22002, "seq_id": 123,"trace":"3baaa938-f92c-4a74-a228-fd49d5e2f8bc-1678419657806","data":{"symbol_list":[{"code": "700.HK","depth_level": 5},{"code": "UNH.US","depth_level": 5}]}}'
SEED_PHP_DEPTH_SUB = '{"cmd_id":22002,"seq_id":123,"trace":"3baaa938-f92c-4a74-a228-fd49d5e2f8bc-1678419657806","data":{"symbol_list":[{"code":"700.HK","depth_level":5},{"code":"AAPL.US","depth_level":5}]}}'
DOC_SECONDS_NS = 1_605_509_068_000_000_000
SETTINGS = settings(max_examples=300, derandomize=True, database=None, deadline=None)


def book(symbol: str, depth: int = 0) -> Subscription:
    return Subscription("book", symbol, depth)


def trades(symbol: str) -> Subscription:
    return Subscription("trades", symbol)


def with_ids(documented: str, seq_id: int, trace: str) -> str:
    """The documented request, compact, with our seq_id and trace in place of the example's."""
    obj = json.loads(documented)
    obj["seq_id"], obj["trace"] = seq_id, trace
    return json.dumps(obj, separators=(",", ":"))


def protocol_error(frame: str | bytes) -> ProviderProtocolError:
    with pytest.raises(ProviderProtocolError) as info:
        AllTickCodec().decode(frame, 1_000)
    return info.value


# --- replies --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ('{"ret":200,"msg":"ok","cmd_id":22003,"seq_id":123,"trace":"asdfsdfa","data":{}}',
         Ack("alltick", 123, "22003")),
        ('{"ret":200,"msg":"ok","cmd_id":22005,"seq_id":106254124,"trace":"3baaa938-f92c-4a74-a228-fd49d5e2","data":{}}',
         Ack("alltick", 106254124, "22005")),
        ('{"ret":200,"msg":"ok","cmd_id":22007,"seq_id":123,"trace":"asdfsdfa","data":{}}',
         Ack("alltick", 123, "22007")),
    ],
    ids=["depth-subscribe", "trade-subscribe", "cancel"],
)  # fmt: skip
def test_an_ok_reply_is_an_ack_of_its_request(frame: str, expected: Ack) -> None:
    assert AllTickCodec().decode(frame, 1_000) == [expected]


def test_heartbeat_reply_is_a_pong() -> None:
    frame = '{"ret": 200, "msg": "ok", "cmd_id": 22001, "seq_id": 123, "trace": "3baaa938-...", "data": {}}'
    assert AllTickCodec().decode(frame, 1_000) == [Pong("alltick", 123)]


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ('{"ret":201,"msg":"request header param invalid","cmd_id":0,"seq_id":0,"trace":"","data":{}}',
         ErrorReply("alltick", 201, "request header param invalid", None)),
        ('{"ret":400,"msg":"request header param invalid","cmd_id":0,"seq_id":0,"trace":"","data":{}}',
         ErrorReply("alltick", 400, "request header param invalid", None)),
        ('{"ret":401,"msg":"token invalid","cmd_id":0,"seq_id":0,"trace":"","data":{}}',
         ErrorReply("alltick", 401, "token invalid", None)),
        ('{"ret":600,"msg":"code invalid","cmd_id":22005,"seq_id":7,"trace":"papertrade-1-7","data":{}}',
         ErrorReply("alltick", 600, "code invalid", 7)),
        ('{"ret":429,"msg":"rate limit","cmd_id":22001,"seq_id":3,"trace":"papertrade-1-3","data":{}}',
         ErrorReply("alltick", 429, "rate limit", 3)),
    ],
    ids=["header-201", "header-400", "token-401", "code-600-on-22005", "rate-429-on-22001"],
)  # fmt: skip
def test_a_failed_reply_is_an_error_tied_to_its_request_if_any(
    frame: str, expected: ErrorReply
) -> None:
    assert AllTickCodec().decode(frame, 1_000) == [expected]


# --- trade pushes ---------------------------------------------------------------------------


def test_documented_trade_push_is_a_buy_trade() -> None:
    assert AllTickCodec().decode(DOC_TRADE, 1_000) == [
        ev.Trade(
            venue="alltick", instrument="1288.HK", symbol="1288.HK", ts_event_ns=DOC_SECONDS_NS,
            ts_recv_ns=1_000, price=651.12, size=300.0, side="buy",
        )
    ]  # fmt: skip


def test_crypto_trade_push_is_a_sell_trade() -> None:
    frame = '{"cmd_id":22998,"data":{"code":"BTCUSDT","seq":30841439,"tick_time":1677831545217,"price":"23412.5","volume":"0.013","turnover":"304.3625","trade_direction":2}}'
    assert AllTickCodec().decode(frame, 9) == [
        ev.Trade(
            venue="alltick", instrument="BTC/USDT", symbol="BTCUSDT",
            ts_event_ns=1_677_831_545_217_000_000, ts_recv_ns=9, price=23412.5, size=0.013,
            side="sell",
        )
    ]  # fmt: skip


def test_forex_trade_without_turnover_and_direction_0_has_no_side() -> None:
    frame = '{"cmd_id":22998,"data":{"code":"EURUSD","seq":1,"tick_time":1677831545217,"price":"1.06215","volume":"0","trade_direction":0}}'
    assert AllTickCodec().decode(frame, 5) == [
        ev.Trade(
            venue="alltick", instrument="EUR/USD", symbol="EURUSD",
            ts_event_ns=1_677_831_545_217_000_000, ts_recv_ns=5, price=1.06215, size=0.0, side="",
        )
    ]  # fmt: skip


def test_trade_direction_as_a_string_as_the_gitbook_types_it() -> None:
    frame = '{"cmd_id":22998,"data":{"code":"GOLD","seq":1,"tick_time":1677831545217,"price":"1830.5","volume":"1","trade_direction":"2"}}'
    [trade] = AllTickCodec().decode(frame, 1_000)
    assert isinstance(trade, ev.Trade)
    assert (trade.instrument, trade.side) == ("GOLD", "sell")


@pytest.mark.parametrize(
    ("seq", "tick_time", "ts_event_ns"),
    [
        ("1605509068000001", "1605509068", DOC_SECONDS_NS),  # GitBook strings, ten digits
        ("30841439", "1677831545217", 1_677_831_545_217_000_000),  # as REST answers write it
        ("30841439", "9223372036", 9_223_372_036_000_000_000),  # seconds, inside 64-bit ns
        ("30841439", "100000000000", 100_000_000_000_000_000),  # 1e11: milliseconds
    ],
)
def test_string_seq_and_tick_time_are_read_as_documented(
    seq: str, tick_time: str, ts_event_ns: int
) -> None:
    frame = DOC_TRADE.replace('"seq":1605509068000001', f'"seq":"{seq}"')
    frame = frame.replace('"tick_time":1605509068', f'"tick_time":"{tick_time}"')
    [trade] = AllTickCodec().decode(frame, 1_000)
    assert isinstance(trade, ev.Trade)
    assert (trade.ts_event_ns, trade.price, trade.size) == (ts_event_ns, 651.12, 300.0)


# --- order-book pushes --------------------------------------------------------------------------


def test_documented_book_push_maps_hk_dash_code_to_the_hk_instrument() -> None:
    assert AllTickCodec().decode(DOC_BOOK, 1_000) == [
        ev.BookSnapshot(
            venue="alltick", instrument="1288.HK", symbol="HK-1288", ts_event_ns=DOC_SECONDS_NS,
            ts_recv_ns=1_000, bids=((9.12, 9.12),), asks=((147.12, 147.12),),
        )
    ]  # fmt: skip


def test_book_push_keeps_every_level_in_order() -> None:
    frame = '{"cmd_id":22999,"data":{"code":"ETHUSDT","seq":"88","tick_time":"1677831545217","bids":[{"price":"1563.2","volume":"1.5"},{"price":"1563.1","volume":"0.25"},{"price":"1562.9","volume":"3"}],"asks":[{"price":"1563.3","volume":"2"},{"price":"1563.5","volume":"0.125"}]}}'
    assert AllTickCodec().decode(frame, 2) == [
        ev.BookSnapshot(
            venue="alltick", instrument="ETH/USDT", symbol="ETHUSDT",
            ts_event_ns=1_677_831_545_217_000_000, ts_recv_ns=2,
            bids=((1563.2, 1.5), (1563.1, 0.25), (1562.9, 3.0)),
            asks=((1563.3, 2.0), (1563.5, 0.125)),
        )
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("code", "sides", "bids", "asks"),
    [
        ("USDJPY", '"bids":[{"price":"149.512"}],"asks":[{"price":"149.518"}]',
         ((149.512, ev.UNKNOWN_SIZE),), ((149.518, ev.UNKNOWN_SIZE),)),
        ("Silver", '"bids":[{"price":"23.41","volume":"0"}],"asks":[{"price":"23.43","volume":"0"}]',
         ((23.41, ev.UNKNOWN_SIZE),), ((23.43, ev.UNKNOWN_SIZE),)),
        ("600519.SH", '"bids":[{"price":"1850.00","volume":"1200"}],"asks":[{"price":"0","volume":"0"}]',
         ((1850.0, 1200.0),), ()),
        ("000627.SZ", '"bids":[],"asks":[{"price":"2.5","volume":"100"}]', (), ((2.5, 100.0),)),
        ("000627.SZ", '"bids":[{"price":"0","volume":"0"}],"asks":[{"price":"0","volume":"0"}]',
         (), ()),
    ],
    ids=["forex-no-volume", "metal-volume-0", "limit-up-zero-ask", "empty-bids", "delisted"],
)  # fmt: skip
def test_book_levels_follow_the_documented_market_conventions(
    code: str, sides: str, bids: tuple[ev.Level, ...], asks: tuple[ev.Level, ...]
) -> None:
    frame = f'{{"cmd_id":22999,"data":{{"code":"{code}","seq":1,"tick_time":1,{sides}}}}}'
    [snap] = AllTickCodec().decode(frame, 1_000)
    assert isinstance(snap, ev.BookSnapshot)
    # size unknown is NaN, never 0: compared by its text, since NaN equals nothing
    assert (snap.symbol, repr(snap.bids), repr(snap.asks)) == (code, repr(bids), repr(asks))


def test_a_recorded_frame_decodes_as_the_live_one() -> None:
    raw = frame_from_wire("alltick", 1, 1_000, DOC_TRADE).payload()
    assert isinstance(raw, msgspec.Raw)
    codec = AllTickCodec()
    assert codec.decode(raw, 1_000) == codec.decode(DOC_TRADE.encode(), 1_000)


# --- outbound requests ----------------------------------------------------------------------


def test_depth_subscribe_is_the_documented_request() -> None:
    frames = AllTickCodec().subscribe([book("700.HK", 5), book("UNH.US", 5)])
    assert frames == [with_ids(DOC_DEPTH_SUB, 1, "papertrade-1-1")]


def test_depth_subscribe_is_the_seed_request() -> None:
    frames = AllTickCodec().subscribe([book("700.HK", 5), book("AAPL.US", 5)])
    assert frames == [with_ids(SEED_PHP_DEPTH_SUB, 1, "papertrade-1-1")]


def test_trade_subscribe_is_the_documented_request() -> None:
    frames = AllTickCodec().subscribe([trades("1288.HK"), trades("AAPL.US")])
    assert frames == [with_ids(DOC_TRADE_SUB, 1, "papertrade-1-1")]


def test_cancelling_the_last_depth_code_is_the_documented_cancel() -> None:
    codec = AllTickCodec()
    codec.subscribe([book("700.HK", 5)])
    assert codec.unsubscribe([book("700.HK", 5)]) == [with_ids(DOC_CANCEL, 2, "papertrade-1-2")]


def test_heartbeat_is_the_documented_request() -> None:
    assert AllTickCodec().heartbeat() == with_ids(DOC_HEARTBEAT, 1, "papertrade-1-1")


def test_depth_without_a_level_leaves_depth_level_to_the_server() -> None:
    [frame] = AllTickCodec().subscribe([book("EURUSD")])
    assert json.loads(frame)["data"] == {"symbol_list": [{"code": "EURUSD"}]}


def test_subscribing_more_resends_the_complete_list() -> None:
    codec = AllTickCodec()
    codec.subscribe([trades("1288.HK")])
    [frame] = codec.subscribe([trades("AAPL.US")])
    assert json.loads(frame)["data"] == {"symbol_list": [{"code": "1288.HK"}, {"code": "AAPL.US"}]}


def test_subscribing_again_to_the_same_sends_nothing() -> None:
    codec = AllTickCodec()
    codec.subscribe([book("700.HK", 5), trades("700.HK")])
    assert codec.subscribe([book("700.HK", 5), trades("700.HK")]) == []


def test_changing_a_depth_resends_the_depth_list_in_its_order() -> None:
    codec = AllTickCodec()
    codec.subscribe([book("700.HK", 5), book("UNH.US", 1)])
    [frame] = codec.subscribe([book("700.HK", 10)])
    assert json.loads(frame)["data"]["symbol_list"] == [
        {"code": "700.HK", "depth_level": 10},
        {"code": "UNH.US", "depth_level": 1},
    ]


def test_both_kinds_at_once_send_depth_then_trades_as_the_go_example() -> None:
    frames = AllTickCodec().subscribe([trades("GOLD"), book("GOLD", 1)])
    assert [json.loads(f)["cmd_id"] for f in frames] == [22002, 22004]


def test_unsubscribing_part_resends_the_remainder() -> None:
    codec = AllTickCodec()
    codec.subscribe([trades("BTCUSDT"), trades("ETHUSDT")])
    [frame] = codec.unsubscribe([trades("BTCUSDT")])
    assert json.loads(frame) == {
        "cmd_id": 22004, "seq_id": 2, "trace": "papertrade-1-2",
        "data": {"symbol_list": [{"code": "ETHUSDT"}]},
    }  # fmt: skip


def test_unsubscribing_the_last_trade_code_cancels_trades_only() -> None:
    codec = AllTickCodec()
    codec.subscribe([trades("BTCUSDT"), book("BTCUSDT", 5)])
    [frame] = codec.unsubscribe([trades("BTCUSDT")])
    assert json.loads(frame)["data"] == {"cancel_type": 2}


def test_unsubscribing_everything_cancels_all_in_one_request() -> None:
    codec = AllTickCodec()
    codec.subscribe([trades("BTCUSDT"), book("BTCUSDT", 5)])
    frames = codec.unsubscribe([trades("BTCUSDT"), book("BTCUSDT", 5)])
    cancel_all = '{"cmd_id":22006,"seq_id":3,"trace":"papertrade-1-3","data":{"cancel_type":0}}'
    assert frames == [cancel_all]


def test_unsubscribing_what_was_never_subscribed_sends_nothing() -> None:
    codec = AllTickCodec()
    codec.subscribe([trades("BTCUSDT")])
    assert codec.unsubscribe([trades("ETHUSDT"), book("BTCUSDT")]) == []


def test_every_request_takes_the_next_seq_id_and_a_unique_trace() -> None:
    codec = AllTickCodec()
    frames = [codec.heartbeat(), *codec.subscribe([trades("GOLD")]), codec.heartbeat()]
    ids = [(json.loads(f)["seq_id"], json.loads(f)["trace"]) for f in frames]
    assert ids == [(1, "papertrade-1-1"), (2, "papertrade-1-2"), (3, "papertrade-1-3")]


def test_reset_forgets_subscriptions_and_starts_a_new_connection() -> None:
    codec = AllTickCodec()
    codec.subscribe([trades("GOLD"), trades("Silver")])
    codec.reset()
    [frame] = codec.subscribe([trades("Silver")])
    assert json.loads(frame) == {
        "cmd_id": 22004, "seq_id": 1, "trace": "papertrade-2-1",
        "data": {"symbol_list": [{"code": "Silver"}]},
    }  # fmt: skip


def test_our_requests_decode_as_documented_requests() -> None:
    codec = AllTickCodec()
    frames = [*codec.subscribe([book("700.HK", 5), trades("700.HK")]), codec.heartbeat()]
    frames += codec.unsubscribe([book("700.HK", 5), trades("700.HK")])
    assert [decode_request(f) for f in frames] == [
        DepthSubscribe(1, "papertrade-1-1", DepthSubscribeData((DepthSymbol("700.HK", 5),))),
        TradeSubscribe(2, "papertrade-1-2", TradeSubscribeData((TradeSymbol("700.HK"),))),
        Heartbeat(3, "papertrade-1-3", Empty()),
        Cancel(4, "papertrade-1-4", CancelData(0)),
    ]


def test_a_channel_alltick_does_not_push_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'bars'"):
        AllTickCodec().subscribe([Subscription("bars", "AAPL.US", interval="1m")])


def test_stock_and_forex_codes_on_one_connection_is_a_config_error() -> None:
    codec = AllTickCodec()
    codec.subscribe([trades("USDJPY")])
    with pytest.raises(ConfigError, match=r"700\.HK.*USDJPY"):
        codec.subscribe([book("700.HK", 5)])


def test_unsubscribing_a_channel_alltick_does_not_push_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'ticker'"):
        AllTickCodec().unsubscribe([Subscription("ticker", "BTCUSDT")])


def test_a_rejected_subscribe_leaves_the_subscriptions_as_they_were() -> None:
    codec = AllTickCodec()
    codec.subscribe([trades("USDJPY")])
    with pytest.raises(ConfigError):
        codec.subscribe([trades("EURUSD"), trades("700.HK")])
    [frame] = codec.subscribe([trades("EURUSD")])
    assert json.loads(frame)["data"] == {"symbol_list": [{"code": "USDJPY"}, {"code": "EURUSD"}]}


# --- endpoints ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind"),
    [("AAPL.US", "stock"), ("700.HK", "stock"), ("HK-1288", "stock"), ("600519.SH", "stock"),
     ("000627.SZ", "stock"), ("USDJPY", "forex"), ("BTCUSDT", "forex"), ("GOLD", "forex"),
     ("Silver", "forex"), ("USOIL", "forex")],
)  # fmt: skip
def test_endpoint_of_documented_codes(code: str, kind: str) -> None:
    assert endpoint(code) == kind


def test_stock_url_on_the_default_host() -> None:
    url = AllTickCodec().url([book("700.HK", 5)], "", "testtoken")
    assert url == "wss://quote.alltick.io/quote-stock-b-ws-api?token=testtoken"


def test_forex_url_on_a_given_host() -> None:
    url = AllTickCodec().url([trades("GOLD")], "quote.alltick.co", "testtoken")
    assert url == "wss://quote.alltick.co/quote-b-ws-api?token=testtoken"


def test_url_on_a_loopback_emulator_base() -> None:
    url = AllTickCodec().url([trades("BTCUSDT")], "ws://127.0.0.1:8765/", "t")
    assert url == "ws://127.0.0.1:8765/quote-b-ws-api?token=t"


def test_url_escapes_the_token() -> None:
    url = AllTickCodec().url([trades("AAPL.US")], "quote.alltick.io", "a&b c")
    assert url == "wss://quote.alltick.io/quote-stock-b-ws-api?token=a%26b%20c"


def test_url_for_stock_and_forex_codes_names_them() -> None:
    with pytest.raises(ConfigError, match=r"AAPL\.US.*EURUSD"):
        AllTickCodec().url([trades("EURUSD"), book("AAPL.US", 1)], "", "k")


def test_url_without_codes_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="at least one code"):
        AllTickCodec().url([], "", "k")


# --- client requests, for the emulator ------------------------------------------------------


def test_seed_depth_request_decodes() -> None:
    assert decode_request(SEED_JAVA_DEPTH_SUB) == DepthSubscribe(
        123,
        "3baaa938-f92c-4a74-a228-fd49d5e2f8bc-1678419657806",
        DepthSubscribeData((DepthSymbol("700.HK", 5), DepthSymbol("UNH.US", 5))),
    )


def test_documented_trade_request_decodes() -> None:
    assert decode_request(DOC_TRADE_SUB) == TradeSubscribe(
        106254124,
        "3baaa938-f92c-4a74-a228-fd49d5e2",
        TradeSubscribeData((TradeSymbol("1288.HK"), TradeSymbol("AAPL.US"))),
    )


def test_documented_cancel_request_decodes() -> None:
    assert decode_request(DOC_CANCEL) == Cancel(123, "asdfsdfa", CancelData(1))


def test_seed_go_heartbeat_decodes_although_go_marshals_an_empty_symbol_list() -> None:
    # The Go example sends Data{} for the heartbeat; encoding/json writes a nil slice as null.
    frame = '{"cmd_id":22000,"seq_id":123,"trace":"3380a7a-3e1f-c3a5-5ee3-9e5be0ec8c241692805462","data":{"symbol_list":null}}'
    assert decode_request(frame) == Heartbeat(
        123, "3380a7a-3e1f-c3a5-5ee3-9e5be0ec8c241692805462", Empty()
    )


@pytest.mark.parametrize(
    ("frame", "path"),
    [
        ('{"cmd_id":22010,"seq_id":1,"trace":"t","data":{}}', "$.cmd_id"),
        ('{"cmd_id":22006,"seq_id":1,"trace":"t","data":{"cancel_type":3}}', "$.data.cancel_type"),
        ('{"cmd_id":22000,"seq_id":1,"trace":"' + "t" * 65 + '","data":{}}', "$.trace"),
        ('{"cmd_id":22000,"seq_id":-1,"trace":"t","data":{}}', "$.seq_id"),
        ('{"cmd_id":22000,"seq_id":1,"trace":"t"}', "$"),
        ('{"cmd_id":22004,"seq_id":1,"trace":"t","data":[]}', "$.data"),
    ],
    ids=["unknown-cmd", "cancel-type", "long-trace", "negative-seq", "no-data", "data-array"],
)
def test_an_undocumented_request_names_the_offending_field(frame: str, path: str) -> None:
    with pytest.raises(ProviderProtocolError) as info:
        decode_request(frame)
    assert info.value.path == path


# --- server frames, for the emulator --------------------------------------------------------


def test_trade_push_encodes_as_documented() -> None:
    push = TradeTickPush(
        TradeTick(code="1288.HK", seq=1605509068000001, tick_time=1605509068, price="651.12",
                  volume="300", turnover="12345.6", trade_direction=1)
    )  # fmt: skip
    assert msgspec.json.encode(push).decode() == DOC_TRADE


def test_book_push_encodes_as_documented() -> None:
    data = OrderBook("HK-1288", 1605509068000001, 1605509068, (PriceLevel("9.12", "9.12"),),
                     (PriceLevel("147.12", "147.12"),))  # fmt: skip
    assert msgspec.json.encode(OrderBookPush(data)).decode() == DOC_BOOK


# --- frames that break the documentation ----------------------------------------------------


@pytest.mark.parametrize("frame", ["", b""], ids=["str", "bytes"])
def test_an_empty_frame_is_a_protocol_error(frame: str | bytes) -> None:
    assert protocol_error(frame).reason == "empty frame"


@pytest.mark.parametrize(
    ("frame", "path"),
    [
        ('{"cmd_id":22998,"data":{"code":"1288.HK","seq":1,"tick_time":1,"price":651.12,"volume":"300","trade_direction":1}}', "$.data.price"),
        ('{"cmd_id":22998,"data":{"seq":1,"tick_time":1,"price":"651.12","volume":"300","trade_direction":1}}', "$.data"),
        ('{"cmd_id":22998,"data":{"code":"1288.HK","seq":1,"tick_time":1,"price":"abc","volume":"300","trade_direction":1}}', "$.data.price"),
        ('{"cmd_id":22998,"data":{"code":"1288.HK","seq":1,"tick_time":1,"price":"nan","volume":"300","trade_direction":1}}', "$.data.price"),
        ('{"cmd_id":22998,"data":{"code":"1288.HK","seq":1,"tick_time":1,"price":"1","volume":"-3","trade_direction":1}}', "$.data.volume"),
        ('{"cmd_id":22998,"data":{"code":"1288.HK","seq":1,"tick_time":1,"price":"1","volume":"3","trade_direction":3}}', "$.data.trade_direction"),
        ('{"cmd_id":22998,"data":{"code":"1288.HK","seq":1,"tick_time":"soon","price":"1","volume":"3","trade_direction":1}}', "$.data.tick_time"),
        ('{"cmd_id":22998,"data":{"code":"1288.HK","seq":1,"tick_time":-5,"price":"1","volume":"3","trade_direction":1}}', "$.data.tick_time"),
        ('{"cmd_id":22998,"data":{"code":"1288.HK","seq":1,"tick_time":1e12,"price":"1","volume":"3","trade_direction":1}}', "$.data.tick_time"),
        ('{"cmd_id":22999,"data":{"code":"GOLD","seq":1,"tick_time":1,"bids":[{"price":"1"},{"price":"x"}],"asks":[]}}', "$.data.bids[1].price"),
        ('{"cmd_id":22999,"data":{"code":"GOLD","seq":1,"tick_time":1,"bids":[],"asks":[{"price":"1","volume":"?"}]}}', "$.data.asks[0].volume"),
        ('{"cmd_id":22999,"data":{"code":"GOLD","seq":1,"tick_time":1,"bids":[]}}', "$.data"),
        ('{"cmd_id":22999,"data":{"code":"GOLD","seq":1.5,"tick_time":1,"bids":[],"asks":[]}}', "$.data.seq"),
        ('{"cmd_id":12345,"data":{}}', "$.cmd_id"),
        ('{"cmd_id":22000,"seq_id":1,"trace":"t","data":{}}', "$.cmd_id"),
        ('{"ret":200,"msg":"ok","cmd_id":22003,"trace":"t","data":{}}', "$"),
        ('{"ret":"200","msg":"ok","cmd_id":22003,"seq_id":1,"trace":"t","data":{}}', "$.ret"),
        ('{"data":{}}', "$"),
        ("[22998]", "$"),
    ],
    ids=["price-number", "no-code", "price-text", "price-nan", "volume-negative",
         "direction-3", "tick-time-text", "tick-time-negative", "tick-time-float", "bid-price",
         "ask-volume", "no-asks", "seq-float", "unknown-cmd", "client-request", "reply-no-seq",
         "ret-string", "no-cmd", "array"],
)  # fmt: skip
def test_a_frame_off_the_documentation_names_the_offending_field(frame: str, path: str) -> None:
    assert protocol_error(frame).path == path


def test_truncated_json_is_a_protocol_error() -> None:
    assert protocol_error(DOC_TRADE[:-2]).reason.startswith("not JSON")


def test_invalid_utf8_is_a_protocol_error() -> None:
    assert protocol_error(b'{"cmd_id":22998,"data":{"code":"\xff"}}').reason.startswith("not JSON")


def test_a_tick_time_string_of_megabytes_is_a_protocol_error() -> None:
    frame = DOC_TRADE.replace('"tick_time":1605509068', '"tick_time":"' + "9" * 5_000_000 + '"')
    assert protocol_error(frame).path == "$.data.tick_time"


def test_a_price_of_megabytes_is_a_protocol_error() -> None:
    frame = DOC_TRADE.replace('"651.12"', '"' + "1" * 5_000_000 + '"')
    assert protocol_error(frame).path == "$.data.price"


def test_a_nesting_of_megabytes_is_a_protocol_error() -> None:
    frame = b'{"cmd_id":22998,"data":{"extra":' + b"[" * 3_000_000
    assert protocol_error(frame).reason == "nested deeper than 64 levels"


def test_a_book_of_megabytes_decodes() -> None:
    level = '{"price":"1.5","volume":"2"},'
    frame = (
        '{"cmd_id":22999,"data":{"code":"BTCUSDT","seq":1,"tick_time":1677831545217,"bids":['
        + level * 200_000
    )[:-1] + '],"asks":[]}}'
    [snap] = AllTickCodec().decode(frame, 1_000)
    assert isinstance(snap, ev.BookSnapshot)
    assert (len(frame) > 5_000_000, len(snap.bids), snap.bids[-1]) == (True, 200_000, (1.5, 2.0))


def test_the_excerpt_of_a_frame_of_megabytes_stays_short() -> None:
    frame = b'{"cmd_id":22998,"data":' + b"x" * 5_000_000
    assert len(protocol_error(frame).excerpt) == 203  # 200 characters and "..."


def test_a_token_in_a_bad_frame_is_redacted_from_the_error() -> None:
    error = protocol_error('{"ret":401,"msg":"token invalid","token":"9f3b1c0d2e7a","cmd_id":0')
    assert "9f3b1c0d2e7a" not in str(error)
    assert '"token":"***"' in error.excerpt


def test_a_token_in_a_url_inside_a_bad_frame_is_redacted_from_the_error() -> None:
    error = protocol_error('{"msg":"wss://quote.alltick.io/quote-b-ws-api?token=9f3b1c0d2e7a"}')
    assert "9f3b1c0d2e7a" not in str(error)
    assert "token=***" in error.excerpt


# --- properties -----------------------------------------------------------------------------

_PAIR_CODES = st.builds(
    lambda base, quote: base + quote,
    st.from_regex(r"\A[A-Z][A-Z0-9]{1,6}\Z"),
    st.sampled_from(QUOTE_CURRENCIES),
)
_STOCK_CODES = st.one_of(
    st.from_regex(r"\A[A-Z]{1,5}\.US\Z"),
    st.from_regex(r"\A[1-9][0-9]{0,4}\.HK\Z"),
    st.from_regex(r"\A[0-9]{6}\.(SH|SZ)\Z"),
)
_OTHER_CODES = st.one_of(
    _PAIR_CODES,
    st.from_regex(r"\A[A-Z]{6}\Z"),
    st.sampled_from(["GOLD", "Silver", "USOIL", "UKOIL", "NGAS"]),
)


@SETTINGS
@given(st.one_of(_STOCK_CODES, _OTHER_CODES))
def test_codes_round_trip_through_canonical_instruments(code: str) -> None:
    assert to_alltick(from_alltick(code)) == code


@SETTINGS
@given(st.from_regex(r"\A[1-9][0-9]{0,4}\Z"))
def test_hk_dash_codes_are_the_hk_stock(number: str) -> None:
    assert (from_alltick(f"HK-{number}"), endpoint(f"HK-{number}")) == (f"{number}.HK", "stock")


@SETTINGS
@given(_STOCK_CODES)
def test_stock_codes_go_to_the_stock_endpoint(code: str) -> None:
    assert endpoint(code) == "stock"


@SETTINGS
@given(_OTHER_CODES)
def test_other_codes_go_to_the_forex_endpoint(code: str) -> None:
    assert endpoint(code) == "forex"


@SETTINGS
@given(st.one_of(_STOCK_CODES, _OTHER_CODES))
def test_a_trade_carries_its_code_and_the_code_s_instrument(code: str) -> None:
    frame = DOC_TRADE.replace('"1288.HK"', json.dumps(code))
    [trade] = AllTickCodec().decode(frame, 1_000)
    assert isinstance(trade, ev.Trade)
    assert (trade.symbol, to_alltick(trade.instrument)) == (code, code)


def _decodes_or_protocol_error(frame: str | bytes) -> None:
    try:
        out = AllTickCodec().decode(frame, 1_000)
    except ProviderProtocolError:
        return
    assert isinstance(out, list) and len(out) <= 1  # an invalid trade or book is dropped


@SETTINGS
@given(st.binary(max_size=300))
def test_decode_of_any_bytes_raises_only_protocol_errors(frame: bytes) -> None:
    _decodes_or_protocol_error(frame)


@SETTINGS
@given(st.text(max_size=300))
def test_decode_of_any_text_raises_only_protocol_errors(frame: str) -> None:
    _decodes_or_protocol_error(frame)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
_FIELD = st.one_of(
    _JSON,
    st.sampled_from(["651.12", "0", "-1", "1e400", "nan", "inf", "", "1_0", " 7 ", "9" * 30]),
    st.integers(min_value=-(2**70), max_value=2**70),
)


def _mostly(valid: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """Valid values three times in four, so that whole frames often pass validation."""
    return st.one_of(valid, valid, valid, _FIELD)


_DECIMAL = st.from_regex(r"\A[0-9]{1,6}(\.[0-9]{1,6})?\Z")
_TIME = st.integers(0, 2_000_000_000_000) | st.integers(0, 2_000_000_000_000).map(str)
_LEVEL = st.fixed_dictionaries({"price": _mostly(_DECIMAL)}, optional={"volume": _mostly(_DECIMAL)})
_LEVELS = _mostly(st.lists(_LEVEL, max_size=3))
_HEAD = {
    "code": _mostly(_STOCK_CODES | _OTHER_CODES),
    "seq": _mostly(_TIME),
    "tick_time": _mostly(_TIME),
}
_TRADE_PUSH = st.fixed_dictionaries(
    {
        "cmd_id": st.just(22998),
        "data": st.fixed_dictionaries(
            {
                **_HEAD,
                "price": _mostly(_DECIMAL),
                "volume": _mostly(_DECIMAL),
                "trade_direction": _mostly(st.integers(0, 2)),
            },
            optional={"turnover": _mostly(_DECIMAL)},
        ),
    }
)
_BOOK_PUSH = st.fixed_dictionaries(
    {
        "cmd_id": st.just(22999),
        "data": st.fixed_dictionaries({**_HEAD, "bids": _LEVELS, "asks": _LEVELS}),
    }
)
_REPLY = st.fixed_dictionaries(
    {
        "ret": _mostly(st.sampled_from([200, 201, 400, 401, 600, 606])),
        "msg": _mostly(st.text()),
        "cmd_id": st.sampled_from([0, 22001, 22003, 22005, 22007]),
        "seq_id": _mostly(st.integers(0, 2**32 - 1)),
        "trace": _mostly(st.text(max_size=64)),
    },
    optional={"data": _mostly(st.just({}))},
)
_ANY = st.fixed_dictionaries({"cmd_id": _FIELD}, optional={"data": _JSON, "ret": _FIELD})
_FRAME = st.one_of(_TRADE_PUSH, _BOOK_PUSH, _REPLY, _ANY)


@SETTINGS
@given(_FRAME)
def test_decode_of_frame_shaped_json_raises_only_protocol_errors(obj: dict[str, object]) -> None:
    _decodes_or_protocol_error(json.dumps(obj))
