"""Import rates: rows per second and peak memory of ``papertrade import`` on generated files.

Run by hand (never in CI):  .venv/bin/python bench/import.py [--rows 1000000] [--repeat 3]

Files of ``--rows`` rows are generated once (seeded, in ``$PAPERTRADE_BENCH_CACHE`` or the
system's temporary directory): Binance spot ``trades`` and ``aggTrades`` (microsecond times, as
from 2025), Tardis ``trades`` and a Tardis ``incremental_book_L2`` file (a 500-level snapshot,
then messages of 1 to 4 levels).
Each import runs in a fresh process (``python -m framework import ...``, ``--jobs`` as given);
the peak resident memory reported is the sum of the peaks of that process and of the worker
processes it starts (see ``run_import``); the rate is rows of input per second of the child's
wall time, the median of the repeats (and its CPU seconds, workers' included, and rows per
CPU-second, which a loaded machine inflates less than wall time). The process's start-up (the
same command on a one-row file) is measured too, and the rate without it shown beside: it is
the interpreter and the command line loading, the same for any file. Targets: 500,000 rows/s
for trades, 200,000 rows/s for L2, under 150 MB, whole process, into a plain ``.jsonl`` and a
``.jsonl.gz`` (compressed on a second core while converting).
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
from pathlib import Path

CACHE = Path(os.environ.get("PAPERTRADE_BENCH_CACHE", tempfile.gettempdir()))
T0_US = 1_735_689_600_000_000  # 2025-01-01T00:00:00Z


def binance_trades(path: Path, rows: int) -> None:
    rng = random.Random(20250101)
    t, price = T0_US, 93_000.0
    with open(path, "w") as fh:
        for i in range(rows):
            t += rng.randint(0, 80_000)
            price = max(1.0, price + rng.choice((-0.01, 0.0, 0.01)))
            qty = rng.randint(1, 100_000) / 1e5
            maker = "True" if rng.random() < 0.5 else "False"
            fh.write(
                f"{4_000_000_000 + i},{price:.8f},{qty:.8f},{price * qty:.8f},{t},{maker},True\n"
            )


def binance_aggtrades(path: Path, rows: int) -> None:
    rng = random.Random(20250103)
    t, price = T0_US, 93_000.0
    with open(path, "w") as fh:
        for i in range(rows):
            t += rng.randint(0, 80_000)
            price = max(1.0, price + rng.choice((-0.01, 0.0, 0.01)))
            qty = rng.randint(1, 100_000) / 1e5
            maker = "True" if rng.random() < 0.5 else "False"
            first = 9_000_000_000 + 3 * i
            fh.write(
                f"{2_000_000_000 + i},{price:.8f},{qty:.8f},{first},{first + 2},{t},{maker},True\n"
            )


def tardis_trades(path: Path, rows: int) -> None:
    rng = random.Random(20250104)
    t, price = T0_US, 93_000.0
    with open(path, "w") as fh:
        fh.write("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n")
        for i in range(rows):
            t += rng.randint(0, 80_000)
            price = max(1.0, price + rng.choice((-0.1, 0.0, 0.1)))
            side = "buy" if rng.random() < 0.5 else "sell"
            amount = rng.randint(1, 100_000) / 1e5
            fh.write(
                f"binance,BTCUSDT,{t - 700},{t},{5_000_000_000 + i},{side},{price:.1f},{amount}\n"
            )


def tardis_l2(path: Path, rows: int) -> None:
    rng = random.Random(20250102)
    t = T0_US
    with open(path, "w") as fh:
        fh.write("exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n")
        written = 0
        for level in range(min(500, rows)):
            side, price = (
                ("ask", 93_000.5 + level * 0.5) if level % 2 else ("bid", 93_000.0 - level * 0.5)
            )
            fh.write(
                f"binance,BTCUSDT,{t - 2000},{t},true,{side},{price:.1f},{rng.randint(1, 9999) / 1000}\n"
            )
            written += 1
        while written < rows:
            t += rng.randint(50, 5000)
            for _ in range(min(rng.randint(1, 4), rows - written)):
                side = "bid" if rng.random() < 0.5 else "ask"
                price = (
                    93_000.0
                    + (rng.randint(-200, 0) if side == "bid" else rng.randint(1, 200)) * 0.5
                )
                amount = 0 if rng.random() < 0.3 else rng.randint(1, 9999) / 1000
                fh.write(f"binance,BTCUSDT,{t - 900},{t},false,{side},{price:.1f},{amount}\n")
                written += 1


def generated(name: str, rows: int, make: object) -> Path:
    path = CACHE / f"{name}-{rows}.csv"
    if not path.is_file():
        tmp = path.with_suffix(".tmp")
        make(tmp, rows)  # type: ignore[operator]
        tmp.replace(path)
    return path


def run_import(fmt: str, source: Path, out: Path, jobs: int | None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak resident kB) of one import in a fresh process.

    CPU seconds and memory count the worker processes the import starts too: the memory is the
    sum of each process's own peak (``VmHWM``, sampled every few milliseconds, and the import
    process's ``ru_maxrss``), an upper bound of the peak of their sum.
    """
    command = [sys.executable, "-m", "framework", "import", fmt, str(source), "--symbol",
               "BTC/USDT", "--out", str(out)]  # fmt: skip
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peaks: dict[int, int] = {}
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        for process in _tree(child.pid):
            peaks[process] = max(peaks.get(process, 0), _peak_kb(process))
        time.sleep(0.005)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{' '.join(command)} failed with exit code {child.returncode}")
    # This child's own usage, with that of the workers it waited for: CPU time summed, and
    # ru_maxrss the largest process's peak (the import process's own, or above it).
    peaks[child.pid] = max(peaks.get(child.pid, 0), usage.ru_maxrss)
    return seconds, usage.ru_utime + usage.ru_stime, sum(peaks.values())


def _tree(pid: int) -> list[int]:
    """A process and its descendants (Linux ``/proc``)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            with open(f"/proc/{current}/task/{current}/children") as fh:
                todo += [int(p) for p in fh.read().split()]
        except OSError:
            pass
    return found


def _peak_kb(pid: int) -> int:
    """A process's peak resident memory so far, in kB (0 once it has gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def loop_ns() -> float:
    """CPU ns per iteration of an empty Python loop: how slow this machine is right now."""
    start = time.process_time()
    for _ in range(5_000_000):
        pass
    return (time.process_time() - start) / 5_000_000 * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--jobs", type=int, help="passed to the command (default: its own, the processors)"
    )
    parser.add_argument("--only", help="run only the cases whose label contains this")
    parser.add_argument(
        "--suffix", choices=[".jsonl", ".jsonl.gz"], help="only recordings of this kind"
    )
    args = parser.parse_args()
    trades = generated("binance-trades", args.rows, binance_trades)
    agg = generated("binance-aggtrades", args.rows, binance_aggtrades)
    tardis = generated("tardis-trades", args.rows, tardis_trades)
    l2 = generated("tardis-l2", args.rows, tardis_l2)
    cases = [
        (f"{name} -> {suffix}", fmt, path, suffix, target)
        for suffix in (".jsonl", ".jsonl.gz")
        for name, fmt, path, target in (
            ("binance-trades", "binance-trades", trades, 500_000),
            ("binance-aggtrades", "binance-aggtrades", agg, 500_000),
            ("tardis-trades", "tardis-trades", tardis, 500_000),
            ("tardis L2", "tardis-incremental-book-l2", l2, 200_000),
        )
    ]
    # Byte-code compiled once, as an installed package has it: with PYTHONDONTWRITEBYTECODE set
    # (or stale .pyc files) every import would compile the package's sources again (~0.3 s).
    import framework

    subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            "-x",
            "/data/",
            str(Path(framework.__file__).parent),
        ],
        check=True,
    )
    print(f"machine check: an empty loop iteration costs {loop_ns():.0f} ns of CPU "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        one_row = Path(tmp) / "one.csv"
        one_row.write_text(trades.open().readline())
        startup = statistics.median(
            run_import("binance-trades", one_row, Path(tmp) / "one.jsonl", args.jobs)[0]
            for _ in range(3)
        )
        print(f"start-up (a one-row import): {startup:.2f} s")
        for label, fmt, source, suffix, target in cases:
            if (args.only and args.only not in label) or (args.suffix and suffix != args.suffix):
                continue
            out = Path(tmp) / f"out{suffix}"
            runs = []
            for _ in range(args.repeat):
                out.unlink(missing_ok=True)  # not timed: replacing the last case's file
                runs.append(run_import(fmt, source, out, args.jobs))
            seconds = statistics.median(s for s, _, _ in runs)
            cpu = statistics.median(c for _, c, _ in runs)
            peak_mb = max(p for _, _, p in runs) / 1024
            rate = args.rows / seconds
            verdict = (
                ""
                if not target
                else ("  (target met)" if rate >= target else f"  (target {target:,})")
            )
            after = args.rows / max(seconds - startup, 1e-9)
            print(f"{label:<32} {args.rows:>10,} rows  {rate:>10,.0f} rows/s  "
                  f"({after:>10,.0f} after start-up; CPU {cpu:5.2f} s, "
                  f"{args.rows / cpu:>10,.0f} per CPU-second)  "
                  f"peak {peak_mb:6.1f} MB{verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
