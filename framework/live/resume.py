"""Resuming a live session by deterministic catch-up: replay its recording, check, go on.

Theory of operation. A session folder (``--session DIR``) holds the live recording
(``recording.jsonl``) and the run's output files. Started on a folder that already holds a
recording, the run first sets the old output files aside (``*.resume``), builds the engine as
usual, and feeds it every complete line of the recording through ``Engine.process``: the same
loop, no network, nothing recorded again. Every private event it regenerates is compared with
the next line of the old ``events.jsonl``; the first difference stops the run with both
events (the strategy or config changed what the recording gives), unless ``--rebase``
accepts the new events. Old events beyond the regenerated ones come from the old run's own
stop (``on_stop``) and are superseded. Once caught up, the set-aside files are deleted, a torn
last line of the recording (a kill mid-write) is cut off, connections the old run never closed
get their ``disconnected`` line (recorded, so a replay sees it too), and the run goes live,
appending to the same recording. The account, orders, ids, timers and the strategies' own
state are what the catch-up rebuilt: no strategy saves or loads anything.

On a refusal or any error during catch-up, the set-aside files are put back as they were.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

import msgspec

from framework import events as ev
from framework.errors import ConfigError
from framework.recording import (
    ConnectedLine,
    DisconnectedLine,
    Line,
    ProviderSpec,
    RecordingReader,
)
from framework.report.output import iso_time
from framework.run import fewer_collections, wire_type_of

if TYPE_CHECKING:
    from framework.loop import Engine

__all__ = ["RECORDING", "CatchUp", "session_exists"]

RECORDING: Final = "recording.jsonl"
_OUTPUTS: Final = ("events.jsonl", "fills.csv", "equity.csv", "summary.json")
_SUFFIX: Final = ".resume"
_ENCODER: Final = msgspec.json.Encoder()


def session_exists(folder: Path) -> bool:
    """Whether ``folder`` holds a session to resume (a recording with at least its header)."""
    path = folder / RECORDING
    return path.is_file() and path.stat().st_size > 0


class CatchUp:
    """One resume of the session in ``folder``; see the module docstring for the steps."""

    def __init__(self, folder: Path, *, rebase: bool) -> None:
        self.folder = folder
        self.recording = folder / RECORDING
        self.rebase = rebase
        self.verified = 0  # regenerated events equal to the old ones
        self.lines = 0
        self.last_ns = 0
        self.open_connections: dict[tuple[str, int], None] = {}  # (provider, conn) left open
        self.max_conn = 0
        self._old: Iterator[bytes] = iter(())
        self._old_fh: IO[bytes] | None = None
        self._diverged = False

    def header_providers(self) -> tuple[ProviderSpec, ...]:
        """The providers the session was recorded from."""
        with RecordingReader(self.recording) as reader:
            return tuple(reader.header.providers)

    def set_aside(self) -> None:
        """Move the old output files to ``*.resume`` (kept from an earlier failed resume)."""
        for name in _OUTPUTS:
            path, aside = self.folder / name, self.folder / (name + _SUFFIX)
            if path.exists() and not aside.exists():
                os.replace(path, aside)
        old = self.folder / ("events.jsonl" + _SUFFIX)
        if old.exists():
            self._old_fh = open(old, "rb")  # noqa: SIM115 - closed in _close_old
            self._old = _complete_lines(self._old_fh)

    def replay(self, engine: Engine) -> None:
        """Feed every complete line of the recording to ``engine``, checking its events."""
        sink = engine.on_private

        def check(event: ev.PrivateEvent) -> None:
            self._check(event, engine)
            if sink is not None:
                sink(event)

        engine.on_private = check
        try:
            # the replay fast path, as a replay of the recording takes it (one provider whose
            # codec has a wire union: its frames are decoded typed, straight from the file)
            with RecordingReader(self.recording) as reader, fewer_collections():
                for batch in reader.batches(wire_type_of(engine.codecs)):
                    self._follow(batch)
                    engine.process(batch)
        finally:
            engine.on_private = sink
            self._close_old()

    def done(self) -> None:
        """Caught up and checked: drop the set-aside files, cut a torn last line."""
        for name in _OUTPUTS:
            aside = self.folder / (name + _SUFFIX)
            if aside.exists():
                aside.unlink()
        _cut_torn_tail(self.recording)

    def restore(self) -> None:
        """Put the set-aside files back (a refused or failed resume changes nothing)."""
        self._close_old()
        for name in _OUTPUTS:
            path, aside = self.folder / name, self.folder / (name + _SUFFIX)
            if aside.exists():
                os.replace(aside, path)
            elif path.exists():
                path.unlink()

    def closing_lines(self) -> list[DisconnectedLine]:
        """``disconnected`` lines for the connections the old run left open."""
        return [
            DisconnectedLine(self.last_ns, provider, conn, "resumed")
            for provider, conn in self.open_connections
        ]

    # --- helpers ----------------------------------------------------------------------------

    def _follow(self, batch: Sequence[Line]) -> None:
        for line in batch:
            kind = type(line)
            if kind is ConnectedLine:
                assert isinstance(line, ConnectedLine)
                self.open_connections[(line.p, line.c)] = None
                self.max_conn = max(self.max_conn, line.c)
            elif kind is DisconnectedLine:
                assert isinstance(line, DisconnectedLine)
                self.open_connections.pop((line.p, line.c), None)
        self.lines += len(batch)
        if batch:
            self.last_ns = max(self.last_ns, batch[-1].t)

    def _check(self, event: ev.PrivateEvent, engine: Engine) -> None:
        if self._diverged:
            return
        new = _ENCODER.encode(event)
        old = next(self._old, None)
        if old is None:
            self._diverged = True  # the old run wrote no more: the rest is new
            return
        if old == new:
            self.verified += 1
            return
        self._diverged = True
        if self.rebase:
            return
        raise ConfigError(
            f"cannot resume session {self.folder}: private event {self.verified + 1} (simulated "
            f"time {iso_time(engine.clock.now_ns)}) differs from the one the session wrote, so "
            f"the strategy or config changed what the recording gives.\n"
            f"  written:     {old.decode(errors='replace')}\n"
            f"  regenerated: {new.decode(errors='replace')}\n"
            f"Run again with --rebase to accept the regenerated events."
        )

    def _close_old(self) -> None:
        if self._old_fh is not None:
            self._old_fh.close()
            self._old_fh = None
        self._old = iter(())


def _complete_lines(fh: IO[bytes]) -> Iterator[bytes]:
    """The file's lines that end with a newline, without it (a torn last line is left out)."""
    for line in fh:
        if not line.endswith(b"\n"):
            return
        yield line[:-1]


def _cut_torn_tail(path: Path) -> None:
    """Truncate the recording after its last newline, so appended lines start clean."""
    with open(path, "rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return
        step = 1 << 16
        pos = size
        while pos > 0:
            start = max(0, pos - step)
            fh.seek(start)
            chunk = fh.read(pos - start)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                end = start + cut + 1
                if end != size:
                    fh.truncate(end)
                return
            pos = start
        fh.truncate(0)  # no complete line at all: nothing to keep
