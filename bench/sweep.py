"""Sweep throughput: points per second with 1 worker, 2 workers and Ray, and what a point costs.

Run by hand (never in CI):  .venv/bin/python bench/sweep.py [--frames 1000000] [--points 64]

It generates (seeded, cached in ~/.cache/papertrade-bench or $PAPERTRADE_BENCH_CACHE) a Finazon
recording of N bar frames for BTC/USDT (a 1-minute bar pushed every 10 s, the price a random
walk), then runs a grid of the bundled SMA crossover (``strategies/sma_crossover.py``; fast and
slow lengths, 8 x 8 for 64 points) on it, and prints these checks:

1. points/s with 1 worker (this process, as ``--workers 1``) and with 2 workers (the local
   pool, as ``--workers 2``); each rate counts the whole sweep, reading the recording included;
2. the ratio of the two (target: at least 1.8; it needs both cores free, so the load average
   is printed with it, and the CPU seconds per point show whether a lower ratio is the code or
   the cores it did not get);
3. Ray with 2 CPUs (``--backend ray``): its start-up time (printed, not a per-point cost) and
   its rate;
4. Ray's overhead per point when a point runs for about a second: the same 16 points (on a
   recording cut to that length) on warm local workers and on warm Ray workers, 2 of each;
   overhead = (Ray's wall time - the local pool's) x 2 / 16 (target: under 50 ms);
5. memory per worker: each local worker's peak resident size (VmHWM) when 16 points of the
   2-worker sweep are done (a quarter, for a grid under 64) and when all are (target: flat,
   within 5 %).
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
    """Stops the bench on a failed point; calls ``at`` (if set) when ``count`` points are done."""

    def __init__(self, count: int = 0, at: Any = None) -> None:
        self._count, self._at, self._done = count, at, 0

    def begin(self, label: str, total: int | None) -> None:
        pass

    def advance(self, result: PointResult, best: str) -> None:
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


def sweep_rate(
    backend: Any, path: Path, points: int, reporter: _Quiet | None = None
) -> tuple[float, list[PointResult]]:
    """Points per second of one whole sweep on ``backend``."""
    from framework.config import Config

    target = Target(
        strategy=SMA, recordings=((str(path), sha256_file(path)),), config=Config(), seed=0
    )
    search = Search(axes=grid(points))
    started = time.perf_counter()
    scored = run_search(search, target, Objective("total_return"), backend, reporter or _Quiet())
    elapsed = time.perf_counter() - started
    return len(scored.specs) / elapsed, scored.results


def peak_mb(pid: int) -> float:
    """The peak resident size of a process (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--points", type=int, default=64)
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray cases")
    args = parser.parse_args()
    path = recording_path(args.frames)
    print(f"recording: {path.name}, {args.frames:,} frames; grid of {args.points} points")
    print(f"machine: {os.cpu_count()} cores, load average {_load()} at start")

    cpu = time.process_time()
    with InProcess() as one:
        rate_1, results = sweep_rate(one, path, args.points)
    cpu_1 = (time.process_time() - cpu) / args.points
    per_point = statistics.median(r.wall_s for r in results)
    print(f"1 worker:  {rate_1:7.3f} points/s  (median point {per_point:.2f} s; "
          f"{cpu_1:.2f} CPU s per point; load {_load()})")  # fmt: skip

    early = min(16, max(1, args.points // 4))  # 16 of 64; a quarter of a smaller grid
    peaks: dict[int, list[float]] = {}
    cpu = _children_cpu()
    with LocalPool(2) as two:
        pids = lambda: sorted(two._pool._processes)  # noqa: E731
        at = lambda: peaks.setdefault(early, [peak_mb(p) for p in pids()])  # noqa: E731
        rate_2, _ = sweep_rate(two, path, args.points, _Quiet(early, at))
        peaks[args.points] = [peak_mb(p) for p in pids()]
    cpu_2 = (_children_cpu() - cpu) / args.points  # the pool's workers, reaped at its close
    ratio = rate_2 / rate_1
    print(f"2 workers: {rate_2:7.3f} points/s  ({cpu_2:.2f} CPU s per point; load {_load()})")
    print(f"ratio 2 workers / 1 worker: {ratio:.2f}  (target >= 1.8: "
          f"{'met' if ratio >= 1.8 else 'NOT met'})")  # fmt: skip

    if not args.no_ray and _has_ray():
        started = time.perf_counter()
        on_ray = RayBackend(None, 2)
        print(f"Ray start-up (a local instance, 2 CPUs): {time.perf_counter() - started:.1f} s")
        with on_ray:
            rate_r, _ = sweep_rate(on_ray, path, args.points)
            print(f"Ray, 2 CPUs: {rate_r:7.3f} points/s  ({rate_r / rate_1:.2f} x 1 worker; "
                  f"load {_load()})")  # fmt: skip
            ray_overhead(on_ray, per_point, args.frames)

    low, high = peaks.get(early, []), peaks.get(args.points, [])
    growth = max((h / lo - 1 for lo, h in zip(low, high, strict=False)), default=math.nan)
    print(f"peak memory per worker after {early} points: "
          + ", ".join(f"{m:,.0f} MB" for m in low))  # fmt: skip
    print(f"peak memory per worker after {args.points} points: "
          + ", ".join(f"{m:,.0f} MB" for m in high)
          + f"  (growth {growth:+.1%}; target flat, within 5 %: "
          + ("met" if growth <= 0.05 else "NOT met") + ")")  # fmt: skip
    print(f"load average {_load()} at the end (2 cores shared with other work)")


def ray_overhead(on_ray: Any, per_point: float, frames: int) -> None:
    """16 points of about a second each, on 2 warm local workers and on 2 warm Ray workers."""
    one_second = max(1_000, int(frames / per_point)) if per_point > 0 else frames
    path = recording_path(min(frames, one_second))
    sweep_rate(on_ray, path, 4)  # warm: the workers have read the recording
    ray_rate, results = sweep_rate(on_ray, path, 16)
    with LocalPool(2) as pool:
        sweep_rate(pool, path, 4)
        local_rate, _ = sweep_rate(pool, path, 16)
    inside = statistics.mean(r.wall_s for r in results)
    overhead = (16 / ray_rate - 16 / local_rate) * 2 / 16
    print(f"Ray overhead per point: {overhead * 1000:+.0f} ms for a {inside:.2f} s point "
          f"(Ray {16 / ray_rate:.2f} s, local {16 / local_rate:.2f} s for 16 points; "
          f"target < 50 ms: {'met' if overhead < 0.05 else 'NOT met'})")  # fmt: skip


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
