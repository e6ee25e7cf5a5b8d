"""Invariants over random order sequences and random market data (hypothesis).

Three markets share one account: BTC/USDT gets an L2 book and trades, ETH/USDT trades only,
AAPL.US bars only. After every step the checker asserts, from the emitted events and the
exchange's answers:

* no available or held balance is negative;
* held funds equal what open orders reserve;
* each currency's total changes only by fills and fees (replayed from the deal_updates);
* every available-balance change is reported by a balance_update, none of them of nothing;
* no order fills more than its quantity (or spends more than its value);
* an order's deals add up to its filled quantity and value;
* an order is finished at most once and gets no event after that;
and, separately, that the same inputs and seed give the same events.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal as D
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework import events as ev
from framework.errors import PapertradeError
from framework.exchange import ExchangeConfig, OrderRequest, PaperExchange
from framework.money import from_float, quantize
from framework.providers.validation import DEFAULT_WINDOW_NS, Screen
from tests.exchange.conftest import feed

NS = 1_000_000_000
T0 = 1_750_696_376 * NS
BAR_NS = 10_000_000
BALANCES = {"USDT": D(1000), "BTC": D(2), "ETH": D(5), "USD": D(5000), "AAPL": D(10)}
PRICES = [95 + 0.5 * i for i in range(21)]
SIZES = [0.1, 0.25, 0.5, 1.0, 2.0]
QUANTITIES = {"BTC/USDT": ["0.1", "0.3", "0.5", "1", "2"], "ETH/USDT": ["0.1", "0.5", "1", "3"]}
QUANTITIES["AAPL.US"] = ["1", "2", "5"]
CURRENCIES = {"BTC_USDT": ("BTC", "USDT"), "ETH_USDT": ("ETH", "USDT"), "AAPL.US": ("AAPL", "USD")}

levels = st.lists(st.tuples(st.sampled_from(PRICES), st.sampled_from([*SIZES, 0.0])), max_size=4)
trades = st.tuples(
    st.just("trade"),
    st.sampled_from(["BTC/USDT", "ETH/USDT"]),
    st.sampled_from(PRICES),
    st.sampled_from(SIZES),
)
bars = st.tuples(st.just("bar"), st.lists(st.sampled_from(PRICES), min_size=4, max_size=4))
market_ops = st.one_of(
    st.tuples(st.just("book"), levels, levels),
    st.tuples(st.just("delta"), levels, levels),
    trades,
    trades,
    bars,
    bars,
    st.tuples(st.just("last"), st.sampled_from(["BTC/USDT", "ETH/USDT"]), st.sampled_from(PRICES)),
    st.tuples(st.just("disconnect")),
)
order_ops = st.tuples(
    st.just("order"),
    st.sampled_from(["BTC/USDT", "ETH/USDT", "AAPL.US"]),
    st.sampled_from(["buy", "sell"]),
    st.sampled_from(["limit", "limit", "market_qty", "market_value"]),
    st.integers(0, 4),  # quantity index
    st.sampled_from(PRICES),
    st.sampled_from(["gtc", "gtc", "ioc", "fok"]),
    st.sampled_from([False, False, False, True]),  # post-only
    st.sampled_from([None, -2.0, 2.0]),  # stop-loss offset from the price
    st.sampled_from(["10", "50", "150"]),  # value of a market buy by value
)
cancel_ops = st.tuples(st.just("cancel"), st.integers(0, 30))
steps = st.lists(
    st.tuples(
        st.integers(0, 3), st.one_of(market_ops, market_ops, order_ops, order_ops, cancel_ops)
    ),
    min_size=15,
    max_size=60,
)
PRELUDE: list[tuple[int, Any]] = [  # every market starts with some data
    (0, ("book", [(99.5, 1.0), (99.0, 2.0)], [(100.5, 1.0), (101.0, 2.0)])),
    (0, ("trade", "ETH/USDT", 100.0, 1.0)),
    (0, ("bar", [100.0, 101.0, 99.0, 100.5])),
]
setups = st.tuples(
    st.sampled_from([0, 50]),  # latency, ms
    st.sampled_from([0.0, 0.5, 1.0]),  # queue_when_depth_unknown
    st.integers(0, 3),  # seed
    st.sampled_from([("0", "0"), ("0.1", "0.2"), ("0.25", "0.1")]),  # maker, taker fee %
)
Setup = tuple[int, float, int, tuple[str, str]]


def _market(instrument: str, ts: int, venue: str = "cryptomus") -> dict[str, Any]:
    symbol = instrument.replace("/", "_")
    return {
        "venue": venue,
        "instrument": instrument,
        "symbol": symbol,
        "ts_event_ns": ts,
        "ts_recv_ns": ts,
    }


def _request(op: tuple[Any, ...]) -> OrderRequest:
    _, inst, direction, kind, qi, price, tif, post, stop, value = op
    qtys = QUANTITIES[inst]
    qty = D(qtys[qi % len(qtys)])
    if kind == "limit":
        stop_price = None if stop is None else D(str(price + stop))
        return OrderRequest(
            instrument=inst, direction=direction, type="limit", quantity=qty, price=D(str(price)),
            time_in_force=tif, post_only=post, stop_loss_price=stop_price,
        )  # fmt: skip
    if kind == "market_value" and direction == "buy":
        return OrderRequest(instrument=inst, direction="buy", type="market", value=D(value))
    return OrderRequest(instrument=inst, direction=direction, type="market", quantity=qty)


def _apply(
    x: PaperExchange, op: tuple[Any, ...], ts: int, ids: list[str], deliver: Any = feed
) -> None:
    kind = op[0]
    if kind == "book":
        deliver(x, ev.BookSnapshot(**_market("BTC/USDT", ts), bids=tuple(op[1]), asks=tuple(op[2])))
    elif kind == "delta":
        deliver(x, ev.BookDelta(**_market("BTC/USDT", ts), bids=tuple(op[1]), asks=tuple(op[2])))
    elif kind == "trade":
        deliver(x, ev.Trade(**_market(op[1], ts), price=op[2], size=op[3], side="sell"))
    elif kind == "bar":
        o, c = op[1][0], op[1][3]
        # Short bars, so that orders sent a step earlier take part in the next one.
        fields = _market("AAPL.US", ts, "finazon") | {"ts_event_ns": ts - BAR_NS}
        bar = ev.Bar(
            **fields,
            interval_ns=BAR_NS,
            open=o,
            high=max(op[1]),
            low=min(op[1]),
            close=c,
            volume=1.0,
        )
        deliver(x, bar)
    elif kind == "last":
        deliver(x, ev.LastPrice(**_market(op[1], ts), price=op[2]))
    elif kind == "disconnect":
        x.state.disconnect("cryptomus")
    elif kind == "order":
        ids.append(x.submit(_request(op), ts))
    elif kind == "cancel" and ids:
        x.cancel(ids[op[1] % len(ids)], ts)


@dataclass
class Checker:
    """Replays the event stream and compares it with the exchange after every step."""

    x: PaperExchange
    seen: int = 0
    available: dict[str, D] = field(default_factory=lambda: dict(BALANCES))
    totals: dict[str, D] = field(default_factory=lambda: dict(BALANCES))
    deals: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    waiting_deals: list[dict[str, Any]] = field(default_factory=list)
    finished: set[str] = field(default_factory=set)

    def check(self, events: list[ev.PrivateEvent]) -> None:
        for event in events[self.seen :]:
            self._event(msgspec.to_builtins(event))
        self.seen = len(events)
        for currency in sorted(set(self.available) | set(self.x.balances())):
            available, held = self.x.balance(currency)
            assert available >= 0 and held >= 0, currency
            assert available == self.available.get(currency, D(0)), currency
            assert available + held == self.totals.get(currency, D(0)), currency
            reserved = sum(
                (
                    o.reserve
                    for o in self.x._exec.orders.values()
                    if o.is_open and o.hold_currency == currency
                ),
                D(0),
            )  # the exchange's own per-order reserves: nothing public shows them
            assert held == reserved, currency

    def _event(self, frame: dict[str, Any]) -> None:
        method, info = frame["method"], frame["data"]["info"]
        if method == "balance_update":
            self._balance(info)
        elif method == "deal_update":
            self.waiting_deals.append(info)
        elif method == "order_update":
            self._order(frame["data"]["type"], info)

    def _balance(self, info: dict[str, Any]) -> None:
        currency, amount, old = info["currencyCode"], D(info["amount"]), D(info["oldBalance"])
        assert amount > 0
        assert old == self.available.get(currency, D(0))
        new = D(info["newBalance"])
        up, down = old + amount, old - amount
        assert new in (quantize(up, 8), quantize(down, 8))
        self.available[currency] = up if quantize(up, 8) == new else down

    def _order(self, kind: str, info: dict[str, Any]) -> None:
        order_id = info["id"]
        assert order_id not in self.finished, "event after finished"
        base, quote = CURRENCIES[info["symbol"]]
        for deal in self.waiting_deals:  # a deal_update comes just before its order's update
            sign = 1 if info["direction"] == "buy" else -1
            qty, value, fee = D(deal["filledQuantity"]), D(deal["filledValue"]), D(deal["fee"])
            self.totals[base] = self.totals.get(base, D(0)) + sign * qty
            self.totals[quote] = self.totals.get(quote, D(0)) - sign * value - fee
            self.deals[order_id].append(deal)
        self.waiting_deals = []
        deals = self.deals[order_id]
        assert sum((D(d["filledQuantity"]) for d in deals), D(0)) == D(info["filledQuantity"])
        assert sum((D(d["filledValue"]) for d in deals), D(0)) == D(info["filledValue"])
        if D(info["quantity"]) > 0:
            assert D(info["filledQuantity"]) <= D(info["quantity"])
        elif info["orderType"] == "market":
            assert D(info["filledValue"]) <= D(info["value"])
        if kind == "finished":
            self.finished.add(order_id)


def _run(setup: Setup, ops: list[tuple[int, Any]], check: bool) -> list[bytes]:
    latency, share, seed, (maker, taker) = setup
    config = ExchangeConfig(
        balances=dict(BALANCES), maker_fee_percent=D(maker), taker_fee_percent=D(taker),
        latency_ms=latency, slippage_bps=D(5), queue_when_depth_unknown=share,
    )  # fmt: skip
    events: list[ev.PrivateEvent] = []
    x = PaperExchange(config, events.append, seed)
    checker, ids, ts = Checker(x), [], T0
    for dt, op in PRELUDE + ops:
        ts += dt * 40_000_000  # steps of 0, 40, 80 or 120 ms
        _apply(x, op, ts, ids)
        if check:
            checker.check(events)
    x.advance(ts + NS)
    if check:
        checker.check(events)
    return [msgspec.json.encode(e) for e in events]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(setups, steps)
def test_invariants_hold_over_random_orders_and_market_data(
    setup: Setup, ops: list[tuple[int, Any]]
) -> None:
    _run(setup, ops, check=True)


@settings(max_examples=100, deadline=None)
@given(setups, steps)
def test_the_same_inputs_and_seed_give_the_same_events(
    setup: Setup, ops: list[tuple[int, Any]]
) -> None:
    assert _run(setup, ops, check=False) == _run(setup, ops, check=False)


# --- hostile market data: the account cannot create money ------------------------------------
# Market data of any value (negative, zero, NaN, infinite, subnormal, astronomically large) is
# passed through the codec edge's rule set (framework.providers.validation, the only way market
# data reaches the exchange) and fed to the exchange with random orders. The checker above
# asserts after every step that each currency's total changes only by fills and fees; this test
# adds that every fill is at a price the market printed (or the order's own limit price, for a
# resting maker order), never at zero, and that nothing but typed errors leaves exchange/.

FUZZ_CASES = {"examples": 0}


hostile = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([-100.0, -1e6, 0.0, -0.0, 5e-324, 1e-300, 1e300, 1.7e308, 1e-3, 1e9]),
    st.floats(95.0, 105.0),
)
hostile_levels = st.lists(st.tuples(hostile, hostile), max_size=4)
instruments = st.sampled_from(["BTC/USDT", "ETH/USDT"])
hostile_ops = st.one_of(
    st.tuples(st.just("book"), hostile_levels, hostile_levels),
    st.tuples(st.just("delta"), hostile_levels, hostile_levels),
    st.tuples(st.just("trade"), instruments, hostile, hostile),
    st.tuples(st.just("bar"), st.lists(hostile, min_size=4, max_size=4)),
    st.tuples(st.just("last"), instruments, hostile),
)
hostile_steps = st.lists(
    st.tuples(st.integers(0, 3), st.one_of(hostile_ops, hostile_ops, order_ops, cancel_ops)),
    min_size=10,
    max_size=50,
)
QUOTE_PRECS = (2, 6)  # the default rules' price decimals of AAPL.US, BTC/USDT and ETH/USDT


def _printed(op: tuple[Any, ...]) -> list[float]:
    kind = op[0]
    if kind in ("book", "delta"):
        return [p for p, _ in [*op[1], *op[2]]]
    if kind in ("trade", "last"):
        return [op[2]]
    if kind == "bar":
        return list(op[1])
    return []


SCREEN = Screen("fuzz", DEFAULT_WINDOW_NS)


def _screened(x: PaperExchange, event: Any) -> None:
    """Deliver ``event`` as the engine does, behind the codec edge's rule set."""
    for kept in SCREEN([event], event.ts_recv_ns):
        feed(x, kept)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.integers(0, 3), st.sampled_from([0, 50]), hostile_steps)
def test_hostile_market_data_creates_no_money(
    seed: int, latency: int, ops: list[tuple[int, Any]]
) -> None:
    FUZZ_CASES["examples"] += 1
    config = ExchangeConfig(
        balances=dict(BALANCES), maker_fee_percent=D("0.1"), taker_fee_percent=D("0.2"),
        latency_ms=latency,
    )  # fmt: skip
    events: list[ev.PrivateEvent] = []
    x = PaperExchange(config, events.append, seed)
    checker, ids, ts = Checker(x), [], T0
    printed: set[D] = set()
    limits: set[D] = set()
    for dt, op in PRELUDE + ops:
        ts += dt * 40_000_000
        for price in _printed(op):
            if 0 < price < float("inf"):
                for prec in QUOTE_PRECS:
                    # too large to quantize: the exchange must not fill at it either
                    with contextlib.suppress(ArithmeticError):
                        printed.add(quantize(from_float(price), prec))
        if op[0] == "order":
            limits.update(quantize(D(str(op[5])), prec) for prec in QUOTE_PRECS)
        with contextlib.suppress(PapertradeError):  # typed refusals only; anything else fails
            _apply(x, op, ts, ids, _screened)
        checker.check(events)
    x.advance(ts + NS)
    checker.check(events)
    for event in events:
        frame = msgspec.to_builtins(event)
        if frame["method"] != "deal_update":
            continue
        info = frame["data"]["info"]
        price = D(info["filledPrice"])
        assert price > 0, info
        assert price in printed | limits, (info, sorted(printed))
