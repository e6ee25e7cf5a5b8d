"""The seeded market model: determinism, grids, the book, bars, and the shape of its randomness."""

from __future__ import annotations

import functools
import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import TypeVar

import msgspec
import pytest

from framework.emulators.market import (
    BarState,
    BookChange,
    Happening,
    MarketModel,
    MarketParams,
    TickerStats,
    TradePrint,
    preset,
)
from framework.errors import ConfigError

NS = 1_000_000_000
START = 1_750_953_600 * NS  # 2025-06-26 16:00:00 UTC, minute-aligned
BTC = preset("BTC/USDT")
T = TypeVar("T")
EURUSD = preset("EUR/USD")


@functools.cache
def run(params: MarketParams, seed: int, seconds: int) -> tuple[Happening, ...]:
    """The model's happenings from START for ``seconds`` (cached: several tests share a run)."""
    return tuple(MarketModel(params, seed, START).advance_to(START + seconds * NS))


def of_type(happenings: Sequence[Happening], kind: type[T]) -> list[T]:
    return [h for h in happenings if isinstance(h, kind)]


def mids_per_second(happenings: Sequence[Happening], seconds: int) -> list[float]:
    """The book mid at each whole second, from the last book change at or before it."""
    mids, last = [], 0.0
    books = iter(of_type(happenings, BookChange))
    book = next(books, None)
    for second in range(seconds + 1):
        while book is not None and book.ts_ns <= START + second * NS:
            last = float(book.bids[0][0] + book.asks[0][0]) / 2
            book = next(books, None)
        mids.append(last)
    return mids


def mean_abs_return_autocorrelation(mids: list[float], lags: int = 10) -> float:
    moves = [abs(math.log(b / a)) for a, b in itertools.pairwise(mids)]
    mean = statistics.fmean(moves)
    var = sum((m - mean) ** 2 for m in moves)
    acf = [
        sum((moves[i] - mean) * (moves[i + lag] - mean) for i in range(len(moves) - lag)) / var
        for lag in range(1, lags + 1)
    ]
    return statistics.fmean(acf)


def test_same_seed_gives_the_same_happenings() -> None:
    first = MarketModel(BTC, 7, START).advance_to(START + 90 * NS)
    second = MarketModel(BTC, 7, START).advance_to(START + 90 * NS)
    assert first == second


def test_different_seeds_give_different_markets() -> None:
    first = of_type(run(BTC, 7, 30), TradePrint)
    second = of_type(run(BTC, 8, 30), TradePrint)
    assert first[:20] != second[:20]


def test_how_finely_the_model_is_stepped_does_not_change_the_market() -> None:
    whole = run(BTC, 3, 60)
    model = MarketModel(BTC, 3, START)
    pieces: list[Happening] = []
    t = START
    for step_ns in (1, 33_333_333, 250_000_000, 7 * NS, 123_456_789) * 20:
        t = min(t + step_ns, START + 60 * NS)
        pieces += model.advance_to(t)
    pieces += model.advance_to(START + 60 * NS)
    assert pieces == list(whole)


def test_what_is_published_does_not_change_the_market() -> None:
    quiet = msgspec.structs.replace(BTC, book_interval_ns=0, bar_update_ns=0, ticker_interval_ns=0)
    assert of_type(run(quiet, 3, 60), TradePrint) == of_type(run(BTC, 3, 60), TradePrint)
    assert not [h for h in run(quiet, 3, 60) if not isinstance(h, TradePrint | BarState)]


def test_advance_returns_happenings_up_to_the_time_inclusive_and_in_order() -> None:
    model = MarketModel(BTC, 5, START)
    first = model.advance_to(START + 10 * NS)
    second = model.advance_to(START + 20 * NS)
    assert all(h.ts_ns <= START + 10 * NS for h in first)
    assert all(START + 10 * NS < h.ts_ns <= START + 20 * NS for h in second)
    times = [h.ts_ns for h in first + second]
    assert times == sorted(times)


@pytest.mark.parametrize("params", [BTC, EURUSD], ids=["BTC/USDT", "EUR/USD"])
def test_prices_and_sizes_sit_on_their_grids_and_are_positive(params: MarketParams) -> None:
    happenings = run(params, 11, 120)
    prices = [t.price for t in of_type(happenings, TradePrint)]
    sizes = [t.size for t in of_type(happenings, TradePrint)]
    for book in of_type(happenings, BookChange):
        prices += [p for p, _ in book.bids + book.asks]
        sizes += [s for _, s in book.bids + book.asks]
    assert prices and sizes
    assert all(p > 0 and p % params.tick == 0 for p in prices)
    assert all(s > 0 and s % params.size_step == 0 for s in sizes)


def test_the_book_is_never_crossed_and_is_sorted_best_first() -> None:
    for book in of_type(run(BTC, 13, 180), BookChange):
        bids = [p for p, _ in book.bids]
        asks = [p for p, _ in book.asks]
        assert bids[0] < asks[0]
        assert bids == sorted(bids, reverse=True)
        assert asks == sorted(asks)
        assert len(bids) == len(asks) == BTC.book_levels


def test_forex_book_has_one_level_a_spread_of_a_few_ticks() -> None:
    for book in of_type(run(EURUSD, 13, 120), BookChange):
        assert len(book.bids) == len(book.asks) == 1
        spread_ticks = (book.asks[0][0] - book.bids[0][0]) / EURUSD.tick
        assert 1 <= spread_ticks <= EURUSD.spread_ticks_max


def test_each_book_change_applied_to_the_last_book_gives_the_new_book() -> None:
    books = of_type(run(BTC, 17, 120), BookChange)
    for before, after in itertools.pairwise(books):
        for side, changed, new in (
            (before.bids, after.changed_bids, after.bids),
            (before.asks, after.changed_asks, after.asks),
        ):
            levels = dict(side)
            for price, size in changed:
                if size == 0:
                    del levels[price]
                else:
                    levels[price] = size
            assert sorted(levels.items()) == sorted(new)


def test_book_changes_resize_remove_and_add_levels() -> None:
    books = of_type(run(BTC, 19, 60), BookChange)
    removed = resized = added = 0
    for before, after in itertools.pairwise(books):
        old = dict(before.bids + before.asks)
        for price, size in after.changed_bids + after.changed_asks:
            if size == 0:
                removed += 1
            elif price in old:
                resized += 1
            else:
                added += 1
    assert removed > 0 and resized > 0 and added > 0


def test_the_first_book_change_lists_every_level_as_changed() -> None:
    first = of_type(run(BTC, 23, 1), BookChange)[0]
    assert first.ts_ns == START
    assert first.changed_bids == first.bids and first.changed_asks == first.asks


def test_closed_bars_are_the_ohlcv_of_the_trades_in_their_minute() -> None:
    happenings = run(BTC, 29, 300)
    by_minute: dict[int, list[TradePrint]] = defaultdict(list)
    for trade in of_type(happenings, TradePrint):
        by_minute[trade.ts_ns - trade.ts_ns % (60 * NS)].append(trade)
    bars = [b for b in of_type(happenings, BarState) if b.closed]
    assert [b.open_ns for b in bars] == [START + m * 60 * NS for m in range(5)]
    for bar in bars:
        trades = by_minute[bar.open_ns]
        assert bar.ts_ns == bar.open_ns + 60 * NS
        assert bar.open == trades[0].price and bar.close == trades[-1].price
        assert bar.high == max(t.price for t in trades)
        assert bar.low == min(t.price for t in trades)
        assert bar.volume == sum(t.size for t in trades)
        assert bar.trades == len(trades)


def test_a_forming_bar_holds_the_trades_of_its_minute_so_far() -> None:
    happenings = run(BTC, 31, 120)
    trades = of_type(happenings, TradePrint)
    forming = [b for b in of_type(happenings, BarState) if not b.closed]
    assert len(forming) == 2 * 59  # every second but the minute's end, which closes the bar
    for bar in forming:
        so_far = [t for t in trades if bar.open_ns <= t.ts_ns < bar.ts_ns]
        assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
            so_far[0].price,
            max(t.price for t in so_far),
            min(t.price for t in so_far),
            so_far[-1].price,
            sum(t.size for t in so_far),
        )


def test_ticker_statistics_sum_the_trades_since_the_start() -> None:
    happenings = run(BTC, 37, 60)
    ticker = of_type(happenings, TickerStats)[-1]
    trades = [t for t in of_type(happenings, TradePrint) if t.ts_ns < ticker.ts_ns]
    assert ticker.ts_ns == START + 60 * NS
    assert ticker.open == BTC.start_price
    assert ticker.price == trades[-1].price
    assert ticker.high == max([BTC.start_price] + [t.price for t in trades])
    assert ticker.low == min([BTC.start_price] + [t.price for t in trades])
    assert ticker.volume == sum(t.size for t in trades)
    assert ticker.quote_volume == sum(t.price * t.size for t in trades)
    expected_change = (100 * (ticker.price - ticker.open) / ticker.open).quantize(Decimal("0.01"))
    assert ticker.price_change == expected_change


def test_volatility_clusters_where_a_constant_volatility_market_does_not() -> None:
    # Mean autocorrelation of absolute 1-second mid returns over lags 1..10, ten minutes.
    # With clustering it was 0.09-0.33 over seeds 1-12; with constant volatility |x| < 0.03.
    flat = msgspec.structs.replace(
        BTC, garch_alpha=0.0, garch_beta=0.0, calm_mult=1.0, storm_mult=1.0
    )
    clustered = mean_abs_return_autocorrelation(mids_per_second(run(BTC, 7, 600), 600))
    constant = mean_abs_return_autocorrelation(mids_per_second(run(flat, 7, 600), 600))
    assert clustered > 0.08
    assert abs(constant) < 0.04


def test_trades_arrive_faster_when_the_market_moves_more() -> None:
    happenings = run(BTC, 7, 600)
    mids = mids_per_second(happenings, 600)
    counts = [0] * 60
    for trade in of_type(happenings, TradePrint):
        counts[(trade.ts_ns - START) // (10 * NS)] += 1
    moves = [abs(math.log(mids[10 * i + 10] / mids[10 * i])) for i in range(60)]
    assert statistics.correlation(moves, counts) > 0.3


def test_aggressor_side_leans_toward_the_next_move() -> None:
    happenings = run(BTC, 7, 600)
    mids = mids_per_second(happenings, 600)
    flow = [0] * 600
    for trade in of_type(happenings, TradePrint):
        flow[(trade.ts_ns - START) // NS] += 1 if trade.side == "buy" else -1
    changes = [mids[i + 1] - mids[i] for i in range(600)]
    assert statistics.correlation(flow, changes) > 0.08


def test_a_start_off_the_step_grid_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a multiple of step_ns"):
        MarketModel(BTC, 1, START + 1)


def test_a_cadence_off_the_step_grid_is_a_config_error() -> None:
    params = msgspec.structs.replace(BTC, book_interval_ns=150_000_000)
    with pytest.raises(ConfigError, match="book_interval_ns"):
        MarketModel(params, 1, START)


def test_an_instrument_without_a_preset_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no market preset for 'DOGE/USDT'"):
        preset("DOGE/USDT")
