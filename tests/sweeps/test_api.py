"""framework.sweep in a notebook's way: rows back, points run in this process or a pool."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import framework
from framework.errors import ConfigError
from framework.sweeps.walkforward import Fold, make_folds
from framework.window import Window

from .conftest import SMA

NS = 1_000_000_000


def _without_wall_time(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{k: v for k, v in row.items() if k != "wall_s"} for row in rows]


def test_a_grid_gives_one_row_per_point_with_every_statistic(small_bars: Path) -> None:
    result = framework.sweep(SMA, small_bars, grid={"fast": "5:10:5", "slow": [20, 30]}, workers=1)
    assert [(r["fast"], r["slow"]) for r in result.rows] == [(5, 20), (5, 30), (10, 20), (10, 30)]
    row = result.rows[0]
    assert row["error"] == ""
    assert row["counts.frames"] == 901
    assert {"total_return", "sharpe", "max_drawdown", "win_rate", "fees_paid.USDT"} <= row.keys()
    assert len(row["fingerprint"]) == 64 and len(row["events_sha256"]) == 64
    best = max(result.rows, key=lambda r: r["total_return"])
    assert result.best == {"fast": best["fast"], "slow": best["slow"]}
    assert result.ranked[0] is best


def test_a_failing_point_is_recorded_with_its_error_and_the_sweep_goes_on(small_bars: Path) -> None:
    result = framework.sweep(SMA, small_bars, grid=["fast=10,40", "slow=30"], workers=1)
    ok, failed = result.rows
    assert ok["error"] == "" and ok["orders"] > 0
    assert "needs 0 < fast < slow, got 40 and 30" in failed["error"]
    assert "total_return" not in failed
    assert result.ranked == [ok, failed]


def test_the_best_points_run_is_the_one_papertrade_run_writes(
    small_bars: Path, tmp_path: Path
) -> None:
    import subprocess

    result = framework.sweep(
        SMA, small_bars, grid=["fast=5,10", "slow=20,30"], where="fast < slow", workers=1,
        maximize="total_return", out=tmp_path / "sweep",
    )  # fmt: skip
    assert result.best is not None
    sets = [arg for k, v in result.best.items() for arg in ("--set", f"{k}={v}")]
    subprocess.run(
        [sys.executable, "-m", "framework", "run", str(SMA), "--replay", str(small_bars),
         *sets, "--out", str(tmp_path / "run")],
        check=True, capture_output=True,
    )  # fmt: skip
    for name in ("summary.json", "events.jsonl", "fills.csv", "equity.csv"):
        assert (tmp_path / "sweep" / "best" / name).read_bytes() == (
            tmp_path / "run" / name
        ).read_bytes()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["total_return"] == result.ranked[0]["total_return"]


def test_a_local_pool_gives_the_same_rows_as_one_process(small_bars: Path) -> None:
    kwargs = {"grid": ["fast=5:15:5", "slow=20,30"], "samples": 4, "search_seed": 9}
    alone = framework.sweep(SMA, small_bars, workers=1, **kwargs)  # type: ignore[arg-type]
    pooled = framework.sweep(SMA, small_bars, workers=2, **kwargs)  # type: ignore[arg-type]
    assert len(alone.rows) == 4
    assert _without_wall_time(pooled.rows) == _without_wall_time(alone.rows)


def test_optuna_proposes_the_same_points_with_one_or_two_workers(small_bars: Path) -> None:
    pytest.importorskip("optuna")
    kwargs = {"grid": ["fast=2:12:1", "slow=15:40:5"], "trials": 10, "where": "fast < slow"}
    alone = framework.sweep(SMA, small_bars, workers=1, **kwargs)  # type: ignore[arg-type]
    pooled = framework.sweep(SMA, small_bars, workers=2, **kwargs)  # type: ignore[arg-type]
    assert 1 <= len(alone.rows) <= 10
    assert all(r["fast"] < r["slow"] for r in alone.rows)
    assert _without_wall_time(pooled.rows) == _without_wall_time(alone.rows)


def test_trials_without_optuna_names_the_extra(
    small_bars: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if it were not installed
    with pytest.raises(
        ConfigError, match=r"--trials needs Optuna: pip install 'papertrade\[optuna\]'"
    ):
        framework.sweep(SMA, small_bars, grid=["fast=5,10"], trials=3, workers=1)


def test_ray_without_ray_names_the_extra(small_bars: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(
        ConfigError, match=r"--backend ray needs Ray: pip install 'papertrade\[ray\]'"
    ):
        framework.sweep(SMA, small_bars, grid=["fast=5,10"], backend="ray")


def test_an_unknown_objective_lists_the_statistics_the_summary_has(small_bars: Path) -> None:
    with pytest.raises(
        ConfigError,
        # sharpe is null in a run of hours, and still a statistic the summary has
        match=r"--maximize sharp: the run summary has no such statistic; available: "
        r".*\bmax_drawdown\b.*\bsharpe\b.*\btotal_return\b",
    ):
        framework.sweep(SMA, small_bars, grid=["fast=5,10"], maximize="sharp", workers=1)


def test_minimize_ranks_lowest_first(small_bars: Path) -> None:
    result = framework.sweep(
        SMA, small_bars, grid=["fast=5,10,15"], minimize="max_drawdown", workers=1
    )
    drawdowns = [r["max_drawdown"] for r in result.ranked]
    assert drawdowns == sorted(drawdowns)


def test_an_unknown_parameter_on_an_axis_lists_the_strategys(small_bars: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"no parameter 'fats' \(parameters: (\w+, )*fast, instrument, slow, stake\)",
    ):
        framework.sweep(SMA, small_bars, grid=["fats=5,10"], workers=1)


def _w(start: int | None, end: int | None) -> Window:
    return Window(
        start_ns=None if start is None else start * NS, end_ns=None if end is None else end * NS
    )


def test_folds_cut_the_span_into_equal_parts_on_whole_seconds() -> None:
    span = (5 * NS + 1, 405 * NS + 7)  # cuts at 105.0..., 205.0..., 305.0... s, rounded down
    assert make_folds(span, 3, "anchored") == [
        Fold(1, _w(None, 105), _w(105, 205)), Fold(2, _w(None, 205), _w(205, 305)),
        Fold(3, _w(None, 305), _w(305, None)),
    ]  # fmt: skip
    assert make_folds(span, 3, "rolling") == [
        Fold(1, _w(None, 105), _w(105, 205)), Fold(2, _w(105, 205), _w(205, 305)),
        Fold(3, _w(205, 305), _w(305, None)),
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="--walk must be anchored or rolling"):
        make_folds(span, 3, "expanding")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="too short to cut into 4 windows"):
        make_folds((0, 2 * NS), 3, "anchored")


def test_walk_forward_runs_each_folds_best_point_out_of_sample(
    small_bars: Path, tmp_path: Path
) -> None:
    result = framework.sweep(
        SMA, small_bars, grid=["fast=3,5", "slow=10,15"], folds=2, walk="rolling", workers=1,
        out=tmp_path,
    )  # fmt: skip
    assert [f["fold"] for f in result.folds] == [1, 2]
    trains = [r for r in result.rows if r["phase"] == "train"]
    tests = [r for r in result.rows if r["phase"] == "test"]
    assert len(trains) == 8 and len(tests) == 2
    for fold, test in zip(result.folds, tests, strict=True):
        in_fold = [r for r in trains if r["fold"] == fold["fold"]]
        best = max(in_fold, key=lambda r: r["total_return"])
        assert (
            (fold["fast"], fold["slow"])
            == (best["fast"], best["slow"])
            == (test["fast"], test["slow"])
        )
        assert fold["in_sample.total_return"] == best["total_return"]
        assert fold["out_of_sample.total_return"] == test["total_return"]
        assert fold["test_from"] <= test["first_time"] and test["last_time"] <= fold["test_to"]
        assert (
            290 < test["counts.frames"] < 310
        )  # a third of the frames: none from before the window
        written = json.loads((tmp_path / "folds" / str(fold["fold"]) / "summary.json").read_text())
        assert written["total_return"] == test["total_return"]
    # rolling: P0 trains fold 1, P1 tests fold 1 and trains fold 2, P2 tests fold 2; each frame
    # of the 901 falls in exactly one part
    parts = [trains[0]["counts.frames"], *(t["counts.frames"] for t in tests)]
    assert [r["counts.frames"] for r in trains if r["fold"] == 2] == [parts[1]] * 4
    assert sum(parts) == 901
    lines = (tmp_path / "walkforward.csv").read_text().splitlines()
    assert lines[0] == (
        "fold,train_from,train_to,test_from,test_to,fast,slow,"
        "in_sample.total_return,out_of_sample.total_return,error"
    )
    assert len(lines) == 3


def test_folds_need_exactly_one_recording(small_bars: Path) -> None:
    with pytest.raises(ConfigError, match="exactly one --replay"):
        framework.sweep(SMA, [small_bars, small_bars], grid=["fast=5"], folds=2)


def test_points_with_a_null_objective_rank_last_and_are_reported(small_bars: Path) -> None:
    # slow=200 needs more bars than the 150 there are: no trade, so no win rate (null)
    result = framework.sweep(
        SMA, small_bars, grid=["fast=5", "slow=200,20"], maximize="win_rate", workers=1
    )
    idle, traded = result.rows
    assert idle["win_rate"] is None and idle["error"] == "" and idle["round_trips"] == 0
    assert traded["win_rate"] is not None
    assert result.ranked == [traded, idle]
    assert result.best == {"fast": 5, "slow": 20}
    assert result.note == (
        "1 of 2 runs have no value for win_rate (null; ranked last): the results model leaves "
        "it null when it cannot be computed (docs/statistics.md)"
    )
