"""The market-maker example: post-only quotes around the mid, re-quoted when the mid moves,
within an inventory limit, pulled when the feed drops.

Quotes are ``half_spread_bps`` = 5 from the mid, so on a mid of 100000 the bid is
100000 - 50 = 99950.00 and the ask 100000 + 50 = 100050.00. The account starts with 0.005
BTC so that both sides can be quoted (a spot account cannot sell what it does not hold).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from framework import events as ev
from framework.config import Config
from framework.exchange import ExchangeConfig
from framework.run import load_strategy
from framework.testing import RunResult, Scenario, run_strategy
from framework.testing.markets import trade_markets

ROOT = Path(__file__).resolve().parents[2]
MarketMaker, _ = load_strategy(str(ROOT / "strategies" / "market_maker.py"))
REPLAY = ROOT / "replays" / "cryptomus-btc-usdt.jsonl.gz"
PARAMS = {"size": "0.001", "half_spread_bps": 5.0, "requote_bps": 2.0, "max_inventory": "0.002"}
CONFIG = Config(exchange=ExchangeConfig(balances={"USDT": Decimal(10000), "BTC": Decimal("0.005")}))
BOOK = {"bids": [(99990, 1)], "asks": [(100010, 1)]}  # mid 100000


def quotes(result: RunResult) -> list[tuple[str, Decimal, str]]:
    return [(o.direction, Decimal(o.price), o.state or "open") for o in result.orders]


def run(scenario: Scenario, tmp_path: Path, **params: object) -> RunResult:
    return run_strategy(MarketMaker, scenario, config=CONFIG, params={**PARAMS, **params},
                        tmp_path=tmp_path)  # fmt: skip


def test_quotes_a_bid_and_an_ask_around_the_mid(tmp_path: Path) -> None:
    result = run(Scenario().book(0, **BOOK), tmp_path)
    assert quotes(result) == [
        ("buy", Decimal("99950"), "open"),
        ("sell", Decimal("100050"), "open"),
    ]


def test_leaves_quotes_alone_while_the_mid_moves_less_than_requote_bps(tmp_path: Path) -> None:
    # a better bid of 99995 moves the mid to 100002.5: 0.25 bp
    scenario = Scenario().book(0, **BOOK).book_update(1, bids=[(99995, 1)])
    assert len(run(scenario, tmp_path).orders) == 2


def test_requotes_when_the_mid_moves_requote_bps(tmp_path: Path) -> None:
    # mid 100030 (3 bp away): bid 100030 - 50.015 rounds down to 99979.98, ask up to 100080.02
    scenario = Scenario().book(0, **BOOK).book(1, bids=[(100020, 1)], asks=[(100040, 1)])
    assert quotes(run(scenario, tmp_path)) == [
        ("buy", Decimal("99950"), "cancelled"),
        ("sell", Decimal("100050"), "cancelled"),
        ("buy", Decimal("99979.98"), "open"),
        ("sell", Decimal("100080.02"), "open"),
    ]


def test_stops_bidding_when_another_bid_fill_would_pass_the_inventory_limit(
    tmp_path: Path,
) -> None:
    # A sell printed at 99940, through the bid, fills it: inventory +0.001. With a limit of
    # 0.001 another bid fill would make 0.002, so only the ask stays.
    scenario = Scenario().book(0, **BOOK).trade(1, 99940, 0.5, "sell").book(2, **BOOK)
    assert quotes(run(scenario, tmp_path, max_inventory="0.001")) == [
        ("buy", Decimal("99950"), "completed"),
        ("sell", Decimal("100050"), "open"),
    ]


def test_cancels_every_quote_when_the_feed_drops_and_requotes_on_the_next_book(
    tmp_path: Path,
) -> None:
    scenario = (
        Scenario()
        .book(0, **BOOK)
        .disconnect(1)
        .book_update(2, bids=[(99995, 1)])  # untrusted until a snapshot: no quotes
        .connect(3)
        .book(4, **BOOK)
    )
    assert quotes(run(scenario, tmp_path)) == [
        ("buy", Decimal("99950"), "cancelled"),
        ("sell", Decimal("100050"), "cancelled"),
        ("buy", Decimal("99950"), "open"),
        ("sell", Decimal("100050"), "open"),
    ]


def test_keeps_within_its_inventory_on_the_bundled_recording(tmp_path: Path) -> None:
    result = run_strategy(MarketMaker, REPLAY, tmp_path=tmp_path)
    result.assert_no_rejections()
    assert result.fills
    btc = [
        Decimal(e.data.info.newBalance)
        for e in result.events
        if isinstance(e, ev.BalanceUpdate) and e.data.info.currencyCode == "BTC"
    ]
    assert max(btc) <= Decimal("0.005")  # the default max_inventory, from no BTC


# --- property: on any market, only maker fills and inventory within the limit ----------------


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=trade_markets(max_steps=20))
def test_on_any_market_it_only_makes_and_keeps_inventory_within_the_limit(
    scenario: Scenario,
) -> None:
    result = run_strategy(MarketMaker, scenario, params=PARAMS)
    assert all(f.role == "maker" for f in result.fills)  # post-only: never takes liquidity
    assert result.max_position <= Decimal(PARAMS["max_inventory"])
    assert result.position("BTC/USDT") >= 0  # a spot account: never short
