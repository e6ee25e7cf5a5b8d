"""A sweep worker reads the decoded cache for whole-recording points, as ``papertrade run`` does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import framework
from framework import replaycache
from framework.config import Config
from framework.run import sha256_file
from framework.sweeps import worker
from framework.sweeps.spec import RunSpec
from framework.window import Window

from .conftest import SMA

NS = 1_000_000_000


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "cache"
    monkeypatch.setenv("PAPERTRADE_CACHE", str(folder))
    try:
        yield folder
    finally:
        worker.release()


def _spec(recording: Path, window: Window | None = None) -> RunSpec:
    return RunSpec(
        index=0, strategy=str(SMA), params={"fast": 5, "slow": 20}, recording=str(recording),
        recording_sha256=sha256_file(recording), seed=0, config=Config(), window=window or Window(),
    )  # fmt: skip


def _without_wall_time(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{k: v for k, v in row.items() if k != "wall_s"} for row in rows]


def test_whole_recording_points_stream_the_decoded_cache_and_keep_no_lines(
    small_bars: Path, cache: Path
) -> None:
    spec = _spec(small_bars)
    first, second = worker.run_spec(spec), worker.run_spec(spec)
    assert first.error == "" and first.summary is not None
    assert second.summary == first.summary
    window_ns = replaycache.window_ns_of(Config().run.event_time_window_s)
    assert replaycache.cache_path(small_bars, window_ns, cache).is_file()  # built on first use
    loaded = worker.load_recording(small_bars, spec.recording_sha256)
    assert loaded.cache(window_ns) is not None
    assert loaded._forms == {}  # no line kept in memory: every point read the cache file
    assert first.began <= first.ended <= second.began <= second.ended


def test_a_windowed_point_reads_the_lines_as_papertrade_run_does(
    small_bars: Path, cache: Path
) -> None:
    start = worker.time_span(worker.load_recording(small_bars))[0]
    spec = _spec(small_bars, Window(start_ns=start + 3600 * NS))
    result = worker.run_spec(spec)
    assert result.error == "" and result.summary is not None
    assert result.summary["counts"]["frames"] < 901
    assert not (cache / "replay").exists()  # a window never builds the cache


@pytest.mark.parametrize("workers", [1, 2])
def test_rows_from_the_decoded_cache_are_the_rows_from_the_recording(
    small_bars: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    grid = ["fast=5:15:5", "slow=20,30"]
    cached = framework.sweep(SMA, small_bars, grid=grid, workers=workers)
    assert list((cache / "replay").glob("*.ptdc"))
    monkeypatch.setenv("PAPERTRADE_CACHE", "off")  # the workers keep and decode the lines
    read = framework.sweep(SMA, small_bars, grid=grid, workers=workers)
    assert len(read.rows) == 6 and all(row["error"] == "" for row in read.rows)
    assert _without_wall_time(cached.rows) == _without_wall_time(read.rows)
