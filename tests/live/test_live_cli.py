"""``papertrade run --live`` and ``papertrade record`` as real subprocesses, on a machine with no
credentials: the built-in emulator is used and says so first; signals stop runs cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import trio

from framework.recording import DisconnectedLine, Frame, RecordingReader

REPO = Path(__file__).resolve().parents[2]
EMULATOR_LINE = re.compile(
    r"no credentials for cryptomus \(no key configured\): "
    r"using the built-in emulator at ws://127\.0\.0\.1:\d+"
)
STRATEGY = """
from framework.strategy import Strategy


class EveryTenth(Strategy):
    def __init__(self, name=None):
        super().__init__(name)
        self.count = 0

    def on_trade(self, trade):
        self.count += 1
        if self.count % 10 == 0:
            self.buy_market(trade.instrument, quantity="0.001")
"""
LIMIT_S = 60


def papertrade(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "framework", *map(str, args)]


def clean_env() -> dict[str, str]:
    """The environment of a fresh machine: no provider credentials."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("CRYPTOMUS", "ALLTICK", "FINAZON"))
    }


def start(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        papertrade(*args), cwd=REPO, env=clean_env(), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def wait_for_frames(path: Path) -> None:
    """Poll (real time: the child runs on the wall clock) until the recording holds frames."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if path.exists() and b'"k":"frame"' in path.read_bytes():
            return
        time.sleep(0.1)
    raise AssertionError(f"no frame recorded in {path} within 20 s")


def test_run_live_without_credentials_uses_the_emulator_and_writes_the_outputs(
    tmp_path: Path,
) -> None:
    (tmp_path / "every_tenth.py").write_text(STRATEGY)
    out = tmp_path / "out"
    done = subprocess.run(
        papertrade("run", tmp_path / "every_tenth.py", "--live", "--duration", "3", "--out", out),
        cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=LIMIT_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert EMULATOR_LINE.fullmatch(done.stdout.splitlines()[0])
    assert sorted(p.name for p in out.iterdir()) == [
        "equity.csv", "events.jsonl", "fills.csv", "results.json", "summary.json", "trades.csv",
    ]  # fmt: skip


def test_sigint_finishes_a_recording_that_replays_cleanly(tmp_path: Path) -> None:
    recording = tmp_path / "rec.jsonl"
    child = start("record", "--out", recording)
    try:
        assert child.stdout is not None
        assert EMULATOR_LINE.fullmatch(child.stdout.readline().rstrip("\n"))
        wait_for_frames(recording)
        child.send_signal(signal.SIGINT)
        stdout, stderr = child.communicate(timeout=LIMIT_S)
    finally:
        child.kill()
    assert child.returncode == 0, stderr
    assert re.match(r"recorded \d+ lines \(\d+ frames\) to ", stdout)
    with RecordingReader(recording) as reader:
        lines = list(reader)
        assert (reader.stats.corrupt, reader.stats.truncated_tail) == (0, False)
    assert any(isinstance(line, Frame) for line in lines)
    assert isinstance(lines[-1], DisconnectedLine) and lines[-1].reason == "stopped"


def test_sigterm_stops_a_live_run_that_still_writes_its_summary(tmp_path: Path) -> None:
    (tmp_path / "every_tenth.py").write_text(STRATEGY)
    out, recording = tmp_path / "out", tmp_path / "rec.jsonl"
    child = start("run", tmp_path / "every_tenth.py", "--live", "--out", out, "--record", recording)
    try:
        wait_for_frames(recording)
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=LIMIT_S)
    finally:
        child.kill()
    assert child.returncode == 0, stderr
    assert "SIGTERM: closing connections" in stderr
    assert (out / "summary.json").exists()


async def test_a_recording_made_by_the_record_command_replays_through_a_strategy(
    tmp_path: Path,
) -> None:
    # Byte-for-byte parity is test_live_runner's; here, the two commands as a user runs them.
    recording = tmp_path / "rec.jsonl"
    (tmp_path / "every_tenth.py").write_text(STRATEGY)
    with trio.fail_after(LIMIT_S):
        done = await trio.run_process(
            papertrade("record", "--out", recording, "--duration", "2"),
            cwd=REPO, env=clean_env(), capture_stdout=True, capture_stderr=True,
        )  # fmt: skip
        assert done.returncode == 0
        replayed = await trio.run_process(
            papertrade("run", tmp_path / "every_tenth.py", "--replay", recording,
                       "--out", tmp_path / "out"),
            cwd=REPO, env=clean_env(), capture_stdout=True, capture_stderr=True,
        )  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr.decode()
