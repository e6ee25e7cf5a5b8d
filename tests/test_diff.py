"""``papertrade diff``: run folders, golden folders and replayed recordings compared event by event."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.bundled import recording
from framework.config import load_config
from framework.diff import compare, load_folder, render, replay_side, write_golden
from framework.errors import ConfigError
from framework.recording import RecordingReader
from framework.run import RunSetup, load_strategy

BARS = "finazon-btc-usdt-bars"


def papertrade(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "framework", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The SMA example on the bundled bars, with its defaults and with fast=8."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name, sets in (("default", []), ("fast8", ["--set", "fast=8"])):
        done = papertrade(
            "run", "sma_crossover", "--replay", BARS, *sets, "--out", str(root / name)
        )
        assert done.returncode == 0, done.stderr
        out[name] = root / name
    return out


def test_identical_runs_exit_zero(runs: dict[str, Path]) -> None:
    done = papertrade("diff", str(runs["default"]), str(runs["default"]))
    assert done.returncode == 0, done.stdout + done.stderr
    fills = json.loads((runs["default"] / "summary.json").read_text())["fills"]
    assert done.stdout.startswith(f"identical: 96 events, {fills} fills, same statistics")


def test_changed_parameter_shows_first_divergence_side_by_side(runs: dict[str, Path]) -> None:
    done = papertrade("diff", str(runs["default"]), str(runs["fast8"]))
    assert done.returncode == 1
    out = done.stdout
    assert "first divergence at event 1\n" in out
    first_a = json.loads((runs["default"] / "events.jsonl").read_text().splitlines()[0])
    first_b = json.loads((runs["fast8"] / "events.jsonl").read_text().splitlines()[0])
    created_a, created_b = first_a["data"]["info"]["createTs"], first_b["data"]["info"]["createTs"]
    assert created_a != created_b  # fast=8 crosses earlier: the first order is made sooner
    # the differing field is marked, with both values on one line; equal fields are not marked
    assert "! data.info.createTs" in out
    row = next(line for line in out.splitlines() if "data.info.createTs" in line)
    assert row.split()[2:] == [str(created_a), str(created_b)]
    assert next(x for x in out.splitlines() if "data.info.symbol" in x).startswith("  ")
    # counts and statistics, as each run's own summary.json gives them
    sa = json.loads((runs["default"] / "summary.json").read_text())
    sb = json.loads((runs["fast8"] / "summary.json").read_text())
    fills_row = next(line for line in out.splitlines() if line.startswith("fills "))
    assert fills_row.split() == ["fills", str(sa["fills"]), str(sb["fills"]),
                                 f"{sb['fills'] - sa['fills']:+d}"]  # fmt: skip
    assert "strategies.SmaCrossover.fast" in out
    assert "fingerprint" not in out  # code hashes are not behaviour
    assert "{" not in out.split("statistics that differ:")[1]  # no JSON dumped


def test_run_folder_against_its_recording_replayed_with_its_own_params(
    runs: dict[str, Path],
) -> None:
    done = papertrade("diff", str(runs["fast8"]), BARS, "-s", "sma_crossover")
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((runs["fast8"] / "summary.json").read_text())
    assert done.stdout.startswith(f"identical: 132 events, {summary['fills']} fills")
    done = papertrade("diff", str(runs["fast8"]), BARS, "-s", "sma_crossover", "--set", "fast=10")
    assert done.returncode == 1
    # the replayed side knows each event's frame and simulated time
    assert "first divergence at event 1, frame " in done.stdout


def test_a_side_that_ends_early(runs: dict[str, Path], tmp_path: Path) -> None:
    cut = tmp_path / "cut"
    cut.mkdir()
    lines = (runs["default"] / "events.jsonl").read_text().splitlines(keepends=True)
    (cut / "events.jsonl").write_text("".join(lines[:85]))
    done = papertrade("diff", str(runs["default"]), str(cut))
    assert done.returncode == 1
    assert "first divergence at event 86" in done.stdout
    assert "B ends after 85 events; the other goes on with:" in done.stdout
    assert next(x for x in done.stdout.splitlines() if x.startswith("events ")).split() == [
        "events", "96", "85", "-11"
    ]  # fmt: skip


def test_user_mistakes_are_one_line(runs: dict[str, Path], tmp_path: Path) -> None:
    done = papertrade("diff", str(runs["default"]), BARS)
    assert done.returncode == 1
    assert done.stderr == f"Error: {BARS} is a recording: give --strategy to replay it\n"
    done = papertrade("diff", str(tmp_path), str(runs["default"]))
    assert done.stderr == f"Error: {tmp_path}: not a run folder (no events.jsonl)\n"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "events.jsonl").write_text('{"id":"1","method":"order_update"}\n[1,2]\n')
    done = papertrade("diff", str(bad), str(runs["default"]))
    assert done.stderr.startswith(f"Error: {bad / 'events.jsonl'}, line 2: not a JSON object")
    assert "Traceback" not in done.stderr


def test_replay_stamps_each_event_with_the_frame_that_made_it() -> None:
    cls, digest = load_strategy("strategies/sma_crossover.py")
    setup = RunSetup(
        strategies=(cls,), strategy_sources={cls.__name__: digest}, config=load_config(None), seed=0
    )
    side = replay_side(setup, recording(BARS))
    with RecordingReader(recording(BARS)) as reader:
        lines = list(reader)
    assert len(side.steps) == 96
    for step in side.steps:
        assert step.frame is not None and step.ts_ns is not None
        if step.frame < len(lines):  # events of the final settlement come after the last frame
            assert lines[step.frame].t == step.ts_ns
    # an SMA crossover orders on closed bars: every order is made on a Finazon frame, but the
    # last, which finalize places after the last frame
    created = [s for s in side.steps if s.event["data"].get("type") == "created"]
    assert len(created) == 16
    assert created[-1].frame == len(lines)
    for step in created[:-1]:
        assert step.frame is not None
        line = lines[step.frame]
        assert type(line).__name__ == "Frame" and getattr(line, "p", "") == "finazon"


def test_golden_folder_round_trips_and_reads_as_text(runs: dict[str, Path], tmp_path: Path) -> None:
    cls, digest = load_strategy("strategies/sma_crossover.py")
    setup = RunSetup(
        strategies=(cls,), strategy_sources={cls.__name__: digest}, config=load_config(None), seed=0
    )
    side = replay_side(setup, recording(BARS), label="replayed")
    write_golden(side, tmp_path / "golden")
    first = (tmp_path / "golden" / "events.jsonl").read_text().splitlines()[0]
    assert list(json.loads(first)) == ["frame", "time", "method", "data", "error"]  # no seq id
    assert json.loads(first)["time"].startswith("2025-06-26T")
    summary = json.loads((tmp_path / "golden" / "summary.json").read_text())
    assert "fingerprint" not in summary and summary["fills"] == 16
    golden = load_folder(tmp_path / "golden")
    assert compare(golden, side).identical
    # a plain run folder of the same run matches the golden folder too
    assert compare(golden, load_folder(runs["default"])).identical
    text = render(compare(golden, load_folder(runs["fast8"])))
    assert text.splitlines()[3].startswith("first divergence at event 1, frame ")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["id", "method", "data", "frame", "time", "x"]), inner)
    ),
    max_leaves=8,
)
_LINE = st.binary(max_size=60) | _JSON.map(msgspec.json.encode)


@settings(max_examples=150, deadline=None)
@given(
    events=st.lists(_LINE, max_size=5),
    fills=st.binary(max_size=200),
    summary=_LINE,
)
def test_reading_hostile_folders_raises_only_config_errors(
    events: list[bytes], fills: bytes, summary: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "events.jsonl").write_bytes(b"\n".join(events))
    (folder / "fills.csv").write_bytes(fills)
    (folder / "summary.json").write_bytes(summary)
    try:
        side = load_folder(folder)
    except ConfigError:
        return
    render(compare(side, side))
    msgspec.json.encode(side.summary)
