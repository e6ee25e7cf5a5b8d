"""Private events' lines are the same bytes whether the venue writes each at once (someone
reads them) or keeps records and renders them in batches (nobody does): a run's output does
not depend on who listens, or on when a reader comes."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import msgspec

from framework import Strategy, Trade
from framework import events as ev
from framework.config import Config, RunConfig
from framework.exchange import ExchangeConfig
from framework.loop import Engine
from framework.recording import Line
from framework.run import RunSetup, replay_engine
from framework.testing import Scenario

D = Decimal
_OUTPUTS = ("events.jsonl", "fills.csv", "trades.csv", "equity.csv", "results.json")


class _Busy(Strategy):
    """Market orders both ways, a limit order left resting then cancelled, and an order the
    account cannot pay for (refused): every kind of private event, many of them."""

    def on_start(self) -> None:
        self.n = 0

    def on_trade(self, trade: Trade) -> None:
        self.n += 1
        if self.n % 2:
            self.buy_market(trade.instrument, quantity=D("0.01"))
        else:
            self.sell_market(trade.instrument, D("0.01"))
        if self.n % 50 == 3:
            self.buy_limit(trade.instrument, D("0.01"), D("50"))
        if self.n % 50 == 4:
            self.cancel_all(trade.instrument)
        if self.n % 97 == 5:
            self.buy_market(trade.instrument, quantity=D("1000000"))


class _Heard:
    def __init__(self) -> None:
        self.events: list[ev.PrivateEvent] = []

    def on_order_update(self, update: ev.OrderUpdate) -> None:
        self.events.append(update)

    def on_deal(self, deal: ev.DealUpdate) -> None:
        self.events.append(deal)

    def on_balance(self, balance: ev.BalanceUpdate) -> None:
        self.events.append(balance)


def _quiet() -> type[Strategy]:
    return type("Busy", (_Busy,), {})


def _listening() -> type[Strategy]:
    return type("Busy", (_Heard, _Busy), {"__init__": _listening_init})


def _listening_init(self: Strategy, *args: object, **kwargs: object) -> None:
    _Busy.__init__(self, *args, **kwargs)  # type: ignore[arg-type]
    _Heard.__init__(self)  # type: ignore[arg-type]


def _recording(tmp_path: Path) -> Path:
    scenario = Scenario()
    for i in range(1500):  # more events than the venue keeps back at once
        scenario.trade(3 * i, 100 + (i % 7) * 0.01, 1, "buy" if i % 2 else "sell")
    return scenario.write(tmp_path / "walk.jsonl")


def _run(recording: Path, out: Path, strategy: type[Strategy], feed: object = None) -> Engine:
    setup = RunSetup(
        strategies=(strategy,),
        strategy_sources={"Busy": ""},
        config=Config(
            run=RunConfig(equity_interval_s=60.0),
            exchange=ExchangeConfig(balances={"USDT": D(10_000)}),
        ),
        seed=1,
    )
    return replay_engine(setup, recording, out, feed=feed)[1]  # type: ignore[arg-type]


def _outputs(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in _OUTPUTS}


def test_a_listening_and_a_quiet_strategy_write_the_same_output(tmp_path: Path) -> None:
    recording = _recording(tmp_path)
    _run(recording, tmp_path / "quiet", _quiet())
    engine = _run(recording, tmp_path / "listening", _listening())
    quiet, listening = _outputs(tmp_path / "quiet"), _outputs(tmp_path / "listening")
    assert quiet == listening
    lines = quiet["events.jsonl"].splitlines()
    kinds = {msgspec.json.decode(line)["method"] for line in lines}
    assert kinds == {"order_update", "deal_update", "balance_update", "order_rejected"}
    assert len(lines) > 3 * 1024
    # the listener heard every event of its orders and every balance, as the lines say
    heard = engine.strategies[0].events  # type: ignore[attr-defined]
    written = [msgspec.json.decode(line) for line in lines]
    expected = [e for e in written if e["method"] != "order_rejected"]
    assert [msgspec.to_builtins(e) for e in heard] == expected


def test_a_reader_that_comes_mid_run_reads_what_the_lines_say(tmp_path: Path) -> None:
    recording = _recording(tmp_path)
    _run(recording, tmp_path / "alone", _quiet())
    read: list[ev.PrivateEvent] = []

    def feed(engine: Engine, batches: Iterable[list[Line]]) -> None:
        lines = [line for batch in batches for line in batch]
        engine.process(lines[:700])  # the venue keeps lines back meanwhile
        engine.on_private = read.append
        engine.process(lines[700:])

    _run(recording, tmp_path / "joined", _quiet(), feed)
    alone, joined = _outputs(tmp_path / "alone"), _outputs(tmp_path / "joined")
    assert alone == joined
    lines = alone["events.jsonl"].splitlines()
    assert 0 < len(read) < len(lines)
    tail = [msgspec.json.decode(line) for line in lines[len(lines) - len(read) :]]
    assert [msgspec.to_builtins(e) for e in read] == tail
