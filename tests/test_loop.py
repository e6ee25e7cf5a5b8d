"""The loop: decode, clock, bus order, queued orders, private events, errors."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from framework import events as ev
from framework.decoded import DecodedBatch
from framework.errors import StrategyError
from framework.exchange import ExchangeConfig
from framework.loop import Engine
from framework.providers.cryptomus import CryptomusCodec
from framework.recording import (
    DisconnectedLine,
    Frame,
    Line,
    RecordingReader,
    Tick,
    frame_from_wire,
)
from framework.strategy import Strategy

S = 1_000_000_000
REPLAYS = Path(__file__).resolve().parent.parent / "replays"
T0 = 1_750_953_177


def trade_frame(
    ts_s: int, price: float, qty: float = 0.01, side: str = "buy", recv_ns: int | None = None
) -> Frame:
    text = (
        f'{{"id":0,"method":"trade_update","data":{{"symbol":"BTC_USDT","timestamp":{ts_s},'
        f'"trades":[{{"price":{price},"quantity":{qty},"timestamp":{ts_s},"direction":"{side}"}}]}},"error":null}}'
    )
    return frame_from_wire("cryptomus", 1, ts_s * S if recv_ns is None else recv_ns, text)


def engine(*strategies: Strategy, isolate: bool = False, sink: list[Any] | None = None) -> Engine:
    return Engine(
        {"cryptomus": CryptomusCodec()},
        strategies,
        ExchangeConfig(),
        seed=1,
        on_private=None if sink is None else sink.append,
        isolate_strategy_errors=isolate,
    )


class Recorder(Strategy):
    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.calls: list[tuple[str, Any]] = []

    def on_start(self) -> None:
        self.calls.append(("start", self.now_ns))

    def on_trade(self, trade: ev.Trade) -> None:
        self.calls.append(("trade", trade.price))

    def on_timer(self, name: str, ts_ns: int) -> None:
        self.calls.append(("timer", ts_ns))

    def on_stop(self) -> None:
        self.calls.append(("stop", self.now_ns))


def test_frames_are_decoded_and_delivered_in_order_with_the_clock_at_receive_time() -> None:
    seen: list[tuple[float, int]] = []

    class Watch(Strategy):
        def on_trade(self, trade: ev.Trade) -> None:
            seen.append((trade.price, self.now_ns))

    eng = engine(Watch())
    eng.process([trade_frame(T0, 100.5), trade_frame(T0 + 1, 101.0, recv_ns=(T0 + 1) * S + 7)])
    assert seen == [(100.5, T0 * S), (101.0, (T0 + 1) * S + 7)]


def test_start_sees_the_first_frame_time_and_stop_the_last() -> None:
    strat = Recorder()
    eng = engine(strat)
    eng.process([trade_frame(T0, 1.0), trade_frame(T0 + 5, 2.0)])
    eng.finish()
    assert strat.calls[0] == ("start", T0 * S)
    assert strat.calls[-1] == ("stop", (T0 + 5) * S)


def test_timer_fires_before_the_first_frame_past_its_deadline() -> None:
    class Timed(Recorder):
        def on_start(self) -> None:
            self.set_timer("t", self.now_ns + 2 * S)

    strat = Timed()
    eng = engine(strat)
    eng.process([trade_frame(T0, 1.0), trade_frame(T0 + 1, 2.0), trade_frame(T0 + 3, 3.0)])
    assert strat.calls == [("trade", 1.0), ("trade", 2.0), ("timer", (T0 + 2) * S), ("trade", 3.0)]


def test_recorded_ticks_fire_timers_in_a_quiet_market() -> None:
    class Every(Recorder):
        def on_start(self) -> None:
            self.every(1.0, "beat")

    strat = Every()
    eng = engine(strat)
    lines: list[Line] = [trade_frame(T0, 1.0), Tick((T0 + 2) * S + 1)]
    eng.process(lines)
    assert strat.calls == [("trade", 1.0), ("timer", (T0 + 1) * S), ("timer", (T0 + 2) * S)]


def test_orders_placed_in_a_callback_are_applied_after_it_returns_in_order() -> None:
    order_events: list[str] = []

    class Placer(Strategy):
        def on_trade(self, trade: ev.Trade) -> None:
            if trade.price == 100.0:
                first = self.buy_limit("BTC/USDT", "0.01", "90", client_order_id="a")
                second = self.buy_limit("BTC/USDT", "0.01", "91", client_order_id="b")
                # Not applied yet: the callback has not returned.
                assert first.order_id is None and second.order_id is None
                assert self.open_orders() == []

        def on_order_update(self, update: ev.OrderUpdate) -> None:
            order_events.append(f"{update.data.type}:{update.data.info.clientOid}")

    eng = engine(Placer())
    eng.process([trade_frame(T0, 100.0)])
    assert order_events == ["created:a", "created:b"]


def test_private_events_reach_only_the_owner_but_balances_reach_everyone() -> None:
    class Buyer(Recorder):
        def on_trade(self, trade: ev.Trade) -> None:
            if ("placed", None) not in self.calls:
                self.calls.append(("placed", None))
                self.buy_limit("BTC/USDT", "0.01", "90")

        def on_order_update(self, update: ev.OrderUpdate) -> None:
            self.calls.append(("order", update.data.type))

        def on_balance(self, balance: ev.BalanceUpdate) -> None:
            self.calls.append(("balance", balance.data.info.currencyCode))

    class Bystander(Buyer):
        def on_trade(self, trade: ev.Trade) -> None:
            pass

        def on_start(self) -> None:
            pass

    buyer, bystander = Buyer("buyer"), Bystander("bystander")
    eng = engine(buyer, bystander)
    eng.process([trade_frame(T0, 100.0)])
    assert ("order", "created") in buyer.calls
    assert all(kind != "order" for kind, _ in bystander.calls)
    assert ("balance", "USDT") in bystander.calls


def test_every_private_event_goes_to_the_output_in_order() -> None:
    sink: list[Any] = []

    class Once(Strategy):
        def on_trade(self, trade: ev.Trade) -> None:
            if trade.price == 100.0:
                self.buy_market("BTC/USDT", value=Decimal("50"))

    eng = engine(Once(), sink=sink)
    eng.process([trade_frame(T0, 100.0), trade_frame(T0 + 1, 100.0)])
    eng.finish()
    methods = [e.method for e in sink]
    assert methods[0] == "order_update" and "deal_update" in methods and "balance_update" in methods
    assert [int(e.id) for e in sink] == sorted(int(e.id) for e in sink)


def test_a_strategy_exception_names_strategy_callback_and_event() -> None:
    class Broken(Strategy):
        def on_trade(self, trade: ev.Trade) -> None:
            raise ZeroDivisionError("boom")

    eng = engine(Broken("broken"))
    with pytest.raises(StrategyError) as info:
        eng.process([trade_frame(T0, 42.0)])
    message = str(info.value)
    assert "'broken'" in message and "on_trade" in message and "ZeroDivisionError" in message
    assert "price=42.0" in message


def test_isolated_strategy_errors_are_counted_and_the_run_goes_on() -> None:
    class Flaky(Recorder):
        def on_trade(self, trade: ev.Trade) -> None:
            super().on_trade(trade)
            if trade.price == 1.0:
                raise ValueError("bad")

    strat = Flaky()
    eng = engine(strat, isolate=True)
    eng.process([trade_frame(T0, 1.0), trade_frame(T0 + 1, 2.0)])
    assert eng.stats.strategy_errors == 1
    assert ("trade", 2.0) in strat.calls


def test_undecodable_frames_are_counted_and_skipped() -> None:
    strat = Recorder()
    eng = engine(strat)
    garbage = frame_from_wire("cryptomus", 1, T0 * S, "{not json")
    unknown = frame_from_wire("nobody", 1, T0 * S, "{}")
    eng.process([garbage, unknown, trade_frame(T0 + 1, 5.0)])
    assert eng.stats.decode_errors == 2
    assert ("trade", 5.0) in strat.calls


def test_a_disconnect_reaches_strategies_and_untrusts_books() -> None:
    events: list[object] = []

    class Conn(Strategy):
        def on_connection(self, event: ev.Connected | ev.Disconnected | ev.Subscribed) -> None:
            events.append(event)

    eng = engine(Conn())
    depth = frame_from_wire(
        "cryptomus", 1, T0 * S,
        '{"id":0,"method":"depth_update","data":{"symbol":"BTC_USDT","timestamp":1750952911,'
        '"full_reload":true,"scale_index":0,"asks":[["101","1"]],"bids":[["99","1"]]},"error":null}',
    )  # fmt: skip
    eng.process([depth, DisconnectedLine(T0 * S + 5, "cryptomus", 1, "closed 1006")])
    assert events == [ev.Disconnected("cryptomus", 1, T0 * S + 5, "closed 1006")]
    book = eng.state.book("BTC/USDT")
    assert book is not None and book.trusted is False
    assert eng.stats.disconnects == 1


def test_the_same_input_gives_the_same_private_events() -> None:
    class Trader(Strategy):
        def on_trade(self, trade: ev.Trade) -> None:
            if trade.price < 100:
                self.buy_market("BTC/USDT", value=Decimal("20"))
            elif self.position("BTC/USDT") > 0:
                self.sell_market("BTC/USDT", self.position("BTC/USDT"))

    def run() -> list[Any]:
        sink: list[Any] = []
        eng = engine(Trader(), sink=sink)
        eng.process([trade_frame(T0 + i, 95.0 + (i % 7) * 2) for i in range(40)])
        eng.finish()
        return sink

    assert run() == run()
    assert len(run()) > 10


def test_frames_are_counted_apart_from_ticks_and_connection_lines() -> None:
    eng = engine(Recorder())
    eng.process([trade_frame(T0, 1.0), Tick((T0 + 1) * S), trade_frame(T0 + 2, 2.0)])
    eng.process([DisconnectedLine((T0 + 3) * S, "cryptomus", 1, "gone")])
    assert eng.stats.frames == 2


def test_finished_orders_are_let_go_so_memory_stays_flat() -> None:
    class Churn(Strategy):
        def on_trade(self, trade: ev.Trade) -> None:
            if self.position("BTC/USDT") > 0:
                self.sell_market("BTC/USDT", self.position("BTC/USDT"))
            else:
                self.buy_market("BTC/USDT", value=Decimal("20"))

    sink: list[Any] = []
    eng = engine(Churn(), sink=sink)
    eng.process([trade_frame(T0 + i, 100.0 + i % 3) for i in range(200)])
    eng.finish()
    finished = [e for e in sink if e.method == "order_update" and e.data.type == "finished"]
    assert len(finished) >= 190
    # Records of finished orders are dropped once their events are delivered.
    assert eng.desk._owners == {}
    assert eng.exchange._exec.orders == {}
    assert eng.exchange._exec.deal_orders == {}


def test_long_chains_of_orders_placed_from_order_updates_do_not_recurse() -> None:
    # Each created order makes the strategy place the next: 3,000 links in one event's wake.
    class Ladder(Strategy):
        def on_start(self) -> None:
            self.placed = 0

        def on_trade(self, trade: ev.Trade) -> None:
            if self.placed == 0:
                self.placed = 1
                self.buy_limit("BTC/USDT", "0.01", "10")

        def on_order_update(self, update: ev.OrderUpdate) -> None:
            if update.data.type == "created" and self.placed < 3_000:
                self.placed += 1
                self.buy_limit("BTC/USDT", "0.01", "10")

    strat = Ladder()
    eng = Engine(
        {"cryptomus": CryptomusCodec()},
        [strat],
        ExchangeConfig(balances={"USDT": Decimal(100_000)}),
        seed=1,
    )
    eng.process([trade_frame(T0, 100.0)])
    assert strat.placed == 3_000
    assert len(eng.exchange.open_orders()) == 3_000


def test_control_replies_are_counted_not_delivered() -> None:
    strat = Recorder()
    eng = engine(strat)
    pong = frame_from_wire(
        "cryptomus", 1, T0 * S, '{"id":0,"method":"pong","data":null,"error":null}'
    )
    ack = frame_from_wire(
        "cryptomus",
        1,
        T0 * S,
        '{"id":0,"method":"trade_subscribe","data":{"status":"success"},"error":null}',
    )
    error = frame_from_wire(
        "cryptomus", 1, T0 * S, '{"id":1,"data":null,"error":{"code":2,"message":"other"}}'
    )
    eng.process([pong, ack, error, trade_frame(T0 + 1, 3.0)])
    assert (eng.stats.pongs, eng.stats.acks, eng.stats.provider_errors) == (1, 1, 1)
    assert [c for c in strat.calls if c[0] == "trade"] == [("trade", 3.0)]


class Everything(Strategy):
    """Records what it is shown and buys, then sells, every 100 trades."""

    trade_history = 0

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[object] = []

    def on_trade(self, trade: ev.Trade) -> None:
        self.seen.append(trade)
        if len(self.seen) % 100 == 0:
            held = self.position(trade.instrument)
            if held > 0:
                self.sell_market(trade.instrument, held)
            else:
                self.buy_market(trade.instrument, value=Decimal(500))

    def on_ticker(self, ticker: ev.Ticker) -> None:
        self.seen.append(ticker)

    def on_last_price(self, last: ev.LastPrice) -> None:
        self.seen.append(last)

    def on_book(self, book: object, event: object) -> None:
        self.seen.append(event)


def test_frames_decoded_ahead_by_the_reader_give_the_same_run_as_raw_frames() -> None:
    """The replay fast path (typed frames) changes nothing but speed, blocks of acks included."""
    runs = []
    for wire_type in (None, CryptomusCodec.wire_type):
        strategy, sink = Everything(), []
        config = ExchangeConfig(balances={"USDT": Decimal(100_000)})
        eng = Engine(
            {"cryptomus": CryptomusCodec()}, [strategy], config, seed=1, on_private=sink.append
        )
        kinds = set()
        with RecordingReader(REPLAYS / "cryptomus-btc-usdt.jsonl.gz") as reader:
            for batch in reader.batches(wire_type):
                kinds.update(type(line).__name__ for line in batch)
                eng.process(batch)
        eng.finish()
        runs.append((strategy.seen, sink, eng.stats, kinds))
    (raw_seen, raw_sink, raw_stats, raw_kinds), (seen, sink, stats, kinds) = runs
    assert "TypedFrame" in kinds and "Frame" in kinds  # both paths were taken
    assert "TypedFrame" not in raw_kinds
    assert len(seen) > 10_000 and sum(type(e) is ev.DealUpdate for e in sink) > 40
    assert seen == raw_seen
    assert sink == raw_sink
    assert stats == raw_stats


class _Gate:
    def __init__(self, next_sample_ns: int) -> None:
        self.next_sample_ns = next_sample_ns


def _trade(ts_ns: int, price: float) -> ev.Trade:
    return ev.Trade("cryptomus", "BTC/USDT", "BTC_USDT", ts_ns, ts_ns, price, 0.5, "buy")


def test_a_batch_of_lone_trades_calls_a_gated_observer_only_once_its_gate_is_due() -> None:
    gate = _Gate(3 * S)
    observed: list[float] = []

    def observe(trade: ev.Trade) -> None:  # like the equity sampler: acts, then moves its gate
        observed.append(trade.price)
        gate.next_sample_ns = trade.ts_recv_ns + 2 * S

    recorder = Recorder()
    eng = Engine(
        {"cryptomus": CryptomusCodec()},
        [recorder],
        ExchangeConfig(),
        seed=1,
        observers=[(ev.Trade, observe)],
    )
    eng.gate(observe, gate)
    trades = [_trade(i * S, 100.0 + i) for i in range(1, 8)]
    eng.process(DecodedBatch(trades, [t.ts_recv_ns for t in trades], trades_only=True))
    assert [c[1] for c in recorder.calls if c[0] == "trade"] == [t.price for t in trades]
    assert observed == [103.0, 105.0, 107.0]  # due at 3 s, then 5 s, then 7 s
    assert eng.stats.frames == 7
    assert eng.state.last_price("BTC/USDT") == 107.0


class _Reader(Strategy):
    """Reads the market state from inside each trade: what the loop's batch path must have
    updated before calling it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, float, float | None, int, list[float]]] = []

    def on_trade(self, trade: ev.Trade) -> None:
        history = self.trades(trade.instrument).price.tolist()
        last = self.last_price(trade.instrument)
        self.seen.append((trade.instrument, trade.price, last, self.now_ns, history))


def _two_instruments() -> list[ev.Trade]:
    """Lone trades of two instruments: in runs of one instrument and alternating."""
    out = []
    for i, inst in enumerate(["BTC/USDT"] * 3 + ["ETH/USDT", "BTC/USDT"] * 3 + ["ETH/USDT"] * 2):
        out.append(ev.Trade("cryptomus", inst, inst.replace("/", "_"), i * S, i * S, 100.0 + i, 1.0, "sell"))  # fmt: skip
    return out


def test_a_batch_of_lone_trades_of_several_instruments_updates_state_and_results_as_routed() -> (
    None
):
    runs = []
    for trades_only in (True, False):  # the loop's batch path, then every handler as routed
        reader = _Reader()
        eng = Engine({"cryptomus": CryptomusCodec()}, [reader], ExchangeConfig(), seed=1)
        trades = _two_instruments()
        eng.process(DecodedBatch(trades, [t.ts_recv_ns for t in trades], trades_only=trades_only))
        tapes = {inst: eng.results.last_price(inst) for inst in ("BTC/USDT", "ETH/USDT")}
        runs.append((reader.seen, tapes, eng.state.instruments["ETH/USDT"].last_trade))
    assert runs[0] == runs[1]
    seen = runs[0][0]
    # Each trade is seen with its own instrument's state, history and clock already updated.
    assert seen[3] == ("ETH/USDT", 103.0, 103.0, 3 * S, [103.0])
    assert seen[4] == ("BTC/USDT", 104.0, 104.0, 4 * S, [100.0, 101.0, 102.0, 104.0])
    assert seen[-1] == ("ETH/USDT", 110.0, 110.0, 10 * S, [103.0, 105.0, 107.0, 109.0, 110.0])
    assert runs[0][1] == {"BTC/USDT": 108.0, "ETH/USDT": 110.0}


def test_a_strategy_failing_in_a_batch_of_lone_trades_is_named() -> None:
    class Fails(Strategy):
        def on_trade(self, trade: ev.Trade) -> None:
            if trade.price > 101.0:
                raise ValueError("no")

    eng = Engine({"cryptomus": CryptomusCodec()}, [Fails("fails")], ExchangeConfig(), seed=1)
    trades = _two_instruments()
    with pytest.raises(StrategyError) as caught:
        eng.process(DecodedBatch(trades, [t.ts_recv_ns for t in trades], trades_only=True))
    assert (caught.value.strategy, caught.value.callback) == ("fails", "on_trade")
    assert eng.state.last_price("BTC/USDT") == 102.0  # the state took the trade before
