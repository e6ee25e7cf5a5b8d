"""Catch-up speed: how fast ``--session`` replays a session's recording before going live.

Run by hand (never in CI):  .venv/bin/python bench/resume.py [--frames 1000000] [--repeat 3]

A session folder is made from the replay benchmark's generated Cryptomus recording of N
``trade_update`` frames (``bench/replay.py``; cached the same way) and a replay of it with the
rule that places orders (its ``events.jsonl``, ``fills.csv`` ... are the session's outputs, as
a killed session leaves them). Then, in rounds, it times:

* replay: ``papertrade run --replay`` of the recording (``framework.run.replay``), reading its
  JSON (the decoded cache off, as a session's growing recording never has one to reuse);
* catch-up: what ``papertrade run --live --session DIR`` does before it connects
  (``framework.live.resume``): set the outputs aside, build the engine, feed it every line of
  the recording while checking each private event it regenerates against the old
  ``events.jsonl``, then drop the set-aside files.

It reports each case's median rate, and the catch-up's time as a multiple of the replay's.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import replay as replay_bench

from framework.config import Config, RunConfig
from framework.exchange import ExchangeConfig
from framework.live.resume import RECORDING, CatchUp
from framework.recording import RecordingReader
from framework.run import RunSetup, build, replay


def setup() -> RunSetup:
    rule = replay_bench.RuleWithOrders
    # As bench/replay.py runs it (enough quote currency that every signal trades), but without
    # closing the position at the end: a killed session never got there, so every event it
    # wrote is one the catch-up regenerates and checks.
    config = Config(
        run=RunConfig(equity_interval_s=60.0, finalize=False),
        exchange=ExchangeConfig(balances={"USDT": Decimal(100_000_000)}),
    )
    # The replay reads the recording's JSON, as the catch-up does (a session's recording grows
    # with every resume, so no decoded cache of it would be reused).
    return RunSetup(
        strategies=(rule,), strategy_sources={rule.__name__: ""}, config=config, seed=1,
        decoded_cache=False,
    )  # fmt: skip


def time_replay(recording: Path) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        summary = replay(setup(), recording, out)
        took = time.perf_counter() - start
    return took, int(summary["counts"]["frames"])


def time_catch_up(session: Path) -> tuple[float, int]:
    """One catch-up of ``session`` (its files are put back afterwards)."""
    saved = session.with_name(session.name + "-saved")
    shutil.rmtree(saved, ignore_errors=True)
    shutil.copytree(session, saved)
    start = time.perf_counter()
    resume = CatchUp(session, rebase=False)
    resume.set_aside()
    with RecordingReader(resume.recording) as reader:
        specs = tuple(reader.header.providers)
    engine, output = build(setup(), specs, session, live=True)
    resume.replay(engine)
    resume.done()
    took = time.perf_counter() - start
    output.close()
    shutil.rmtree(session)
    saved.rename(session)
    return took, resume.verified


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    recording = replay_bench.recording_path(args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        session = Path(tmp) / "session"
        session.mkdir()
        shutil.copyfile(recording, session / RECORDING)
        summary = replay(setup(), session / RECORDING, session)
        events = sum(1 for _ in open(session / "events.jsonl", "rb"))  # noqa: SIM115
        replays, catch_ups = [], []
        for _ in range(args.repeat):
            took, frames = time_replay(recording)
            replays.append(took)
            took, verified = time_catch_up(session)
            catch_ups.append(took)
            assert verified == events, (verified, events)  # every old event was checked
    frames = int(summary["counts"]["frames"])
    r, c = statistics.median(replays), statistics.median(catch_ups)
    print(f"{frames:,} frames, {events:,} private events checked")
    print(f"replay    {r:8.2f} s  {frames / r:>10,.0f} frames/s")
    print(f"catch-up  {c:8.2f} s  {frames / c:>10,.0f} frames/s  ({c / r:.2f} x the replay's time)")


if __name__ == "__main__":
    main()
