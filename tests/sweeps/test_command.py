"""``papertrade sweep`` as a user meets it: real processes, real files, a real browser."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.chromium import dump_dom

from .conftest import BARS, ROOT, SMA

MAKER = ROOT / "strategies" / "market_maker.py"
CRYPTOMUS = ROOT / "replays" / "cryptomus-btc-usdt.jsonl.gz"

GRID = ["--grid", "fast=5:20:5", "--grid", "slow=20,30", "--where", "fast < slow"]


def papertrade(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "framework", *args], capture_output=True, text=True, cwd=cwd,
        timeout=600, check=False,
    )  # fmt: skip


def _read(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))


def _csv_without_wall_time(path: Path) -> list[list[str]]:
    rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    assert rows[0][-1] == "wall_s"
    return [row[:-1] for row in rows]


def test_one_and_two_workers_write_the_same_rows_and_the_page_shows_them(tmp_path: Path) -> None:
    one = papertrade("sweep", str(SMA), "--replay", str(BARS), *GRID, "--workers", "1",
                     "--maximize", "total_return", "--out", str(tmp_path / "one"))  # fmt: skip
    two = papertrade("sweep", str(SMA), "--replay", str(BARS), *GRID, "--workers", "2",
                     "--maximize", "total_return", "--out", str(tmp_path / "two"))  # fmt: skip
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    rows = _csv_without_wall_time(tmp_path / "one" / "sweep.csv")
    assert rows == _csv_without_wall_time(tmp_path / "two" / "sweep.csv")
    header, body = rows[0], rows[1:]
    assert header[:4] == ["point", "recording", "fast", "slow"]
    assert [(r[2], r[3]) for r in body] == [
        ("5", "20"), ("5", "30"), ("10", "20"), ("10", "30"), ("15", "20"), ("15", "30"),
        ("20", "30"),
    ]  # fmt: skip
    # the short run has no annualised figures (sharpe is null): rank by return
    objective = header.index("total_return")
    best = max(body, key=lambda r: float(r[objective]))
    assert f"--set fast={best[2]} --set slow={best[3]}" in one.stdout
    # the page: every run in the ranked table, best first, and the heatmap drawn by Bokeh
    dom = dump_dom(tmp_path / "one" / "sweep.html")
    table = dom[dom.index('<table id="ranked"') :]
    table = table[: table.index("</table>")]
    ranked = re.findall(
        r"<tr[^>]*><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td>([-\d.e]+)</td>", table
    )
    assert (ranked[0][1], ranked[0][2]) == (best[2], best[3])
    assert len(ranked) == 7
    values = [float(v) for *_, v in ranked]
    assert values == sorted(values, reverse=True)
    assert re.search(r'<body data-canvases="[1-9]', dom), "Bokeh drew no canvas"


def test_the_sweep_table_of_a_config_drives_the_sweep(tmp_path: Path, small_bars: Path) -> None:
    config = tmp_path / "sweep.toml"
    config.write_text(
        '[params]\nstake = "500"\n\n'
        '[sweep]\ngrid = { fast = "5:10:5", slow = [20, 30] }\nwhere = "fast < slow"\n'
        'minimize = "max_drawdown"\nworkers = 1\n',
        encoding="utf-8",
    )
    done = papertrade("sweep", str(SMA), "--replay", str(small_bars), "--config", str(config),
                      "--out", str(tmp_path / "out"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = _read(tmp_path / "out" / "sweep.csv")
    assert [(r["fast"], r["slow"]) for r in rows] == [
        ("5", "20"),
        ("5", "30"),
        ("10", "20"),
        ("10", "30"),
    ]
    assert "min max_drawdown" in done.stdout
    assert "--config" in done.stdout and "--set fast=" in done.stdout
    # the same file runs: papertrade run ignores the [sweep] table
    run = papertrade("run", str(SMA), "--replay", str(small_bars), "--config", str(config),
                     "--out", str(tmp_path / "run"))  # fmt: skip
    assert run.returncode == 0, run.stderr


def test_an_unknown_key_in_the_sweep_table_is_one_line_naming_it(
    tmp_path: Path, small_bars: Path
) -> None:
    config = tmp_path / "sweep.toml"
    config.write_text('[sweep]\ngrid = { fast = "5,10" }\nsamplse = 3\n', encoding="utf-8")
    done = papertrade("sweep", str(SMA), "--replay", str(small_bars), "--config", str(config))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "samplse" in done.stderr and str(config) in done.stderr


def test_user_mistakes_are_one_clean_line(tmp_path: Path, small_bars: Path) -> None:
    cases = {
        ("--grid", "fast=1:10:0"): "--grid: fast='1:10:0' needs a positive step",
        ("--grid", "fast=5,10", "--where", "open('x')"): "--where",
        ("--grid", "fast=5,10", "--maximize", "profit"): "available: ",
        ("--grid", "fast=5,10", "--samples", "2", "--trials", "2"): "not both",
        ("--grid", "fast=5,10", "--from", "yesterday"): "'yesterday' is not an ISO date",
    }
    for args, message in cases.items():
        done = papertrade("sweep", str(SMA), "--replay", str(small_bars), "--workers", "1",
                          "--out", str(tmp_path), *args)  # fmt: skip
        assert done.returncode != 0, args
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr


def test_a_window_keeps_only_its_data(tmp_path: Path) -> None:
    done = papertrade("sweep", str(SMA), "--replay", str(BARS), "--grid", "fast=5,10",
                      "--from", "2025-06-26T18:00:00Z", "--to", "2025-06-26T20:00", "--workers", "1",
                      "--out", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = _read(tmp_path / "sweep.csv")
    for row in rows:
        assert row["first_time"] >= "2025-06-26T18:00:00"
        assert row["last_time"] < "2025-06-26T20:00:00"
        assert int(row["counts.frames"]) == 720  # two hours of bars pushed every 10 s


def test_a_folds_out_of_sample_run_is_that_point_on_that_window(
    tmp_path: Path, small_bars: Path
) -> None:
    done = papertrade("sweep", str(SMA), "--replay", str(small_bars), "--grid", "fast=3,5",
                      "--grid", "slow=10,15", "--folds", "2", "--workers", "1",
                      "--out", str(tmp_path / "wf"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    folds = _read(tmp_path / "wf" / "walkforward.csv")
    assert [f["fold"] for f in folds] == ["1", "2"]
    assert folds[0]["train_from"] == "start" and folds[1]["test_to"] == "end"
    last = folds[1]
    # the same point on the same window, as a sweep of one point given --from
    one = papertrade("sweep", str(SMA), "--replay", str(small_bars), "--grid", f"fast={last['fast']}",
                     "--grid", f"slow={last['slow']}", "--from", last["test_from"], "--workers", "1",
                     "--out", str(tmp_path / "one"))  # fmt: skip
    assert one.returncode == 0, one.stderr
    for name in ("summary.json", "events.jsonl"):
        assert (tmp_path / "one" / "best" / name).read_bytes() == (
            tmp_path / "wf" / "folds" / "2" / name
        ).read_bytes()
    reproduce = " ".join(done.stdout.split())
    assert f"--seed 0 --from {last['test_from']}" in reproduce and "--to" not in reproduce


def test_a_windowed_point_is_papertrade_run_with_that_window(tmp_path: Path) -> None:
    # the market maker quotes off the book: its runs differ unless the book at --from is the
    # one papertrade run primes from the depth frames before the window
    window = ["--from", "2025-06-26T16:10:00Z", "--to", "2025-06-26T16:25:00Z"]
    done = papertrade("sweep", str(MAKER), "--replay", str(CRYPTOMUS), *window,
                      "--grid", "half_spread_bps=1,3", "--maximize", "fills", "--workers", "1",
                      "--out", str(tmp_path / "sweep"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {row["half_spread_bps"]: row for row in _read(tmp_path / "sweep" / "sweep.csv")}
    assert set(rows) == {"1", "3"}
    for spread, row in rows.items():
        out = tmp_path / f"run-{spread}"
        run = papertrade("run", str(MAKER), "--replay", str(CRYPTOMUS), *window,
                         "--set", f"half_spread_bps={spread}", "--out", str(out))  # fmt: skip
        assert run.returncode == 0, run.stderr
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        assert int(row["fills"]) == summary["fills"] > 0
        assert row["total_return"] == repr(summary["total_return"])
        assert int(row["counts.lines"]) == summary["counts"]["lines"]
        assert row["events_sha256"] == summary["fingerprint"]["events_sha256"]
        assert row["first_time"] >= "2025-06-26T16:10:00"
    best = max(rows.values(), key=lambda r: int(r["fills"]))
    for name in ("summary.json", "events.jsonl", "fills.csv", "equity.csv"):
        assert (tmp_path / "sweep" / "best" / name).read_bytes() == (
            tmp_path / f"run-{best['half_spread_bps']}" / name
        ).read_bytes()
    reproduce = " ".join(done.stdout.split())
    assert "--from 2025-06-26T16:10:00.000Z --to 2025-06-26T16:25:00.000Z" in reproduce


def test_sharpe_on_a_bundled_recording_completes_and_says_why_it_is_null(tmp_path: Path) -> None:
    # nine hours of bars: one daily return, below the 20 the annualised statistics need
    done = papertrade("sweep", str(SMA), "--replay", str(BARS), "--grid", "fast=5,10",
                      "--grid", "slow=30", "--maximize", "sharpe", "--workers", "1",
                      "--out", str(tmp_path / "out"), "--db", str(tmp_path / "runs.db"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.split())
    assert (
        "no run has a value for sharpe (annualised figures need at least 20 daily returns; "
        "each run has 1), so there is no best point; statistics with values: "
    ) in out
    valued = out.split("statistics with values: ")[1].split(" results:")[0].split(", ")
    assert {"total_return", "max_drawdown", "win_rate", "fills"} <= set(valued)
    assert not {"sharpe", "sortino", "cagr", "fast", "slow"} & set(valued)
    assert "reproduce the best run" not in out
    rows = _read(tmp_path / "out" / "sweep.csv")
    assert [(r["fast"], r["sharpe"], r["error"]) for r in rows] == [("5", "", ""), ("10", "", "")]
    assert (tmp_path / "out" / "sweep.html").is_file()
    assert not (tmp_path / "out" / "best").exists()
    conn = sqlite3.connect(tmp_path / "runs.db")
    assert conn.execute("SELECT status, best FROM sweeps").fetchall() == [("finished", None)]
    assert conn.execute("SELECT objective FROM sweep_runs").fetchall() == [(None,), (None,)]
    conn.close()
