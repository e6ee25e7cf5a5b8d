"""Converting an import's blocks on other processors: worker processes, results in file order.

Converting rows is the one part of an import that holds the interpreter's lock (reading, hashing,
compressing and writing let go of it), so a second processor helps only as a second process.
A :class:`Pool` of worker processes (and the importing process, while their results have not
come) converts *runs* of blocks (:data:`TASK` bytes of lines) of
a file, each on a fresh converter given the file's :meth:`~Converter.context`: a pure function
of (the blocks, their first line numbers, the settings) that returns the lines and a
:class:`~framework.importers.base.BlockSummary`. The importing process reads, hashes, writes,
and merges the summaries in file order (:meth:`~Converter.merge`), which is where the checks
that span runs are made: a run whose first line goes back before the last line of the run
before is converted again in the importing process, in order, so that the bytes written are
those one process writes, bad rows and all.

A worker is a fresh interpreter (``python -c``: no thread, lock or ``__main__`` of the
importing process is copied into it) speaking over its standard input and output: a run in
(a pickled :class:`Task`, which only the importing process writes), its lines and summary
out. Runs go to the workers in turn, so each result is read from the worker whose turn it
was, in file order. A worker reads its input on a thread of its own, so that the importing
process never waits to hand over a run while the worker waits to hand back the one before;
and writes its results on another, so that it converts the runs it holds while a result
(larger than a pipe holds) waits for the importing process to read it.
Workers ignore Ctrl-C (the importing process stops them), and go when the importing process
goes however it goes (their input ends; ``PR_SET_PDEATHSIG`` on Linux). A worker that fails
sends its exception back; one that dies is a :class:`~framework.errors.RecordingError`: the
import stops and its half-written recording is removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import importlib
import io
import os
import pickle
import queue
import select
import signal
import struct
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path
from typing import IO, Final, NamedTuple, cast

from framework.errors import RecordingError
from framework.importers.base import BlockSummary, Converter

__all__ = ["PARALLEL_FROM", "TASK", "Pool", "Task", "convert_task", "default_jobs", "serve"]

PARALLEL_FROM: Final = 4 << 20
"""Bytes of input (on disk) below which an import stays in one process: starting workers
(some 0.2 s of a processor each) would cost more than they save."""
TASK: Final = 512 << 10
"""Bytes of lines a worker converts at a time: large enough that handing over the run and its
result costs little beside converting it, small enough that a few in flight per worker keep
memory flat."""
_AHEAD: Final = 3  # runs in flight per worker: one converting, two waiting their turn
_LENGTH: Final = struct.Struct("<Q")
_OK: Final = 0
_FAILED: Final = 1
_STARTED: Final = b"\x02"  # a worker's first byte: ready for runs
_PR_SET_PDEATHSIG: Final = 1
_F_SETPIPE_SZ: Final = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_PIPE_SIZE: Final = 1 << 20  # the most an unprivileged process may ask for, by default
_PACKAGE_ROOT: Final = str(Path(__file__).resolve().parents[2])


class Task(NamedTuple):
    """A run of blocks of one file, and what converting them apart needs."""

    converter: type[Converter]
    symbol: str
    sample: bool  # the market sample is still being gathered
    source: str  # the file's name, for bad rows
    context: tuple[bytes, ...]
    blocks: list[tuple[int, bytes]]  # (number of the first line, block), in file order


def convert_task(task: Task) -> tuple[bytearray, BlockSummary]:
    """Convert a run of blocks on a fresh converter: its lines, and what it found."""
    converter = task.converter(task.symbol, sample=task.sample)
    converter.resume(task.source, task.context)
    # Each block's lines in a buffer of their own, joined once: appended to one buffer, the
    # run's lines would be copied again at every growth (each a realloc of the whole).
    parts: list[bytearray] = []
    for first_line, block in task.blocks:
        part = bytearray()
        converter.feed(task.source, first_line, block, part)
        parts.append(part)
    out = bytearray().join(parts)
    return out, converter.summary(out)


def default_jobs() -> int:
    """The processors this process may run on (its affinity, not the machine's count)."""
    count = getattr(os, "process_cpu_count", None)  # Python 3.13+: honours -X cpu_count
    if count is not None:
        return int(count() or 1)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class _Worker:
    def __init__(self, converter: type[Converter]) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
        code = f"from {__name__} import serve; serve({os.getpid()}, {converter.__module__!r})"
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                bufsize=0,  # results are read whole (_read), and their arrival seen (ready)
                env=env,
                close_fds=True,
            )
        except OSError as exc:
            raise RecordingError(f"cannot start a process to convert blocks: {exc}") from exc
        assert self.process.stdin is not None and self.process.stdout is not None
        self.input: IO[bytes] = self.process.stdin
        self.output = cast(io.RawIOBase, self.process.stdout)  # unbuffered: bufsize=0
        self.in_flight = 0
        self.started = False
        for pipe in (self.input, self.output):
            _widen(pipe.fileno())

    def send(self, task: Task) -> None:
        data = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.input.write(_LENGTH.pack(len(data)))
            self.input.write(data)
            self.input.flush()
        except OSError as exc:  # the worker is gone: said when its result is asked for
            del exc

    def ready(self) -> bool:
        """Whether the next result has begun to arrive (or the worker has gone)."""
        return bool(select.select([self.output], [], [], 0)[0])

    def start(self) -> bool:
        """Whether the worker has started (loaded what it needs): runs go to it only then."""
        if not self.started and self.ready():
            if self._read(1) != _STARTED:
                raise RecordingError(f"a process converting blocks (pid {self.process.pid}) "
                                     "started wrongly")  # fmt: skip
            self.started = True
        return self.started

    def receive(self) -> tuple[bytearray, BlockSummary]:
        status = self._read(1)[0]
        meta = pickle.loads(self._read(_LENGTH.unpack(self._read(_LENGTH.size))[0]))
        if status != _OK:
            raise meta
        out = self._read(_LENGTH.unpack(self._read(_LENGTH.size))[0])
        self.in_flight -= 1
        return out, meta

    def _read(self, count: int) -> bytearray:
        data = bytearray(count)
        view = memoryview(data)
        done = 0
        while done < count and (got := self.output.readinto(view[done:])):
            done += got
        if done == count:
            return data
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        how = f"with exit code {code}" if code is None or code >= 0 else f"by signal {-code}"
        raise RecordingError(
            f"a process converting blocks of the import (pid {self.process.pid}) ended "
            f"unexpectedly {how}; the import stopped and wrote nothing (--jobs 1 converts in "
            "one process)"
        )

    def stop(self, at_once: bool) -> None:
        if at_once or not self.started:
            self.process.kill()
        with contextlib.suppress(OSError):  # a worker gone: what was not sent is not needed
            self.input.close()
        self.process.wait()
        self.output.close()


class Pool:
    """Worker processes converting runs, whose results come back in the order given.

    Args:
        workers: how many worker processes.
        converter: the converter they will run (loaded as they start).

    Raises:
        RecordingError: a worker cannot be started.
    """

    def __init__(self, workers: int, converter: type[Converter]) -> None:
        self._workers: list[_Worker] = []
        self._pending: deque[tuple[_Worker | tuple[bytearray, BlockSummary], Task, int]]
        self._pending = deque()  # before the workers: close() reads it if starting them fails
        try:
            for _ in range(workers):
                self._workers.append(_Worker(converter))
        except BaseException:
            self.close()
            raise
        self._turn = 0
        self._limit = 2 * _AHEAD * workers  # runs in flight, and converted here, at most

    def __bool__(self) -> bool:
        return bool(self._pending)

    def put(self, task: Task, position: int) -> bool:
        """Have a run converted; ``position`` comes back with its result (for progress).

        The run goes to the next worker in turn, unless that worker has not started yet or
        holds as many runs as memory allows: then, while the oldest result has not come, the
        run is converted here (no processor waits: not for the workers to start, nor for their
        results when this process has less to do than they have).

        Returns:
            False (nothing done) when the oldest result must be taken first (:meth:`next`).
        """
        worker = self._workers[self._turn]
        if worker.in_flight < _AHEAD and worker.start():
            self._turn = (self._turn + 1) % len(self._workers)
            worker.send(task)
            worker.in_flight += 1
            self._pending.append((worker, task, position))
            return True
        if (self._pending and self._ready()) or len(self._pending) >= self._limit:
            return False
        self._pending.append((convert_task(task), task, position))
        return True

    def next(self) -> tuple[Task, bytearray, BlockSummary, int]:
        """The oldest run in flight, converted: (run, lines, summary, position).

        Raises:
            RecordingError: its worker died; or the worker's own exception.
        """
        source, task, position = self._pending.popleft()
        out, summary = source.receive() if isinstance(source, _Worker) else source
        return task, out, summary, position

    def _ready(self) -> bool:
        source = self._pending[0][0]
        return not isinstance(source, _Worker) or source.ready()

    def close(self) -> None:
        """Stop the workers: at once when runs are still in flight (an import that failed)."""
        at_once = bool(self._pending)
        self._pending.clear()
        for worker in self._workers:
            worker.stop(at_once)
        self._workers.clear()


def serve(parent: int, module: str) -> None:
    """A worker's life: load the converter's ``module``, say so, then convert the runs that
    come in, until its input ends."""
    import ctypes  # here, not at the top: the importing process does not need it

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the end of the input still ends the worker
        pass
    if os.getppid() != parent:  # gone before the line above
        return
    # The results go out on a descriptor of their own; anything printed goes to stderr.
    importlib.import_module(module)
    # Converting makes short-lived lists by the thousand and no cycles: the collector, run
    # every 700 containers, would re-scan the lists of the runs in hand (some 5 % of the time).
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    results = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    results.write(_STARTED)
    results.flush()
    tasks: queue.Queue[bytes | None] = queue.Queue()
    reader = threading.Thread(target=_read_tasks, args=(sys.stdin.buffer, tasks), daemon=True)
    reader.start()
    done: queue.Queue[tuple[bytes, bytearray] | None] = queue.Queue()
    sender = threading.Thread(target=_send_results, args=(results, done), daemon=True)
    sender.start()
    while (data := tasks.get()) is not None:
        try:
            out, summary = convert_task(pickle.loads(data))
        except Exception as exc:  # sent back, raised in the importing process
            try:
                meta = pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:
                meta = pickle.dumps(RuntimeError(repr(exc)), protocol=pickle.HIGHEST_PROTOCOL)
            done.put((bytes([_FAILED]) + _LENGTH.pack(len(meta)) + meta, bytearray()))
            continue
        meta = pickle.dumps(summary, protocol=pickle.HIGHEST_PROTOCOL)
        done.put((bytes([_OK]) + _LENGTH.pack(len(meta)) + meta + _LENGTH.pack(len(out)), out))
    done.put(None)
    sender.join()


def _read_tasks(stream: IO[bytes], tasks: queue.Queue[bytes | None]) -> None:
    """Read runs as they come (the importing process never waits on a full pipe)."""
    while len(head := stream.read(_LENGTH.size)) == _LENGTH.size:
        size = _LENGTH.unpack(head)[0]
        data = stream.read(size)
        if len(data) != size:
            break
        tasks.put(data)
    tasks.put(None)


def _send_results(stream: IO[bytes], done: queue.Queue[tuple[bytes, bytearray] | None]) -> None:
    """Write results as they come: a result is larger than the pipe holds, and its writer
    waits until the importing process reads it, which it does between runs it converts
    itself; meanwhile the worker converts the runs it holds (at most :data:`_AHEAD`)."""
    while (result := done.get()) is not None:
        head, out = result
        try:
            stream.write(head)
            stream.write(out)
            stream.flush()
        except OSError:  # the importing process is gone: so is the end of the input, soon
            return


def _widen(fd: int) -> None:
    """Give a pipe room for a whole run (Linux; 64 kB otherwise), so that handing one over is
    one write, not one per 64 kB, each waiting for the reading thread to get the interpreter."""
    with contextlib.suppress(OSError):  # more than /proc/sys/fs/pipe-max-size allows: as it is
        fcntl.fcntl(fd, _F_SETPIPE_SZ, _PIPE_SIZE)
