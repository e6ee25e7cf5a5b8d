"""A replay's time window (``--from`` / ``--to``), and the merge of several recordings.

Theory of operation. A window is ``[start, end)`` in receive time (nanoseconds, UTC); either
bound may be open. Lines before ``start`` are read but not run: frames that cannot hold a
book (found by a byte search, without decoding: Cryptomus frames without ``depth_update``,
AllTick frames without the 22999 depth push, every Finazon frame) are skipped undecoded, and
the book events of the others are applied to the market state only (which hands them to the
paper venue), so the book at ``start`` is the one the last snapshot before it and the changes
after that snapshot make. No strategy, timer or statistic sees anything before ``start``: the
run's clock starts at the first line inside the window. Reading stops at the first line
received at or after ``end`` (a recording is in receive order; lines of several connections
may interleave by a few milliseconds, and those after the first late one are not read).

Several recordings replay as one stream merged by receive time; lines with the same receive
time keep the order of the files as given, then their order within a file. Each file's
header contributes its providers; two files of one provider must decode alike (the same
options), since a provider has one codec in a run.

This module decides which lines run; it never changes a line.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterable, Iterator, Sequence
from typing import Final

import msgspec

from framework import events as ev
from framework.errors import ConfigError, ProviderError
from framework.loop import Engine
from framework.providers.alltick import NAME as ALLTICK
from framework.providers.cryptomus import NAME as CRYPTOMUS
from framework.recording import Frame, Line, ProviderSpec, RecordingReader

__all__ = ["Window", "merged", "parse_time", "providers_of", "windowed"]

_NS: Final = 1_000_000_000
_BATCH: Final = 4096
# Bytes that a frame able to change a book contains, per provider (absent: none can).
_BOOK_MARKERS: Final[dict[str, bytes]] = {CRYPTOMUS: b'"depth_update"', ALLTICK: b"22999"}


class Window(msgspec.Struct, frozen=True, kw_only=True):
    """Receive times a replay runs: ``start_ns <= t < end_ns``; None leaves a side open."""

    start_ns: int | None = None
    end_ns: int | None = None

    @property
    def bounded(self) -> bool:
        """True when either bound is set."""
        return self.start_ns is not None or self.end_ns is not None

    @classmethod
    def parse(cls, start: str | None, end: str | None) -> Window:
        """A window from ``--from`` / ``--to`` texts (see :func:`parse_time`).

        Raises:
            ConfigError: a time that does not parse, or an end not after the start.
        """
        window = cls(
            start_ns=None if start is None else parse_time(start, "--from"),
            end_ns=None if end is None else parse_time(end, "--to"),
        )
        start_ns, end_ns = window.start_ns, window.end_ns
        if start_ns is not None and end_ns is not None and end_ns <= start_ns:
            raise ConfigError(f"--to {end} is not after --from {start}")
        return window


def parse_time(text: str, option: str = "time") -> int:
    """Nanoseconds since the epoch of an ISO 8601 date or time; UTC unless it names a zone.

    ``2025-01-01``, ``2025-01-01T12:30``, ``2025-01-01 12:30:00.5``, ``2025-01-01T12:30Z`` and
    ``2025-01-01T14:30+02:00`` are all accepted.

    Raises:
        ConfigError: not an ISO date or time (naming ``option``).
    """
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"{option} {text!r} is not an ISO date or time such as 2025-01-01 or "
            "2025-01-01T12:30:00 (UTC unless a zone is given)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * _NS + delta.microseconds * 1000


def providers_of(readers: Sequence[RecordingReader]) -> tuple[ProviderSpec, ...]:
    """The providers of several recordings, each once, in order of first appearance.

    Raises:
        ConfigError: two recordings name one provider with different options.
    """
    seen: dict[str, ProviderSpec] = {}
    for reader in readers:
        for spec in reader.header.providers:
            known = seen.get(spec.name)
            if known is None:
                seen[spec.name] = spec
            elif known.options != spec.options:
                raise ConfigError(
                    f"{reader.path}: its {spec.name} options {spec.options} differ from an "
                    f"earlier recording's {known.options}; these recordings cannot replay together"
                )
            else:
                subs = known.subscriptions + tuple(
                    s for s in spec.subscriptions if s not in known.subscriptions
                )
                seen[spec.name] = msgspec.structs.replace(known, subscriptions=subs)
    return tuple(seen.values())


def merged(readers: Sequence[RecordingReader]) -> Iterator[list[Line]]:
    """The lines of several recordings in one receive-time order, in batches.

    Ties keep the files' order, then each file's own order (``heapq.merge`` is stable).
    """
    streams = [_lines(reader.batches()) for reader in readers]
    batch: list[Line] = []
    for line in heapq.merge(*streams, key=_time):
        batch.append(line)
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def windowed(
    batches: Iterable[list[Line]], window: Window, engine: Engine, span: list[int] | None = None
) -> Iterator[list[Line]]:
    """The batches' lines inside ``window``; books are brought up to date before it.

    Stops reading at the first line at or after the window's end. ``span``, if given, receives
    the receive times of the first and the last line read (for a message when none was inside).
    """
    start = window.start_ns
    end = window.end_ns
    for batch in batches:
        if span is not None:
            span[:] = [span[0] if span else batch[0].t, batch[-1].t]
        if start is not None and batch[-1].t < start:
            _prime(engine, batch)
            continue
        lo = 0
        if start is not None:
            lo = next(i for i, line in enumerate(batch) if line.t >= start)
            if lo:
                _prime(engine, batch[:lo])
            start = None  # inside the window from here on
        hi = len(batch)
        if end is not None:
            hi = next((i for i, line in enumerate(batch) if line.t >= end), hi)
        if lo < hi:
            yield batch[lo:hi]
        if hi < len(batch):
            return


def _prime(engine: Engine, lines: list[Line]) -> None:
    """Apply the book events of lines before the window: to the market state only, silently."""
    for line in lines:
        if type(line) is not Frame:
            continue
        marker = _BOOK_MARKERS.get(line.p)
        codec = engine.codecs.get(line.p)
        if marker is None or codec is None:
            continue
        payload = line.payload()
        if marker not in (payload.encode() if isinstance(payload, str) else bytes(payload)):
            continue
        try:
            events = codec.decode(payload, line.t)
        except ProviderError:
            continue
        for event in events:
            if type(event) is ev.BookSnapshot:
                engine.state.on_book_snapshot(event)  # the market state hands it to the venue
            elif type(event) is ev.BookDelta:
                engine.state.on_book_delta(event)


def _lines(batches: Iterator[list[Line]]) -> Iterator[Line]:
    for batch in batches:
        yield from batch


def _time(line: Line) -> int:
    return line.t
