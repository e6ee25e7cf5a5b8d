"""Replay speed: frames per second, as a ratio of a plain-Python floor, and peak memory.

Run by hand (never in CI):  .venv/bin/python bench/replay.py [--frames 1000000] [--repeat 5]

The data and the rule are the ones used to compare engines side by side, so the fill count can
be checked against another engine's run on the same ticks:

* data (seeded, generated once and cached in ~/.cache/papertrade-bench or
  $PAPERTRADE_BENCH_CACHE): a Cryptomus recording of N ``trade_update`` frames of one trade each
  for BTC_USDT; the price starts at 100.00 and moves by -0.01, 0 or +0.01 with probabilities
  .3/.4/.3; the time between trades is exponential with a 3 s mean; sizes are whole units 1-100;
* rule: SMA 10 and SMA 30 of trade prices; go long 1 unit (a market order) when
  fast/slow - 1 > +1e-4, go flat (sell it) when fast/slow - 1 < -1e-4, hold in between;
  the strategy keeps every default setting (its trade history included).

In one process, in rounds (each case once per round, five rounds by default), it reports the
median rate of each case and the median of its per-round ratio to the floor:

* floor: the same rule in plain Python over the prices already in a list;
* decode: reading the recording and decoding every frame into normalized events;
* replay, no orders: the full loop with a strategy that computes the signal and places nothing,
  reading the recording's JSON (the decoded cache off: ``RunSetup(decoded_cache=False)``);
* replay, no orders, from the decoded cache: the same run reading the recording's decoded cache
  (``framework.replaycache``), built once before the rounds; kept in $PAPERTRADE_BENCH_CACHE
  (or ~/.cache/papertrade-bench) beside the recordings, unless $PAPERTRADE_CACHE names a folder;
* replay, with orders, from the decoded cache: the full ``papertrade run`` path with the rule
  placing market orders through the paper exchange, every private event written to
  events.jsonl, reading the decoded cache (what ``papertrade run`` reads by default on every
  replay of a recording after the first);
* replay, with orders, from JSON: the same run reading the recording's JSON (the decoded cache
  off), as a first replay does;

and the peak memory of the full run with orders at N and 5N frames, each measured in a fresh
process (``VmHWM``, the high-water mark of the child's own address space, read by the child
itself: the resident size a forked child inherits from its parent, which ``ru_maxrss`` keeps
across ``exec``, is not counted).
"""

from __future__ import annotations

import argparse
import os
import random
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
SEED = 20261130
FAST, SLOW = 10, 30
BAND = 1e-4  # hold while the fast SMA is within 0.01 % of the slow one
START_NS = 1_750_000_000 * 1_000_000_000
MEAN_GAP_S = 3.0


class RuleNoOrders(Strategy):
    """Computes the SMA 10/30 signal on every trade's price; places nothing."""

    def on_start(self) -> None:
        self.fast_q: deque[float] = deque(maxlen=FAST)
        self.slow_q: deque[float] = deque(maxlen=SLOW)
        self.fast_sum = self.slow_sum = 0.0
        self.long = False

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
        if len(self.slow_q) < SLOW:
            return
        signal = (self.fast_sum / FAST) / (self.slow_sum / SLOW) - 1.0
        if signal > BAND and not self.long:
            self.long = True
            self.enter(trade)
        elif signal < -BAND and self.long:
            self.long = False
            self.exit(trade)

    def enter(self, trade: Trade) -> None:
        """The signal says long."""

    def exit(self, trade: Trade) -> None:
        """The signal says flat."""


class RuleWithOrders(RuleNoOrders):
    """The rule with orders: buy 1 unit at market when long, sell it when flat."""

    def enter(self, trade: Trade) -> None:
        self.buy_market(trade.instrument, quantity=Decimal(1))

    def exit(self, trade: Trade) -> None:
        self.sell_market(trade.instrument, Decimal(1))


def recording_path(frames: int) -> Path:
    """Generate (once) and return the cached recording of ``frames`` trade frames."""
    path = CACHE / f"cryptomus-walk-{frames}-seed{SEED}.jsonl"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    header = Header(
        FORMAT, VERSION, (ProviderSpec("cryptomus", (Subscription("trades", "BTC_USDT"),)),)
    )
    tmp = path.with_suffix(".tmp")
    ticks = 10_000  # 100.00 in 0.01 steps
    recv_ns = START_NS
    with open(tmp, "wb") as fh:
        fh.write(msgspec.json.encode(header) + b"\n")
        lines = []
        for _ in range(frames):
            u = rng.random()
            ticks = max(1, ticks - 1 if u < 0.3 else ticks + 1 if u >= 0.7 else ticks)
            recv_ns += int(rng.expovariate(1.0 / MEAN_GAP_S) * 1e9) + 1
            ts = recv_ns // 1_000_000_000
            size = rng.randint(1, 100)
            side = "buy" if rng.random() < 0.5 else "sell"
            frame = (
                f'{{"id":0,"method":"trade_update","data":{{"symbol":"BTC_USDT","timestamp":{ts},'
                f'"trades":[{{"price":{ticks // 100}.{ticks % 100:02d},"quantity":{size},'
                f'"timestamp":{ts},"direction":"{side}"}}]}},"error":null}}'
            )
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
    """The reference: the same rule in plain Python over a list; returns the signals taken."""
    fast_q: deque[float] = deque(maxlen=FAST)
    slow_q: deque[float] = deque(maxlen=SLOW)
    fast_sum = slow_sum = 0.0
    long = False
    orders = 0
    for price in prices:
        if len(fast_q) == FAST:
            fast_sum -= fast_q[0]
        if len(slow_q) == SLOW:
            slow_sum -= slow_q[0]
        fast_q.append(price)
        slow_q.append(price)
        fast_sum += price
        slow_sum += price
        if len(slow_q) < SLOW:
            continue
        signal = (fast_sum / FAST) / (slow_sum / SLOW) - 1.0
        if signal > BAND and not long:
            long = True
            orders += 1
        elif signal < -BAND and long:
            long = False
            orders += 1
    return orders


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


def full_run(
    path: Path,
    strategy: type[Strategy],
    summaries: list[dict[str, object]],
    *,
    cache: bool = False,
) -> int:
    setup = RunSetup(
        strategies=(strategy,),
        strategy_sources={strategy.__name__: ""},
        # Enough quote currency that every signal trades.
        config=Config(
            run=RunConfig(equity_interval_s=60.0),
            exchange=ExchangeConfig(balances={"USDT": Decimal(100_000_000)}),
        ),
        seed=1,
        decoded_cache=cache,
    )
    with tempfile.TemporaryDirectory() as out:
        summary = replay(setup, path, out)
    summaries.append(summary)
    return int(summary["counts"]["frames"])


def _events_sha256(summary: dict[str, object]) -> str:
    fingerprint = summary["fingerprint"]
    assert isinstance(fingerprint, dict)
    return str(fingerprint["events_sha256"])


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
    """Peak memory of one full run with orders, in a fresh process (see the module docstring)."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(frames)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip())


def own_peak_mb() -> float:
    """This process's own resident high-water mark (Linux ``VmHWM``), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5, help="Rounds (default 5).")
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--no-memory", action="store_true", help="Skip the 1x/5x peak-memory runs.")
    args = parser.parse_args()
    if not os.environ.get("PAPERTRADE_CACHE"):
        os.environ["PAPERTRADE_CACHE"] = str(CACHE)
    if args.child:
        full_run(recording_path(args.child), RuleWithOrders, [])
        print(own_peak_mb())
        return
    path = recording_path(args.frames)
    prices = prices_of(path)
    signals: list[int] = []
    quiet: list[dict[str, object]] = []
    cached: list[dict[str, object]] = []
    full_run(path, RuleNoOrders, [], cache=True)  # builds the decoded cache, once
    trading: list[dict[str, object]] = []
    trading_cached: list[dict[str, object]] = []
    names = (
        "floor (the rule in plain Python, a list)",
        "decode (read + decode into events)",
        "replay, no orders",
        "replay, no orders, from the decoded cache",
        "replay, with orders, from the decoded cache",
        "replay, with orders, from JSON",
    )
    rates = rounds(
        [
            lambda: signals.append(floor(prices)) or len(prices),
            lambda: decode_only(path),
            lambda: full_run(path, RuleNoOrders, quiet),
            lambda: full_run(path, RuleNoOrders, cached, cache=True),
            lambda: full_run(path, RuleWithOrders, trading_cached, cache=True),
            lambda: full_run(path, RuleWithOrders, trading),
        ],
        args.repeat,
    )
    print(
        f"{args.frames:,} trade_update frames, {args.repeat} rounds, medians, "
        f"Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.2f} at the end"
    )
    print(f"  {'':<44} {'frames/s':>12}   {'of floor':>8}   {'range of rounds':>21}")
    floors = rates[0]
    for name, case in zip(names, rates, strict=True):
        ratios = [f / r for f, r in zip(floors, case, strict=True)]
        print(
            f"  {name:<44} {statistics.median(case):>12,.0f}   1/{statistics.median(ratios):5.1f}"
            f"   {min(case):>10,.0f}-{max(case):<10,.0f}"
        )
    print(
        f"  signals taken by the floor {signals[-1]:,}; orders placed by the run "
        f"{trading[-1]['orders']:,}, fills {trading[-1]['fills']:,}"
    )
    events = {_events_sha256(s) for s in trading + trading_cached}
    print(
        f"  events.jsonl of every run with orders, from the cache and from JSON: "
        f"{'the same' if len(events) == 1 else 'DIFFERENT'} (sha256 {min(events)[:16]})"
    )
    if not args.no_memory:
        for mult in (1, 5):
            frames = args.frames * mult
            recording_path(frames)
            print(f"  peak memory, full run, {frames:>9,} frames   {child_peak_mb(frames):8.1f} MB")


if __name__ == "__main__":
    main()
