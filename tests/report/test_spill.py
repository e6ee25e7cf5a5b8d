"""Spilled series, and the statistics read back from them: the same values, the same bits.

The references below are the in-memory definitions the spilled passes replace (indexing into
whole lists, ``math.fsum`` over a list of episodes); every comparison is exact (``==`` on
floats), with series long enough to cross chunk boundaries.
"""

from __future__ import annotations

import gc
import math
import os
import random
import tracemalloc
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.exchange import DEFAULT_MARKETS
from framework.report import stats
from framework.report.results import MAX_POINTS, Fill, Results, _thin_spilled, thin
from framework.report.spill import CHUNK, Numbers, Pairs

MINUTE = 60 * 10**9


def reference_drawdowns(times_ns: list[int], equity: list[float]) -> stats.Drawdowns:
    peak, peak_ns = -math.inf, 0
    depth = worst = 0.0
    longest = 0
    episodes: list[float] = []
    for ts, value in zip(times_ns, equity, strict=True):
        if value >= peak:
            if depth > 0:
                episodes.append(depth)
                longest = max(longest, ts - peak_ns)
            peak, peak_ns, depth = value, ts, 0.0
        elif peak > 0:
            depth = max(depth, (peak - value) / peak)
            worst = max(worst, depth)
    if depth > 0:
        episodes.append(depth)
        longest = max(longest, times_ns[-1] - peak_ns)
    return stats.Drawdowns(worst, longest, math.fsum(episodes) / len(episodes) if episodes else 0.0)


def reference_daily_closes(times: list[int], equity: list[float], days: list[int]) -> list[float]:
    if not equity:
        return []
    closes = [equity[0]]
    i, n = 0, len(times)
    for day in days:
        end = (day + 1) * stats.DAY_NS
        while i + 1 < n and times[i + 1] < end:
            i += 1
        if times[i] < end:
            closes.append(equity[i])
    return closes


def walk(seed: int, n: int) -> tuple[list[int], list[float]]:
    """An equity curve sampled at ascending times (some equal), with falls and new peaks."""
    rng = random.Random(seed)
    times, values, ts, value = [], [], 0, 1000.0
    for _ in range(n):
        ts += rng.choice((0, MINUTE, 7 * MINUTE, 3 * 60 * MINUTE))
        value = max(0.0, value * (1 + rng.gauss(0, 0.01))) if rng.random() < 0.9 else value
        times.append(ts)
        values.append(value)
    return times, values


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), st.floats()), max_size=40),
    chunk=st.integers(1, 7),
)
def test_a_spill_reads_back_every_row_in_order_however_it_is_chunked(
    rows: list[tuple[int, float]], chunk: int
) -> None:
    spill = Pairs("qd", chunk)
    for row in rows:
        spill.append(*row)
    assert len(spill) == len(rows) == len(spill.column(0))
    times, values = [t for t, _ in rows], [v for _, v in rows]
    assert list(spill.column(0)) == times
    # bits, not ==: NaNs and signed zeros come back as they went in
    assert [math.copysign(1, v) for v in spill.column(1)] == [math.copysign(1, v) for v in values]
    assert [repr(v) for v in spill.column(1)] == [repr(v) for v in values]
    assert list(spill.column(0)) == times  # a column reads again from the start
    assert [spill.at(i, 0) for i in range(len(rows))] == times
    assert [x for part in spill.chunks(0) for x in part] == times
    spill.close()


def test_a_spill_keeps_one_chunk_in_memory_and_its_file_goes_with_it() -> None:
    before = len(os.listdir("/proc/self/fd"))
    spill = Pairs("qd", 100)
    for i in range(1_050):
        spill.append(i, i / 2)
    assert len(os.listdir("/proc/self/fd")) == before + 1  # one anonymous temporary file
    assert [len(part) for part in spill.chunks(0)] == [100] * 10 + [50]
    assert (spill.at(0, 1), spill.at(999, 1), spill.at(1_049, 1)) == (0.0, 499.5, 524.5)
    with pytest.raises(IndexError):
        spill.at(1_050, 0)
    spill.close()
    assert len(os.listdir("/proc/self/fd")) == before and len(spill) == 0
    dropped = Numbers("d", 10)
    for i in range(25):
        dropped.append(float(i))
    del dropped  # freed without close: the file is closed with it
    assert len(os.listdir("/proc/self/fd")) == before


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    n=st.one_of(
        st.integers(0, 50),
        st.sampled_from([CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, MAX_POINTS, MAX_POINTS + 1]),
        st.integers(MAX_POINTS - 3, 3 * CHUNK + 5),
    ),
    chunk=st.sampled_from([1, 3, 64, CHUNK]),
)
def test_statistics_of_a_spilled_curve_are_those_of_the_whole_list_to_the_bit(
    seed: int, n: int, chunk: int
) -> None:
    times, values = walk(seed, n)
    spill = Pairs("qd", chunk)
    for row in zip(times, values, strict=True):
        spill.append(*row)
    ts, eq = spill.column(0), spill.column(1)
    last_day = (times[-1] if times else 0) // stats.DAY_NS
    days = sorted({t // stats.DAY_NS for t in times[::5]} | {-1, last_day + 2})
    assert stats.daily_closes(ts, eq, days) == reference_daily_closes(times, values, days)
    if n:
        got, want = stats.drawdowns(ts, eq), reference_drawdowns(times, values)
        assert (got.maximum, got.longest_ns, got.average) == (
            want.maximum, want.longest_ns, want.average,
        )  # fmt: skip
    for limit in (2, 7, MAX_POINTS):
        assert _thin_spilled(spill, limit) == thin(times, values, limit)
    assert (stats.mean(eq), stats.stdev(eq), stats.sqn(eq), stats.profit_factor(eq)) == (
        stats.mean(values), stats.stdev(values), stats.sqn(values), stats.profit_factor(values),
    )  # fmt: skip
    spill.close()


def test_the_equity_curve_and_drawdowns_of_a_long_run_are_the_whole_curves() -> None:
    times, values = walk(7, 3 * CHUNK + 11)
    model = Results("USDT", DEFAULT_MARKETS)
    for row in zip(times, values, strict=True):
        model.add_equity(*row)
    s = model.finish(times[0], times[-1])
    dd = reference_drawdowns(times, values)
    assert model.curves()[0] == thin(times, values)
    assert len(model.curves()[0].ts_ns) <= MAX_POINTS
    assert (s.initial_equity, s.final_equity) == (round(values[0], 8), round(values[-1], 8))
    assert s.max_drawdown == round(dd.maximum, 10) and s.avg_drawdown == round(dd.average, 10)
    assert s.max_drawdown_duration_s == dd.longest_ns / 1e9


def _fill(strategy: str, at_s: int, side: str, price: str) -> Fill:
    px = D(price)
    return Fill(
        ts_ns=at_s * 10**9, strategy=strategy, instrument="BTC/USDT", symbol="BTC_USDT",
        order_id=f"o{at_s}", deal_id=f"d{at_s}", transaction_id=f"t{at_s}", side=side,  # type: ignore[arg-type]
        role="taker", price=px, quantity=D(1), value=px, fee=D(0), fee_currency="USDT",
    )  # fmt: skip


def test_exposure_and_trade_statistics_of_interleaved_strategies_over_many_trips() -> None:
    """Two strategies' trips overlap (closing order is not entry order): A holds [10k, 10k + 6),
    B holds [10k + 2, 10k + 4) and then [10k + 5, 10k + 8): 8 s of every 10 s are covered."""
    model = Results("USDT", DEFAULT_MARKETS)
    pnls = []
    for k in range(2_000):  # 6,000 trips: their intervals are spilled
        t = 10 * k
        a, b = 100 + k % 7, 100 + k % 5
        model.add_fill(_fill("A", t, "buy", "100"))
        model.add_fill(_fill("B", t + 2, "buy", "100"))
        model.add_fill(_fill("B", t + 4, "sell", str(b)))
        model.add_fill(_fill("B", t + 5, "buy", "100"))
        model.add_fill(_fill("A", t + 6, "sell", str(a)))
        model.add_fill(_fill("B", t + 8, "sell", "99"))
        pnls += [float(b - 100), float(a - 100), -1.0]
    s = model.finish(0, 20_000 * 10**9)
    assert s.exposure == 16_000 / 20_000
    assert s.round_trips == 6_000
    assert s.expectancy == round(math.fsum(pnls) / 6_000, 10)
    assert s.sqn == round(stats.sqn(pnls) or 0.0, 10)
    wins = math.fsum(p for p in pnls if p > 0)
    assert s.profit_factor == round(wins / 2_000, 10)


def _held_by_a_run(samples: int, trips: int) -> int:
    """Bytes a results model holds after ``samples`` equity samples and ``trips`` round trips
    (of one strategy, and of another in step with it), its statistics and curve computed."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        model = Results("USDT", DEFAULT_MARKETS, keep=False)
        for i in range(samples):
            model.add_equity(i * MINUTE, 1000.0 + i % 11)
        for k in range(trips):
            for name in ("A", "B"):
                model.add_fill(_fill(name, 10 * k, "buy", "100"))
                model.add_fill(_fill(name, 10 * k + 5, "sell", str(99 + k % 3)))
        model.finish(0, samples * MINUTE)
        model.curves()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_a_results_model_holds_as_much_after_a_long_run_as_after_a_short_one() -> None:
    # both spill every series, and leave the same rows in memory (a chunk's remainder)
    short = _held_by_a_run(2 * CHUNK + 100, CHUNK // 2 + 5)
    long = _held_by_a_run(20 * CHUNK + 100, 5 * CHUNK // 2 + 5)
    # kept in memory, the long run's 73,728 more samples and 16,384 more trips would be 1.5 MB
    assert long - short < 2_000, f"{long - short} more bytes held"
