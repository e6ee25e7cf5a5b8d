"""A sweep's time window: the receive times a point replays (``--from``/``--to``, folds).

This is the sweep's own window until ``papertrade run`` has one (the data-in work adds
``--from``/``--to`` to the replay itself); then the worker should hand the window to the
replay instead, and this module shrinks to nothing. The rule: lines received at
``start_ns <= t < end_ns`` run, and nothing else does (connection lines included), so a
windowed run starts cold at the window's first line, with no book or bar history from before
it. Either bound may be open (None).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Final

import msgspec

from framework.errors import ConfigError
from framework.recording import Line

__all__ = ["Window", "parse_time", "windowed"]

_NS: Final = 1_000_000_000


class Window(msgspec.Struct, frozen=True, kw_only=True):
    """Receive times a run replays: ``start_ns <= t < end_ns``; None leaves a side open."""

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
        first, last = window.start_ns, window.end_ns
        if first is not None and last is not None and last <= first:
            raise ConfigError(f"--to {end} is not after --from {start}")
        return window


def parse_time(text: str, option: str = "time") -> int:
    """Nanoseconds since the epoch of an ISO 8601 date or time; UTC unless it names a zone.

    Raises:
        ConfigError: not an ISO date or time (naming ``option``).
    """
    try:
        moment = dt.datetime.fromisoformat(text.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    except (ValueError, OverflowError):
        raise ConfigError(
            f"{option} {text!r} is not an ISO date or time such as 2025-06-26 or "
            "2025-06-26T18:00:00Z (UTC unless a zone is given)"
        ) from None
    return (delta.days * 86_400 + delta.seconds) * _NS + delta.microseconds * 1000


def windowed(batches: Iterable[list[Line]], window: Window) -> Iterator[list[Line]]:
    """The batches' lines inside ``window``, batch by batch (empty batches left out)."""
    start = window.start_ns if window.start_ns is not None else -(2**63)
    end = window.end_ns if window.end_ns is not None else 2**63
    for batch in batches:
        kept = [line for line in batch if start <= line.t < end]
        if kept:
            yield kept
