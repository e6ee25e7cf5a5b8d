"""``papertrade inspect``: a recording's normalized events as JSON Lines, and a summary.

Each output line is one event encoded by msgspec with its ``type`` tag first, then ``venue``,
``instrument``, ``symbol``, ``ts_event_ns``, ``ts_recv_ns`` and the event's own fields. Private
frames found in a recording are printed inside a small envelope with the same five keys. Control
replies (acks, pongs, errors) and connection lines are counted, not printed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import IO, Final

import msgspec

from framework import events as ev
from framework.errors import ProviderProtocolError
from framework.instruments import from_cryptomus
from framework.providers.base import Ack, ErrorReply, Pong
from framework.recording import Frame, RecordingReader
from framework.report.output import iso_time
from framework.run import codecs_for
from framework.window import Window

__all__ = ["inspect_recording"]

_ENCODER: Final = msgspec.json.Encoder()
_MARKET: Final = (
    ev.Trade,
    ev.Bar,
    ev.BarUpdate,
    ev.BookSnapshot,
    ev.BookDelta,
    ev.Ticker,
    ev.LastPrice,
)


class _PrivateLine(msgspec.Struct):
    type: str
    venue: str
    instrument: str
    ts_event_ns: int
    ts_recv_ns: int
    frame: ev.PrivateEvent


def inspect_recording(
    path: str | Path, out: IO[bytes], limit: int | None, window: Window | None = None
) -> str:
    """Write events to ``out``; return a human summary (counts, time span, errors).

    With a ``window``, lines received before its start are skipped undecoded and reading
    stops at the first line at or after its end.
    """
    start = window.start_ns if window is not None else None
    end = window.end_ns if window is not None else None
    counts: Counter[tuple[str, str]] = Counter()
    other: Counter[str] = Counter()
    printed = 0
    first = last = 0
    buf = bytearray()
    with RecordingReader(path) as reader:
        codecs = codecs_for(reader.header.providers)
        for line in reader:
            if start is not None and line.t < start:
                continue
            if end is not None and line.t >= end:
                break
            if type(line) is not Frame:
                other[type(line).__name__] += 1
                continue
            first = first or line.t
            last = max(last, line.t)
            codec = codecs.get(line.p)
            if codec is None:
                other["frames of unknown providers"] += 1
                continue
            try:
                items = codec.decode(line.payload(), line.t)
            except ProviderProtocolError:
                other["decode errors"] += 1
                continue
            for item in items:
                if isinstance(item, Ack | Pong | ErrorReply):
                    other[type(item).__name__] += 1
                    continue
                key, printable = _printable(item, line)
                counts[key] += 1
                if limit is None or printed < limit:
                    _ENCODER.encode_into(printable, buf, len(buf))
                    buf += b"\n"
                    printed += 1
                    if len(buf) > 1 << 16:
                        out.write(buf)
                        buf.clear()
            if limit is not None and printed >= limit:
                break
        out.write(buf)
        out.flush()
        stats = reader.stats
    return _summary(
        path, counts, other, first, last, stats.corrupt, stats.truncated_tail, limit, printed
    )


def _printable(item: object, line: Frame) -> tuple[tuple[str, str], object]:
    if isinstance(item, _MARKET):
        tag = type(item).__struct_config__.tag
        return (str(tag), item.instrument), item
    method = getattr(item, "method", "private")
    info = item.data.info  # type: ignore[attr-defined]
    symbol = getattr(info, "symbol", "") or getattr(info, "currencyCode", "")
    instrument = from_cryptomus(symbol)
    return (method, instrument), _PrivateLine(method, line.p, instrument, line.t, line.t, item)  # type: ignore[arg-type]


def _summary(
    path: str | Path,
    counts: Counter[tuple[str, str]],
    other: Counter[str],
    first: int,
    last: int,
    corrupt: int,
    truncated: bool,
    limit: int | None,
    printed: int,
) -> str:
    lines = [
        f"{path}: {sum(counts.values())} events"
        + (f" ({printed} printed, --limit {limit})" if limit is not None else "")
    ]
    for (kind, instrument), n in sorted(counts.items()):
        lines.append(f"  {kind:<14} {instrument:<14} {n}")
    if first:
        lines.append(
            f"  time span      {iso_time(first)} .. {iso_time(last)} ({(last - first) / 1e9:.1f} s)"
        )
    for name, n in sorted(other.items()):
        lines.append(f"  {name:<28} {n}")
    lines.append(f"  corrupt lines  {corrupt}" + (", last line truncated" if truncated else ""))
    return "\n".join(lines)
