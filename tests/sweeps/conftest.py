"""Fixtures for the sweep tests: the bundled bar recording and a short slice of it."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
BARS = ROOT / "replays" / "finazon-btc-usdt-bars.jsonl.gz"
SMA = ROOT / "strategies" / "sma_crossover.py"


SMALL_LINES = 1 + 2 + 901  # header, connected and subscribed lines, then 901 frames


@pytest.fixture(scope="session")
def small_bars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 2.5 hours of the bundled bar recording: a subscription reply, then a 1-minute
    bar pushed every 10 s (150 bars in 900 frames)."""
    path = tmp_path_factory.mktemp("recordings") / "bars.jsonl"
    with gzip.open(BARS, "rt", encoding="utf-8") as fh:
        lines = [next(fh) for _ in range(SMALL_LINES)]
    path.write_text("".join(lines), encoding="utf-8")
    return path
