"""framework.testing.markets: generated scenarios are valid market data, replay, shrink and paste."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import msgspec
from hypothesis import HealthCheck, find, given, settings

from framework.recording import ConnectedLine, DisconnectedLine, Frame
from framework.strategy import Strategy
from framework.testing import Scenario, run_strategy
from framework.testing.markets import bar_markets, trade_markets

SLOW = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}


class Watcher(Strategy):
    """Does nothing but look: every scenario must reach a strategy intact."""


def frames(scenario: Scenario) -> list[dict]:
    out = []
    for line in scenario.lines():
        if isinstance(line, Frame):
            out.append(msgspec.json.decode(bytes(line.payload())))
    return out


@settings(max_examples=20, **SLOW)
@given(scenario=trade_markets() | bar_markets())
def test_every_generated_scenario_decodes_and_replays(scenario: Scenario) -> None:
    result = run_strategy(Watcher, scenario)  # raises if a frame does not decode
    counts = result.summary["counts"]
    assert counts["decode_errors"] == 0 and counts["corrupt_lines"] == 0
    assert counts["frames"] == sum(isinstance(line, Frame) for line in scenario.lines())


@settings(max_examples=40, **SLOW)
@given(scenario=trade_markets())
def test_books_are_never_crossed_and_time_never_goes_back(scenario: Scenario) -> None:
    times = [line.t for line in scenario.lines()]
    assert times == sorted(times)
    for frame in frames(scenario):
        data = frame["data"]
        if frame["method"] == "depth_update":
            bids = [Decimal(p) for p, q in data["bids"]]
            asks = [Decimal(p) for p, q in data["asks"]]
            assert all(Decimal(q) > 0 for _, q in data["bids"] + data["asks"])
            assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
            if bids and asks:
                assert bids[0] < asks[0]
        else:
            assert all(t["price"] > 0 and t["quantity"] > 0 for t in data["trades"])


@settings(max_examples=20, **SLOW)
@given(scenario=trade_markets(steps=("crash",), max_steps=3))
def test_a_crash_takes_30_percent_off_within_a_second(scenario: Scenario) -> None:
    trades = [(f["data"]["timestamp"], t["price"]) for f in frames(scenario)
              if f["method"] == "trade_update" for t in f["data"]["trades"]]  # fmt: skip
    lines = [line for line in scenario.lines() if isinstance(line, Frame)]
    ts = [line.t for line in lines if b"trade_update" in bytes(line.payload())]
    prices = [price for _, price in trades]
    # some pair of trades less than a second apart lost at least 29.9 % (cents are rounded)
    assert any(
        prices[j] <= prices[i] * 0.701 and ts[j] - ts[i] <= 1_000_000_000
        for i in range(len(prices))
        for j in range(i + 1, len(prices))
    )


@settings(max_examples=20, **SLOW)
@given(scenario=bar_markets(steps=("long_wick",), max_bars=10))
def test_long_wicks_reach_beyond_the_body(scenario: Scenario) -> None:
    # each bar is two frames: the bar closed, then the next one opening flat at its close
    bars = [f for f in frames(scenario) if f["v"] > 0]
    assert bars
    for bar in bars:
        body_high, body_low = max(bar["o"], bar["c"]), min(bar["o"], bar["c"])
        assert bar["h"] > body_high or bar["l"] < body_low


@settings(max_examples=20, **SLOW)
@given(scenario=trade_markets() | bar_markets(max_bars=10))
def test_repr_is_python_that_builds_the_same_scenario(scenario: Scenario) -> None:
    pasted = eval(repr(scenario), {"Scenario": Scenario})
    assert pasted.lines() == scenario.lines()
    assert pasted.header() == scenario.header()


def test_shrinks_to_a_minimal_disconnect() -> None:
    def disconnects(scenario: Scenario) -> bool:
        return any(isinstance(line, DisconnectedLine) for line in scenario.lines())

    minimal = find(
        trade_markets(), disconnects, settings=settings(database=None, derandomize=True, **SLOW)
    )
    kinds = [type(line) for line in minimal.lines()]
    assert kinds.count(DisconnectedLine) == 1 and kinds.count(ConnectedLine) == 1
    # the opening book, the drop and the return, the fresh book and one trade: nothing else
    assert len(repr(minimal).splitlines()) == 2 + 5 + 1


def test_hypothesis_is_needed_only_by_the_markets_module() -> None:
    code = (
        "import sys; import framework.testing, framework.testing.plugin; "
        "assert 'hypothesis' not in sys.modules, 'imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
