"""A user's mistake gives one clear line naming what is wrong and where, never a traceback.

Real ``papertrade`` processes on the inputs the hardening issue listed.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STRATEGY = REPO / "strategies" / "sma_crossover.py"
FINAZON = REPO / "replays" / "finazon-btc-usdt-bars.jsonl.gz"


def papertrade(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "framework", *map(str, args)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def header_line() -> bytes:
    with gzip.open(FINAZON, "rb") as fh:
        return fh.readline()


@pytest.mark.parametrize("value", ["-5", "0", "nan"])
def test_a_duration_that_is_not_positive_is_one_usage_error(value: str, tmp_path: Path) -> None:
    done = papertrade("run", STRATEGY, "--live", "--duration", value, "--out", tmp_path / "o")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "Invalid value for '--duration'" in done.stderr.splitlines()[-1]


def test_an_empty_file_says_it_is_empty(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_bytes(b"")
    done = papertrade("inspect", tmp_path / "empty.jsonl")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().endswith("(line 1: the file is empty)")


def test_a_huge_first_line_says_so(tmp_path: Path) -> None:
    (tmp_path / "big.jsonl").write_bytes(b'{"k":"header","x":"' + b"a" * 50_000_000 + b'"}\n')
    done = papertrade("inspect", tmp_path / "big.jsonl")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "the first line is longer than 1048576 bytes" in done.stderr


def test_a_utf8_bom_before_the_header_is_accepted(tmp_path: Path) -> None:
    data = gzip.decompress(FINAZON.read_bytes())
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + data)
    done = papertrade("run", STRATEGY, "--replay", tmp_path / "bom.jsonl", "--out", tmp_path / "o")
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["counts"]["corrupt_lines"] == 0 and summary["fills"] > 0


def test_a_header_only_recording_has_no_period(tmp_path: Path) -> None:
    (tmp_path / "h.jsonl").write_bytes(header_line())
    done = papertrade("run", STRATEGY, "--replay", tmp_path / "h.jsonl", "--out", tmp_path / "o")
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert (summary["first_time"], summary["last_time"]) == ("", "")
    assert "none (no line after the header)" in done.stdout


def test_a_deeply_nested_first_line_is_a_recording_error(tmp_path: Path) -> None:
    (tmp_path / "deep.jsonl").write_bytes(b"[" * 100_000 + b"\n")
    done = papertrade("inspect", tmp_path / "deep.jsonl")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "nests deeper than 65 levels" in done.stderr


def test_a_gz_with_trailing_bytes_replays_and_reports_its_tail(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl.gz").write_bytes(FINAZON.read_bytes() + b"trailing garbage\n")
    done = papertrade("run", STRATEGY, "--replay", tmp_path / "t.jsonl.gz", "--out", tmp_path / "o")
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["counts"]["truncated_tail"] is True
    whole = len(gzip.decompress(FINAZON.read_bytes()).splitlines())
    assert summary["counts"]["lines"] == whole
