"""The recording format: byte-exact frames, streaming reads, damage reported not fatal."""

from __future__ import annotations

import zlib
from pathlib import Path

import msgspec
import pytest

from framework.errors import RecordingError
from framework.providers.base import Subscription
from framework.providers.cryptomus import CryptomusCodec, Inbound
from framework.recording import (
    FLUSH_BYTES,
    FORMAT,
    VERSION,
    ConnectedLine,
    DisconnectedLine,
    Frame,
    Header,
    ProviderSpec,
    RecordingReader,
    RecordingWriter,
    SubscribedLine,
    Tick,
    frame_from_wire,
    typed_frame,
)

HEADER = Header(
    FORMAT,
    VERSION,
    (ProviderSpec("cryptomus", (Subscription("trades", "BTC_USDT"),)),),
    {"seed": 3},
)
TRADE = (
    '{"id":0,"method":"trade_update","data":{"symbol":"BTC_USDT","timestamp":1750953177,'
    '"trades":[{"price":107100.01,"quantity":0.000254,"timestamp":1750953177,"direction":"buy"}]},'
    '"error":null}'
)


def _payload_bytes(line: Frame) -> bytes:
    payload = line.payload()
    return payload.encode() if isinstance(payload, str) else bytes(payload)


def _write(path: Path, lines: list[object]) -> None:
    with RecordingWriter(path, HEADER) as writer:
        writer.write(lines)  # type: ignore[arg-type]


def test_valid_json_frame_is_embedded_and_read_back_byte_exact(tmp_path: Path) -> None:
    spaced = '{"id": 0,  "method" : "pong", "data":null,"error":null}'
    _write(
        tmp_path / "r.jsonl",
        [frame_from_wire("cryptomus", 1, 5, TRADE), frame_from_wire("cryptomus", 1, 6, spaced)],
    )
    text = (tmp_path / "r.jsonl").read_text()
    assert f'"f":{TRADE}}}' in text
    with RecordingReader(tmp_path / "r.jsonl") as reader:
        frames = list(reader)
    assert [_payload_bytes(f) for f in frames] == [TRADE.encode(), spaced.encode()]  # type: ignore[arg-type]
    assert isinstance(frames[0].payload(), msgspec.Raw)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "message",
    ['{"truncated": ', "not json at all", '{"a":\n1}', ' {"a":1}', "", "naïve ünïcode"],
)
def test_text_that_is_not_one_line_of_json_is_kept_as_a_string(
    tmp_path: Path, message: str
) -> None:
    _write(tmp_path / "r.jsonl", [frame_from_wire("alltick", 2, 9, message)])
    with RecordingReader(tmp_path / "r.jsonl") as reader:
        (frame,) = list(reader)
    assert isinstance(frame, Frame)
    assert frame.payload() == message
    assert (frame.t, frame.p, frame.c) == (9, "alltick", 2)


def test_binary_frame_round_trips_through_base64(tmp_path: Path) -> None:
    _write(tmp_path / "r.jsonl", [frame_from_wire("finazon", 1, 1, b"\x00\xff\x10")])
    assert '"b":"AP8Q"' in (tmp_path / "r.jsonl").read_text()
    with RecordingReader(tmp_path / "r.jsonl") as reader:
        assert [f.payload() for f in reader] == [b"\x00\xff\x10"]  # type: ignore[union-attr]


def test_connection_lines_and_ticks_round_trip(tmp_path: Path) -> None:
    lines = [
        ConnectedLine(1, "cryptomus", 1, "wss://api-ws.cryptomus.com/ws?token=***"),
        SubscribedLine(2, "cryptomus", 1, (Subscription("book", "BTC_USDT", depth=0),)),
        Tick(3),
        DisconnectedLine(4, "cryptomus", 1, "server closed (1006)"),
    ]
    _write(tmp_path / "r.jsonl", lines)
    with RecordingReader(tmp_path / "r.jsonl") as reader:
        assert reader.header == HEADER
        assert list(reader) == lines


def test_gzip_is_detected_by_content_not_name(tmp_path: Path) -> None:
    _write(tmp_path / "r.jsonl.gz", [frame_from_wire("cryptomus", 1, 5, TRADE)])
    renamed = tmp_path / "plain-name.jsonl"
    (tmp_path / "r.jsonl.gz").rename(renamed)
    with RecordingReader(renamed) as reader:
        assert [_payload_bytes(f) for f in reader] == [TRADE.encode()]  # type: ignore[arg-type]


def test_same_lines_give_the_same_gzip_bytes(tmp_path: Path) -> None:
    for name in ("a.jsonl.gz", "b.jsonl.gz"):
        _write(tmp_path / name, [frame_from_wire("cryptomus", 1, 5, TRADE), Tick(6)])
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()


def test_corrupt_lines_are_counted_with_line_numbers_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    _write(path, [Tick(1), Tick(2), Tick(3)])
    lines = path.read_text().splitlines()
    lines.insert(2, "{garbage")
    lines.insert(4, '{"k":"unknown-kind","t":5}')
    path.write_text("\n".join(lines) + "\n")
    with RecordingReader(path) as reader:
        assert list(reader) == [Tick(1), Tick(2), Tick(3)]
        assert reader.stats.corrupt == 2
        assert reader.stats.corrupt_lines == [3, 5]


def test_a_truncated_last_line_is_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    _write(path, [Tick(1), Tick(2)])
    path.write_bytes(path.read_bytes() + b'{"k":"frame","t":3,"p":"cryp')
    with RecordingReader(path) as reader:
        assert list(reader) == [Tick(1), Tick(2)]
        assert reader.stats.truncated_tail


def test_reading_streams_in_chunks_across_a_large_file(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    frames = [frame_from_wire("cryptomus", 1, i, TRADE) for i in range(12_000)]  # ~3 MB
    _write(path, frames)  # type: ignore[arg-type]
    with RecordingReader(path) as reader:
        batches = list(reader.batches())
    assert len(batches) > 1
    assert [f.t for b in batches for f in b] == list(range(12_000))  # type: ignore[union-attr]


def test_lines_longer_than_a_read_chunk_are_read_whole(tmp_path: Path) -> None:
    huge = '{"id":0,"method":"pong","data":null,"error":null,"pad":"' + "x" * 700_000 + '"}'
    frames = [
        frame_from_wire("cryptomus", 1, 1, TRADE),
        frame_from_wire("cryptomus", 1, 2, huge),
        frame_from_wire("cryptomus", 1, 3, TRADE),
    ]
    _write(tmp_path / "r.jsonl", frames)  # type: ignore[arg-type]
    with RecordingReader(tmp_path / "r.jsonl") as reader:
        lines = list(reader)
        assert reader.stats.corrupt == 0
    assert [_payload_bytes(line) for line in lines] == [
        TRADE.encode(),
        huge.encode(),
        TRADE.encode(),
    ]  # type: ignore[arg-type]


def test_writer_batches_writes_and_a_flush_hands_them_over(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    writer = RecordingWriter(path, HEADER)
    assert path.read_text().count("\n") == 1  # the header, at once
    writer.write([Tick(1)])
    writer.write([Tick(2)])
    assert path.read_text().count("\n") == 1  # buffered: one write per flush, not per batch
    writer.flush()
    # Not closed: another reader (or what a kill leaves) sees every flushed line.
    assert path.read_text().count("\n") == 3
    writer.write([Tick(3)] * (FLUSH_BYTES // 10))  # a full buffer goes out on its own
    assert path.stat().st_size >= FLUSH_BYTES
    writer.close()
    with RecordingReader(path) as reader:
        assert len(list(reader)) == 2 + FLUSH_BYTES // 10


def test_gzip_writer_is_readable_after_a_flush_before_close(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl.gz"
    writer = RecordingWriter(path, HEADER)
    writer.write([Tick(1)])
    writer.flush()
    data = zlib.decompressobj(31).decompress(path.read_bytes())
    assert data.count(b"\n") == 2
    writer.close()


def test_missing_file_is_a_recording_error(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="not found"):
        RecordingReader(tmp_path / "nope.jsonl")


def test_a_directory_is_a_recording_error(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="directory"):
        RecordingReader(tmp_path)


def test_a_file_without_a_header_is_a_recording_error(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"k":"tick","t":1}\n')
    with pytest.raises(RecordingError, match="not a papertrade recording"):
        RecordingReader(path)


def test_a_newer_format_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"k":"header","format":"papertrade-recording","version":99,"providers":[]}\n')
    with pytest.raises(RecordingError, match="version 99"):
        RecordingReader(path)


def test_corrupt_gzip_is_a_recording_error(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl.gz"
    path.write_bytes(b"\x1f\x8b" + b"\x00" * 40)
    with pytest.raises(RecordingError):
        RecordingReader(path)


def _read_typed(path: Path) -> list[object]:
    with RecordingReader(path) as reader:
        return [line for batch in reader.batches(CryptomusCodec.wire_type) for line in batch]


def test_typed_reading_decodes_the_one_providers_frames_in_the_same_pass(tmp_path: Path) -> None:
    _write(
        tmp_path / "r.jsonl",
        [
            frame_from_wire("cryptomus", 1, 5, TRADE),
            Tick(6),
            frame_from_wire("cryptomus", 2, 7, TRADE),
        ],
    )
    lines = _read_typed(tmp_path / "r.jsonl")
    typed = typed_frame(CryptomusCodec.wire_type, "cryptomus")
    assert [type(line) for line in lines] == [typed, Tick, typed]
    first = lines[0]
    assert (first.t, first.p, first.c) == (5, "cryptomus", 1)  # type: ignore[attr-defined]
    assert first.f == msgspec.json.decode(TRADE, type=Inbound)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "odd",
    [
        frame_from_wire("alltick", 1, 6, TRADE),  # another provider's frame
        frame_from_wire(
            "cryptomus", 1, 6, '{"id":1,"data":{"status":"success"},"error":null}'
        ),  # an unsubscribe ack: not in the wire union
        frame_from_wire("cryptomus", 1, 6, "not json"),
    ],
)
def test_a_block_with_a_frame_that_does_not_fit_is_read_the_ordinary_way(
    tmp_path: Path, odd: Frame
) -> None:
    _write(tmp_path / "r.jsonl", [frame_from_wire("cryptomus", 1, 5, TRADE), odd])
    lines = _read_typed(tmp_path / "r.jsonl")
    assert [type(line) for line in lines] == [Frame, Frame]
    assert lines[1] == odd
