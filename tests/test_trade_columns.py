"""Lone trades of one instrument handed to the loop as the cache's columns
(``framework.decoded.TradeColumns``): strategies see the same trades, and the trade history the
same rows at every moment, as when the same trades come as objects."""

from __future__ import annotations

from array import array
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import events as ev
from framework.config import Config
from framework.decoded import TRADE_SIDES, DecodedBatch, TradeColumns
from framework.errors import StrategyError
from framework.exchange import ExchangeConfig
from framework.loop import Engine
from framework.providers.base import Subscription
from framework.providers.cryptomus import CryptomusCodec
from framework.recording import FORMAT, VERSION, Header, ProviderSpec
from framework.replaycache import cache_path, open_cache, window_ns_of
from framework.run import RunSetup, replay
from framework.strategy import Strategy

S = 1_000_000_000
T0 = 1_750_000_000 * S
SYMBOLS = {"BTC/USDT": "BTC_USDT", "ETH/USDT": "ETH_USDT", "SOL/USDT": "SOL_USDT"}

Row = tuple[int, float, float, float]  # ts_event_ns, price, size, side as the history has them


def trade(i: int, instrument: str = "BTC/USDT", side: ev.Side = "buy") -> ev.Trade:
    """The i-th trade: received at T0 + i s, printed at the whole second before."""
    recv = T0 + i * S + 250_000_000
    return ev.Trade(
        "cryptomus", instrument, SYMBOLS[instrument], recv - recv % S, recv,
        100.0 + i / 100, float(1 + i % 7), side,
    )  # fmt: skip


def columns(trades: list[ev.Trade]) -> TradeColumns:
    """The trades (one instrument's) as the decoded cache hands them to the loop."""
    first = trades[0]
    assert {t.instrument for t in trades} == {first.instrument}
    return TradeColumns(
        (first.venue, first.instrument, first.symbol),
        [t.ts_recv_ns for t in trades],
        array("q", [t.ts_event_ns for t in trades]),
        array("d", [t.price for t in trades]),
        array("d", [t.size for t in trades]),
        bytes(TRADE_SIDES.index(t.side) for t in trades),
    )


def objects(trades: list[ev.Trade]) -> DecodedBatch:
    """The same trades as a batch of lone trade objects (several instruments allowed)."""
    return DecodedBatch(trades, [t.ts_recv_ns for t in trades], trades_only=True)


def rows(arrays: Any) -> list[Row]:
    return list(
        zip(
            arrays.ts_ns.tolist(), arrays.price.tolist(), arrays.size.tolist(),
            arrays.side.tolist(), strict=True,
        )
    )  # fmt: skip


def expected(seen: list[ev.Trade], instrument: str, n: int) -> list[Row]:
    """What a history of ``n`` trades holds after ``seen``: worked out from the trades."""
    sign = {"buy": 1.0, "sell": -1.0, "": 0.0}
    mine = [t for t in seen if t.instrument == instrument][-n:]
    return [(t.ts_event_ns, t.price, t.size, sign[t.side]) for t in mine]


class Reader(Strategy):
    """Reads its instrument's trade history inside every trade it is asked to (``reads``)."""

    trade_history = 3

    def __init__(self, reads: set[int] | None = None) -> None:
        super().__init__()
        self.reads = reads
        self.count = 0
        self.seen: list[ev.Trade] = []
        self.read: list[tuple[int, list[Row]]] = []

    def on_trade(self, trade: ev.Trade) -> None:
        self.seen.append(trade)
        if self.reads is None or self.count in self.reads:
            self.read.append((self.count, rows(self.trades(trade.instrument))))
        self.count += 1


def run(batches: list[Any], reader: Reader) -> Engine:
    eng = Engine({"cryptomus": CryptomusCodec()}, [reader], ExchangeConfig(), seed=1)
    for batch in batches:
        eng.process(batch)
    return eng


def test_a_history_read_mid_batch_holds_the_trades_up_to_the_one_delivered() -> None:
    trades = [trade(i, side="sell" if i % 3 else "buy") for i in range(8)]
    reader = Reader()
    run([columns(trades)], reader)
    assert [t.price for t in reader.seen] == [t.price for t in trades]
    assert reader.read[0] == (0, [(T0, 100.0, 1.0, 1.0)])
    assert reader.read[1] == (1, [(T0, 100.0, 1.0, 1.0), (T0 + S, 100.01, 2.0, -1.0)])
    assert reader.read[5] == (5, [(T0 + 3 * S, 100.03, 4.0, 1.0), (T0 + 4 * S, 100.04, 5.0, -1.0), (T0 + 5 * S, 100.05, 6.0, -1.0)])  # fmt: skip
    assert [r for _, r in reader.read] == [expected(trades[: i + 1], "BTC/USDT", 3) for i in range(8)]  # fmt: skip


def test_a_history_kept_across_batches_is_read_once_at_the_end() -> None:
    trades = [trade(i) for i in range(11)]
    reader = Reader(reads={10})  # never read before the last trade: the batches are only kept
    run([columns(trades[:4]), columns(trades[4:5]), columns(trades[5:9]), columns(trades[9:])], reader)  # fmt: skip
    assert reader.read == [(10, expected(trades, "BTC/USDT", 3))]
    assert reader.read[0][1][0] == (T0 + 8 * S, 100.08, 2.0, 1.0)


def test_a_history_read_between_batches_gives_the_last_rows_kept() -> None:
    trades = [trade(i) for i in range(7)]
    reader = Reader(reads={0, 1})
    eng = run([columns(trades[:2]), columns(trades[2:6])], reader)
    assert rows(eng.state.trades("BTC/USDT", None)) == expected(trades[:6], "BTC/USDT", 3)
    assert rows(eng.state.trades("BTC/USDT", 2)) == expected(trades[:6], "BTC/USDT", 2)
    eng.process(columns(trades[6:]))
    assert rows(eng.state.trades("BTC/USDT", None)) == expected(trades, "BTC/USDT", 3)


def test_several_instruments_interleaved_each_history_its_own_trades() -> None:
    names = {"b": "BTC/USDT", "e": "ETH/USDT", "s": "SOL/USDT"}
    pattern = "bb" + "ebsbesb" + "s" + "bes" + "e" + "sbbesesbbe"  # the batches below
    trades = [trade(i, names[c]) for i, c in enumerate(pattern)]
    # Batches as the cache makes them: one instrument's run as columns, a mixed run as objects.
    batches = [columns(trades[0:2]), objects(trades[2:9]), columns(trades[9:10])]
    batches += [objects(trades[10:13]), columns(trades[13:14]), objects(trades[14:24])]
    for batch in batches:
        if isinstance(batch, TradeColumns):
            assert len({t.instrument for t in batch}) == 1
    reader = Reader()
    run(batches, reader)
    assert reader.seen == trades
    for i, (count, read) in enumerate(reader.read):
        assert (count, read) == (i, expected(trades[: i + 1], trades[i].instrument, 3))


class _Timed(Reader):
    """Reads the history in a timer due at the receive time of trades 2 and 5."""

    def on_start(self) -> None:
        self.set_timer("a", T0 + 2 * S + 250_000_000)
        self.set_timer("b", T0 + 5 * S + 250_000_000)

    def on_timer(self, name: str, ts_ns: int) -> None:
        self.read.append((-1, rows(self.trades("BTC/USDT"))))


def test_a_timer_due_at_a_trade_reads_the_history_before_that_trade() -> None:
    trades = [trade(i) for i in range(7)]
    reader = _Timed(reads=set())
    run([columns(trades)], reader)
    # The clock fires the timers due at a trade's time before the trade is applied.
    assert reader.read == [
        (-1, expected(trades[:2], "BTC/USDT", 3)),
        (-1, expected(trades[:5], "BTC/USDT", 3)),
    ]


def test_a_strategy_failing_in_a_batch_leaves_the_history_at_the_trade_applied() -> None:
    class Fails(Reader):
        def on_trade(self, trade: ev.Trade) -> None:
            super().on_trade(trade)
            if self.count == 4:
                raise ValueError("no")

    trades = [trade(i) for i in range(7)]
    reader = Fails(reads=set())
    eng = Engine({"cryptomus": CryptomusCodec()}, [reader], ExchangeConfig(), seed=1)
    with pytest.raises(StrategyError):
        eng.process(columns(trades))
    assert rows(eng.state.trades("BTC/USDT", None)) == expected(trades[:4], "BTC/USDT", 3)
    assert eng.state.last_price("BTC/USDT") == trades[3].price


@st.composite
def feeds(draw: st.DrawFn) -> tuple[list[ev.Trade], list[int], int, set[int]]:
    n = draw(st.integers(1, 40))
    names = draw(st.lists(st.sampled_from(list(SYMBOLS)), min_size=n, max_size=n))
    sides = draw(st.lists(st.sampled_from(TRADE_SIDES), min_size=n, max_size=n))
    trades = [trade(i, names[i], sides[i]) for i in range(n)]
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, n - 1)), max_size=8))))
    capacity = draw(st.integers(1, 6))
    reads = set(draw(st.lists(st.integers(0, n - 1), max_size=n)))
    return trades, cuts, capacity, reads


@settings(max_examples=200, deadline=None)
@given(feed=feeds())
def test_fuzz_any_batching_reads_what_the_trades_were(
    feed: tuple[list[ev.Trade], list[int], int, set[int]],
) -> None:
    trades, cuts, capacity, reads = feed
    batches: list[Any] = []
    for lo, hi in zip([0, *cuts], [*cuts, len(trades)], strict=True):
        part = trades[lo:hi]
        if not part:
            continue
        one = len({t.instrument for t in part}) == 1
        batches.append(columns(part) if one else objects(part))
    reader = type("Reader", (Reader,), {"trade_history": capacity})(reads)
    eng = run(batches, reader)
    assert reader.seen == trades
    for count, read in reader.read:
        assert read == expected(trades[: count + 1], trades[count].instrument, capacity)
    for name in SYMBOLS:
        assert rows(eng.state.trades(name, None)) == expected(trades, name, capacity)


def trade_recording(path: Path) -> Path:
    """A Cryptomus recording of lone trades: runs of one symbol, then both interleaved."""
    pattern = ["BTC_USDT"] * 1500 + ["BTC_USDT", "ETH_USDT"] * 700 + ["ETH_USDT"] * 1200
    pattern += ["BTC_USDT"] * 900
    subs = (Subscription("trades", "BTC_USDT"), Subscription("trades", "ETH_USDT"))
    lines = [msgspec.json.encode(Header(FORMAT, VERSION, (ProviderSpec("cryptomus", subs),)))]
    for i, symbol in enumerate(pattern):
        recv = T0 + i * 1_700_000_001
        ts = recv // S
        price = f"{100 + i % 97}.{i % 100:02d}"
        side = ("buy", "sell")[i * i % 3 % 2]
        frame = (
            f'{{"id":0,"method":"trade_update","data":{{"symbol":"{symbol}","timestamp":{ts},'
            f'"trades":[{{"price":{price},"quantity":{1 + i % 13},"timestamp":{ts},'
            f'"direction":"{side}"}}]}},"error":null}}'
        )
        lines.append(f'{{"k":"frame","t":{recv},"p":"cryptomus","c":1,"f":{frame}}}'.encode())
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


class Digest(Strategy):
    """Reads its trade history every 37th trade and at the end; keeps what it read."""

    trade_history = 50
    kept: ClassVar[list[list[list[Row]]]] = []  # one list per run

    def on_start(self) -> None:
        self.read: list[list[Row]] = []
        self.count = 0
        Digest.kept.append(self.read)

    def on_trade(self, trade: ev.Trade) -> None:
        self.count += 1
        if self.count % 37 == 0:
            self.read.append(rows(self.trades(trade.instrument)))

    def on_stop(self) -> None:
        self.read.append(rows(self.trades("BTC/USDT", 20)))
        self.read.append(rows(self.trades("ETH/USDT")))


def test_a_recording_replayed_with_and_without_the_cache_reads_the_same_histories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAPERTRADE_CACHE", str(tmp_path / "cache"))
    recording = trade_recording(tmp_path / "trades.jsonl")
    Digest.kept.clear()
    # The JSON, then the JSON while building the cache, then the cache.
    for n, cache in enumerate((False, True, True)):
        setup = RunSetup(
            strategies=(Digest,), strategy_sources={"Digest": ""}, config=Config(), seed=1,
            decoded_cache=cache,
        )  # fmt: skip
        replay(setup, recording, tmp_path / f"out{n}")
    json_run, built, from_cache = Digest.kept
    assert len(json_run) == 5000 // 37 + 2
    assert [len(json_run[-2]), len(json_run[-1])] == [20, 50]
    assert json_run[-2][-1][1] == 152.99  # the last trade's price: 100 + 4999 % 97 + 0.99
    assert from_cache == built == json_run
    # The cache hands the runs of one symbol over as columns, the interleaved part as objects.
    window = window_ns_of(Config().run.event_time_window_s)
    reader = open_cache(recording, window, cache_path(recording, window, tmp_path / "cache"))
    assert reader is not None
    with reader:
        kinds = [type(batch) for batch in reader.batches()]
    assert kinds.count(TradeColumns) >= 4 and kinds.count(DecodedBatch) >= 2
