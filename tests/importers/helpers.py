"""Replaying what an importer wrote: the real reader and codecs, events out."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

from framework import events as ev
from framework.importers.convert import import_files
from framework.marketbook import MarketBook
from framework.providers.base import Decoded
from framework.recording import Frame, Header, RecordingReader
from framework.run import codecs_for


def write(path: Path, text: str, how: str = "plain") -> Path:
    """Write ``text`` as a plain, gzipped or zipped (one member) file."""
    data = text.encode()
    if how == "gzip":
        data = gzip.compress(data)
    elif how == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(path.name.removesuffix(".zip") + ".csv", data)
        data = buf.getvalue()
    path.write_bytes(data)
    return path


def replay(recording: Path) -> tuple[Header, list[Decoded]]:
    """The header and every event the provider codecs make of a recording's frames."""
    with RecordingReader(recording) as reader:
        codecs = codecs_for(reader.header.providers)
        events: list[Decoded] = []
        for line in reader:
            assert isinstance(line, Frame)
            events += codecs[line.p].decode(line.payload(), line.t)
        assert reader.stats.corrupt == 0
        return reader.header, events


def imported(
    tmp_path: Path, fmt: str, text: str, how: str = "plain", symbol: str = "BTC/USDT"
) -> tuple[str, Header, list[Decoded]]:
    """Import one file written from ``text``; the report, and the replayed header and events."""
    suffix = {"plain": ".csv", "gzip": ".csv.gz", "zip": ".zip"}[how]
    source = write(tmp_path / f"data{suffix}", text, how)
    out = tmp_path / "out.jsonl"
    report = import_files(fmt, [source], symbol, out)
    header, events = replay(out)
    return report, header, events


def book_after(events: list[Decoded]) -> MarketBook:
    """The book the loop would hold after these events."""
    book = MarketBook("BTC/USDT")
    for event in events:
        if isinstance(event, ev.BookSnapshot):
            book.apply_snapshot(event)
        elif isinstance(event, ev.BookDelta):
            book.apply_delta(event)
    return book
