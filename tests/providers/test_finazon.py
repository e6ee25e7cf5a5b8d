"""Finazon codec: documented frames in, documented requests out, and nothing but
ProviderProtocolError for frames that break the documentation.

Frames marked "seed" are verbatim from the Finazon seed page (its WebSocket reference);
"digest" frames are verbatim from the protocol digest, section 2; "built" frames are assembled
from a documented field list where the docs print no complete example. Expected events are
worked out by hand: ``t`` 1699540020 s is 1_699_540_020_000_000_000 ns, and a 1m bar is
60_000_000_000 ns.
"""

from __future__ import annotations

import contextlib
import json

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import events as ev
from framework.errors import ConfigError, ProviderProtocolError
from framework.instruments import from_finazon, to_finazon
from framework.providers.base import Ack, ErrorReply, Pong, Subscription
from framework.providers.finazon import (
    FinazonCodec,
    Heartbeat,
    Reset,
    Subscribe,
    Unsubscribe,
    decode_request,
)

MINUTE_NS = 60_000_000_000
T0_NS = 1_699_540_020_000_000_000  # 1699540020 s, the documented bar's open time
T1_NS = 1_699_540_080_000_000_000  # the next minute
DETERMINISTIC = settings(derandomize=True, database=None)

# digest 2.4: the documented candle update
CANDLE = (
    '{"d":"kucoin","p":"kucoin","ch":"bars","f":"1s","aggr":"1m","s":"BTC/USDT",'
    '"t":1699540020,"o":220.06,"h":220.13,"l":219.92,"c":219.96,"v":4572}'
)


def candle(
    s: str = "BTC/USDT",
    t: int = 1699540020,
    o: float = 220.06,
    c: float = 219.96,
    h: float = 220.13,
    lo: float = 219.92,
) -> str:
    return (
        f'{{"d":"kucoin","p":"kucoin","ch":"bars","f":"1s","aggr":"1m","s":"{s}",'
        f'"t":{t},"o":{o},"h":{h},"l":{lo},"c":{c},"v":4572}}'
    )


def btc(
    kind: type[ev.Bar] | type[ev.BarUpdate], ts_event_ns: int, ts_recv_ns: int, **values: float
) -> ev.Bar | ev.BarUpdate:
    fields = {"open": 220.06, "high": 220.13, "low": 219.92, "close": 219.96, "volume": 4572.0}
    fields.update(values)
    return kind(
        venue="finazon",
        instrument="BTC/USDT",
        symbol="BTC/USDT",
        ts_event_ns=ts_event_ns,
        ts_recv_ns=ts_recv_ns,
        interval_ns=MINUTE_NS,
        **fields,
    )


def bars(*symbols: str, interval: str = "") -> list[Subscription]:
    return [Subscription(channel="bars", symbol=s, interval=interval) for s in symbols]


# --- documented inbound frames ---------------------------------------------------------------


def test_candle_update_is_a_bar_update_stamped_with_its_open_time() -> None:
    assert FinazonCodec().decode(CANDLE, 1_000) == [btc(ev.BarUpdate, T0_NS, 1_000)]


def test_v1_candle_without_dataset_and_with_spaced_aggregation_decodes() -> None:
    # built: v1.0 bars had no "d", and its docs print aggr as " 1m"
    frame = (
        '{"p":"sip","ch":"bars","f":"1s","aggr":" 1m","s":"AAPL",'
        '"t":1699540020,"o":182.5,"h":182.75,"l":182.25,"c":182.5,"v":300}'
    )
    assert FinazonCodec("sip_non_pro").decode(frame, 7) == [
        ev.BarUpdate(
            venue="finazon",
            instrument="AAPL.US",
            symbol="AAPL",
            ts_event_ns=T0_NS,
            ts_recv_ns=7,
            interval_ns=MINUTE_NS,
            open=182.5,
            high=182.75,
            low=182.25,
            close=182.5,
            volume=300.0,
        )
    ]


def test_us_stock_candle_takes_its_dataset_from_the_frame() -> None:
    # built: the us_stocks_essential shape, with "p":"finazon"
    frame = (
        '{"d":"us_stocks_essential","p":"finazon","ch":"bars","f":"1s","aggr":"1m","s":"TSLA",'
        '"t":1699540020,"o":214,"h":215,"l":213,"c":214.5,"v":120}'
    )
    [update] = FinazonCodec("kucoin").decode(frame, 7)
    assert (update.instrument, update.symbol, update.open) == ("TSLA.US", "TSLA", 214.0)


def test_subscription_success_reply_is_an_ack() -> None:
    frame = """{
"status": "success",
"code": "SUCCESS_SUBSCRIPTION",
"data": [ "BTC/USDT", "ALEX/USDT" ],
"request_id": 106
}"""  # seed
    assert FinazonCodec().decode(frame, 1) == [Ack("finazon", 106, "SUCCESS_SUBSCRIPTION")]


def test_unsubscription_success_reply_is_an_ack() -> None:
    frame = (
        '{"status":"success","code":"SUCCESS_UNSUBSCRIPTION",'
        '"data":["BTC/USDT","ALEX/USDT"],"request_id":"u-7"}'
    )  # built from the seed's field list; request_id is documented as "string | number"
    assert FinazonCodec().decode(frame, 1) == [Ack("finazon", "u-7", "SUCCESS_UNSUBSCRIPTION")]


def test_success_reply_naming_its_event_is_an_ack() -> None:
    frame = '{"event":"subscribe","status":"success","code":"SUCCESS_SUBSCRIPTION","data":["BTC/USDT"],"request_id":3}'
    assert FinazonCodec().decode(frame, 1) == [Ack("finazon", 3, "SUCCESS_SUBSCRIPTION")]


def test_v1_success_reply_echoing_the_request_is_an_ack() -> None:
    frame = '{"status":"success","code":"SUCCESS_SUBSCRIPTION","data":{"event":"subscribe","publisher":"sip","mic":"","market":"","channel":"bars","frequency":"1s","aggregation":"1m","tickers":["AAPL","TSLA"]}}'
    assert FinazonCodec().decode(frame, 1) == [Ack("finazon", None, "SUCCESS_SUBSCRIPTION")]


def test_heartbeat_reply_is_a_pong() -> None:
    frame = '{"event":"heartbeat","status":"success"}'  # digest
    assert FinazonCodec().decode(frame, 1) == [Pong("finazon", None)]


def test_heartbeat_reply_echoes_the_request_id() -> None:
    frame = '{"event":"heartbeat","status":"success","request_id":12}'  # built from the seed
    assert FinazonCodec().decode(frame, 1) == [Pong("finazon", 12)]


def test_reset_reply_shape_the_reference_lists_is_an_ack() -> None:
    frame = '{"event":"reset","status":"success"}'  # built from the seed's (unused) field list
    assert FinazonCodec().decode(frame, 1) == [Ack("finazon", None, "reset")]


def test_unknown_ticker_error_is_an_error_reply() -> None:
    frame = '{"status":"error","message":"The ticker BGMS you have specified is unrecognized or unsupported."}'
    assert FinazonCodec().decode(frame, 1) == [
        ErrorReply(
            "finazon", "", "The ticker BGMS you have specified is unrecognized or unsupported."
        )
    ]


def test_already_subscribed_error_is_an_error_reply() -> None:
    frame = '{"status":"error","message":"You are already subscribed to ticker: AAPL, TSLA."}'
    assert FinazonCodec().decode(frame, 1) == [
        ErrorReply("finazon", "", "You are already subscribed to ticker: AAPL, TSLA.")
    ]


def test_invalid_api_key_error_is_an_error_reply() -> None:
    frame = '{"status":"error","message":"invalid api key"}'  # digest
    assert FinazonCodec().decode(frame, 1) == [ErrorReply("finazon", "", "invalid api key")]


def test_error_with_code_and_request_id_keeps_both() -> None:
    frame = '{"status":"error","code":"INVALID_TICKER","message":"no such ticker","request_id":9}'
    assert FinazonCodec().decode(frame, 1) == [
        ErrorReply("finazon", "INVALID_TICKER", "no such ticker", 9)
    ]


def test_raw_str_and_bytes_frames_decode_alike() -> None:
    raw = FinazonCodec().decode(msgspec.Raw(CANDLE.encode()), 5)
    assert raw == FinazonCodec().decode(CANDLE, 5) == FinazonCodec().decode(CANDLE.encode(), 5)


# --- bar semantics ---------------------------------------------------------------------------


def test_repeated_open_time_is_the_same_bar_still_forming() -> None:
    codec = FinazonCodec()
    codec.decode(candle(c=219.96), 1)
    assert codec.decode(candle(c=221.5, h=221.5), 2) == [
        btc(ev.BarUpdate, T0_NS, 2, close=221.5, high=221.5)
    ]


def test_later_open_time_closes_the_previous_bar_with_its_last_values() -> None:
    codec = FinazonCodec()
    codec.decode(candle(c=219.96), 1)
    codec.decode(candle(c=221.5, h=221.5), 2)
    assert codec.decode(candle(t=1699540080, o=221.6, c=221.7, h=221.7, lo=221.6), 3) == [
        btc(ev.Bar, T0_NS, 3, close=221.5, high=221.5),
        btc(ev.BarUpdate, T1_NS, 3, open=221.6, close=221.7, high=221.7, low=221.6),
    ]


def test_earlier_open_time_is_a_late_frame_dropped_and_counted() -> None:
    codec = FinazonCodec()
    codec.decode(candle(t=1699540080), 1)
    assert codec.decode(candle(t=1699540020), 2) == []
    assert codec.late_frames == 1


def test_late_frame_leaves_the_forming_bar_untouched() -> None:
    codec = FinazonCodec()
    codec.decode(candle(t=1699540080, c=230.0, h=230.0), 1)
    codec.decode(candle(t=1699540020, c=1.0, lo=1.0), 2)
    assert codec.flush(3) == [btc(ev.Bar, T1_NS, 3, close=230.0, high=230.0)]


def test_each_ticker_forms_its_own_bar() -> None:
    codec = FinazonCodec()
    codec.decode(candle(s="ETH/USDT", t=1699540020), 1)
    codec.decode(candle(t=1699540020), 2)
    [update] = codec.decode(candle(s="ETH/USDT", t=1699540020, c=1.5, lo=1.5), 3)
    assert isinstance(update, ev.BarUpdate)
    assert (update.symbol, update.close) == ("ETH/USDT", 1.5)


def test_flush_closes_every_forming_bar_sorted_by_ticker() -> None:
    codec = FinazonCodec()
    codec.decode(candle(s="ETH/USDT", t=1699540080, c=2.5, lo=2.5), 1)
    codec.decode(candle(t=1699540020), 2)
    assert [(b.symbol, b.ts_event_ns, b.ts_recv_ns, b.close) for b in codec.flush(9)] == [
        ("BTC/USDT", T0_NS, 9, 219.96),
        ("ETH/USDT", T1_NS, 9, 2.5),
    ]


def test_flush_forgets_the_bars_it_closed() -> None:
    codec = FinazonCodec()
    codec.decode(CANDLE, 1)
    codec.flush(2)
    assert codec.flush(3) == []


def test_reset_forgets_forming_bars() -> None:
    codec = FinazonCodec()
    codec.decode(CANDLE, 1)
    codec.reset()
    assert codec.decode(candle(t=1699540080), 2) == [btc(ev.BarUpdate, T1_NS, 2)]


def test_reset_restarts_request_ids() -> None:
    codec = FinazonCodec()
    codec.heartbeat()
    codec.reset()
    assert codec.heartbeat() == '{"event":"heartbeat","request_id":1}'


@DETERMINISTIC
@given(st.lists(st.integers(0, 30), min_size=1, max_size=40))
def test_every_open_time_closes_exactly_once(steps: list[int]) -> None:
    minutes = sorted(steps)  # minute offsets, non-decreasing as the stream sends them
    codec = FinazonCodec()
    out = [e for i, m in enumerate(minutes) for e in codec.decode(candle(t=60 * m), i)]
    closed = [e.ts_event_ns for e in [*out, *codec.flush(99)] if isinstance(e, ev.Bar)]
    assert closed == [m * MINUTE_NS for m in sorted(set(minutes))]


# --- outbound requests -----------------------------------------------------------------------

DOCUMENTED_SUBSCRIBE = """{
"event": "subscribe",
"dataset": "kucoin",
"tickers": [ "BTC/USDT", "ALEX/USDT" ],
"channel": "bars",
"frequency": "1s",
"aggregation": "1m",
"request_id": 106
}"""  # seed


def test_subscribe_matches_the_documented_request() -> None:
    assert FinazonCodec().subscribe(bars("BTC/USDT", "ALEX/USDT", interval="1s")) == [
        '{"event":"subscribe","dataset":"kucoin","tickers":["BTC/USDT","ALEX/USDT"],'
        '"channel":"bars","frequency":"1s","aggregation":"1m","request_id":1}'
    ]


def test_subscribe_keys_follow_the_documented_order() -> None:
    [sent] = FinazonCodec().subscribe(bars("BTC/USDT", "ALEX/USDT"))
    assert list(json.loads(sent)) == list(json.loads(DOCUMENTED_SUBSCRIBE))


def test_subscribe_defaults_to_one_second_frequency() -> None:
    [sent] = FinazonCodec().subscribe(bars("BTC/USDT"))
    assert json.loads(sent)["frequency"] == "1s"


def test_subscribe_sends_one_request_per_frequency_in_first_seen_order() -> None:
    subs = [*bars("ETH/USDT", interval="10s"), *bars("BTC/USDT"), *bars("SOL/USDT", interval="10s")]
    assert FinazonCodec().subscribe(subs) == [
        '{"event":"subscribe","dataset":"kucoin","tickers":["ETH/USDT","SOL/USDT"],'
        '"channel":"bars","frequency":"10s","aggregation":"1m","request_id":1}',
        '{"event":"subscribe","dataset":"kucoin","tickers":["BTC/USDT"],'
        '"channel":"bars","frequency":"1s","aggregation":"1m","request_id":2}',
    ]


def test_subscribe_names_each_ticker_once() -> None:
    [sent] = FinazonCodec().subscribe(bars("BTC/USDT", "ETH/USDT", "BTC/USDT"))
    assert json.loads(sent)["tickers"] == ["BTC/USDT", "ETH/USDT"]


def test_subscribe_names_the_codec_dataset() -> None:
    [sent] = FinazonCodec("sip_pro").subscribe(bars("AAPL", interval="1m"))
    assert sent == (
        '{"event":"subscribe","dataset":"sip_pro","tickers":["AAPL"],'
        '"channel":"bars","frequency":"1m","aggregation":"1m","request_id":1}'
    )


def test_subscribe_of_nothing_sends_nothing() -> None:
    assert FinazonCodec().subscribe([]) == []


def test_subscribe_splits_a_request_over_100_kb() -> None:
    tickers = [f"T{i:05d}/USDT" for i in range(20_000)]  # 13 bytes each with quotes and comma
    sent = FinazonCodec().subscribe(bars(*tickers))
    decoded = [json.loads(s) for s in sent]
    assert len(sent) == 3
    assert max(len(s.encode()) for s in sent) <= 100_000
    assert [t for d in decoded for t in d["tickers"]] == tickers
    assert [d["request_id"] for d in decoded] == [1, 2, 3]


def test_undocumented_frequency_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="5s"):
        FinazonCodec().subscribe(bars("BTC/USDT", interval="5s"))


def test_channel_other_than_bars_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="trades"):
        FinazonCodec().subscribe([Subscription(channel="trades", symbol="BTC/USDT")])


def test_refused_subscribe_spends_no_request_id() -> None:
    codec = FinazonCodec()
    with pytest.raises(ConfigError):
        codec.subscribe([*bars("BTC/USDT"), *bars("ETH/USDT", interval="2m")])
    assert codec.heartbeat() == '{"event":"heartbeat","request_id":1}'


def test_empty_dataset_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="dataset"):
        FinazonCodec("")


def test_unsubscribe_mirrors_subscribe() -> None:
    assert FinazonCodec().unsubscribe(bars("BTC/USDT", "ALEX/USDT")) == [
        '{"event":"unsubscribe","dataset":"kucoin","tickers":["BTC/USDT","ALEX/USDT"],'
        '"channel":"bars","frequency":"1s","aggregation":"1m","request_id":1}'
    ]


def test_heartbeat_carries_a_fresh_request_id_each_time() -> None:
    codec = FinazonCodec()
    codec.subscribe(bars("BTC/USDT"))
    assert [codec.heartbeat(), codec.heartbeat()] == [
        '{"event":"heartbeat","request_id":2}',
        '{"event":"heartbeat","request_id":3}',
    ]


def test_reset_message_is_the_bare_reset_event() -> None:
    assert FinazonCodec().reset_message() == '{"event":"reset"}'


def test_url_puts_the_key_in_the_apikey_parameter() -> None:
    assert FinazonCodec().url([], "ws.finazon.io", "k3y") == "wss://ws.finazon.io/v1?apikey=k3y"


def test_url_defaults_to_the_finazon_host() -> None:
    assert FinazonCodec().url([], "", "k3y") == "wss://ws.finazon.io/v1?apikey=k3y"


def test_url_accepts_a_loopback_base_with_scheme() -> None:
    url = FinazonCodec().url([], "ws://127.0.0.1:8765/", "k3y")
    assert url == "ws://127.0.0.1:8765/v1?apikey=k3y"


def test_url_escapes_the_key() -> None:
    assert FinazonCodec().url([], "ws.finazon.io", "a&b c") == (
        "wss://ws.finazon.io/v1?apikey=a%26b%20c"
    )


# --- client events, as the emulator decodes them ---------------------------------------------


def test_documented_subscribe_request_decodes() -> None:
    assert decode_request(DOCUMENTED_SUBSCRIBE) == Subscribe(
        dataset="kucoin",
        tickers=("BTC/USDT", "ALEX/USDT"),
        channel="bars",
        frequency="1s",
        aggregation="1m",
        request_id=106,
    )


def test_usage_sample_request_without_request_id_decodes() -> None:
    # seed: the Python usage sample's sub_request, as json.dumps sends it
    sample = json.dumps(
        {
            "event": "subscribe",
            "dataset": "kucoin",
            "tickers": ["BTC/USDT"],
            "channel": "bars",
            "frequency": "1s",
            "aggregation": "1m",
        }
    )
    request = decode_request(sample)
    assert isinstance(request, Subscribe)
    assert request.request_id is msgspec.UNSET


def test_client_events_the_codec_sends_decode_back() -> None:
    codec = FinazonCodec()
    [sub] = codec.subscribe(bars("BTC/USDT"))
    [unsub] = codec.unsubscribe(bars("BTC/USDT", interval="10s"))
    sent = [sub, unsub, codec.heartbeat(), codec.reset_message()]
    assert [decode_request(s) for s in sent] == [
        Subscribe(
            dataset="kucoin",
            tickers=("BTC/USDT",),
            channel="bars",
            frequency="1s",
            aggregation="1m",
            request_id=1,
        ),
        Unsubscribe(
            dataset="kucoin",
            tickers=("BTC/USDT",),
            channel="bars",
            frequency="10s",
            aggregation="1m",
            request_id=2,
        ),
        Heartbeat(request_id=3),
        Reset(),
    ]


@pytest.mark.parametrize(
    ("frame", "path"),
    [
        ('{"event":"ping"}', "$.event"),
        ('{"dataset":"kucoin"}', "$.event"),
        (DOCUMENTED_SUBSCRIBE.replace('"1s"', '"5s"'), "$.frequency"),
        (DOCUMENTED_SUBSCRIBE.replace('"bars"', '"trades"'), "$.channel"),
        (DOCUMENTED_SUBSCRIBE.replace('[ "BTC/USDT", "ALEX/USDT" ]', "[]"), "$.tickers"),
        # digest: the v1.0 form names a publisher, not a dataset
        (DOCUMENTED_SUBSCRIBE.replace('"dataset"', '"publisher"'), "$.dataset"),
    ],
)
def test_client_event_breaking_the_docs_names_the_field(frame: str, path: str) -> None:
    with pytest.raises(ProviderProtocolError) as info:
        decode_request(frame)
    assert info.value.path == path


def test_client_event_over_100_kb_is_refused() -> None:
    tickers = json.dumps([f"T{i:05d}/USDT" for i in range(10_000)])
    frame = DOCUMENTED_SUBSCRIBE.replace('[ "BTC/USDT", "ALEX/USDT" ]', tickers)
    with pytest.raises(ProviderProtocolError, match="100 KB"):
        decode_request(frame)


# --- frames that break the documentation -----------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "path"),
    [
        pytest.param(CANDLE.replace('"t":1699540020', '"t":"1699540020"'), "$.t", id="t-string"),
        pytest.param(CANDLE.replace('"t":1699540020', '"t":1699540020.5'), "$.t", id="t-float"),
        pytest.param(CANDLE.replace('"t":1699540020', '"t":-60'), "$.t", id="t-negative"),
        pytest.param(CANDLE.replace('"t":1699540020', '"t":9999999999'), "$.t", id="t-past-int64"),
        pytest.param(CANDLE.replace('"o":220.06', '"o":"220.06"'), "$.o", id="o-string"),
        pytest.param(CANDLE.replace('"v":4572', '"v":null'), "$.v", id="v-null"),
        pytest.param(CANDLE.replace('"s":"BTC/USDT"', '"s":""'), "$.s", id="s-empty"),
        pytest.param(CANDLE.replace(',"c":219.96', ""), "$.c", id="c-missing"),
        pytest.param(CANDLE.replace(',"aggr":"1m"', ""), "$.aggr", id="aggr-missing"),
        pytest.param(
            CANDLE.replace('"aggr":"1m"', '"aggr":"5 minutes"'), "$.aggr", id="aggr-garbage"
        ),
        pytest.param(CANDLE.replace('"aggr":"1m"', '"aggr":"0m"'), "$.aggr", id="aggr-zero"),
        pytest.param(CANDLE.replace('"ch":"bars"', '"ch":"trades"'), "$.ch", id="channel"),
        pytest.param('{"status":"pending"}', "$.status", id="status-unknown"),
        pytest.param('{"status":7}', "$.status", id="status-number"),
        pytest.param(
            '{"status":"success","code":"SUCCESS_RESET","data":[]}', "$.code", id="code-unknown"
        ),
        pytest.param('{"status":"success","code":"SUCCESS_SUBSCRIPTION"}', "$.data", id="no-data"),
        pytest.param('{"status":"error"}', "$.message", id="error-no-message"),
        pytest.param('{"status":"error","message":404}', "$.message", id="message-number"),
        pytest.param('{"event":"heartbeat","status":"success","request_id":[]}', "$.request_id"),
    ],
)
def test_frame_breaking_the_docs_names_the_field(frame: str, path: str) -> None:
    with pytest.raises(ProviderProtocolError) as info:
        FinazonCodec().decode(frame, 1)
    assert info.value.path == path


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(b"", id="empty-bytes"),
        pytest.param("", id="empty-str"),
        pytest.param(CANDLE[:60], id="truncated"),
        pytest.param("not json", id="not-json"),
        pytest.param("[1, 2]", id="array"),
        pytest.param("{}", id="no-ch-no-status"),
        pytest.param(DOCUMENTED_SUBSCRIBE, id="client-event-echoed"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param('{"s":"\ud800"}', id="lone-surrogate"),
        pytest.param(msgspec.Raw(b'{"ch":"bars",'), id="raw-truncated"),
    ],
)
def test_undecodable_frame_is_a_protocol_error(frame: bytes | str | msgspec.Raw) -> None:
    with pytest.raises(ProviderProtocolError) as info:
        FinazonCodec().decode(frame, 1)
    assert info.value.provider == "finazon"


def test_empty_frame_is_a_protocol_error_saying_so() -> None:
    with pytest.raises(ProviderProtocolError, match="empty frame"):
        FinazonCodec().decode(b"", 1)


def test_several_mb_bar_frame_is_refused() -> None:
    frame = candle(s="X" * 5_000_000)
    with pytest.raises(ProviderProtocolError, match="over"):
        FinazonCodec().decode(frame, 1)


def test_several_mb_of_garbage_is_a_protocol_error_with_a_short_excerpt() -> None:
    with pytest.raises(ProviderProtocolError) as info:
        FinazonCodec().decode(b"{" * 5_000_000, 1)
    assert len(info.value.excerpt) <= 203  # 200 characters and "..."


def test_protocol_error_excerpt_redacts_an_api_key() -> None:
    frame = '{"status":"error","message":"invalid api key","apikey":"fz_5ecret_v4lue"'
    with pytest.raises(ProviderProtocolError) as info:
        FinazonCodec().decode(frame, 1)
    assert "fz_5ecret_v4lue" not in str(info.value)
    assert '"apikey":"***"' in info.value.excerpt


def test_protocol_error_excerpt_redacts_a_key_in_a_url() -> None:
    frame = "redirect to wss://ws.finazon.io/v1?apikey=fz_5ecret_v4lue"
    with pytest.raises(ProviderProtocolError) as info:
        FinazonCodec().decode(frame, 1)
    assert "fz_5ecret_v4lue" not in str(info.value)
    assert "apikey=***" in info.value.excerpt


def test_protocol_error_excerpt_of_a_raw_frame_redacts_a_token() -> None:
    frame = msgspec.Raw(b'{"status":"error","token":"fz_5ecret_v4lue","message":1}')
    with pytest.raises(ProviderProtocolError) as info:
        FinazonCodec().decode(frame, 1)
    assert info.value.excerpt == '{"status":"error","token":"***","message":1}'


# --- properties ------------------------------------------------------------------------------

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
_FIELD_VALUES = {
    "d": st.sampled_from(["kucoin", "sip_pro", ""]),
    "p": st.sampled_from(["kucoin", "finazon"]),
    "ch": st.sampled_from(["bars", "trades"]),
    "f": st.sampled_from(["1s", "10s", "1m"]),
    "aggr": st.sampled_from(["1m", " 1m", "5m"]),
    "s": st.sampled_from(["BTC/USDT", "AAPL", ""]),
    "t": st.integers(-(2**65), 2**65),
    "o": st.floats(allow_nan=False) | st.integers(),
    "h": st.floats(allow_nan=False),
    "l": st.floats(allow_nan=False),
    "c": st.floats(allow_nan=False),
    "v": st.integers(0, 10**20),
    "event": st.sampled_from(["heartbeat", "reset", "subscribe", "unsubscribe", "ping"]),
    "status": st.sampled_from(["success", "error", "pending"]),
    "code": st.sampled_from(["SUCCESS_SUBSCRIPTION", "SUCCESS_UNSUBSCRIPTION", "INVALID"]),
    "data": st.lists(st.text(max_size=8), max_size=3),
    "message": st.text(max_size=20),
    "request_id": st.integers(-(2**70), 2**70) | st.text(max_size=5),
}
_FRAME_SHAPED = st.fixed_dictionaries(
    {}, optional={key: values | _JSON for key, values in _FIELD_VALUES.items()}
)


_NUMBER = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**30), 10**30)
_CANDLE_SHAPED = st.fixed_dictionaries(
    {
        "ch": st.just("bars"),
        "aggr": st.sampled_from(["1m", " 1m"]),
        "s": st.sampled_from(["BTC/USDT", "ETH/USDT", "AAPL"]),
        "t": st.integers(0, 2**33),
        **{key: _NUMBER for key in ("o", "h", "l", "c", "v")},
    },
    optional={key: _FIELD_VALUES[key] for key in ("d", "p", "f")},
)


def _decodes_or_protocol_error(frame: bytes | str, codec: FinazonCodec | None = None) -> None:
    try:
        result = (codec or FinazonCodec()).decode(frame, 1)
    except ProviderProtocolError:
        return
    assert isinstance(result, list)


@DETERMINISTIC
@given(st.binary(max_size=300))
def test_decode_raises_only_protocol_errors_on_any_bytes(frame: bytes) -> None:
    _decodes_or_protocol_error(frame)


@DETERMINISTIC
@given(st.text(max_size=300))
def test_decode_raises_only_protocol_errors_on_any_text(frame: str) -> None:
    _decodes_or_protocol_error(frame)


@DETERMINISTIC
@given(_FRAME_SHAPED)
def test_decode_raises_only_protocol_errors_on_frame_shaped_objects(obj: dict[str, object]) -> None:
    _decodes_or_protocol_error(json.dumps(obj))


@DETERMINISTIC
@given(st.lists(_CANDLE_SHAPED | _FRAME_SHAPED, max_size=8))
def test_decode_raises_only_protocol_errors_on_candle_sequences(
    objs: list[dict[str, object]],
) -> None:
    codec = FinazonCodec()
    for obj in objs:
        _decodes_or_protocol_error(json.dumps(obj), codec)


@DETERMINISTIC
@given(st.from_regex(r"[A-Z0-9]{1,10}/[A-Z0-9]{1,6}", fullmatch=True))
def test_crypto_ticker_is_its_own_instrument_and_round_trips(ticker: str) -> None:
    assert from_finazon(ticker, "kucoin") == ticker
    assert to_finazon(from_finazon(ticker, "kucoin")) == ticker


@DETERMINISTIC
@given(
    st.from_regex(r"[A-Z]{1,5}(\.[A-Z])?", fullmatch=True),
    st.sampled_from(["sip_pro", "sip_non_pro", "us_stocks_essential"]),
)
def test_us_stock_ticker_gains_and_loses_the_us_suffix(ticker: str, dataset: str) -> None:
    assert from_finazon(ticker, dataset) == f"{ticker}.US"
    assert to_finazon(from_finazon(ticker, dataset)) == ticker


@DETERMINISTIC
@given(st.binary(max_size=300) | st.text(max_size=300) | _FRAME_SHAPED.map(json.dumps))
def test_decode_request_raises_only_protocol_errors(frame: bytes | str) -> None:
    with contextlib.suppress(ProviderProtocolError):
        decode_request(frame)


@pytest.mark.parametrize(
    ("aggr", "seconds"), [("5m", 300), ("1h", 3600), ("1d", 86400), ("30s", 30)]
)
def test_imported_bar_lengths_decode_with_their_interval(aggr: str, seconds: int) -> None:
    # Recordings from papertrade import-csv carry other bar lengths in the same frame shape.
    codec = FinazonCodec()
    (update,) = codec.decode(CANDLE.replace('"aggr":"1m"', f'"aggr":"{aggr}"'), 5)
    assert isinstance(update, ev.BarUpdate)
    assert update.interval_ns == seconds * 1_000_000_000
