"""Replay speed: frames per second, as a ratio of a plain-Python floor, and peak memory.

Run by hand (never in CI):  .venv/bin/python bench/replay.py [--frames 1000000] [--repeat 5]

It generates (seeded, cached in ~/.cache/papertrade-bench or $PAPERTRADE_BENCH_CACHE) a Cryptomus recording of N
``trade_update`` frames of one trade each for BTC_USDT, the price a random walk, then measures
in one process, in rounds (each case once per round, five rounds by default), reporting the
median rate of each case and the median of its per-round ratio to the floor:

* floor: a plain Python SMA crossover (fast 10, slow 30) over the prices already in a list;
* decode: reading the recording and decoding every frame into normalized events;
* replay, no orders: the full loop with a strategy that computes the SMAs and places nothing;
* replay, with orders: the full ``papertrade run`` path with the SMA crossover placing market
  orders through the paper exchange, every private event written to events.jsonl;

and, each in a fresh child process, the peak memory (max RSS) of the full run at N and 5N frames.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import msgspec

from framework.config import Config, RunConfig
from framework.events import Trade
from framework.exchange import ExchangeConfig
from framework.providers.base import Subscription
from framework.providers.cryptomus import CryptomusCodec
from framework.recording import (
    FORMAT,
    VERSION,
    Frame,
    Header,
    ProviderSpec,
    RecordingReader,
    typed_frame,
)
from framework.run import RunSetup, fewer_collections, replay
from framework.strategy import Strategy

# Generated recordings are cached here (PAPERTRADE_BENCH_CACHE overrides it).
CACHE = Path(
    os.environ.get("PAPERTRADE_BENCH_CACHE") or Path.home() / ".cache" / "papertrade-bench"
)
SEED = 20261121
FAST, SLOW = 10, 30
START_S = 1_750_000_000


class SmaNoOrders(Strategy):
    """Computes a fast and a slow SMA of every trade's price; places nothing."""

    trade_history = 0

    def on_start(self) -> None:
        self.fast_q: deque[float] = deque(maxlen=FAST)
        self.slow_q: deque[float] = deque(maxlen=SLOW)
        self.fast_sum = self.slow_sum = 0.0
        self.above = False

    def on_trade(self, trade: Trade) -> None:
        price = trade.price
        if len(self.fast_q) == FAST:
            self.fast_sum -= self.fast_q[0]
        if len(self.slow_q) == SLOW:
            self.slow_sum -= self.slow_q[0]
        self.fast_q.append(price)
        self.slow_q.append(price)
        self.fast_sum += price
        self.slow_sum += price
        if len(self.slow_q) == SLOW:
            above = self.fast_sum * SLOW > self.slow_sum * FAST
            if above != self.above:
                self.above = above
                self.cross(trade, above)

    def cross(self, trade: Trade, above: bool) -> None:
        """The fast SMA crossed the slow one (upwards if ``above``)."""


class SmaCrossTicks(SmaNoOrders):
    """Always in or flat: buy 1,000 USDT of BTC when fast crosses above slow, sell all below."""

    def cross(self, trade: Trade, above: bool) -> None:
        if above:
            self.buy_market(trade.instrument, value=Decimal(1000))
        else:
            held = self.position(trade.instrument)
            if held > 0:
                self.sell_market(trade.instrument, held)


def recording_path(frames: int) -> Path:
    """Generate (once) and return the cached recording of ``frames`` trade frames."""
    path = CACHE / f"cryptomus-trades-{frames}-seed{SEED}.jsonl"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    header = Header(
        FORMAT, VERSION, (ProviderSpec("cryptomus", (Subscription("trades", "BTC_USDT"),)),)
    )
    tmp = path.with_suffix(".tmp")
    price = 60_000.0
    with open(tmp, "wb") as fh:
        fh.write(msgspec.json.encode(header) + b"\n")
        lines = []
        for i in range(frames):
            price = max(1.0, round(price * (1 + rng.gauss(0, 0.0004)), 2))
            ts = START_S + i // 20
            qty = round(rng.expovariate(20.0) + 0.00001, 6)
            side = "buy" if rng.random() < 0.5 else "sell"
            frame = (
                f'{{"id":0,"method":"trade_update","data":{{"symbol":"BTC_USDT","timestamp":{ts},'
                f'"trades":[{{"price":{price!r},"quantity":{qty!r},"timestamp":{ts},"direction":"{side}"}}]}},'
                f'"error":null}}'
            )
            recv_ns = ts * 1_000_000_000 + (i % 20) * 50_000_000
            lines.append(f'{{"k":"frame","t":{recv_ns},"p":"cryptomus","c":1,"f":{frame}}}\n')
            if len(lines) == 10_000:
                fh.write("".join(lines).encode())
                lines.clear()
        fh.write("".join(lines).encode())
    tmp.rename(path)
    return path


def prices_of(path: Path) -> list[float]:
    codec = CryptomusCodec()
    out: list[float] = []
    with RecordingReader(path) as reader:
        for batch in reader.batches():
            for line in batch:
                for event in codec.decode(line.f, line.t):  # type: ignore[union-attr]
                    out.append(event.price)  # type: ignore[union-attr]
    return out


def floor(prices: list[float]) -> int:
    """The reference: an SMA crossover in plain Python over a list (fills only counted)."""
    fast_q: deque[float] = deque(maxlen=FAST)
    slow_q: deque[float] = deque(maxlen=SLOW)
    fast_sum = slow_sum = 0.0
    above = False
    fills = []
    for price in prices:
        if len(fast_q) == FAST:
            fast_sum -= fast_q[0]
        if len(slow_q) == SLOW:
            slow_sum -= slow_q[0]
        fast_q.append(price)
        slow_q.append(price)
        fast_sum += price
        slow_sum += price
        if len(slow_q) == SLOW:
            now_above = fast_sum * SLOW > slow_sum * FAST
            if now_above != above:
                above = now_above
                fills.append(price)
    return len(prices)


def decode_only(path: Path) -> int:
    """Every frame into events, the way replay reads them (the reader's typed fast path)."""
    codec = CryptomusCodec()
    typed = typed_frame(codec.wire_type, codec.name)
    n = 0
    with RecordingReader(path) as reader, fewer_collections():
        for batch in reader.batches(codec.wire_type):
            for line in batch:
                kind = type(line)
                if kind is typed:
                    codec.decode_wire(line.f, line.t)
                elif kind is Frame:
                    codec.decode(line.f, line.t)
                n += 1
    return n


def full_run(path: Path, strategy: type[Strategy]) -> int:
    setup = RunSetup(
        strategies=(strategy,),
        strategy_sources={strategy.__name__: ""},
        # Enough quote currency that fees never starve the strategy: every crossing trades.
        config=Config(
            run=RunConfig(equity_interval_s=60.0),
            exchange=ExchangeConfig(balances={"USDT": Decimal(100_000_000)}),
        ),
        seed=1,
    )
    with tempfile.TemporaryDirectory() as out:
        summary = replay(setup, path, out)
    return int(summary["counts"]["frames"])


def rounds(cases: list[Callable[[], int]], repeat: int) -> list[list[float]]:
    """Rates (frames/s) of every case, measured round by round: ``rates[case][round]``.

    The cases run one after another within each round, so the ratio of two cases in one
    round compares runs made within seconds of each other (this machine's speed drifts by
    tens of percent from one minute to the next).
    """
    rates: list[list[float]] = [[] for _ in cases]
    for _ in range(repeat):
        for i, case in enumerate(cases):
            t0 = time.perf_counter()
            n = case()
            rates[i].append(n / (time.perf_counter() - t0))
    return rates


def child_peak_mb(frames: int) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(frames)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5, help="Rounds (default 5).")
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--no-memory", action="store_true", help="Skip the 1x/5x peak-memory runs.")
    args = parser.parse_args()
    if args.child:
        full_run(recording_path(args.child), SmaCrossTicks)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        return
    path = recording_path(args.frames)
    prices = prices_of(path)
    names = (
        "floor (plain Python SMA over a list)",
        "decode (read + decode into events)",
        "replay, no orders",
        "replay, with orders (papertrade run)",
    )
    rates = rounds(
        [
            lambda: floor(prices),
            lambda: decode_only(path),
            lambda: full_run(path, SmaNoOrders),
            lambda: full_run(path, SmaCrossTicks),
        ],
        args.repeat,
    )
    print(
        f"{args.frames:,} trade_update frames, {args.repeat} rounds, medians, "
        f"Python {sys.version.split()[0]}"
    )
    print(f"  {'':<40} {'frames/s':>12}   {'of floor':>8}   {'range of rounds':>21}")
    floors = rates[0]
    for name, case in zip(names, rates, strict=True):
        ratios = [f / r for f, r in zip(floors, case, strict=True)]
        print(
            f"  {name:<40} {statistics.median(case):>12,.0f}   1/{statistics.median(ratios):5.1f}"
            f"   {min(case):>10,.0f}-{max(case):<10,.0f}"
        )
    if not args.no_memory:
        for mult in (1, 5):
            frames = args.frames * mult
            recording_path(frames)
            print(f"  peak memory, full run, {frames:>9,} frames   {child_peak_mb(frames):8.1f} MB")


if __name__ == "__main__":
    main()
