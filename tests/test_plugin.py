"""The pytest plugin papertrade installs: the ``papertrade`` fixture and golden runs.

Each test runs a real pytest process in a folder of its own, as a user's CI would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

USER_TEST = """
from framework.testing import Scenario

from strategies_under_test import SmaCrossover

FAST = {fast}


def test_sma_on_the_bundled_bars(papertrade, tmp_path):
    result = papertrade.run(SmaCrossover, "finazon-btc-usdt-bars", params={{"fast": FAST}})
    assert result.out_dir is not None and result.out_dir.is_relative_to(tmp_path)
    result.assert_matches_golden("tests/golden/sma")
"""

STRATEGY = (Path(__file__).parents[1] / "strategies" / "sma_crossover.py").read_text()


def write_project(root: Path, fast: int) -> None:
    (root / "tests").mkdir(parents=True, exist_ok=True)
    (root / "strategies_under_test.py").write_text(STRATEGY)
    (root / "tests" / "test_sma.py").write_text(USER_TEST.format(fast=fast))


def pytest_in(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
    )


def test_golden_run_is_written_then_kept_then_fails_readably(tmp_path: Path) -> None:
    write_project(tmp_path, fast=10)
    first = pytest_in(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    golden = tmp_path / "tests" / "golden" / "sma"
    assert sorted(p.name for p in golden.iterdir()) == ["events.jsonl", "fills.csv", "summary.json"]
    # small and reviewable: the SMA example trades 15 times on these bars
    events = (golden / "events.jsonl").read_text().splitlines()
    assert len(events) == 90 and sum(len(e) for e in events) < 40_000
    assert json.loads((golden / "summary.json").read_text())["strategies"] == {
        "SmaCrossover": {
            "bar_interval": "",
            "fast": 10,
            "instrument": "BTC/USDT",
            "slow": 30,
            "stake": "1000",
        }
    }
    before = {p.name: p.read_bytes() for p in golden.iterdir()}

    again = pytest_in(tmp_path)
    assert again.returncode == 0, again.stdout
    assert {p.name: p.read_bytes() for p in golden.iterdir()} == before

    write_project(tmp_path, fast=8)  # a changed parameter: the golden test must fail, readably
    changed = pytest_in(tmp_path)
    assert changed.returncode == 1
    out = changed.stdout
    assert "the run differs from golden folder tests/golden/sma" in out
    # fast=8 crosses two bars sooner: the golden run's first order came at a later frame
    assert "first divergence at event 1\n" in out
    assert "A at frame 273, 2025-06-26T16:45:10.006Z" in out
    assert "B at frame 261, 2025-06-26T16:43:10.010Z" in out
    assert "! data.info.createTs" in out
    assert "strategies.SmaCrossover.fast" in out
    assert "pytest --papertrade-update-golden" in out
    assert max(len(line) for line in out.splitlines()) < 160  # no wall of JSON
    assert {p.name: p.read_bytes() for p in golden.iterdir()} == before  # not overwritten

    updated = pytest_in(tmp_path, "--papertrade-update-golden")
    assert updated.returncode == 0, updated.stdout
    summary = json.loads((golden / "summary.json").read_text())
    assert summary["strategies"]["SmaCrossover"]["fast"] == 8
    assert pytest_in(tmp_path).returncode == 0


def test_the_option_is_listed_in_pytest_help(tmp_path: Path) -> None:
    done = pytest_in(tmp_path, "--help")
    assert "--papertrade-update-golden" in done.stdout
    assert "write golden folders instead of comparing" in done.stdout
