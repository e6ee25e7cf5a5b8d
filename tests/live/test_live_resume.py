"""Resuming a live session by deterministic catch-up, with real processes killed by SIGKILL at
seeded random moments: the final events are those of one replay of the whole recording."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from framework.live.resume import _cut_torn_tail
from framework.recording import DisconnectedLine, RecordingReader

REPO = Path(__file__).resolve().parents[2]
LIMIT_S = 90
COUNTER = """
from framework.strategy import Strategy


class Counter(Strategy):
    def __init__(self, name=None):
        super().__init__(name)
        self.count = 0  # the strategy's own state: rebuilt by the catch-up, never saved

    def on_book(self, book, event):
        self.count += 1
        if self.count % 3 == 0:
            self.buy_market(event.instrument, quantity="QTY")
        elif self.count % 5 == 0:
            self.sell_market(event.instrument, "QTY")
"""


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


def strategy(tmp_path: Path, qty: str = "0.0001") -> Path:
    path = tmp_path / f"counter_{qty}.py"
    path.write_text(COUNTER.replace("QTY", qty))
    return path


def frames_in(recording: Path) -> int:
    return recording.read_bytes().count(b'"k":"frame"') if recording.exists() else 0


def kill_after_frames(session: Path, strat: Path, more_frames: int, extra_s: float) -> None:
    """Start a session run, let it record ``more_frames`` frames and ``extra_s`` seconds, kill -9."""
    recording = session / "recording.jsonl"
    before = frames_in(recording)
    child = subprocess.Popen(
        papertrade("run", strat, "--live", "--session", session, "--quiet"),
        cwd=REPO, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + LIMIT_S
        while frames_in(recording) < before + more_frames:
            assert time.monotonic() < deadline, "the session recorded no frames"
            time.sleep(0.05)
        time.sleep(extra_s)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=LIMIT_S) == -signal.SIGKILL
    finally:
        child.kill()


def test_a_session_killed_at_random_moments_ends_with_the_events_of_one_replay(
    tmp_path: Path,
) -> None:
    rng = random.Random(14)  # the kill moments are seeded: a failure reproduces
    session, strat = tmp_path / "session", strategy(tmp_path)
    for _ in range(3):
        kill_after_frames(session, strat, rng.randint(4, 12), rng.uniform(0.0, 1.5))
    last = run("run", strat, "--live", "--session", session, "--quiet", "--duration", "3")
    assert last.returncode == 0, last.stderr
    assert f"resuming session {session}: replaying its recording" in last.stdout
    assert "; going live" in last.stdout
    verified = int(last.stdout.split(" lines replayed, ")[1].split(" private events")[0])
    assert verified > 0  # events written before the last kill were checked, not just rewritten
    with RecordingReader(session / "recording.jsonl") as reader:
        lines = list(reader)
        assert (reader.stats.corrupt, reader.stats.truncated_tail) == (0, False)
    resumed = [x for x in lines if isinstance(x, DisconnectedLine) and x.reason == "resumed"]
    assert len(resumed) == 3  # each kill left its connection open; the resume closed it
    compared = run("diff", session, session / "recording.jsonl", "--strategy", strat)
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert compared.stdout.startswith("identical: ")
    replayed = run("run", strat, "--replay", session / "recording.jsonl", "--out", tmp_path / "r")
    assert replayed.returncode == 0, replayed.stderr
    events = (session / "events.jsonl").read_bytes()
    assert events.count(b'"deal_update"') >= 3
    assert events == (tmp_path / "r" / "events.jsonl").read_bytes()
    assert not list(session.glob("*.resume"))


def test_a_changed_strategy_is_refused_with_the_first_difference_unless_rebased(
    tmp_path: Path,
) -> None:
    session = tmp_path / "session"
    first = run("run", strategy(tmp_path), "--live", "--session", session, "-q",
                "--duration", "4")  # fmt: skip
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in session.iterdir()}
    assert before["events.jsonl"].count(b'"deal_update"') >= 1
    changed = strategy(tmp_path, "0.0002")
    refused = run("run", changed, "--live", "--session", session, "-q", "--duration", "1")
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        f"Error: cannot resume session {session}: private event 1 (simulated time 20"
    )
    assert "  written:     {" in refused.stderr and "  regenerated: {" in refused.stderr
    assert '"0.0001000000000000"' in refused.stderr and '"0.0002000000000000"' in refused.stderr
    assert "Run again with --rebase" in refused.stderr
    assert {p.name: p.read_bytes() for p in session.iterdir()} == before  # left as it was
    rebased = run("run", changed, "--live", "--session", session, "-q", "--duration", "1",
                  "--rebase")  # fmt: skip
    assert rebased.returncode == 0, rebased.stderr
    assert "(rebased); going live" in rebased.stdout


def test_a_torn_last_line_is_cut_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    path.write_bytes(b'{"a":1}\n{"b":2}\n{"c":')
    _cut_torn_tail(path)
    assert path.read_bytes() == b'{"a":1}\n{"b":2}\n'
    _cut_torn_tail(path)
    assert path.read_bytes() == b'{"a":1}\n{"b":2}\n'
