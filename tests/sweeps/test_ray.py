"""The Ray backend on a local Ray instance started by the test (two CPUs, loopback only)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import framework

from .conftest import SMA

ray: Any = pytest.importorskip("ray")  # ./scripts/test installs the extra


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning",
        _node_ip_address="127.0.0.1",
    )  # fmt: skip
    # A backend leaves its workers' scratch folders to the caller who started Ray: here, in
    # the test's own temporary folder.
    old, tempfile.tempdir = tempfile.tempdir, str(tmp_path_factory.mktemp("ray-scratch"))
    try:
        yield
    finally:
        tempfile.tempdir = old
        ray.shutdown()


def _without_wall_time(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{k: v for k, v in row.items() if k != "wall_s"} for row in rows]


def test_ray_gives_the_rows_one_process_gives(
    local_ray: None, small_bars: Path, tmp_path: Path
) -> None:
    grid = ["fast=5:15:5", "slow=20,30,40"]
    on_ray = framework.sweep(SMA, small_bars, grid=grid, backend="ray", out=tmp_path / "ray")
    alone = framework.sweep(SMA, small_bars, grid=grid, workers=1, out=tmp_path / "one")
    assert len(on_ray.rows) == 9 and all(r["error"] == "" for r in on_ray.rows)
    assert _without_wall_time(on_ray.rows) == _without_wall_time(alone.rows)

    # sweep.csv too, byte for byte apart from the wall-time column
    def cut(path: Path) -> list[str]:
        return [line.rsplit(",", 1)[0] for line in path.read_text().splitlines()]

    assert cut(tmp_path / "ray" / "sweep.csv") == cut(tmp_path / "one" / "sweep.csv")
    assert ray.is_initialized()  # a Ray the caller started is left running


def test_a_failing_point_on_ray_is_a_row_with_its_error(local_ray: None, small_bars: Path) -> None:
    result = framework.sweep(SMA, small_bars, grid=["fast=10,40", "slow=30"], backend="ray")
    assert result.rows[0]["error"] == ""
    assert "needs 0 < fast < slow" in result.rows[1]["error"]


def test_walk_forward_on_ray_matches_one_process(local_ray: None, small_bars: Path) -> None:
    kwargs: dict[str, Any] = {"grid": ["fast=3,5", "slow=10,15"], "folds": 2}
    on_ray = framework.sweep(SMA, small_bars, backend="ray", **kwargs)
    alone = framework.sweep(SMA, small_bars, workers=1, **kwargs)
    assert on_ray.folds == alone.folds
    assert _without_wall_time(on_ray.rows) == _without_wall_time(alone.rows)


def test_ray_writes_the_run_database_rows_one_process_writes(
    local_ray: None, small_bars: Path, tmp_path: Path
) -> None:
    from .test_database import dump

    kwargs: dict[str, Any] = {"grid": ["fast=5:15:5", "slow=20,30"], "maximize": "fills"}
    framework.sweep(SMA, small_bars, backend="ray", db=tmp_path / "ray.db", **kwargs)
    framework.sweep(SMA, small_bars, workers=1, db=tmp_path / "one.db", **kwargs)
    on_ray = dump(tmp_path / "ray.db")
    assert len(on_ray["sweep_runs"]) == 6 and len(on_ray["runs"]) == 6 and on_ray["fills"]
    assert on_ray == dump(tmp_path / "one.db")
