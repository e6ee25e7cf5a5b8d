"""The benchmark scripts still run (tiny sizes, nothing timed): they are run by hand, so a
change that breaks one would otherwise go unnoticed until the next measurement."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _run(tmp_path: Path, script: str, *args: str) -> str:
    return _run_both(tmp_path, script, *args)[0]


def _run_both(tmp_path: Path, script: str, *args: str) -> tuple[str, str]:
    env = {**os.environ, "PAPERTRADE_BENCH_CACHE": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout, result.stderr


def test_replay_bench_reports_every_case_and_memory(tmp_path: Path) -> None:
    out = _run(tmp_path, "replay.py", "--frames", "3000", "--repeat", "1")
    for case in (
        "floor",
        "decode",
        "replay, no orders",
        "replay, no orders, from the decoded cache",
        "replay, with orders, from the decoded cache",
        "replay, with orders, from JSON",
    ):
        assert case in out
    # both runs with orders wrote the same events, and traded
    assert "from the cache and from JSON: the same (sha256 " in out
    orders = int(out.split("orders placed by the run ")[1].split(", fills")[0].replace(",", ""))
    assert orders > 0
    assert "peak memory, full run,     3,000 frames" in out
    assert "peak memory, full run,    15,000 frames" in out
    assert (tmp_path / "cryptomus-walk-3000-seed20261130.jsonl").is_file()


def test_decode_bench_reads_the_bundled_recordings(tmp_path: Path) -> None:
    out = _run(tmp_path, "decode.py", "--repeat", "1")
    assert "cryptomus-btc-usdt.jsonl.gz" in out and "frames/s" in out


def test_matching_bench_runs_every_case(tmp_path: Path) -> None:
    out = _run(tmp_path, "matching.py", "--events", "2000")
    assert out.count("trades, orders") == 5 and out.count("book deltas") == 3


@pytest.mark.skipif(sys.platform == "win32", reason="loopback pusher in a child process")
def test_live_bench_delivers_every_frame_it_sends(tmp_path: Path) -> None:
    out, err = _run_both(tmp_path, "live.py", "--seconds", "1", "--rates", "2000,3000")
    for rate in ("2000", "3000"):
        row = next(line.split() for line in out.splitlines() if line.strip().startswith(rate))
        assert row[1] == row[2] and int(row[1]) > 0  # sent == delivered
    # each rate's session ends with a clean close: no fault, no reconnect
    assert "ended" not in err and "reconnecting" not in err, err


def test_import_bench_runs_every_case(tmp_path: Path) -> None:
    out = _run(tmp_path, "import.py", "--rows", "2000", "--repeat", "1")
    for name in ("binance-trades", "binance-aggtrades", "tardis-trades", "tardis L2"):
        assert f"{name} -> .jsonl " in out and f"{name} -> .jsonl.gz " in out
    assert out.count("rows/s") == 8 and "start-up" in out
    assert (tmp_path / "tardis-l2-2000.csv").is_file()


@pytest.mark.skipif(sys.platform == "win32", reason="loopback pusher in a child process")
def test_live_bench_with_dashboard_database_and_recording_delivers_every_frame(
    tmp_path: Path,
) -> None:
    out = _run(tmp_path, "live.py", "--seconds", "2", "--rates", "1000", "--dashboard", "--db",
               "--record")  # fmt: skip
    row = next(line.split() for line in out.splitlines() if line.strip().startswith("1000"))
    assert row[1] == row[2] and int(row[1]) > 0  # sent == delivered


def test_resume_bench_checks_every_event_of_the_session_it_catches_up(tmp_path: Path) -> None:
    out = _run(tmp_path, "resume.py", "--frames", "3000", "--repeat", "1")
    assert out.startswith("3,000 frames, ") and "private events checked" in out
    assert "catch-up" in out and "x the replay's time" in out


def test_sweep_bench_reports_every_rate_and_memory(tmp_path: Path) -> None:
    out = _run(tmp_path, "sweep.py", "--frames", "2000", "--points", "4", "--run-1", "2",
               "--no-ray")  # fmt: skip
    lines = out.splitlines()
    assert "decoded cache: " in out
    assert any(line.startswith("1 worker: ") and "over 2 of the 4 points" in line for line in lines)
    assert any(
        line.startswith("2 workers: ") and "over 4 of the 4 points" in line for line in lines
    )
    assert "ratio 2 workers / 1 worker: " in out and "target >= 1.8" in out
    pool = next(line for line in lines if line.startswith("local pool overhead per point, 16 "))
    assert "dispatch " in pool and " ms + return " in pool and "wall-based " in pool
    assert "Ray" not in out
    assert "peak memory per worker after 1 points: " in out
    assert "peak memory per worker after 4 points: " in out and "target flat" in out
    assert (tmp_path / "finazon-bars-2000-seed20261130.jsonl").is_file()


def test_sweep_bench_measures_rays_overhead_per_point(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    out = _run(tmp_path, "sweep.py", "--frames", "2000", "--points", "2")
    lines = out.splitlines()
    assert any(line.startswith("Ray, 2 CPUs: ") and "over 2 of the 2 points" in line
               for line in lines)  # fmt: skip
    on_ray = next(line for line in lines if line.startswith("Ray overhead per point, 16 "))
    assert "dispatch " in on_ray and "target < 50 ms: " in on_ray and "wall-based " in on_ray
    assert any(line.startswith("local pool overhead per point, 16 ") for line in lines)


def test_slow_clients_bench_samples_the_servers_memory(tmp_path: Path) -> None:
    out = _run(tmp_path, "slow_clients.py", "--clients", "2", "--seconds", "6")
    assert out.count("server RSS") >= 2 and "memory flat" in out
