"""Every statistic of docs/statistics.md, against a computation by hand on a small curve, and
against empyrical (a well-kept analytics library) where its definition is the same as ours."""

from __future__ import annotations

import itertools
import math
import statistics as py_stats
from decimal import Decimal as D

import empyrical
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework import events as ev
from framework.exchange import DEFAULT_MARKETS
from framework.report import stats
from framework.report.results import Fill, Results

DAY = stats.DAY_NS
HOUR = DAY // 24
# Six daily closes: up 10 %, down 10 %, back to 105, a new peak at 120, down 5 %.
CURVE = [100.0, 110.0, 99.0, 105.0, 120.0, 114.0]
TIMES = [i * DAY for i in range(len(CURVE))]
RETURNS = [0.1, -0.1, 6 / 99, 15 / 105, -0.05]


def test_returns_are_simple_returns_between_consecutive_closes() -> None:
    assert stats.returns_of(CURVE) == pytest.approx(RETURNS, rel=1e-15)


def test_drawdowns_by_hand() -> None:
    dd = stats.drawdowns(TIMES, CURVE)
    # 110 -> 99 is 10 % (recovered on day 4, three days after the peak); 120 -> 114 is 5 %,
    # still open at the end, one day long. Average of the two episodes' depths: 7.5 %.
    assert dd.maximum == pytest.approx(0.1, rel=1e-15)
    assert dd.longest_ns == 3 * DAY
    assert dd.average == pytest.approx(0.075, rel=1e-15)


def test_a_rising_curve_has_no_drawdown() -> None:
    dd = stats.drawdowns([0, 1, 2], [1.0, 2.0, 3.0])
    assert (dd.maximum, dd.longest_ns, dd.average) == (0.0, 0, 0.0)


def test_sharpe_sortino_volatility_cagr_calmar_by_hand() -> None:
    n, per_year = len(RETURNS), 365
    mean = sum(RETURNS) / n
    sd = math.sqrt(sum((r - mean) ** 2 for r in RETURNS) / (n - 1))
    downside = math.sqrt((0.1**2 + 0.05**2) / n)  # the two losing days; the rest count as 0
    growth = (114 / 100) ** (per_year / n) - 1
    assert stats.sharpe(RETURNS, per_year) == pytest.approx(mean / sd * math.sqrt(365), rel=1e-12)
    assert stats.annual_volatility(RETURNS, per_year) == pytest.approx(sd * math.sqrt(365))
    assert stats.sortino(RETURNS, per_year) == pytest.approx(mean / downside * math.sqrt(365))
    assert stats.cagr(100.0, 114.0, n, per_year) == pytest.approx(growth, rel=1e-12)
    assert stats.calmar(growth, 0.1) == pytest.approx(growth / 0.1)


def test_the_ratio_statistics_agree_with_empyrical() -> None:
    returns = pd.Series(RETURNS)
    for per_year in (252, 365):
        kw = {"annualization": per_year}
        growth = stats.cagr(CURVE[0], CURVE[-1], len(RETURNS), per_year)
        assert stats.sharpe(RETURNS, per_year) == pytest.approx(
            empyrical.sharpe_ratio(returns, **kw), rel=1e-12
        )
        assert stats.sortino(RETURNS, per_year) == pytest.approx(
            empyrical.sortino_ratio(returns, **kw), rel=1e-12
        )
        assert stats.annual_volatility(RETURNS, per_year) == pytest.approx(
            empyrical.annual_volatility(returns, **kw), rel=1e-12
        )
        assert growth == pytest.approx(empyrical.cagr(returns, **kw), rel=1e-12)
        maximum = stats.drawdowns(TIMES, CURVE).maximum
        assert -maximum == pytest.approx(empyrical.max_drawdown(returns), rel=1e-12)
        assert stats.calmar(growth, maximum) == pytest.approx(
            empyrical.calmar_ratio(returns, **kw), rel=1e-12
        )


@given(st.lists(st.floats(-0.5, 0.5, allow_nan=False), min_size=3, max_size=60))
def test_sharpe_and_sortino_agree_with_empyrical_on_any_returns(returns: list[float]) -> None:
    series = pd.Series(returns)
    ours, theirs = stats.sharpe(returns, 252), empyrical.sharpe_ratio(series, annualization=252)
    if ours is None:  # no variation: empyrical gives nan or inf
        assert not math.isfinite(theirs) or abs(theirs) > 1e6
    else:
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-9)
    ours = stats.sortino(returns, 252)
    if ours is not None:
        assert ours == pytest.approx(
            empyrical.sortino_ratio(series, annualization=252), rel=1e-9, abs=1e-9
        )


def test_no_variation_or_too_few_returns_give_none_not_zero() -> None:
    assert stats.sharpe([0.01, 0.01, 0.01], 365) is None
    assert stats.sharpe([0.01], 365) is None
    assert stats.sortino([0.01, 0.02], 365) is None  # no losing day: no downside
    assert stats.calmar(0.2, 0.0) is None


def test_daily_closes_take_each_active_days_last_sample() -> None:
    times = [0, 5 * HOUR, 23 * HOUR, DAY + HOUR, 3 * DAY + 2 * HOUR, 3 * DAY + 20 * HOUR]
    equity = [100.0, 101.0, 102.0, 103.0, 104.0, 105.0]
    # day 2 had no market data (a closed market): no close, no zero return for it
    assert stats.daily_closes(times, equity, [0, 1, 3]) == [100.0, 102.0, 103.0, 105.0]


def test_a_day_without_samples_closes_at_the_last_value_before_it() -> None:
    # equity sampled only when it changes: day 1 saw data but no change
    assert stats.daily_closes([0, 2 * DAY + 1], [100.0, 90.0], [0, 1, 2]) == [
        100.0, 100.0, 100.0, 90.0,
    ]  # fmt: skip


def test_periods_per_year_is_252_for_a_market_with_weekends_off() -> None:
    weekdays = [d for d in range(28) if d % 7 < 5]
    assert stats.periods_per_year(weekdays) == 252
    assert stats.periods_per_year(list(range(28))) == 365
    assert stats.periods_per_year([0]) == 365


def test_exposure_is_the_union_of_held_intervals() -> None:
    # two strategies holding at once count once: [10, 40] and [20, 50] -> [10, 50]; plus [80, 120]
    held = [(20, 50), (10, 40), (80, 120)]
    assert stats.exposure(held, 0, 100) == pytest.approx((40 + 20) / 100)
    assert stats.exposure([], 0, 100) == 0.0
    assert stats.exposure([(0, 5)], 5, 5) == 0.0


def test_trade_statistics_by_hand() -> None:
    pnls = [10.0, -4.0, 6.0, -2.0]
    assert stats.profit_factor(pnls) == pytest.approx(16 / 6)
    assert stats.profit_factor([1.0, 2.0]) is None
    sd = py_stats.stdev(pnls)  # sample standard deviation, as backtesting.py's SQN uses
    assert stats.sqn(pnls) == pytest.approx(math.sqrt(4) * 2.5 / sd)
    assert stats.mean(pnls) == 2.5


def _fill(at_s: int, side: str, qty: str, price: str) -> Fill:
    q, p = D(qty), D(price)
    return Fill(
        ts_ns=at_s * 10**9, strategy="S", instrument="BTC/USDT", symbol="BTC_USDT",
        order_id=str(at_s), deal_id=str(at_s), transaction_id=str(at_s), side=side,  # type: ignore[arg-type]
        role="taker", price=p, quantity=q, value=q * p, fee=q * p / 1000, fee_currency="USDT",
    )  # fmt: skip


def _bar(day: int, close: float) -> ev.Bar:
    at = day * DAY
    return ev.Bar("finazon", "BTC/USDT", "BTC/USDT", at - DAY, at, DAY, close, close, close, close, 1.0)  # fmt: skip


def test_the_summary_statistics_of_a_hand_made_run() -> None:
    """A 30-day run: daily bars, equity sampled once a day, two round trips."""
    model = Results("USDT", DEFAULT_MARKETS)
    closes = [100.0 + (day % 5) for day in range(31)]
    equity = [1000.0 + 10 * (day % 3) for day in range(31)]
    for day in range(31):
        model.on_bar(_bar(day, closes[day]))
        model.add_equity(day * DAY + 1, equity[day])
        if day == 2:
            model.add_fill(_fill(day * 86_400 + 1, "buy", "1", "102"))
        if day == 4:
            model.add_fill(_fill(day * 86_400 + 1, "sell", "1", "104"))  # +2, fees 0.206
        if day == 6:
            model.add_fill(_fill(day * 86_400 + 1, "buy", "2", "101"))
        if day == 8:
            model.add_fill(_fill(day * 86_400 + 1, "sell", "2", "103"))  # +4, fees 0.408
    s = model.finish(0, 30 * DAY + 1, ["S"])
    # the first return is the first day's, from the starting equity to that day's close (0 here)
    returns = [0.0] + [b / a - 1 for a, b in itertools.pairwise(equity)]
    assert s.daily_returns == 31 and s.periods_per_year == 365 and s.annualised_note is None
    assert s.sharpe == pytest.approx(empyrical.sharpe_ratio(pd.Series(returns), annualization=365))
    assert s.total_return == pytest.approx(equity[-1] / 1000 - 1)
    assert s.buy_and_hold_return == pytest.approx(closes[-1] / closes[0] - 1)
    assert (s.round_trips, s.open_trips, s.win_rate) == (2, 0, 1.0)
    assert s.expectancy == pytest.approx((2 - 0.206 + 4 - 0.408) / 2)
    assert s.best_trade == pytest.approx((4 - 0.408) / 202)
    assert s.worst_trade == pytest.approx((2 - 0.206) / 102)
    assert s.profit_factor is None  # no losing trade
    assert s.exposure == pytest.approx(4 * DAY / (30 * DAY + 1))
    assert s.fees_total == pytest.approx(0.206 + 0.408)
    assert s.traded_value == pytest.approx(102 + 104 + 202 + 206)
    assert s.turnover == pytest.approx(614 / 1000)


def test_a_short_run_reports_annualised_figures_as_null_with_a_reason() -> None:
    model = Results("USDT", DEFAULT_MARKETS)
    for minute in range(480):
        model.add_equity(minute * 60 * 10**9, 1000.0 + minute % 7)
        model.on_bar(_bar(0, 100.0))
    s = model.finish(0, 480 * 60 * 10**9)
    assert (s.sharpe, s.sortino, s.cagr, s.volatility, s.calmar) == (None,) * 5
    assert s.annualised_note == (
        "annualised figures need at least 20 daily returns; this run has 1"
    )


@given(st.lists(st.floats(min_value=-1e300, max_value=1e300), max_size=60))
def test_exact_sum_is_fsum_to_the_bit(values: list[float]) -> None:
    total = stats.ExactSum()
    for value in values:
        total.add(value)
    expected = math.fsum(values)
    assert total.count == len(values)
    assert total.value == expected and math.copysign(1, total.value) == math.copysign(1, expected)


def test_exact_sum_keeps_what_plain_addition_loses() -> None:
    total = stats.ExactSum()
    for value in (1e16, 1.0, -1e16, 1.0):
        total.add(value)
    assert total.value == 2.0  # left-to-right float addition gives 1.0
