"""``papertrade run --live --record x.jsonl.gz`` killed with SIGKILL leaves a readable recording.

Real processes against the built-in emulator, killed at seeded random moments; each file is
read back by the recording reader, compared line for line with what ``gzip -dc`` recovers,
and replayed by a real ``papertrade run --replay``.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from framework.recording import Frame, RecordingReader

from .test_live_cli import LIMIT_S, REPO, STRATEGY, clean_env, papertrade, start

KILLS = 5


def _complete_lines_by_gzip(path: Path) -> list[bytes]:
    """What the gzip tool recovers of a cut file: its complete lines."""
    done = subprocess.run(["gzip", "-dc", str(path)], capture_output=True, timeout=LIMIT_S)
    return done.stdout.split(b"\n")[:-1]  # the last element is a cut line or empty


@pytest.mark.parametrize("seed", range(KILLS))
def test_a_recording_killed_at_a_random_moment_is_read_and_replayed(
    tmp_path: Path, seed: int
) -> None:
    (tmp_path / "every_tenth.py").write_text(STRATEGY)
    rec = tmp_path / "x.jsonl.gz"
    proc = start(
        "run", tmp_path / "every_tenth.py", "--live", "--duration", "60",
        "--record", rec, "--out", tmp_path / "live",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not (rec.exists() and rec.stat().st_size > 600):
            assert time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        time.sleep(random.Random(seed).uniform(0.0, 2.5))
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=LIMIT_S)
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    with RecordingReader(rec) as reader:
        lines = list(reader)
    assert reader.stats.corrupt == 0
    assert any(isinstance(line, Frame) for line in lines)
    # Every line the gzip tool recovers is read back, and nothing else.
    recovered = _complete_lines_by_gzip(rec)
    assert len(recovered) >= 2
    assert 1 + len(lines) == len(recovered)
    assert lines[-1].t == json.loads(recovered[-1])["t"]

    done = subprocess.run(
        papertrade("run", tmp_path / "every_tenth.py", "--replay", rec, "--out", tmp_path / "r"),
        cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=LIMIT_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["counts"]["lines"] == len(recovered) + summary["counts"]["truncated_tail"]


def test_a_killed_live_run_keeps_its_events_and_fills_up_to_the_last_second(
    tmp_path: Path,
) -> None:
    (tmp_path / "every_tenth.py").write_text(STRATEGY)
    out = tmp_path / "live"
    proc = start(
        "run", tmp_path / "every_tenth.py", "--live", "--duration", "60", "--out", out,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        events, fills = out / "events.jsonl", out / "fills.csv"
        while not (events.exists() and fills.exists() and fills.read_text().count("\n") >= 2):
            assert time.monotonic() < deadline, "no fill reached fills.csv within 30 s"
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=LIMIT_S)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    written = [json.loads(line) for line in events.read_text().splitlines()]
    assert {"order_update", "deal_update", "balance_update"} <= {e["method"] for e in written}


def test_live_and_replay_agree_on_lines_frames_and_events(tmp_path: Path) -> None:
    (tmp_path / "every_tenth.py").write_text(STRATEGY)
    rec = tmp_path / "x.jsonl.gz"
    for args in (
        ("--live", "--duration", "8", "--record", rec, "--out", tmp_path / "live"),
        ("--replay", rec, "--out", tmp_path / "replay"),
    ):
        done = subprocess.run(
            papertrade("run", tmp_path / "every_tenth.py", *args),
            cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=LIMIT_S,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    live, replay = (
        json.loads((tmp_path / d / "summary.json").read_text()) for d in ("live", "replay")
    )
    for key in ("lines", "frames", "decode_errors"):
        assert live["counts"][key] == replay["counts"][key], key
    assert live["fills"] > 0
    assert live["fingerprint"]["events_sha256"] == replay["fingerprint"]["events_sha256"]
