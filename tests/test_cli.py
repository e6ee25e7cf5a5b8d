"""The command line as a user meets it: real processes, real files, one clean line per mistake."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BARS = ROOT / "replays" / "finazon-btc-usdt-bars.jsonl.gz"
CRYPTOMUS = ROOT / "replays" / "cryptomus-btc-usdt.jsonl.gz"
SMA = ROOT / "strategies" / "sma_crossover.py"

TRADER = '''
from decimal import Decimal
from framework.strategy import Strategy, param

class Flipper(Strategy):
    """Buys on every 50th trade, sells on every 50th + 25th."""
    every = param(50)

    def on_start(self):
        self.n = 0

    def on_trade(self, trade):
        self.n += 1
        if self.n % self.every == 0:
            self.buy_market(trade.instrument, value=Decimal("100"))
        elif self.n % self.every == self.every // 2 and self.position(trade.instrument) > 0:
            self.sell_market(trade.instrument, self.position(trade.instrument))
'''


def papertrade(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "framework", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        cwd=cwd or ROOT,
    )


def assert_clean_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def trader(tmp_path: Path) -> Path:
    path = tmp_path / "flipper.py"
    path.write_text(TRADER)
    return path


def test_replay_writes_every_output_file_and_prints_a_summary(tmp_path: Path, trader: Path) -> None:
    out = tmp_path / "out"
    result = papertrade("run", str(trader), "--replay", str(CRYPTOMUS), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "return" in result.stdout and "orders / fills" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "equity.csv",
        "events.jsonl",
        "fills.csv",
        "results.json",
        "summary.json",
        "trades.csv",
    ]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["orders"] > 0 and summary["fills"] > 0
    assert summary["counts"]["decode_errors"] == 0
    first = json.loads((out / "events.jsonl").read_text().splitlines()[0])
    assert first["method"] == "order_update" and first["data"]["type"] == "created"


def test_two_processes_with_different_hash_seeds_write_identical_bytes(
    tmp_path: Path, trader: Path
) -> None:
    outs = []
    for hash_seed in ("1", "12345"):
        out = tmp_path / f"out-{hash_seed}"
        result = papertrade(
            "run", str(trader), "--replay", str(CRYPTOMUS), "--out", str(out), "--seed", "9",
            env={"PYTHONHASHSEED": hash_seed},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        outs.append(out)
    for name in ("events.jsonl", "summary.json", "fills.csv", "equity.csv"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    assert (outs[0] / "events.jsonl").stat().st_size > 0


def test_a_different_seed_changes_ids_but_not_the_trading(tmp_path: Path, trader: Path) -> None:
    summaries = []
    for seed in ("1", "2"):
        out = tmp_path / f"s{seed}"
        assert (
            papertrade(
                "run", str(trader), "--replay", str(CRYPTOMUS), "--out", str(out), "--seed", seed
            ).returncode
            == 0
        )
        summaries.append(json.loads((out / "summary.json").read_text()))
    assert (
        summaries[0]["fingerprint"]["events_sha256"] != summaries[1]["fingerprint"]["events_sha256"]
    )
    assert summaries[0]["final_equity"] == summaries[1]["final_equity"]


def test_set_changes_a_parameter_and_is_recorded_in_the_summary(
    tmp_path: Path, trader: Path
) -> None:
    out = tmp_path / "out"
    assert (
        papertrade(
            "run", str(trader), "--replay", str(CRYPTOMUS), "--out", str(out), "--set", "every=80"
        ).returncode
        == 0
    )
    assert json.loads((out / "summary.json").read_text())["strategies"] == {
        "Flipper": {"every": 80}
    }


def test_missing_recording_is_one_line(tmp_path: Path, trader: Path) -> None:
    result = papertrade(
        "run", str(trader), "--replay", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")
    )
    assert_clean_error(result, "recording not found", "nope.jsonl")


def test_missing_strategy_file_is_one_line(tmp_path: Path) -> None:
    result = papertrade("run", str(tmp_path / "gone.py"), "--replay", str(CRYPTOMUS))
    assert_clean_error(result, "strategy file not found")


def test_a_file_without_a_strategy_subclass_is_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    result = papertrade("run", str(empty), "--replay", str(CRYPTOMUS))
    assert_clean_error(result, "no Strategy subclass")


BOOM = """\
from framework.strategy import Strategy


class Boom(Strategy):
    def on_start(self):
        self.n = 0

    def on_trade(self, trade):
        self.n += 1
        if self.n == 2:
            self.buy_market(trade.instrument, quantity="0.001")
        if self.n == 500:
            self.helper()

    def helper(self):
        raise ValueError(f"my bug at trade {self.n}")
"""


def test_a_strategy_exception_shows_the_users_file_line_and_frames_only(tmp_path: Path) -> None:
    bad = tmp_path / "boom.py"
    bad.write_text(BOOM)
    out = tmp_path / "o"
    result = papertrade("-v", "run", str(bad), "--replay", str(CRYPTOMUS), "--out", str(out))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(
        f"Error: strategy 'Boom' raised ValueError: my bug at trade 500 at {bad}:16 "
        "in on_trade(Trade(venue='cryptomus'"
    )
    assert lines[1:] == [
        "Traceback (your code, most recent call last):",
        f'  File "{bad}", line 13, in on_trade',
        "    self.helper()",
        f'  File "{bad}", line 16, in helper',
        '    raise ValueError(f"my bug at trade {self.n}")',
    ]


def test_a_strategy_exception_still_writes_every_output_file(tmp_path: Path) -> None:
    bad = tmp_path / "boom.py"
    bad.write_text(BOOM)
    out = tmp_path / "o"
    result = papertrade("run", str(bad), "--replay", str(CRYPTOMUS), "--out", str(out))
    assert result.returncode == 1
    assert sorted(p.name for p in out.iterdir()) == [
        "equity.csv", "events.jsonl", "fills.csv", "results.json", "summary.json", "trades.csv",
    ]  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["error"].startswith("strategy 'Boom' raised ValueError: my bug at trade 500")
    assert (summary["orders"], summary["fills"], summary["open_trips"]) == (1, 1, 1)
    events = [
        json.loads(line)["method"] for line in (out / "events.jsonl").read_text().splitlines()
    ]
    assert events.count("deal_update") == 1 and events[-1] == "order_update"
    assert len((out / "fills.csv").read_text().splitlines()) == 2
    assert summary["last_time"] > summary["first_time"]


TINY = """\
from framework.strategy import Strategy


class Tiny(Strategy):
    def on_start(self):
        self.n = 0

    def on_trade(self, trade):
        self.n += 1
        if self.n <= 5:
            self.buy_market(trade.instrument, quantity="0.000001")
        if self.n == 6:
            self.sell_market(trade.instrument, "5")
"""


def test_the_console_gives_a_line_per_rejection_reason_with_its_count(tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.py"
    tiny.write_text(TINY)
    result = papertrade("run", str(tiny), "--replay", str(CRYPTOMUS), "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "5 rejected: Order quantity must be between 0.00001 and 1000 size. (code 3)" in lines
    assert "1 rejected: Insufficient funds. BTC wallet balance is 0.00000000. (code 6)" in lines
    table = {line.split("  ")[0].strip(): line for line in lines if "  " in line.strip()}
    assert "0 / 0 (6 rejected)" in table["orders / fills"]


def test_an_unknown_config_key_is_named(tmp_path: Path, trader: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[exchange]\nmaker_fee = 1\n")
    result = papertrade("run", str(trader), "--replay", str(CRYPTOMUS), "--config", str(config))
    assert_clean_error(result, "maker_fee")


def test_a_malformed_set_is_one_line(trader: Path) -> None:
    assert_clean_error(
        papertrade("run", str(trader), "--replay", str(CRYPTOMUS), "--set", "every"), "name=value"
    )


def test_an_unknown_parameter_is_named(trader: Path) -> None:
    assert_clean_error(
        papertrade("run", str(trader), "--replay", str(CRYPTOMUS), "--set", "evry=3"),
        "evry",
        "every",
    )


def test_corrupt_lines_are_counted_in_the_summary(tmp_path: Path, trader: Path) -> None:
    lines = gzip.decompress(CRYPTOMUS.read_bytes()).splitlines(keepends=True)
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_bytes(b"".join([*lines[:50], b"{broken line\n", b"\xff\xfe\n", *lines[50:]]))
    out = tmp_path / "out"
    result = papertrade("run", str(trader), "--replay", str(damaged), "--out", str(out))
    assert result.returncode == 0, result.stderr
    counts = json.loads((out / "summary.json").read_text())["counts"]
    assert counts["corrupt_lines"] == 2


def test_replay_and_live_are_mutually_exclusive(trader: Path) -> None:
    result = papertrade("run", str(trader))
    assert (
        result.returncode != 0 and "--replay" in result.stderr and "Traceback" not in result.stderr
    )


def test_inspect_prints_events_with_the_required_keys(tmp_path: Path) -> None:
    result = papertrade("inspect", str(CRYPTOMUS), "--limit", "20")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(events) == 20
    for event in events:
        assert {"type", "venue", "instrument", "ts_event_ns", "ts_recv_ns"} <= event.keys()
        assert event["venue"] == "cryptomus" and event["instrument"] == "BTC/USDT"
    assert "book_snapshot" in {e["type"] for e in events}
    assert "corrupt lines" in result.stderr and "time span" in result.stderr


def test_inspect_of_a_bad_path_or_a_non_recording_is_one_line(tmp_path: Path) -> None:
    assert_clean_error(papertrade("inspect", str(tmp_path / "missing.jsonl")), "not found")
    junk = tmp_path / "junk.jsonl"
    junk.write_text("hello\n")
    assert_clean_error(papertrade("inspect", str(junk)), "not a papertrade recording")


def test_help_explains_every_command() -> None:
    result = papertrade("--help")
    assert result.returncode == 0
    for command in ("run", "inspect", "import-csv", "generate", "serve", "record"):
        assert command in result.stdout
    run_help = papertrade("run", "--help").stdout
    assert "--replay" in run_help and "--set" in run_help and "--seed" in run_help


@pytest.mark.skipif(not SMA.exists(), reason="example strategy not present")
def test_readme_main_command_prints_a_sensible_result(tmp_path: Path) -> None:
    result = papertrade("run", str(SMA), "--replay", str(BARS), "--out", str(tmp_path / "sma"))
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "sma" / "summary.json").read_text())
    assert summary["fills"] >= 2 and summary["round_trips"] >= 1
    assert summary["first_time"].startswith("2025-06-26")
    assert -0.5 < summary["total_return"] < 0.5
