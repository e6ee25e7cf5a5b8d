"""Cryptomus codec: documented frames in, documented requests out, and nothing but
ProviderProtocolError for frames that break the documentation.

Server frames are the files in ``frames/cryptomus/`` (verbatim from the seed page, see the
README there); requests are quoted from the same page in the test bodies. "Built" frames are
assembled from the documented field lists where the page prints no example (error replies,
a full book, several trades). Expected events are worked out by hand: 1750953177 s is
1_750_953_177_000_000_000 ns. The private channels are tested in tests/test_private_events.py,
the REST helpers in test_cryptomus_rest.py.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import events as ev
from framework.errors import ConfigError, ProviderProtocolError
from framework.instruments import from_cryptomus, to_cryptomus
from framework.providers.base import Ack, ErrorReply, Pong, Subscription
from framework.providers.cryptomus import CryptomusCodec

FRAMES = Path(__file__).parent / "frames" / "cryptomus"
RECV = 1_000
DETERMINISTIC = settings(derandomize=True, database=None, deadline=None, max_examples=300)
TOKEN = "b0b1cacd26993392ecf072155bd1686c96e380ad12cefa564aa6665c85c77334"  # the page's example


def frame(name: str) -> bytes:
    return (FRAMES / f"{name}.json").read_bytes()


def compact(documented: str, request_id: int) -> str:
    """A documented request as the codec sends it: compact, with our id for the page's 0."""
    message = json.loads(documented)
    message["id"] = request_id
    return json.dumps(message, separators=(",", ":"))


def trade(
    price: float,
    size: float,
    side: ev.Side,
    seconds: int,
    symbol: str = "BTC_USDT",
    instrument: str = "BTC/USDT",
) -> ev.Trade:
    return ev.Trade(
        "cryptomus", instrument, symbol, seconds * 1_000_000_000, RECV, price, size, side
    )


def protocol_error(payload: bytes | str | msgspec.Raw) -> ProviderProtocolError:
    with pytest.raises(ProviderProtocolError) as info:
        CryptomusCodec().decode(payload, RECV)
    return info.value


# --- documented server frames ------------------------------------------------------------------


def test_pong_is_a_pong_with_the_ping_id() -> None:
    assert CryptomusCodec().decode(frame("pong"), RECV) == [Pong("cryptomus", 0)]


@pytest.mark.parametrize("kind", ["lastprice", "depth", "ticker", "trade", "order", "balance"])
def test_subscribe_ack_is_an_ack_naming_the_method(kind: str) -> None:
    decoded = CryptomusCodec().decode(frame(f"{kind}_subscribe_ack"), RECV)
    assert decoded == [Ack("cryptomus", 0, f"{kind}_subscribe")]


def test_unsubscribe_ack_without_method_is_an_ack() -> None:
    assert CryptomusCodec().decode(frame("unsubscribe_ack"), RECV) == [Ack("cryptomus", 0, "")]


def test_lastprice_update_is_a_last_price() -> None:
    assert CryptomusCodec().decode(frame("lastprice_update"), RECV) == [
        ev.LastPrice(
            "cryptomus", "BTC/USDT", "BTC_USDT", 1_750_953_362_000_000_000, RECV, 107152.55
        )
    ]


def test_partial_depth_update_is_a_book_delta_with_zero_size_removals() -> None:
    assert CryptomusCodec().decode(frame("depth_update"), RECV) == [
        ev.BookDelta(
            "cryptomus", "BTC/USDT", "BTC_USDT", 1_750_952_911_000_000_000, RECV,
            bids=((106976.11, 0.0),),
            asks=((107043.93, 0.304313),),
        )
    ]  # fmt: skip


def test_ticker_update_is_a_ticker() -> None:
    assert CryptomusCodec().decode(frame("ticker_update"), RECV) == [
        ev.Ticker(
            "cryptomus", "BTC/USDT", "BTC_USDT", 1_750_953_144_000_000_000, RECV,
            price=107090.35, open=107042.21, high=108248.15, low=106573.19,
            volume=1531.027982, quote_volume=164564314.80174687, price_change=0.04,
        )
    ]  # fmt: skip


def test_trade_update_is_one_trade_stamped_with_its_own_time() -> None:
    assert CryptomusCodec().decode(frame("trade_update"), RECV) == [
        trade(107100.01, 0.000254, "buy", 1750953177)
    ]


# --- built frames: documented fields, no printed example ---------------------------------------


def test_full_reload_is_a_book_snapshot_sorted_best_first() -> None:
    full = (
        '{"id":0,"method":"depth_update","data":{"symbol":"ETH_USDT","timestamp":1750952911,'
        '"full_reload":true,"scale_index":1,"asks":[["2401.5","2"],["2400.5","1"],["2402","3"]],'
        '"bids":[["2399","1"],["2399.5","4"],["2398","2"]]},"error":null}'
    )
    assert CryptomusCodec().decode(full, RECV) == [
        ev.BookSnapshot(
            "cryptomus", "ETH/USDT", "ETH_USDT", 1_750_952_911_000_000_000, RECV,
            bids=((2399.5, 4.0), (2399.0, 1.0), (2398.0, 2.0)),
            asks=((2400.5, 1.0), (2401.5, 2.0), (2402.0, 3.0)),
        )
    ]  # fmt: skip


def test_several_trades_keep_their_order_and_their_own_times() -> None:
    burst = (
        '{"id":0,"method":"trade_update","data":{"symbol":"TRX_USDT","timestamp":1750953179,'
        '"trades":[{"price":0.2726,"quantity":100,"timestamp":1750953177,"direction":"sell"},'
        '{"price":0.2727,"quantity":5.5,"timestamp":1750953178,"direction":"buy"},'
        '{"price":0.2725,"quantity":1,"timestamp":1750953179,"direction":"sell"}]},"error":null}'
    )
    assert CryptomusCodec().decode(burst, RECV) == [
        trade(0.2726, 100.0, "sell", 1750953177, "TRX_USDT", "TRX/USDT"),
        trade(0.2727, 5.5, "buy", 1750953178, "TRX_USDT", "TRX/USDT"),
        trade(0.2725, 1.0, "sell", 1750953179, "TRX_USDT", "TRX/USDT"),
    ]


def test_trade_update_without_trades_gives_no_events() -> None:
    empty = (
        '{"id":0,"method":"trade_update","data":{"symbol":"BTC_USDT","timestamp":1750953177,'
        '"trades":[]},"error":null}'
    )
    assert CryptomusCodec().decode(empty, RECV) == []


@pytest.mark.parametrize(
    ("request_id", "expected"), [('"7"', "7"), ("7", 7), ("null", None)], ids=["str", "int", "null"]
)
def test_id_may_be_a_string_an_integer_or_null(request_id: str, expected: object) -> None:
    pong = f'{{"id":{request_id},"method":"pong","data":null,"error":null}}'
    assert CryptomusCodec().decode(pong, RECV) == [Pong("cryptomus", expected)]  # type: ignore[arg-type]


@pytest.mark.parametrize(("code", "message"), [(1, "Invalid message format"), (2, "Other errors")])
def test_error_reply_is_an_error_reply_with_code_and_message(code: int, message: str) -> None:
    reply = f'{{"id":5,"data":null,"error":{{"code":{code},"message":"{message}"}}}}'
    assert CryptomusCodec().decode(reply, RECV) == [ErrorReply("cryptomus", code, message, 5)]


def test_error_reply_that_names_its_method_is_an_error_reply() -> None:
    reply = '{"id":2,"method":"depth_subscribe","data":null,"error":{"code":2,"message":"no"}}'
    assert CryptomusCodec().decode(reply, RECV) == [ErrorReply("cryptomus", 2, "no", 2)]


def test_ack_with_a_status_other_than_success_is_an_error_reply() -> None:
    reply = '{"id":3,"method":"trade_subscribe","data":{"status":"failure"},"error":null}'
    assert CryptomusCodec().decode(reply, RECV) == [
        ErrorReply("cryptomus", "failure", "trade_subscribe answered status 'failure'", 3)
    ]


def test_unsubscribe_ack_that_names_its_method_is_an_ack() -> None:
    reply = '{"id":4,"method":"trade_unsubscribe","data":{"status":"success"},"error":null}'
    assert CryptomusCodec().decode(reply, RECV) == [Ack("cryptomus", 4, "trade_unsubscribe")]


@pytest.mark.parametrize("kind", ["raw", "str", "bytearray"])
def test_decode_takes_recorded_raw_text_and_buffers_alike(kind: str) -> None:
    data = frame("trade_update")
    payload = {
        "raw": msgspec.json.decode(data, type=msgspec.Raw),
        "str": data.decode(),
        "bytearray": bytearray(data),
    }[kind]
    assert CryptomusCodec().decode(payload, RECV) == [trade(107100.01, 0.000254, "buy", 1750953177)]  # type: ignore[arg-type]


# --- documented requests -----------------------------------------------------------------------


def test_heartbeat_is_the_documented_ping() -> None:
    documented = '{"id": 0, "method": "ping", "params": []}'
    assert CryptomusCodec().heartbeat() == compact(documented, 1)


def test_trade_subscription_is_the_documented_request() -> None:
    documented = '{"id": 0, "method": "trade_subscribe", "params": ["BTC_USDT"]}'
    subs = [Subscription("trades", "BTC_USDT")]
    assert CryptomusCodec().subscribe(subs) == [compact(documented, 1)]


def test_depth_subscription_names_market_and_scale_index() -> None:
    documented = (
        '{"id": 0, "method": "depth_subscribe", '
        '"params": ["BTC_USDT:0", "BTC_USDT:1", "ETH_USDT:1"]}'
    )
    subs = [
        Subscription("book", "BTC_USDT", depth=0),
        Subscription("book", "BTC_USDT", depth=1),
        Subscription("book", "ETH_USDT", depth=1),
    ]
    assert CryptomusCodec().subscribe(subs) == [compact(documented, 1)]


@pytest.mark.parametrize(
    ("channel", "method"),
    [("trades", "trade"), ("book", "depth"), ("ticker", "ticker"), ("last_price", "lastprice")],
)
def test_subscribing_all_markets_is_the_documented_all_request(channel: str, method: str) -> None:
    documented = f'{{"id": 0, "method": "{method}_subscribe", "params": ["all"]}}'
    subs = [Subscription(channel, "all")]  # type: ignore[arg-type]
    assert CryptomusCodec().subscribe(subs) == [compact(documented, 1)]


def test_unsubscription_is_the_documented_request() -> None:
    documented = '{"id": 0, "method": "ticker_unsubscribe", "params": ["BTC_USDT", "ETH_USDT"]}'
    subs = [Subscription("ticker", "BTC_USDT"), Subscription("ticker", "ETH_USDT")]
    assert CryptomusCodec().unsubscribe(subs) == [compact(documented, 1)]


def test_subscribe_sends_one_frame_per_channel_in_first_seen_order() -> None:
    subs = [
        Subscription("trades", "BTC_USDT"),
        Subscription("book", "BTC_USDT", depth=2),
        Subscription("last_price", "ETH_USDT"),
        Subscription("trades", "ETH_USDT"),
        Subscription("trades", "BTC_USDT"),  # a repeat is sent once
    ]
    assert CryptomusCodec().subscribe(subs) == [
        '{"id":1,"method":"trade_subscribe","params":["BTC_USDT","ETH_USDT"]}',
        '{"id":2,"method":"depth_subscribe","params":["BTC_USDT:2"]}',
        '{"id":3,"method":"lastprice_subscribe","params":["ETH_USDT"]}',
    ]


@pytest.mark.parametrize("kind", ["order", "deal", "balance"])
def test_private_subscription_is_the_documented_all_request(kind: str) -> None:
    documented = f'{{"id": 0, "method": "{kind}_subscribe", "params": ["all"]}}'
    codec = CryptomusCodec()
    assert getattr(codec, f"{kind}_subscribe")() == compact(documented, 1)


def test_request_ids_count_up_per_connection_and_reset_restarts_them() -> None:
    codec = CryptomusCodec()
    sent = [codec.heartbeat(), codec.heartbeat()]
    codec.reset()
    sent.append(codec.heartbeat())
    assert [json.loads(s)["id"] for s in sent] == [1, 2, 1]


def test_bars_are_not_a_cryptomus_channel() -> None:
    with pytest.raises(ConfigError, match="'bars'"):
        CryptomusCodec().subscribe([Subscription("bars", "BTC_USDT", interval="1m")])


def test_url_is_the_documented_connection_url() -> None:
    documented = f"wss://api-ws.cryptomus.com/ws?token={TOKEN}"
    assert CryptomusCodec().url([], "api-ws.cryptomus.com", TOKEN) == documented


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("ws://127.0.0.1:8765", "ws://127.0.0.1:8765/ws?token=abc"),
        ("ws://127.0.0.1:8765/", "ws://127.0.0.1:8765/ws?token=abc"),
        ("ws://127.0.0.1:8765/feed", "ws://127.0.0.1:8765/feed?token=abc"),
        ("", "wss://api-ws.cryptomus.com/ws?token=abc"),
    ],
)
def test_url_accepts_a_base_url_with_scheme(host: str, expected: str) -> None:
    assert CryptomusCodec().url([], host, "abc") == expected


def test_url_with_a_non_websocket_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="ws:// or wss://"):
        CryptomusCodec().url([], "https://api-ws.cryptomus.com", "abc")


# --- frames that break the documentation -------------------------------------------------------

VALID_TRADE = (
    '{"id":0,"method":"trade_update","data":{"symbol":"BTC_USDT","timestamp":1750953177,'
    '"trades":[{"price":107100.01,"quantity":0.000254,"timestamp":1750953177,"direction":"buy"}]},'
    '"error":null}'
)


def test_empty_frame_is_a_protocol_error() -> None:
    assert protocol_error(b"").reason == "empty frame"


def test_truncated_json_is_a_protocol_error() -> None:
    assert protocol_error(VALID_TRADE[:60]).reason.startswith("invalid JSON")


def test_number_as_string_in_a_trade_is_a_protocol_error_at_its_path() -> None:
    bad = VALID_TRADE.replace('"price":107100.01', '"price":"107100.01"')
    assert protocol_error(bad).path == "$.data.trades[0].price"


def test_unknown_direction_is_a_protocol_error_at_its_path() -> None:
    bad = VALID_TRADE.replace('"buy"', '"hold"')
    assert protocol_error(bad).path == "$.data.trades[0].direction"


def test_missing_field_is_a_protocol_error_naming_it() -> None:
    error = protocol_error(VALID_TRADE.replace('"symbol":"BTC_USDT",', ""))
    assert (error.reason, error.path) == ("Object missing required field `symbol`", "$.data")


def test_unknown_method_is_a_protocol_error_at_method() -> None:
    error = protocol_error(VALID_TRADE.replace("trade_update", "candles_update"))
    assert (error.reason, error.path) == ("Invalid value 'candles_update'", "$.method")


def test_frame_without_method_that_is_no_ack_is_a_protocol_error() -> None:
    assert protocol_error('{"id":0,"data":{"state":"ok"},"error":null}').path == "$.data"


def test_unparseable_price_in_a_book_is_a_protocol_error_at_its_path() -> None:
    bad = frame("depth_update").replace(b'"0.304313"', b'"0.30x"')
    assert protocol_error(bad).path == "$.data.asks[0][1]"


def test_non_finite_price_in_a_book_is_a_protocol_error() -> None:
    bad = frame("depth_update").replace(b'"106976.11"', b'"NaN"')
    assert protocol_error(bad).path == "$.data.bids[0][0]"


def test_unparseable_ticker_number_is_a_protocol_error_at_its_path() -> None:
    bad = frame("ticker_update").replace(b'"0.04"', b'"n/a"')
    assert protocol_error(bad).path == "$.data.price_change"


def test_update_with_an_error_object_is_an_error_reply() -> None:
    bad = VALID_TRADE.replace('"error":null', '"error":{"code":2,"message":"late"}')
    assert CryptomusCodec().decode(bad, RECV) == [ErrorReply("cryptomus", 2, "late", 0)]


def test_frame_of_several_megabytes_of_garbage_is_a_protocol_error() -> None:
    error = protocol_error(b'{"id":0,"method":"trade_update","data":' + b"x" * 5_000_000)
    assert len(error.excerpt) <= 203


def test_frame_of_several_megabytes_of_trades_decodes() -> None:
    one = '{"price":1.5,"quantity":2,"timestamp":1750953177,"direction":"sell"}'
    big = (
        '{"id":0,"method":"trade_update","data":{"symbol":"BTC_USDT","timestamp":1750953177,'
        f'"trades":[{",".join([one] * 60_000)}]}},"error":null}}'
    )
    assert len(big) > 4_000_000
    decoded = CryptomusCodec().decode(big, RECV)
    assert (len(decoded), decoded[-1]) == (60_000, trade(1.5, 2.0, "sell", 1750953177))


def test_deeply_nested_frame_is_a_protocol_error() -> None:
    nested = '{"id":0,"data":' + "[" * 100_000 + "]" * 100_000 + ',"error":null}'
    protocol_error(nested)


def test_frame_with_a_lone_surrogate_is_a_protocol_error() -> None:
    protocol_error('{"id":0,"method":"pong","data":null,"error":null,"x":"\ud800"}')


def test_protocol_error_excerpt_has_secrets_redacted() -> None:
    bad = f'{{"id":0,"method":"pong","token":"{TOKEN}","url":"wss://h/ws?token={TOKEN}","data":1}}'
    error = protocol_error(bad)
    assert TOKEN not in str(error) and error.excerpt.count("***") == 2


# --- properties --------------------------------------------------------------------------------

CODE = st.from_regex(r"\A[A-Z0-9]{2,8}\Z")
METHODS = ["trade_update", "depth_update", "ticker_update", "lastprice_update", "pong",
           "order_update", "deal_update", "balance_update", "trade_subscribe", "x"]  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
SHAPED = st.fixed_dictionaries(
    {},
    optional={
        "id": st.none() | st.integers() | st.text(max_size=3) | JSON,
        "method": st.sampled_from(METHODS) | JSON,
        "data": JSON
        | st.fixed_dictionaries(
            {},
            optional={
                "symbol": st.sampled_from(["BTC_USDT", ""]) | JSON,
                "timestamp": st.integers() | JSON,
                "full_reload": st.booleans(),
                "scale_index": st.integers(),
                "asks": st.lists(st.tuples(st.text(max_size=6), st.text(max_size=6)), max_size=2),
                "bids": st.lists(st.lists(JSON, max_size=3), max_size=2),
                "price": st.text(max_size=8) | JSON,
                "status": st.sampled_from(["success", "failure"]) | JSON,
                "trades": st.lists(
                    st.fixed_dictionaries(
                        {"price": JSON, "quantity": st.floats(), "timestamp": st.integers()},
                        optional={"direction": st.sampled_from(["buy", "sell"]) | JSON},
                    ),
                    max_size=2,
                ),
            },
        ),
        "error": st.none() | JSON | st.fixed_dictionaries({"code": JSON, "message": JSON}),
    },
)


@DETERMINISTIC
@given(base=CODE, quote=CODE)
def test_market_symbols_round_trip_through_instruments(base: str, quote: str) -> None:
    symbol = f"{base}_{quote}"
    assert (from_cryptomus(symbol), to_cryptomus(f"{base}/{quote}")) == (f"{base}/{quote}", symbol)
    assert to_cryptomus(from_cryptomus(symbol)) == symbol


@DETERMINISTIC
@given(st.lists(st.tuples(CODE, CODE), min_size=1, max_size=6))
def test_each_decoded_instrument_is_the_canonical_id_of_its_symbol(
    pairs: list[tuple[str, str]],
) -> None:
    codec = CryptomusCodec()  # one codec: symbols repeat and interleave, as on a feed
    pushes = [VALID_TRADE.replace("BTC_USDT", f"{b}_{q}") for b, q in pairs + pairs[::-1]]
    decoded = [codec.decode(push, RECV)[0] for push in pushes]
    assert [d.instrument for d in decoded] == [f"{b}/{q}" for b, q in pairs + pairs[::-1]]  # type: ignore[union-attr]


@DETERMINISTIC
@given(st.binary(max_size=300))
def test_decode_raises_only_protocol_errors_on_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(ProviderProtocolError):
        CryptomusCodec().decode(data, RECV)


@DETERMINISTIC
@given(st.text(max_size=200))
def test_decode_raises_only_protocol_errors_on_arbitrary_text(text: str) -> None:
    with contextlib.suppress(ProviderProtocolError):
        CryptomusCodec().decode(text, RECV)


@DETERMINISTIC
@given(SHAPED)
def test_decode_raises_only_protocol_errors_on_frame_shaped_objects(
    message: dict[str, object],
) -> None:
    with contextlib.suppress(ProviderProtocolError):
        CryptomusCodec().decode(json.dumps(message), RECV)
