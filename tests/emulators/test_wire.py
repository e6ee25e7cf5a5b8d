"""Renderers: hand-built happenings in, the documented wire text out, byte for byte."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from framework import events as ev
from framework.emulators.market import BarState, BookChange, TickerStats, TradePrint
from framework.emulators.wire import (
    AllTickRenderer,
    CryptomusRenderer,
    FinazonRenderer,
    WireFrame,
    acknowledge,
    plain,
)
from framework.errors import ConfigError
from framework.providers.alltick import AllTickCodec
from framework.providers.cryptomus import CryptomusCodec
from framework.providers.finazon import FinazonCodec

NS = 1_000_000_000
D = Decimal


def book(ts_s: int, bids: tuple[tuple[str, str], ...], asks: tuple[tuple[str, str], ...],
         changed_bids: tuple[tuple[str, str], ...] | None = None,
         changed_asks: tuple[tuple[str, str], ...] | None = None) -> BookChange:  # fmt: skip
    def levels(pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[Decimal, Decimal], ...]:
        return tuple((D(p), D(s)) for p, s in pairs)

    return BookChange(
        ts_s * NS, levels(bids), levels(asks),
        levels(bids if changed_bids is None else changed_bids),
        levels(asks if changed_asks is None else changed_asks),
    )  # fmt: skip


def texts(frames: list[WireFrame]) -> list[str]:
    return [f.text for f in frames]


# --- Cryptomus ---------------------------------------------------------------------------------


def test_cryptomus_trade_renders_the_documented_trade_update_then_a_lastprice() -> None:
    trade = TradePrint(1750953177 * NS + 250_000_000, D("107100.01"), D("0.000254"), "buy")
    frames = CryptomusRenderer("BTC_USDT").render([trade])
    assert texts(frames) == [
        '{"id":0,"method":"trade_update","data":{"symbol":"BTC_USDT","timestamp":1750953177,'
        '"trades":[{"price":107100.01,"quantity":0.000254,"timestamp":1750953177,'
        '"direction":"buy"}]},"error":null}',
        '{"id":0,"method":"lastprice_update","data":{"symbol":"BTC_USDT",'
        '"timestamp":1750953177,"price":"107100.01"},"error":null}',
    ]
    assert [f.ts_ns for f in frames] == [trade.ts_ns, trade.ts_ns]


def test_cryptomus_lastprice_alone_is_the_documented_frame() -> None:
    trade = TradePrint(1750953362 * NS, D("107152.55"), D("0.01"), "sell")
    frames = CryptomusRenderer("BTC_USDT", channels=("last_price",)).render([trade])
    assert texts(frames) == [
        '{"id":0,"method":"lastprice_update","data":{"symbol":"BTC_USDT",'
        '"timestamp":1750953362,"price":"107152.55"},"error":null}'
    ]


def test_cryptomus_prints_of_one_time_share_a_trade_update() -> None:
    ts = 1750953177 * NS
    burst = [
        TradePrint(ts, D("107100.01"), D("0.5"), "sell"),
        TradePrint(ts, D("107099.00"), D("2.000000"), "sell"),
        TradePrint(ts + 1, D("107101.00"), D("0.1"), "buy"),
    ]
    frames = CryptomusRenderer("BTC_USDT", channels=("trades",)).render(burst)
    assert texts(frames) == [
        '{"id":0,"method":"trade_update","data":{"symbol":"BTC_USDT","timestamp":1750953177,'
        '"trades":[{"price":107100.01,"quantity":0.5,"timestamp":1750953177,"direction":"sell"},'
        '{"price":107099,"quantity":2,"timestamp":1750953177,"direction":"sell"}]},"error":null}',
        '{"id":0,"method":"trade_update","data":{"symbol":"BTC_USDT","timestamp":1750953177,'
        '"trades":[{"price":107101,"quantity":0.1,"timestamp":1750953177,"direction":"buy"}]},'
        '"error":null}',
    ]


def test_cryptomus_first_depth_is_a_full_reload_then_partials_with_zero_for_removed() -> None:
    renderer = CryptomusRenderer("BTC_USDT")
    first = book(1750952910, (("106976.11", "0.5"), ("106975", "1.25")), (("107043.93", "0.3"),))
    second = book(
        1750952911, (("106975", "1.25"),), (("107043.93", "0.304313"),),
        changed_bids=(("106976.11", "0"),), changed_asks=(("107043.93", "0.304313"),),
    )  # fmt: skip
    assert texts(renderer.render([first, second])) == [
        '{"id":0,"method":"depth_update","data":{"symbol":"BTC_USDT","timestamp":1750952910,'
        '"full_reload":true,"scale_index":0,"asks":[["107043.93","0.3"]],'
        '"bids":[["106976.11","0.5"],["106975","1.25"]]},"error":null}',
        # The documented partial update, verbatim.
        '{"id":0,"method":"depth_update","data":{"symbol":"BTC_USDT","timestamp":1750952911,'
        '"full_reload":false,"scale_index":0,"asks":[["107043.93","0.304313"]],'
        '"bids":[["106976.11","0"]]},"error":null}',
    ]


def test_cryptomus_reset_makes_the_next_depth_a_full_reload_again() -> None:
    renderer = CryptomusRenderer("BTC_USDT", channels=("book",))
    change = book(1750952910, (("1", "2"),), (("3", "4"),), changed_bids=(), changed_asks=())
    renderer.render([change])
    renderer.reset()
    assert '"full_reload":true' in renderer.render([change])[0].text


def test_cryptomus_ticker_renders_the_documented_ticker_update() -> None:
    stats = TickerStats(
        1750953144 * NS, D("107090.35"), D("107042.21"), D("108248.15"), D("106573.19"),
        D("1531.027982"), D("164564314.80174687"), D("0.04"),
    )  # fmt: skip
    assert texts(CryptomusRenderer("BTC_USDT").render([stats])) == [
        '{"id":0,"method":"ticker_update","data":{"symbol":"BTC_USDT","timestamp":1750953144,'
        '"price":"107090.35","open":"107042.21","high":"108248.15","low":"106573.19",'
        '"volume":"1531.027982","quote_volume":"164564314.80174687","price_change":"0.04"},'
        '"error":null}'
    ]


def test_cryptomus_renders_only_its_channels() -> None:
    trade = TradePrint(1750953177 * NS, D("1"), D("1"), "buy")
    stats = TickerStats(1750953180 * NS, *(D("1"),) * 6, D("0.00"))
    change = book(1750953180, (("1", "1"),), (("2", "1"),))
    renderer = CryptomusRenderer("BTC_USDT", channels=("ticker",))
    assert [f.ts_ns for f in renderer.render([trade, change, stats])] == [stats.ts_ns]


def test_cryptomus_frames_decode_to_the_happenings_they_render() -> None:
    trade = TradePrint(1750953177 * NS + 5, D("107100.01"), D("0.000254"), "sell")
    change = book(1750953178, (("106976.11", "0.5"),), (("107043.93", "0.3"),))
    frames = CryptomusRenderer("BTC_USDT").render([trade, change])
    decoded = [e for f in frames for e in CryptomusCodec().decode(f.text, 99)]
    assert decoded == [
        ev.Trade("cryptomus", "BTC/USDT", "BTC_USDT", 1750953177 * NS, 99, 107100.01, 0.000254,
                 "sell"),
        ev.LastPrice("cryptomus", "BTC/USDT", "BTC_USDT", 1750953177 * NS, 99, 107100.01),
        ev.BookSnapshot("cryptomus", "BTC/USDT", "BTC_USDT", 1750953178 * NS, 99,
                        ((106976.11, 0.5),), ((107043.93, 0.3),)),
    ]  # fmt: skip


# --- AllTick -----------------------------------------------------------------------------------


def test_alltick_trade_push_has_ms_time_turnover_and_direction() -> None:
    buy = TradePrint(1750953177 * NS + 250_999_999, D("107100.01"), D("0.000254"), "buy")
    sell = TradePrint(1750953178 * NS, D("107100.00"), D("2.000000"), "sell")
    assert texts(AllTickRenderer("BTCUSDT").render([buy, sell])) == [
        # 107100.01 * 0.000254 = 27.20340254, worked by hand.
        '{"cmd_id":22998,"data":{"code":"BTCUSDT","seq":1,"tick_time":1750953177250,'
        '"price":"107100.01","volume":"0.000254","turnover":"27.20340254","trade_direction":1}}',
        '{"cmd_id":22998,"data":{"code":"BTCUSDT","seq":2,"tick_time":1750953178000,'
        '"price":"107100","volume":"2","turnover":"214200","trade_direction":2}}',
    ]


def test_alltick_forex_trade_has_no_turnover_and_direction_zero() -> None:
    trade = TradePrint(1750953177 * NS, D("1.07250"), D("100000"), "sell")
    frames = AllTickRenderer("EURUSD", depth_levels=1, forex=True).render([trade])
    assert texts(frames) == [
        '{"cmd_id":22998,"data":{"code":"EURUSD","seq":1,"tick_time":1750953177000,'
        '"price":"1.0725","volume":"100000","trade_direction":0}}'
    ]


def test_alltick_string_times_write_seq_and_tick_time_as_strings() -> None:
    trade = TradePrint(1750953177 * NS, D("1.0725"), D("1000"), "buy")
    frames = AllTickRenderer("EURUSD", forex=True, string_times=True).render([trade])
    assert '"seq":"1","tick_time":"1750953177000"' in frames[0].text


def test_alltick_book_push_is_the_top_levels_of_the_full_book() -> None:
    change = book(
        1750952911, (("106976.11", "0.5"), ("106975", "1.25"), ("106970", "3")),
        (("107043.93", "0.304313"), ("107044", "1"), ("107050", "2")),
        changed_bids=(), changed_asks=(),
    )  # fmt: skip
    assert texts(AllTickRenderer("BTCUSDT", depth_levels=2).render([change])) == [
        '{"cmd_id":22999,"data":{"code":"BTCUSDT","seq":1,"tick_time":1750952911000,'
        '"bids":[{"price":"106976.11","volume":"0.5"},{"price":"106975","volume":"1.25"}],'
        '"asks":[{"price":"107043.93","volume":"0.304313"},{"price":"107044","volume":"1"}]}}'
    ]


def test_alltick_forex_book_levels_carry_a_price_and_no_volume() -> None:
    change = book(1750952911, (("1.07249", "2000000"),), (("1.07250", "1500000"),))
    frames = AllTickRenderer("EURUSD", depth_levels=1, forex=True).render([change])
    assert texts(frames) == [
        '{"cmd_id":22999,"data":{"code":"EURUSD","seq":1,"tick_time":1750952911000,'
        '"bids":[{"price":"1.07249"}],"asks":[{"price":"1.0725"}]}}'
    ]
    # A price without a volume decodes as size unknown (NaN), compared by its text: NaN
    # equals nothing.
    [snap] = AllTickCodec().decode(frames[0].text, 7)
    assert repr(snap) == repr(
        ev.BookSnapshot("alltick", "EUR/USD", "EURUSD", 1750952911 * NS, 7,
                        ((1.07249, ev.UNKNOWN_SIZE),), ((1.0725, ev.UNKNOWN_SIZE),))
    )  # fmt: skip


def test_alltick_depth_levels_below_one_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="depth_levels 0"):
        AllTickRenderer("BTCUSDT", depth_levels=0)


# --- Finazon -----------------------------------------------------------------------------------


def bar(open_s: int, after_s: int, closed: bool = False) -> BarState:
    return BarState(
        (open_s + after_s) * NS, open_s * NS, D("220.06"), D("220.13"), D("219.92"),
        D("219.96"), D("4572"), 12, closed,
    )  # fmt: skip


def test_finazon_bar_frame_is_the_documented_candle_update() -> None:
    frames = FinazonRenderer("BTC/USDT", dataset="kucoin", frequency="1s").render(
        [bar(1699540020, 1)]
    )
    assert texts(frames) == [
        '{"d":"kucoin","p":"kucoin","ch":"bars","f":"1s","aggr":"1m","s":"BTC/USDT",'
        '"t":1699540020,"o":220.06,"h":220.13,"l":219.92,"c":219.96,"v":4572}'
    ]


def test_finazon_pushes_at_its_frequency_and_at_the_minute_close() -> None:
    states = [bar(1699540020, s) for s in (1, 9, 10, 15, 20, 59)] + [bar(1699540020, 60, True)]
    frames = FinazonRenderer("BTC/USDT", frequency="10s").render(states)
    assert [f.ts_ns for f in frames] == [(1699540020 + s) * NS for s in (10, 20, 60)]
    assert all('"f":"10s"' in f and '"t":1699540020' in f for f in texts(frames))


def test_finazon_one_minute_frequency_pushes_closed_bars_only() -> None:
    states = [bar(1699540020, 30), bar(1699540020, 60, True)]
    frames = FinazonRenderer("BTC/USDT", frequency="1m").render(states)
    assert [f.ts_ns for f in frames] == [(1699540020 + 60) * NS]


def test_finazon_an_undocumented_frequency_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'5s'"):
        FinazonRenderer("BTC/USDT", frequency="5s")  # type: ignore[arg-type]


def test_finazon_codec_closes_a_bar_with_the_values_of_its_closing_frame() -> None:
    closing = BarState(1699540080 * NS, 1699540020 * NS, D("1"), D("3"), D("0.5"), D("2"),
                       D("10.5"), 4, True)  # fmt: skip
    next_bar = BarState(1699540090 * NS, 1699540080 * NS, D("2"), D("2"), D("2"), D("2"),
                        D("1"), 1, False)  # fmt: skip
    codec = FinazonCodec("kucoin")
    frames = FinazonRenderer("BTC/USDT", frequency="10s").render([closing, next_bar])
    decoded = [e for f in frames for e in codec.decode(f.text, f.ts_ns)]
    closed = [e for e in decoded if isinstance(e, ev.Bar)]
    assert closed == [
        ev.Bar("finazon", "BTC/USDT", "BTC/USDT", 1699540020 * NS, 1699540090 * NS, 60 * NS,
               1.0, 3.0, 0.5, 2.0, 10.5)
    ]  # fmt: skip


# --- acknowledgements and numbers ---------------------------------------------------------------


def test_cryptomus_subscribe_is_acknowledged_as_documented() -> None:
    request = '{"id":0,"method":"trade_subscribe","params":["BTC_USDT"]}'
    assert acknowledge("cryptomus", request) == (
        '{"id":0,"method":"trade_subscribe","data":{"status":"success"},"error":null}'
    )


def test_alltick_subscribe_is_acknowledged_with_the_documented_reply() -> None:
    request = (
        '{"cmd_id":22004,"seq_id":106254124,"trace":"3baaa938-f92c-4a74-a228-fd49d5e2",'
        '"data":{"symbol_list":[{"code":"1288.HK"},{"code":"AAPL.US"}]}}'
    )
    documented = (
        '{"ret":200,"msg":"ok","cmd_id":22005,"seq_id":106254124,'
        '"trace":"3baaa938-f92c-4a74-a228-fd49d5e2","data":{}}'
    )
    # Same members; the AllTick Structs write cmd_id first, and key order carries no meaning.
    assert msgspec.json.decode(acknowledge("alltick", request)) == msgspec.json.decode(documented)


def test_finazon_subscribe_is_acknowledged_as_documented() -> None:
    request = (
        '{"event":"subscribe","dataset":"kucoin","tickers":["BTC/USDT","ALEX/USDT"],'
        '"channel":"bars","frequency":"1s","aggregation":"1m","request_id":106}'
    )
    assert acknowledge("finazon", request) == (
        '{"status":"success","code":"SUCCESS_SUBSCRIPTION","data":["BTC/USDT","ALEX/USDT"],'
        '"request_id":106}'
    )


def test_acknowledging_a_ping_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a subscription"):
        acknowledge("cryptomus", '{"id":0,"method":"ping","params":[]}')


def test_acknowledging_for_an_unknown_provider_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'binance'"):
        acknowledge("binance", "{}")


@pytest.mark.parametrize(
    ("value", "text"),
    [("107152.550", "107152.55"), ("0.000000", "0"), ("100", "100"), ("1E+2", "100"),
     ("0.00000100", "0.000001"), ("-0.50", "-0.5"), ("-0.000", "0")],
)  # fmt: skip
def test_plain_writes_decimals_without_exponent_or_trailing_zeros(value: str, text: str) -> None:
    assert plain(Decimal(value)) == text
