"""What a run shows while it runs: the live status line, the replay progress bar, log lines
stamped with simulated time, and third-party loggers kept quiet unless -vv. Real processes."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIMIT_S = 90
CHURN = """
from framework.strategy import Strategy


class Churn(Strategy):
    def on_book(self, book, event):
        if self.position(event.instrument) > 0:
            self.sell_market(event.instrument, "0.0001")
        else:
            self.buy_market(event.instrument, quantity="0.0001")
"""
LOGS_EACH_TRADE = """
from framework.strategy import Strategy


class Talk(Strategy):
    def on_trade(self, trade):
        self.log.warning("saw a trade at %s", trade.price)
"""
STATUS = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z  equity [\d,]+\.\d\d USDT  .+  \d+ open orders  "
    r"[\d,]+ frames/s  cryptomus up \(last \d+\.\d s ago\)"
)


def papertrade(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "framework", *map(str, args)]


def clean_env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("CRYPTOMUS", "ALLTICK", "FINAZON"))
    }


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        papertrade(*args), cwd=REPO, env=clean_env(), capture_output=True, text=True,
        timeout=LIMIT_S,
    )  # fmt: skip


def test_a_live_run_prints_a_status_line_every_few_seconds_unless_quiet(tmp_path: Path) -> None:
    strategy = tmp_path / "churn.py"
    strategy.write_text(CHURN)
    talking = run("run", strategy, "--live", "--duration", "11", "--out", tmp_path / "a")
    assert talking.returncode == 0, talking.stderr
    lines = [line for line in talking.stderr.splitlines() if STATUS.fullmatch(line)]
    assert len(lines) == 2, talking.stderr  # at 5 s and 10 s
    quiet = run("run", strategy, "--live", "--duration", "6", "--quiet", "--out", tmp_path / "b")
    assert quiet.returncode == 0, quiet.stderr
    assert not [line for line in quiet.stderr.splitlines() if "frames/s" in line]


def test_every_log_line_carries_the_simulated_time(tmp_path: Path) -> None:
    from framework.testing import Scenario

    recording = (
        Scenario("BTC/USDT", start_s=1_750_953_600)  # 2025-06-26T16:00:00Z
        .book(0, bids=[(100.0, 1.0)], asks=[(101.0, 1.0)])
        .trade(1.5, 100.5, 0.1, "buy")
        .trade(62.25, 100.75, 0.1, "sell")
        .write(tmp_path / "scenario.jsonl")
    )
    (tmp_path / "talk.py").write_text(LOGS_EACH_TRADE)
    done = run("run", tmp_path / "talk.py", "--replay", recording, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "2025-06-26T16:00:01.500Z WARNING papertrade.strategy.Talk: saw a trade at 100.5",
        "2025-06-26T16:01:02.250Z WARNING papertrade.strategy.Talk: saw a trade at 100.75",
    ]


def test_third_party_debug_lines_show_only_with_vv(tmp_path: Path) -> None:
    strategy = tmp_path / "churn.py"
    strategy.write_text(CHURN)
    once = run("-v", "run", strategy, "--live", "--duration", "2", "-q", "--out", tmp_path / "a")
    twice = run("-vv", "run", strategy, "--live", "--duration", "2", "-q", "--out", tmp_path / "b")
    assert once.returncode == twice.returncode == 0, once.stderr + twice.stderr
    assert "papertrade.emulators" in once.stderr  # our own debug and info lines
    assert "trio-websocket" not in once.stderr
    assert "DEBUG trio-websocket" in twice.stderr


def test_a_replay_shows_a_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    args = ("run", REPO / "strategies" / "sma_crossover.py", "--replay",
            REPO / "replays" / "cryptomus-btc-usdt.jsonl.gz")  # fmt: skip
    leader, follower = pty.openpty()
    with os.fdopen(leader, "rb", buffering=0) as terminal:
        child = subprocess.Popen(
            papertrade(*args, "--out", tmp_path / "tty"), cwd=REPO, env=clean_env(),
            stdout=subprocess.DEVNULL, stderr=follower,
        )  # fmt: skip
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = terminal.read(65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        assert child.wait(timeout=LIMIT_S) == 0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode("utf-8", "replace"))
    assert re.search(r"replay .*\d+% [\d,]+ frames, [\d,]+/s 2025-06-26 \d\d:\d\d", text), text[
        :500
    ]
    piped = run(*args, "--out", tmp_path / "pipe")
    assert piped.returncode == 0 and piped.stderr == ""
