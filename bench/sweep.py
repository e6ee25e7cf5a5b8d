"""Sweep throughput: points per second with 1 worker, 2 workers and Ray, and what a point costs.

Run by hand (never in CI):  .venv/bin/python bench/sweep.py [--frames 1000000] [--points 64]
[--run-1 N] [--run-2 N] [--no-ray]

It generates (seeded, cached in ~/.cache/papertrade-bench or $PAPERTRADE_BENCH_CACHE) a Finazon
recording of N bar frames for BTC/USDT (a 1-minute bar pushed every 10 s, the price a random
walk), builds its decoded cache (``framework.replaycache``, as ``papertrade cache REC`` does;
in the ``decoded`` folder there unless $PAPERTRADE_CACHE says otherwise), then runs a grid of the
bundled SMA crossover (``strategies/sma_crossover.py``; fast and slow lengths, 8 x 8 for 64
points) on it, and prints these checks:

1. points/s with 1 worker (this process, as ``--workers 1``) and with 2 workers (the local
   pool, as ``--workers 2``); each rate counts the whole sweep, opening the recording and its
   cache included. A point of the issue's size (1M frames) runs for tens of seconds, so the
   rates may be measured on fewer points than the grid has: ``--run-1 N`` and ``--run-2 N``
   run N points of the grid drawn with a fixed seed (``papertrade sweep --samples N``: the
   N-point draw holds the smaller one), for 1 worker and for 2 workers and Ray. A rate in
   points/s is the same quantity over fewer points; every line says how many it ran. The
   defaults (6 and 16 points, or the whole grid when it is smaller) keep ``--frames 1000000
   --points 64`` near 11 minutes on a quiet 2-core machine (a point of 1M frames runs for
   about 26 s there); ``--run-1 64 --run-2 64`` runs the whole grid (about an hour);
2. the ratio of the two (target: at least 1.8; it needs both cores free, so the load average
   is printed with it, and the CPU seconds per point show whether a lower ratio is the code or
   the cores it did not get);
3. Ray with 2 CPUs (``--backend ray``): its start-up time (printed, not a per-point cost) and
   its rate; each Ray worker gets the recording from the object store and builds its own
   decoded cache from that copy on its first point (included in the rate);
4. the per-point overhead of each backend when a point runs for about a second: 16 points (on
   a recording cut to that length) on 2 warm workers, Ray's and the local pool's. Each worker
   stamps when it began and ended a point (``time.monotonic``: CLOCK_MONOTONIC, one clock for
   every process of a Linux machine), and the driver stamps when the sweep was handed to the
   backend and when each result reached it. With 2 CPUs, a point starts on the CPU freed first
   (the points taken in the order they began; at first, both CPUs are free from the hand-over):
   *dispatch* = began - max(hand-over, when that CPU's previous point ended), so the time a
   point queued behind a busy CPU is left out; *return* = the result reached the driver -
   ended. Overhead per point = mean dispatch + mean return (target: under 50 ms for Ray; the
   return of one point overlaps the next point's run, so this counts it even where the
   throughput does not pay it). Printed beside it, the wall-based figure: wall x 2 CPUs /
   points - the mean time inside a point (began to ended), which also counts a CPU left idle
   at the end;
5. memory per worker: each local worker's peak resident size (VmHWM) when a quarter of the
   2-worker sweep's points are done and when all are (target: flat, within 5 %).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from framework.providers.base import Subscription  # noqa: E402
from framework.recording import (  # noqa: E402
    FORMAT,
    VERSION,
    Frame,
    Header,
    ProviderSpec,
    RecordingWriter,
    frame_from_wire,
)
from framework.run import sha256_file  # noqa: E402
from framework.sweeps.backends import InProcess, LocalPool, RayBackend  # noqa: E402
from framework.sweeps.results import Objective  # noqa: E402
from framework.sweeps.search import Search, Target, run_search  # noqa: E402
from framework.sweeps.space import Axis  # noqa: E402
from framework.sweeps.spec import PointResult  # noqa: E402

CACHE = Path(
    os.environ.get("PAPERTRADE_BENCH_CACHE") or Path.home() / ".cache" / "papertrade-bench"
)
SMA = str(ROOT / "strategies" / "sma_crossover.py")
SEED = 20261130
START_S = 1_750_000_000
_ENCODER = msgspec.json.Encoder()


class _Quiet:
    """Stops the bench on a failed point; stamps when each result reached the driver; calls
    ``at`` (if set) when ``count`` points are done."""

    def __init__(self, count: int = 0, at: Any = None) -> None:
        self._count, self._at, self._done = count, at, 0
        self.received: dict[int, float] = {}  # spec index -> time.monotonic() at arrival

    def begin(self, label: str, total: int | None) -> None:
        pass

    def advance(self, result: PointResult, best: str) -> None:
        self.received[result.index] = time.monotonic()
        if result.error:
            raise SystemExit(f"a point failed: {result.error}")
        self._done += 1
        if self._done == self._count and self._at is not None:
            self._at()


def recording_path(frames: int) -> Path:
    """A cached Finazon bar recording of ``frames`` frames (generated on first use)."""
    path = CACHE / f"finazon-bars-{frames}-seed{SEED}.jsonl"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    sub = Subscription(channel="bars", symbol="BTC/USDT", interval="10s")
    header = Header(FORMAT, VERSION, (ProviderSpec("finazon", (sub,), {"dataset": "kucoin"}),),
                    {"generator": "bench/sweep.py", "seed": SEED})  # fmt: skip
    rng = random.Random(SEED)
    price = 100_000.0
    tmp = path.with_suffix(".tmp")
    with RecordingWriter(tmp, header) as writer:
        batch: list[Frame] = []
        bar: dict[str, Any] = {}
        for i in range(frames):
            second = START_S + 10 * (i + 1)
            minute = second - second % 60
            price *= math.exp(rng.gauss(0.0, 0.0008))
            if bar.get("t") != minute:
                bar = {"t": minute, "o": price, "h": price, "l": price, "v": 0.0}
            bar["h"], bar["l"] = max(bar["h"], price), min(bar["l"], price)
            bar["v"] += round(rng.random(), 6)
            message = {"d": "kucoin", "p": "kucoin", "ch": "bars", "f": "10s", "aggr": "1m",
                       "s": "BTC/USDT", "t": minute, "o": round(bar["o"], 2),
                       "h": round(bar["h"], 2), "l": round(bar["l"], 2), "c": round(price, 2),
                       "v": round(bar["v"], 6)}  # fmt: skip
            ts = second * 1_000_000_000 + 5_000_000
            batch.append(frame_from_wire("finazon", 1, ts, _ENCODER.encode(message).decode()))
            if len(batch) == 4096:
                writer.write(batch)
                batch.clear()
        writer.write(batch)
    tmp.rename(path)
    return path


def grid(points: int) -> tuple[Axis, ...]:
    """fast x slow, as square as ``points`` allows (8 x 8 for 64)."""
    side = max(1, math.isqrt(points))
    fast = tuple(range(5, 5 + 2 * side, 2))
    slow = tuple(range(40, 40 + 5 * math.ceil(points / side), 5))
    return (Axis("fast", fast), Axis("slow", slow[: math.ceil(points / side)]))


class Sweep:
    """One sweep's measure: its rate, its results, when it was handed over, when each came."""

    def __init__(self, backend: Any, path: Path, points: int, run: int, reporter: _Quiet) -> None:
        from framework.config import Config

        target = Target(
            strategy=SMA, recordings=((str(path), sha256_file(path)),), config=Config(), seed=0
        )
        # ``run`` of the grid's points, drawn as ``papertrade sweep --samples`` draws them
        search = Search(axes=grid(points), samples=run if run < points else None)
        self.reporter = reporter
        self.handed = time.monotonic()
        started = time.perf_counter()
        scored = run_search(search, target, Objective("total_return"), backend, reporter)
        self.wall = time.perf_counter() - started
        self.results: list[PointResult] = scored.results
        self.rate = len(scored.specs) / self.wall

    def overhead(self, cpus: int) -> tuple[float, float, float, float]:
        """Mean dispatch and return per point, the wall-based overhead per point, and the mean
        time inside a point, in seconds (see the module docstring)."""
        free = [self.handed] * cpus
        dispatch, back = [], []
        for result in sorted(self.results, key=lambda r: r.began):
            slot = min(range(cpus), key=free.__getitem__)
            dispatch.append(result.began - max(free[slot], self.handed))
            free[slot] = result.ended
            back.append(self.reporter.received[result.index] - result.ended)
        inside = statistics.mean(r.ended - r.began for r in self.results)
        wall_based = self.wall * cpus / len(self.results) - inside
        return statistics.mean(dispatch), statistics.mean(back), wall_based, inside


def peak_mb(pid: int) -> float:
    """The peak resident size of a process (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--points", type=int, default=64, help="the grid's points")
    parser.add_argument("--run-1", type=int, default=6, help="points run with 1 worker")
    parser.add_argument("--run-2", type=int, default=16, help="points run with 2 workers, Ray")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray cases")
    args = parser.parse_args()
    os.environ.setdefault("PAPERTRADE_CACHE", str(CACHE / "decoded"))
    run_1, run_2 = min(args.run_1, args.points), min(args.run_2, args.points)
    path = recording_path(args.frames)
    print(f"recording: {path.name}, {args.frames:,} frames; grid of {args.points} points")
    print(f"machine: {os.cpu_count()} cores, load average {_load()} at start")
    seconds, built = build_cache(path)
    print(f"decoded cache: {'built' if built else 'found and checked'} in {seconds:.1f} s "
          "(once per recording, as papertrade cache does; the local rates read it)")  # fmt: skip

    of = lambda n: f"over {n} of the {args.points} points"  # noqa: E731
    cpu = time.process_time()
    with InProcess() as one:
        sweep_1 = Sweep(one, path, args.points, run_1, _Quiet())
    cpu_1 = (time.process_time() - cpu) / run_1
    per_point = statistics.median(r.wall_s for r in sweep_1.results)
    print(f"1 worker:  {sweep_1.rate:7.4f} points/s {of(run_1)}  (median point {per_point:.2f} s"
          f" = {per_point / args.frames * 1e6:.1f} us a frame; {cpu_1:.2f} CPU s per point; "
          f"load {_load()})")  # fmt: skip

    early = max(1, run_2 // 4)  # a quarter of the points
    peaks: dict[int, list[float]] = {}
    cpu = _children_cpu()
    with LocalPool(2) as two:
        pids = lambda: sorted(two._pool._processes)  # noqa: E731
        at = lambda: peaks.setdefault(early, [peak_mb(p) for p in pids()])  # noqa: E731
        sweep_2 = Sweep(two, path, args.points, run_2, _Quiet(early, at))
        peaks[run_2] = [peak_mb(p) for p in pids()]
    cpu_2 = (_children_cpu() - cpu) / run_2  # the pool's workers, reaped at its close
    ratio = sweep_2.rate / sweep_1.rate
    print(f"2 workers: {sweep_2.rate:7.4f} points/s {of(run_2)}  ({cpu_2:.2f} CPU s per point; "
          f"load {_load()})")  # fmt: skip
    print(f"ratio 2 workers / 1 worker: {ratio:.2f}  (target >= 1.8: "
          f"{'met' if ratio >= 1.8 else 'NOT met'})")  # fmt: skip

    one_second = max(1_000, int(args.frames / per_point)) if per_point > 0 else args.frames
    short = recording_path(min(args.frames, one_second))
    build_cache(short)
    if not args.no_ray and _has_ray():
        started = time.perf_counter()
        on_ray = RayBackend(None, 2)
        print(f"Ray start-up (a local instance, 2 CPUs): {time.perf_counter() - started:.1f} s")
        with on_ray:
            sweep_r = Sweep(on_ray, path, args.points, run_2, _Quiet())
            print(f"Ray, 2 CPUs: {sweep_r.rate:7.4f} points/s {of(run_2)}  "
                  f"({sweep_r.rate / sweep_1.rate:.2f} x 1 worker; load {_load()})")  # fmt: skip
            overhead("Ray", on_ray, short, target=True)
    with LocalPool(2) as pool:
        overhead("local pool", pool, short, target=False)

    low, high = peaks.get(early, []), peaks.get(run_2, [])
    growth = max((h / lo - 1 for lo, h in zip(low, high, strict=False)), default=math.nan)
    print(f"peak memory per worker after {early} points: "
          + ", ".join(f"{m:,.0f} MB" for m in low))  # fmt: skip
    print(f"peak memory per worker after {run_2} points: "
          + ", ".join(f"{m:,.0f} MB" for m in high)
          + f"  (growth {growth:+.1%}; target flat, within 5 %: "
          + ("met" if growth <= 0.05 else "NOT met") + ")")  # fmt: skip
    print(f"load average {_load()} at the end (2 cores shared with other work)")


def build_cache(path: Path) -> tuple[float, bool]:
    """Build the recording's decoded cache if it has no valid one: the seconds it took, and
    whether it was built (else found valid)."""
    from framework import replaycache
    from framework.config import Config

    folder = replaycache.cache_dir()
    if folder is None:
        raise SystemExit("PAPERTRADE_CACHE=off: this bench measures sweeps on the decoded cache")
    started = time.perf_counter()
    window = replaycache.window_ns_of(Config().run.event_time_window_s)
    _, built = replaycache.ensure(path, window, folder)
    return time.perf_counter() - started, built


def overhead(name: str, backend: Any, path: Path, *, target: bool) -> None:
    """16 points of about a second each on 2 warm workers of ``backend``: what a point costs
    outside its own run (see the module docstring)."""
    Sweep(backend, path, 4, 4, _Quiet())  # warm: the workers have opened the recording
    sweep = Sweep(backend, path, 16, 16, _Quiet())
    dispatch, back, wall_based, inside = sweep.overhead(2)
    total = dispatch + back
    verdict = f"; target < 50 ms: {'met' if total < 0.05 else 'NOT met'}" if target else ""
    print(f"{name} overhead per point, 16 points of {inside:.2f} s on 2 warm workers: "
          f"dispatch {dispatch * 1000:.1f} ms + return {back * 1000:.1f} ms = "
          f"{total * 1000:.1f} ms{verdict}; wall-based {wall_based * 1000:+.0f} ms "
          f"(wall {sweep.wall:.2f} s x 2 CPUs / 16 - {inside:.3f} s inside a point)")  # fmt: skip


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _has_ray() -> bool:
    """Whether Ray is installed, without importing it (the backend sets RAY_AUTH_MODE first)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


if __name__ == "__main__":
    main()
