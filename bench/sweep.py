"""Sweep throughput: points per second with 1 worker, 2 workers and Ray, and what a point costs.

Run by hand (never in CI):  .venv/bin/python bench/sweep.py [--frames 1000000] [--points 64]

It generates (seeded, cached in ~/.cache/papertrade-bench or $PAPERTRADE_BENCH_CACHE) a Finazon
recording of N bar frames for BTC/USDT (a 1-minute bar pushed every 10 s, the price a random
walk), then runs a grid of the bundled SMA crossover (``strategies/sma_crossover.py``; fast and
slow lengths, 8 x 8 for 64 points) on it:

* 1 worker: this process, as ``papertrade sweep --workers 1`` runs it;
* 2 workers: the local process pool, as ``--workers 2`` (the recording read once per worker);
* Ray: a local Ray instance with 2 CPUs (``--backend ray``), when Ray is installed.

Each rate counts the whole sweep, reading the recording included, and is printed with the CPU
time a point took: when other work loads the machine, the CPU time per point shows whether a
lower rate is the sweep's cost or the cores it did not get. Then:

* Ray's overhead per point: points sized to run about a second each (a shorter recording),
  on warm Ray workers; the overhead is the wall time per point times the CPUs, less the time
  the point ran inside its worker;
* memory per worker: the resident size of each pool worker after 4, 16 and 64 points (on a
  recording of at most 20,000 frames, so that 64 points take minutes, not hours).
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
    def begin(self, label: str, total: int | None) -> None:
        pass

    def advance(self, result: PointResult, best: str) -> None:
        if result.error:
            raise SystemExit(f"a point failed: {result.error}")


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


def sweep_rate(backend: Any, path: Path, points: int) -> tuple[float, list[PointResult]]:
    """Points per second of one whole sweep on ``backend``."""
    from framework.config import Config

    target = Target(
        strategy=SMA, recordings=((str(path), sha256_file(path)),), config=Config(), seed=0
    )
    search = Search(axes=grid(points))
    started = time.perf_counter()
    scored = run_search(search, target, Objective("total_return"), backend, _Quiet())
    elapsed = time.perf_counter() - started
    return len(scored.specs) / elapsed, scored.results


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
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
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")

    cpu = time.process_time()
    with InProcess() as one:
        rate_1, results = sweep_rate(one, path, args.points)
    cpu_1 = (time.process_time() - cpu) / args.points
    per_point = statistics.median(r.wall_s for r in results)
    print(f"1 worker:  {rate_1:6.3f} points/s  (median point {per_point:.2f} s; "
          f"{cpu_1:.2f} CPU s per point)")  # fmt: skip
    cpu = _children_cpu()
    with LocalPool(2) as two:
        rate_2, _ = sweep_rate(two, path, args.points)
    cpu_2 = (_children_cpu() - cpu) / args.points  # the pool's workers, reaped at its close
    print(f"2 workers: {rate_2:6.3f} points/s  ({rate_2 / rate_1:.2f} x 1 worker; target >= 1.8; "
          f"{cpu_2:.2f} CPU s per point)")  # fmt: skip

    ray_available = not args.no_ray and _has_ray()
    if ray_available:
        with RayBackend(None, 2) as on_ray:
            rate_r, _ = sweep_rate(on_ray, path, args.points)
            print(f"Ray, 2 CPUs: {rate_r:6.3f} points/s  ({rate_r / rate_1:.2f} x 1 worker)")
            ray_overhead(on_ray, per_point, args.frames)
    memory(recording_path(min(args.frames, 20_000)))
    print(f"load average {os.getloadavg()[0]:.1f} at the end (2 cores shared with other work)")


def ray_overhead(on_ray: Any, per_point: float, frames: int) -> None:
    """Points of about a second on warm Ray workers: wall per point x CPUs - time in worker."""
    one_second = max(1_000, int(frames / per_point)) if per_point > 0 else frames
    path = recording_path(min(frames, one_second))
    sweep_rate(on_ray, path, 4)  # warm: every worker has read the recording
    rate, results = sweep_rate(on_ray, path, 16)
    inside = statistics.mean(r.wall_s for r in results)
    overhead = 2 / rate - inside
    print(f"Ray overhead per point: {overhead * 1000:.0f} ms for a {inside:.2f} s point "
          f"(target < 50 ms)")  # fmt: skip


def memory(path: Path) -> None:
    """Resident size of each pool worker after 4, 16 and 64 points on the same recording."""
    with LocalPool(2) as pool:
        done = 0
        for points in (4, 12, 48):
            sweep_rate(pool, path, points)
            done += points
            sizes = [rss_mb(pid) for pid in sorted(pool._pool._processes)]
            print(f"memory per worker after {done:3d} points: "
                  + ", ".join(f"{s:,.0f} MB" for s in sizes))  # fmt: skip


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _has_ray() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
