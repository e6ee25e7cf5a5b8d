"""The market-data rule set at the codec edge: nonsense is dropped, counted and never traded on.

Each run-level test replays the failing input the hardening issue reported through the real
codecs, loop and paper exchange, and checks the account to the last unit.
"""

from __future__ import annotations

import gc
import logging
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from framework import events as ev
from framework.errors import ProviderProtocolError
from framework.providers.alltick import AllTickCodec
from framework.providers.cryptomus import CryptomusCodec
from framework.providers.finazon import FinazonCodec
from framework.providers.validation import MAX_DEPTH, Screen, too_deep
from framework.recording import (
    FORMAT,
    VERSION,
    Frame,
    Header,
    ProviderSpec,
    RecordingWriter,
    frame_from_wire,
)
from framework.strategy import Strategy
from framework.testing import Scenario, run_strategy

T0 = 1_750_953_600  # the scenario's start, Unix seconds
T0_NS = T0 * 1_000_000_000
DAY_NS = 86_400 * 1_000_000_000


class BuyOneAtMarket(Strategy):
    """Buys 1 BTC at market on the first trade it sees, once."""

    bought = False

    def on_trade(self, trade: ev.Trade) -> None:
        if not self.bought:
            self.bought = True
            self.buy_market(trade.instrument, quantity=Decimal(1))


class SellHalfAtMarket(Strategy):
    def on_trade(self, trade: ev.Trade) -> None:
        if self.position(trade.instrument) > 0:
            self.sell_market(trade.instrument, Decimal("0.5"))


class BuyOnFirstBar(Strategy):
    bought = False

    def on_bar(self, bar: ev.Bar) -> None:
        if not self.bought:
            self.bought = True
            self.buy_market(bar.instrument, quantity=Decimal(1))


def trade_frame(*trades: tuple[object, object, int]) -> str:
    items = ",".join(
        f'{{"price":{p},"quantity":{q},"timestamp":{ts},"direction":"buy"}}' for p, q, ts in trades
    )
    return (
        '{"id":0,"method":"trade_update","data":{"symbol":"BTC_USDT","timestamp":1750953600,'
        f'"trades":[{items}]}},"error":null}}'
    )


# --- runs: the reproductions ----------------------------------------------------------


def test_trades_at_a_negative_price_are_dropped_and_create_no_money(tmp_path: Path) -> None:
    scenario = Scenario("BTC/USDT").trade(0, -100.0, 1.0, "buy").trade(1, -100.0, 1.0, "buy")
    result = run_strategy(BuyOneAtMarket, scenario, tmp_path=tmp_path)
    assert result.fills == []
    assert result.balances["USDT"] == Decimal(10000)
    assert result.balances.get("BTC", Decimal(0)) == Decimal(0)
    assert result.summary["rejected_market_data"] == {"cryptomus": {"price": 2}}


def test_the_valid_trade_after_nonsense_is_traded_at_its_own_price(tmp_path: Path) -> None:
    scenario = Scenario("BTC/USDT").trade(0, -100.0, 1.0).trade(1, 0.0, 1.0).trade(2, 100.0, 0.0)
    scenario.trade(3, 100.0, 2.0).trade(4, 100.0, 2.0)
    result = run_strategy(BuyOneAtMarket, scenario, tmp_path=tmp_path)
    # Filled against the first valid trade: 1 BTC at 100, a 0.1 % taker fee of 0.1 USDT.
    assert [(f.price, f.quantity) for f in result.fills] == [(Decimal(100), Decimal(1))]
    assert result.balances["USDT"] == Decimal("9899.9")
    assert result.summary["rejected_market_data"] == {"cryptomus": {"price": 2, "size": 1}}


def test_a_sell_at_a_hostile_price_does_not_crash_the_exchange(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[exchange.balances]\nUSDT = "0"\nBTC = "1"\n')
    scenario = Scenario("BTC/USDT").trade(0, -1e6, 1.0).trade(1, 0.0, 1.0)
    result = run_strategy(SellHalfAtMarket, scenario, config=config, tmp_path=tmp_path)
    assert result.fills == []
    assert result.balances == {"BTC": Decimal(1), "USDT": Decimal(0)}
    assert result.summary["rejected_market_data"] == {"cryptomus": {"price": 2}}


def test_a_bar_opening_below_zero_is_dropped_and_fills_nothing(tmp_path: Path) -> None:
    scenario = Scenario("BTC/USDT").bar(0, -500, 10, -600, 5, 1).bar(60, 100, 90, 110, 100, 1)
    result = run_strategy(BuyOnFirstBar, scenario, tmp_path=tmp_path)
    assert result.fills == []
    assert result.balances["USDT"] == Decimal(10000)
    assert result.balances.get("BTC", Decimal(0)) == Decimal(0)
    # Each bar is dropped twice: as the forming update and as the frame that closes it.
    rejected = result.summary["rejected_market_data"]["finazon"]
    assert set(rejected) == {"price", "bar"} and all(n >= 1 for n in rejected.values())


def _recording(path: Path, frames: list[tuple[int, str]]) -> Path:
    header = Header(FORMAT, VERSION, (ProviderSpec("cryptomus"),))
    with RecordingWriter(path, header) as writer:
        writer.write([frame_from_wire("cryptomus", 1, t, text) for t, text in frames])
    return path


class KeepsTrades(Strategy):
    trade_history = 100
    seen: list[float]

    def on_start(self) -> None:
        self.seen = []

    def on_trade(self, trade: ev.Trade) -> None:
        self.seen.append(trade.price)
        self.trades(trade.instrument, 10)


def test_a_trade_stamped_beyond_2262_is_dropped_and_the_run_goes_on(tmp_path: Path) -> None:
    frames = [
        (T0_NS, trade_frame((100.5, 1, 9_999_999_999), (101.5, 1, T0))),  # one frame, two trades
        (T0_NS + 1, trade_frame((102.5, 1, T0))),
    ]
    result = run_strategy(KeepsTrades, str(_recording(tmp_path / "r.jsonl", frames)))
    strategy = result.strategies[0]
    assert isinstance(strategy, KeepsTrades)
    assert strategy.seen == [101.5, 102.5]  # the valid trade of the same frame went through
    assert result.summary["rejected_market_data"] == {"cryptomus": {"time": 1}}


def test_the_event_time_window_is_a_day_by_default_and_configurable(tmp_path: Path) -> None:
    two_days_late = T0 + 2 * 86_400
    frames = [(two_days_late * 1_000_000_000 + DAY_NS * 0, trade_frame((100.5, 1, T0)))]
    path = _recording(tmp_path / "r.jsonl", frames)
    strict = run_strategy(KeepsTrades, str(path))
    assert strict.summary["rejected_market_data"] == {"cryptomus": {"time": 1}}
    config = tmp_path / "c.toml"
    config.write_text("[run]\nevent_time_window_s = 259200\n")
    loose = run_strategy(KeepsTrades, str(path), config=config)
    assert loose.summary["rejected_market_data"] == {}
    assert loose.strategies[0].seen == [100.5]  # type: ignore[attr-defined]


# --- codecs: every provider drops what breaks the rules, keeps the rest ---------------------


def test_cryptomus_keeps_the_valid_trades_of_a_frame_with_bad_ones() -> None:
    codec = CryptomusCodec()
    frame = trade_frame((-1, 1, T0), (5, 1, T0), (7, 0, T0), (9, 2, T0))
    out = codec.decode(frame, T0_NS)
    assert [(t.price, t.size) for t in out if isinstance(t, ev.Trade)] == [(5.0, 1.0), (9.0, 2.0)]
    assert codec.screen.rejected == {"price": 1, "size": 1}


def test_cryptomus_book_drops_bad_levels_and_keeps_zero_size_removals() -> None:
    codec = CryptomusCodec()
    delta = (
        '{"id":0,"method":"depth_update","data":{"symbol":"BTC_USDT","timestamp":1750953600,'
        '"full_reload":false,"scale_index":0,"bids":[["100","0"],["-1","2"],["99","1"]],'
        '"asks":[["101","-3"]]},"error":null}'
    )
    [book] = codec.decode(delta, T0_NS)
    assert isinstance(book, ev.BookDelta)
    assert (book.bids, book.asks) == (((100.0, 0.0), (99.0, 1.0)), ())
    snapshot = delta.replace("false", "true")
    [book] = codec.decode(snapshot, T0_NS)
    assert isinstance(book, ev.BookSnapshot)
    assert (book.bids, book.asks) == (((99.0, 1.0),), ())  # size 0 is no level of a snapshot
    assert codec.screen.rejected == {"price": 2, "size": 3}


def test_cryptomus_ticker_and_last_price_below_zero_are_dropped() -> None:
    codec = CryptomusCodec()
    last = (
        '{"id":0,"method":"lastprice_update","data":{"symbol":"BTC_USDT",'
        '"timestamp":1750953600,"price":"-5"},"error":null}'
    )
    assert codec.decode(last, T0_NS) == []
    ticker = (
        '{"id":0,"method":"ticker_update","data":{"symbol":"BTC_USDT","timestamp":1750953600,'
        '"price":"0","open":"1","high":"2","low":"1","volume":"3","quote_volume":"4",'
        '"price_change":"-1"},"error":null}'
    )
    assert codec.decode(ticker, T0_NS) == []
    assert codec.screen.rejected == {"price": 2}


def test_alltick_drops_a_trade_at_price_zero_and_keeps_price_only_forex_ones() -> None:
    codec = AllTickCodec()
    frame = (
        '{"cmd_id":22998,"data":{"code":"EURUSD","seq":1,"tick_time":1750953600000,'
        '"price":"PRICE","volume":"0","trade_direction":0}}'
    )
    assert codec.decode(frame.replace("PRICE", "0"), T0_NS) == []
    [trade] = codec.decode(frame.replace("PRICE", "1.08"), T0_NS)
    assert isinstance(trade, ev.Trade) and (trade.price, trade.size) == (1.08, 0.0)
    assert codec.screen.rejected == {"price": 1}


def test_finazon_drops_a_bar_whose_high_is_below_its_low_before_it_forms() -> None:
    codec = FinazonCodec()
    frame = (
        '{"d":"kucoin","p":"kucoin","ch":"bars","f":"1s","aggr":"1m","s":"BTC/USDT",'
        '"t":1750953600,"o":10,"h":9,"l":11,"c":10,"v":1}'
    )
    assert codec.decode(frame, T0_NS) == []
    assert codec.flush(T0_NS) == []  # never entered the forming table either
    negative_volume = frame.replace('"h":9,"l":11', '"h":11,"l":9').replace('"v":1', '"v":-1')
    assert codec.decode(negative_volume, T0_NS) == []
    assert codec.screen.rejected == {"bar": 2}


def test_a_rule_is_logged_once_with_the_frame_receive_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    codec = CryptomusCodec()
    with caplog.at_level(logging.WARNING, "papertrade.validation"):
        for i in range(5):
            codec.decode(trade_frame((-1, 1, T0)), T0_NS + i)
    [record] = caplog.records
    assert "'price' rule" in record.getMessage()
    assert f"t={T0_NS}" in record.getMessage() and "BTC_USDT" in record.getMessage()
    assert codec.screen.rejected == {"price": 5}


def test_a_screen_returns_the_same_list_when_everything_is_valid() -> None:
    items = [ev.Trade("cryptomus", "BTC/USDT", "BTC_USDT", T0_NS, T0_NS, 1.0, 1.0, "buy")]
    assert Screen("cryptomus", DAY_NS)(items, T0_NS) is items


# --- nesting depth ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        ("[" * MAX_DEPTH + "]" * MAX_DEPTH, False),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), True),
        ('["' + "[" * 5000 + '"]', False),  # brackets inside a string do not nest
        ('["\\"' + "[" * 5000 + '"]', False),  # nor after an escaped quote
        ("[" + "[1]," * 5000 + "[1]]", False),  # wide, not deep
        ("{" * 3000, True),  # malformed and deep: refused before any decoder recurses
    ],
)
def test_too_deep_counts_nesting_outside_strings(text: str, deep: bool) -> None:
    assert too_deep(text) is deep


@pytest.mark.parametrize("codec", [CryptomusCodec(), AllTickCodec(), FinazonCodec()])
def test_a_thousand_levels_of_nesting_is_a_protocol_error_in_every_codec(codec: object) -> None:
    frame = '{"method":"trade_update","data":' + "[" * 1000 + "]" * 1000 + "}"
    with pytest.raises(ProviderProtocolError, match="nested deeper than 64 levels"):
        codec.decode(frame, T0_NS)  # type: ignore[attr-defined]


def test_a_deep_frame_is_recorded_as_text_and_replays_as_one_decode_error(
    tmp_path: Path,
) -> None:
    deep = '{"method":"trade_update","data":' + "[" * 1000 + "]" * 1000 + "}"
    line = frame_from_wire("cryptomus", 1, T0_NS, deep)
    assert isinstance(line, Frame) and line.s == deep
    frames = [(T0_NS, deep), (T0_NS + 1, trade_frame((100.5, 1, T0)))]
    result = run_strategy(KeepsTrades, str(_recording(tmp_path / "r.jsonl", frames)))
    assert result.summary["counts"]["decode_errors"] == 1
    assert result.strategies[0].seen == [100.5]  # type: ignore[attr-defined]


# --- bounded symbol caches ---------------------------------------------------------------------


def _retained_bytes(decode_all: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        kept = decode_all()  # what the codec keeps must not grow with the symbols' size
        gc.collect()
        size, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del kept
    return size


def test_huge_unique_cryptomus_symbols_are_dropped_and_not_cached() -> None:
    codec = CryptomusCodec()

    def decode_all() -> object:
        for i in range(300):
            symbol = f"{i}_" + "X" * 100_000
            frame = trade_frame((100, 1, T0)).replace("BTC_USDT", symbol)
            assert codec.decode(frame, T0_NS) == []
        return codec

    assert _retained_bytes(decode_all) < 2_000_000  # 300 symbols of 100 KB: 30 MB if kept
    assert codec.screen.rejected == {"symbol": 300}


def test_huge_unique_alltick_codes_are_dropped_and_not_cached() -> None:
    codec = AllTickCodec()
    frame = (
        '{"cmd_id":22998,"data":{"code":"CODE","seq":1,"tick_time":1750953600000,'
        '"price":"1.08","volume":"1","trade_direction":1}}'
    )

    def decode_all() -> object:
        for i in range(300):
            assert codec.decode(frame.replace("CODE", f"C{i}" + "Y" * 100_000), T0_NS) == []
        return codec

    assert _retained_bytes(decode_all) < 2_000_000
    assert codec.screen.rejected == {"symbol": 300}


def test_the_finazon_forming_bar_table_is_bounded() -> None:
    codec = FinazonCodec()
    frame = (
        '{"d":"kucoin","p":"kucoin","ch":"bars","f":"1s","aggr":"1m","s":"TICKER",'
        '"t":1750953600,"o":10,"h":11,"l":9,"c":10,"v":1}'
    )
    for i in range(5000):
        codec.decode(frame.replace("TICKER", f"T{i}/USDT"), T0_NS)
    flushed = codec.flush(T0_NS)
    assert len(flushed) == 4096 and codec.evicted_bars == 5000 - 4096
    assert "T4999/USDT" in {bar.symbol for bar in flushed}  # the oldest went first
    assert "T0/USDT" not in {bar.symbol for bar in flushed}
