"""Converting in worker processes writes what one process writes: the same bytes, the same report.

Real worker processes, on files cut into blocks and runs far smaller than the command's own
(so that every file, bad rows and all, is split everywhere), compared with the same import in
one process. The one-process import is itself the reference the other importer tests check.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.errors import ConfigError, RecordingError
from framework.importers import parallel, source
from framework.importers.base import BlockSummary
from framework.importers.binance import Trades
from framework.importers.convert import import_files
from framework.importers.parallel import Task, convert_task

from .helpers import write
from .test_columns import binance_rows, tardis_rows

TRADE = "51175358,17.80180000,5.69000000,101.29224200,{t},True,True"  # Binance's README row
AGG = "{i},0.20000000,50.00000000,0,0,{t},False,True"
TARDIS = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"
SNAPSHOTS = "exchange,symbol,timestamp,local_timestamp," + ",".join(
    f"asks[{i}].price,asks[{i}].amount,bids[{i}].price,bids[{i}].amount" for i in range(2)
)
T = 1585699200000000  # 2020-04-01 in microseconds


@contextlib.contextmanager
def _split(block: int, run: int, *, all_to_workers: bool = True) -> Iterator[None]:
    """Blocks of ``block`` bytes, runs of ``run`` bytes, workers for any file; with
    ``all_to_workers``, every run goes to a worker (none is converted while waiting)."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(source, "_BLOCK", block))
        stack.enter_context(mock.patch.object(parallel, "TASK", run))
        stack.enter_context(mock.patch.object(parallel, "PARALLEL_FROM", 0))
        if all_to_workers:
            stack.enter_context(mock.patch.object(parallel, "_AHEAD", 10**6))
            start = parallel._Worker.start

            def started(worker: parallel._Worker) -> bool:
                if not worker.started:  # no run converted here while waiting for it
                    select.select([worker.output], [], [], 60)
                return start(worker)

            stack.enter_context(mock.patch.object(parallel._Worker, "start", started))
        yield


def _outcome(fmt: str, files: list[Path], out: Path, jobs: int) -> tuple[str, bytes]:
    """The report (or the error) and the recording's bytes."""
    out.parent.mkdir(exist_ok=True)
    try:
        report = import_files(fmt, files, "BTC/USDT", out, jobs=jobs)
    except ConfigError as exc:
        assert not out.exists()
        return f"error: {exc}", b""
    return report.replace(str(out), "OUT"), out.read_bytes()


def _same_in_workers(tmp: Path, fmt: str, files: list[Path], block: int, run: int) -> str:
    """Import in one process and in workers; assert both the same; the one-process report."""
    one = _outcome(fmt, files, tmp / "one" / "out.jsonl", jobs=1)
    with _split(block, run):
        many = _outcome(fmt, files, tmp / "many" / "out.jsonl", jobs=3)
    assert many == one
    assert not list(tmp.glob("*/*.part"))
    return one[0]


def _binance_file() -> str:
    """Binance's README row as a day of trades, with the bad rows a file may hold."""
    rows = [TRADE.format(t=1583709433583 + 10 * i) for i in range(60)]
    rows[7] = rows[7].replace("17.80180000", "abc")  # not a number
    rows[20] = rows[20].replace(",True,True", ",maybe,True")
    rows[33] = TRADE.format(t=1583709433000)  # goes back
    rows[34] = rows[34].replace("17.80180000", "1.5e-7")  # a number all the same
    rows[45] = rows[45].replace("5.69000000", "0")  # not positive
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize(("block", "run"), [(40, 1), (100, 150), (300, 1000)])
def test_documented_rows_convert_in_workers_as_in_one_process(
    tmp_path: Path, block: int, run: int
) -> None:
    trades = write(tmp_path / "trades.csv", _binance_file())
    report = _same_in_workers(tmp_path, "binance-trades", [trades], block, run)
    assert "skipped 4 bad rows" in report and "line 34: time 1583709433000 goes back" in report
    agg = "\n".join(AGG.format(i=i, t=1608872400000 + 5 * (i % 17)) for i in range(50))
    aggtrades = write(tmp_path / "agg.zip", agg + "\n", "zip")
    report = _same_in_workers(tmp_path, "binance-aggtrades", [aggtrades], block, run)
    assert "bad row" in report  # time goes back every 17 rows: runs start out of order too
    rows = [f"bitmex,XBTUSD,{T + 9 * i},{T + 10 * i},id{i},{'buy' if i % 3 else 'sell'},6488.5,"
            f"{i + 1}" for i in range(60)]  # fmt: skip
    rows[5] = rows[5].replace("sell", "unknown")
    rows[40] = rows[40].replace("XBTUSD", "ETHUSD")
    tardis = write(tmp_path / "tardis.csv.gz", "\n".join([TARDIS, *rows]) + "\n", "gzip")
    report = _same_in_workers(tmp_path, "tardis-trades", [tardis], block, run)
    assert "line 42: symbol 'ETHUSD' differs from the first row's 'XBTUSD'" in report
    snaps = [f"binance-futures,BTCUSDT,{T + i},{T + 7 + i},10001,1.5,10000,2,10002,0.5,,"
             for i in range(0, 400, 9)]  # fmt: skip
    snaps[3] = snaps[3].replace("10002,0.5", "10002,x")
    snapshots = write(tmp_path / "snapshots.csv", "\n".join([SNAPSHOTS, *snaps]) + "\n")
    report = _same_in_workers(tmp_path, "tardis-book-snapshot", [snapshots], block, run)
    assert "line 5: asks[1].amount 'x' is not a number" in report
    # Several files continue one another, each file's header read again.
    _same_in_workers(tmp_path, "tardis-trades", [tardis, tardis], block, run)
    _same_in_workers(tmp_path, "binance-trades", [trades, aggtrades], block, run)


@pytest.mark.parametrize(
    ("first", "said"),
    [
        # one column short: names no symbol, the next row does
        (f"bitmex,XBTUSD,{T},{T + 1},1,buy,6488.5", "line 2: 7 columns, the header has 8"),
        # a bad row that names the symbol all the same: every other row differs
        (f"bitmex,ETHUSD,{T},{T + 1},1,buy,6488.5,0", "no row could be imported (39 bad)"),
        # an empty symbol names none: the next row's is the file's
        (f"bitmex,,{T},{T + 1},1,buy,6488.5,1", "imported 39 trades"),
    ],
)
def test_a_bad_first_tardis_row_decides_the_symbol_as_in_one_process(
    tmp_path: Path, first: str, said: str
) -> None:
    rows = [f"bitmex,XBTUSD,{T},{T + 10 * i},{i},sell,6488.5,1" for i in range(2, 40)]
    tardis = write(tmp_path / "t.csv", "\n".join([TARDIS, first, *rows]) + "\n")
    report = _same_in_workers(tmp_path, "tardis-trades", [tardis], 60, 1)
    assert said in report


def test_formats_that_carry_a_message_across_rows_stay_in_one_process(tmp_path: Path) -> None:
    l2 = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n" + "".join(
        f"deribit,BTC-PERPETUAL,{T},{T + i // 3},{'true' if i < 6 else 'false'},bid,{100 + i},1\n"
        for i in range(40)
    )
    l2_file = write(tmp_path / "l2.csv", l2)
    klines = "".join(
        f"{1583709420000 + 60000 * i},1,2,0.5,1.5,10,{1583709479999 + 60000 * i},1,1,1,1,0\n"
        for i in range(30)
    )
    klines_file = write(tmp_path / "k.csv", klines)
    children: list[list[int]] = []
    for fmt, file in (("tardis-incremental-book-l2", l2_file), ("binance-klines", klines_file)):
        with _split(50, 1):
            import_files(fmt, [file], "BTC/USDT", tmp_path / "o.jsonl", jobs=3,
                         progress=lambda _d, _t: children.append(_workers()))  # fmt: skip
    assert children and not any(children)


@st.composite
def _hostile(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A format and one or two files of it: good rows, bad rows, rows out of order."""
    fmt = draw(st.sampled_from(["binance-trades", "binance-aggtrades", "tardis-trades"]))
    texts = []
    for _ in range(draw(st.integers(1, 2))):
        if fmt == "tardis-trades":
            parts = draw(st.lists(tardis_rows(book=False), min_size=1, max_size=4))
            texts.append("\n".join([TARDIS] + [row for part in parts for row in part]))
        else:
            width = 7 if fmt == "binance-trades" else 8
            parts = draw(st.lists(binance_rows(width), min_size=1, max_size=4))
            texts.append("\n".join(row for part in parts for row in part))
    return fmt, texts


@settings(max_examples=25, deadline=None)
@given(case=_hostile(), block=st.integers(8, 400), run=st.integers(1, 800), data=st.data())
def test_hostile_files_split_anywhere_convert_in_workers_as_in_one_process(
    tmp_path_factory: pytest.TempPathFactory,
    case: tuple[str, list[str]],
    block: int,
    run: int,
    data: st.DataObject,
) -> None:
    tmp = tmp_path_factory.mktemp("hostile")
    fmt, texts = case
    ending = data.draw(st.sampled_from(["\n", "\r\n", ""]))
    files = [write(tmp / f"f{i}.csv", text + ending) for i, text in enumerate(texts)]
    _same_in_workers(tmp, fmt, files, block, run)


@settings(max_examples=200, deadline=None)
@given(rows=binance_rows(7), cuts=st.lists(st.integers(0, 40), max_size=6), last=st.integers())
def test_a_run_converted_apart_and_merged_is_the_run_converted_in_order(
    rows: list[str], cuts: list[int], last: int
) -> None:
    """Without processes, many more cases: merge (or its refusal, then converting in order)
    leaves what feeding the blocks in order leaves, whatever came before the run."""
    lines = [row.encode() for row in rows]
    bounds = sorted({0, len(lines), *(c for c in cuts if c < len(lines))})
    blocks = [(1 + a, b"\n".join(lines[a:b])) for a, b in itertools.pairwise(bounds)]
    before = abs(last) % (2 * 1735689600000000 * 1000)  # the last time written before the run
    in_order, merged = Trades("BTC/USDT", sample=True), Trades("BTC/USDT", sample=True)
    in_order.last_ns = merged.last_ns = in_order.first_ns = merged.first_ns = before
    expected = bytearray()
    for first_line, block in blocks:
        in_order.feed("f.csv", first_line, block, expected)
    out, summary = convert_task(Task(Trades, "BTC/USDT", True, "f.csv", (), blocks))
    assert isinstance(summary, BlockSummary)
    if not merged.merge(summary):
        assert 0 <= summary.first_t < before  # refused only when the run goes back
        out = bytearray()
        for first_line, block in blocks:
            merged.feed("f.csv", first_line, block, out)
    assert bytes(out) == bytes(expected)
    assert (merged.rows, merged.written, merged.first_ns, merged.last_ns, merged.problems.count,
            merged.problems.listed, merged.sample) == (
            in_order.rows, in_order.written, in_order.first_ns, in_order.last_ns,
            in_order.problems.count, in_order.problems.listed, in_order.sample)  # fmt: skip


def test_small_files_stay_in_one_process(tmp_path: Path) -> None:
    trades = write(tmp_path / "trades.csv", _binance_file())
    seen: list[list[int]] = []
    import_files("binance-trades", [trades], "BTC/USDT", tmp_path / "a.jsonl", jobs=4,
                 progress=lambda _d, _t: seen.append(_workers()))  # fmt: skip
    assert seen and not any(seen)
    with _split(50, 1):  # the same file as a large one would go: workers
        seen.clear()
        import_files("binance-trades", [trades], "BTC/USDT", tmp_path / "b.jsonl", jobs=4,
                     progress=lambda _d, _t: seen.append(_workers()))  # fmt: skip
    assert len(max(seen, key=len)) == 3
    assert not _workers()  # stopped at the end


def test_progress_counts_what_was_written_up_to_the_whole(tmp_path: Path) -> None:
    trades = write(tmp_path / "trades.csv", _binance_file() * 4)
    calls: list[tuple[int, int]] = []
    with _split(100, 200, all_to_workers=False):
        import_files("binance-trades", [trades, trades], "BTC/USDT", tmp_path / "o.jsonl",
                     jobs=2, progress=lambda done, total: calls.append((done, total)))  # fmt: skip
    size = trades.stat().st_size
    assert [total for _, total in calls] == [2 * size] * len(calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert calls[-1][0] == 2 * size


def test_a_worker_that_dies_stops_the_import_with_an_error_and_no_file(tmp_path: Path) -> None:
    trades = write(tmp_path / "trades.csv", _binance_file() * 20)
    out = tmp_path / "out.jsonl"

    def kill_workers(_done: int, _total: int) -> None:
        for pid in _workers():
            os.kill(pid, signal.SIGKILL)

    with _split(200, 200), pytest.raises(RecordingError) as caught:
        import_files("binance-trades", [trades], "BTC/USDT", out, jobs=2, progress=kill_workers)
    assert "a process converting blocks of the import (pid " in str(caught.value)
    assert "ended unexpectedly by signal 9; the import stopped and wrote nothing" in str(
        caught.value
    )
    assert not out.exists() and not list(tmp_path.glob("*.part"))
    assert not _workers()


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough trades that workers start and the import lasts a while (about 25 MB)."""
    path = tmp_path_factory.mktemp("big") / "trades.csv"
    t = 1735689600000000
    with open(path, "w") as fh:
        for chunk in range(30):
            fh.write("".join(f"{i},93000.01000000,0.00100000,93.00001000,{t + 10 * i},True,True\n"
                             for i in range(chunk * 10_000, (chunk + 1) * 10_000)))  # fmt: skip
    return path


@pytest.mark.parametrize("how", ["ctrl-c", "kill"])
def test_workers_go_with_the_command(tmp_path: Path, big_file: Path, how: str) -> None:
    out = tmp_path / "out.jsonl.gz"
    command = [sys.executable, "-m", "framework", "import", "binance-trades", str(big_file),
               "--symbol", "BTC/USDT", "--out", str(out), "--jobs", "3"]  # fmt: skip
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while len(workers) < 2 and time.monotonic() < deadline:
        workers = _workers(proc.pid)
        time.sleep(0.01)
    assert len(workers) == 2, "the workers never started"
    if how == "ctrl-c":  # what a terminal sends: SIGINT to the whole process group
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.kill()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(_alive(pid) for pid in workers)
    assert not out.exists()
    if how == "ctrl-c":  # stopped cleanly: no half recording left behind
        assert not list(tmp_path.glob("*.part")), stderr.decode()


def test_jobs_is_documented_and_checked(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "framework", "import"]
    help_text = subprocess.run([*run, "--help"], capture_output=True, text=True, check=True)
    assert "--jobs" in help_text.stdout and "1 converts in this process" in help_text.stdout
    trades = write(tmp_path / "t.csv", _binance_file())
    bad = subprocess.run([*run, "binance-trades", str(trades), "--symbol", "BTC/USDT", "--out",
                          str(tmp_path / "o.jsonl"), "--jobs", "0"], capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "--jobs" in bad.stderr
    with pytest.raises(ConfigError, match="--jobs must be at least 1, not 0"):
        import_files("binance-trades", [trades], "BTC/USDT", tmp_path / "o.jsonl", jobs=0)


def _workers(pid: int | None = None) -> list[int]:
    """The worker processes a process has started (this one by default)."""
    pid = pid or os.getpid()
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                children = [int(child) for child in fh.read().split()]
        except OSError:
            continue
        for child in children:
            try:
                with open(f"/proc/{child}/cmdline", "rb") as fh:
                    if b"framework.importers.parallel" in fh.read():
                        found.append(child)
            except OSError:
                pass
    return found


def _alive(pid: int) -> bool:
    """Whether a process is still running (a zombie waiting to be reaped has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_worker_that_cannot_start_stops_the_ones_started(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting the pool fails (here its second worker; Ctrl-C while they start, alike): the
    worker already started is stopped and the error is the one that stopped it."""
    started: list[parallel._Worker] = []
    real = parallel._Worker

    def worker(converter: type[Trades]) -> parallel._Worker:
        if started:
            raise RecordingError("cannot start a process to convert blocks: no room")
        started.append(real(converter))
        return started[-1]

    monkeypatch.setattr(parallel, "_Worker", worker)
    with pytest.raises(RecordingError, match="no room"):
        parallel.Pool(2, Trades)
    assert started[0].process.poll() is not None
