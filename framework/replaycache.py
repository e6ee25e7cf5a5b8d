"""The decoded cache: a recording's frames decoded once, replayed again without JSON.

Replaying one recording again and again (a sweep, a test suite, a strategy being tuned) would
pay for reading and decoding its JSON every time. The first replay of a recording instead
decodes it into a cache file (or ``papertrade cache REC`` does, ahead of time), and every later
replay reads the events from that file: the same lines, the same events, the same outputs.

Where. ``$PAPERTRADE_CACHE`` names the folder (``off`` turns the cache off); by default it is
``$XDG_CACHE_HOME/papertrade`` or ``~/.cache/papertrade``. The cache of a recording is
``replay/<hash of its absolute path>-<event time window>.ptdc`` there: one file per recording
and screen setting, replaced when the recording or the decoders change.

Validity. A cache file records the SHA-256 of the recording (hashed while it was read to build
the cache), the identity of the file it was read from (device, inode, size, modification and
change times, as git's index does: any write to the file changes its change time, which no
tool can set back), the version of the decoders (a hash of the source of every module that
shapes decoded events) and the screen's event time window. A file whose record does not match
is rebuilt. A file's bytes are covered by a CRC-32 checked before it is used: a damaged or
truncated file is rebuilt, never trusted. Writers write a temporary file and rename it, so
parallel replays (sweep workers) never see half a file.

What it cannot serve (the replay then reads the JSON, as without a cache): a time window
(``--from``/``--to``: the book priming of ``framework.window`` reads the recording itself),
several recordings merged, ``papertrade diff`` (it stamps recorded lines), and a recording
whose frames decode to private events (a live session's account channels).

Layout. ``MAGIC``, then records (a little-endian u32 length, then msgpack): the head, one
chunk per block the recording reader decoded (so a run stopped by a strategy error reports
the same read counts), the tail; then the tail's offset (u64) and ``END``. A chunk holds its
lines' receive times and kinds as byte columns, the lone trades (nearly every line of a trade
feed) as little-endian byte columns (``array``, no numpy: a replay from the cache does not
import it), and every other line as msgpack Structs
(``framework.decoded``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import struct
import sys
import zlib
from array import array
from collections.abc import Iterator
from itertools import compress, repeat
from pathlib import Path
from typing import Any, Final

import msgspec

import framework
from framework import events as ev
from framework.decoded import (
    TRADE_SIDES,
    CachedFrame,
    CachedLine,
    DecodedBatch,
    Drop,
    Failure,
    NotedFrame,
    TradeColumns,
)
from framework.errors import PapertradeError, ProviderProtocolError
from framework.providers import make_codec
from framework.providers.base import Ack, Codec, ErrorReply, Pong
from framework.recording import (
    DisconnectedLine,
    Frame,
    Header,
    ReadStats,
    RecordingReader,
    typed_frame,
)

__all__ = [
    "CacheError",
    "CacheReader",
    "build",
    "cache_dir",
    "cache_path",
    "decoder_version",
    "open_cache",
    "open_or_build",
]

MAGIC: Final = b"PTDCACHE"
END: Final = b"PTDC-END"
FORMAT: Final = 1
_LEN: Final = struct.Struct("<I")
_OFFSET: Final = struct.Struct("<Q")
_READ: Final = 1 << 20
_TRADE: Final = 84  # b"T": a lone trade, from the columns
_GENERIC: Final = 71  # b"G": any other line
_IS_TRADE: Final = bytes.maketrans(b"TG", b"\x01\x00")
_SIDES: Final = TRADE_SIDES
_SIDE_CODE: Final = {side: code for code, side in enumerate(_SIDES)}
_SIDE_CODES: Final = bytes(range(len(_SIDES)))
# A list's __getitem__ is called without building a tuple of arguments; a tuple's is not.
_SIDE_OF: Final = list(_SIDES).__getitem__
_MAX_I64: Final = 2**63 - 1
# The columns' item types (array type codes of 8, 8 and 2 bytes), little-endian in the file.
_SWAP: Final = sys.byteorder != "little"
_Trade: Final = ev.Trade
# The modules whose source decides what a frame decodes to (and this file's layout).
_DECODER_MODULES: Final = (
    "framework.events",
    "framework.recording",
    "framework.instruments",
    "framework.decoded",
    "framework.replaycache",
    "framework.providers",
)


class CacheError(PapertradeError):
    """A cache file is damaged, truncated or not one; the replay reads the recording instead."""


class _Head(msgspec.Struct, frozen=True, array_like=True):
    format: int
    decoder: str
    window_ns: int
    source: str  # the recording's absolute path
    identity: tuple[int, int, int, int, int]  # device, inode, size, mtime_ns, ctime_ns
    header: bytes  # the recording's header, as JSON


class _Chunk(msgspec.Struct, frozen=True, array_like=True):
    stats: ReadStats  # the reader's counts after this block
    kinds: bytes  # per line: _TRADE or _GENERIC
    times: bytes  # per line: receive time, <i8
    keys: list[tuple[str, str, str]]  # (venue, instrument, symbol) of the trades
    key: bytes  # per trade: index into keys, <u2 (empty: every trade has keys[0])
    ts_event: bytes  # per trade, <i8
    price: bytes  # per trade, <f8
    size: bytes  # per trade, <f8
    side: bytes  # per trade: index into _SIDES
    generic: list[CachedLine]


class _Tail(msgspec.Struct, frozen=True, array_like=True):
    recording_sha256: str
    chunks: int
    stats: ReadStats  # the reader's counts at the end
    crc32: int  # of every byte before the tail's record


_ENCODER: Final = msgspec.msgpack.Encoder()
_HEAD: Final = msgspec.msgpack.Decoder(_Head)
_CHUNK: Final = msgspec.msgpack.Decoder(_Chunk)
_TAIL: Final = msgspec.msgpack.Decoder(_Tail)
_GENERIC_CHECK: Final = msgspec.msgpack.Decoder(list[CachedLine])
_HEADER_JSON: Final = msgspec.json.Decoder(Header)


# --- where, and which ---------------------------------------------------------------------------


def cache_dir() -> Path | None:
    """The cache folder (see the module docstring), or None when ``PAPERTRADE_CACHE=off``."""
    setting = os.environ.get("PAPERTRADE_CACHE", "")
    if setting.lower() == "off":
        return None
    if setting:
        return Path(setting)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "papertrade"


def cache_path(recording: Path, window_ns: int, folder: Path) -> Path:
    """The cache file of ``recording`` replayed with the screen's event time window."""
    name = hashlib.sha256(str(recording.resolve()).encode()).hexdigest()[:32]
    return folder / "replay" / f"{name}-{window_ns}.ptdc"


@functools.cache
def decoder_version() -> str:
    """A hash of papertrade's version and of the source of every module that shapes what a
    frame decodes to: any change to a codec, a wire type, an event or this file changes it."""
    import importlib

    digest = hashlib.sha256(f"{framework.__version__} {msgspec.__version__}".encode())
    for name in _DECODER_MODULES:
        module = importlib.import_module(name)
        files = [Path(module.__file__ or "")]
        if files[0].name == "__init__.py":
            files = sorted(files[0].parent.glob("*.py"))
        for file in files:
            digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def _identity(path: Path) -> tuple[int, int, int, int, int]:
    st = path.stat()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


# --- building ----------------------------------------------------------------------------------


class _NotCacheable(Exception):
    """The recording decodes to something the cache does not keep (private events)."""


class _Decoder:
    """Decodes a recording's lines as the loop does, keeping drops and failures."""

    def __init__(self, header: Header, window_ns: int) -> None:
        self.codecs: dict[str, Codec] = {
            spec.name: make_codec(spec.name, spec.options) for spec in header.providers
        }
        self.drops: list[Drop] = []
        for codec in self.codecs.values():
            screen = getattr(codec, "screen", None)
            if screen is not None:
                screen.window_ns = window_ns
                screen.on_drop = self._dropped
        self.typed = {
            typed_frame(codec.wire_type, name): codec
            for name, codec in self.codecs.items()
            if codec.wire_type is not None
        }
        self.wire_type = (
            next(iter(self.codecs.values())).wire_type if len(self.codecs) == 1 else None
        )

    def _dropped(self, rule: str, item: Any, ts_recv_ns: int, detail: str, n: int) -> None:
        symbol = getattr(item, "symbol", "?")
        self.drops.append(Drop(rule, symbol[:64], ts_recv_ns, detail, n))

    def decode(self, line: Any) -> Any:
        """A lone trade, a CachedFrame or a NotedFrame for a frame; other lines as they are."""
        kind = type(line)
        codec = self.typed.get(kind)
        failure = None
        items: list[Any] = []
        if codec is not None or kind is Frame:
            provider = line.p
            if codec is None:
                codec = self.codecs.get(provider)
            try:
                if codec is None:
                    failure = Failure("", "", "", no_codec=True)
                elif kind is Frame:
                    items = codec.decode(line.f if line.f else line.payload(), line.t)
                else:
                    items = codec.decode_wire(line.f, line.t)
            except ProviderProtocolError as exc:
                failure = Failure(exc.excerpt, exc.reason, exc.path)
                rebuilt = ProviderProtocolError(provider, exc.excerpt, exc.reason, exc.path)
                if str(rebuilt) != str(exc) or rebuilt.excerpt != exc.excerpt:
                    raise _NotCacheable(f"an error excerpt does not survive: {exc}") from exc
            for item in items:
                if type(item) not in _KEPT:
                    raise _NotCacheable(f"a frame decodes to {type(item).__name__}")
            if self.drops or failure is not None:
                drops, self.drops = self.drops, []
                return NotedFrame(line.t, provider, items, drops, failure)
            if len(items) == 1 and _lone_trade(items[0], line.t):
                return items[0]
            return CachedFrame(line.t, items)
        if kind is DisconnectedLine:  # the loop resets the codec of a dropped connection
            codec = self.codecs.get(line.p)
            if codec is not None:
                codec.reset()
        return line


_KEPT: Final = frozenset(
    (ev.Trade, ev.Bar, ev.BarUpdate, ev.BookSnapshot, ev.BookDelta, ev.Ticker, ev.LastPrice,
     Ack, Pong, ErrorReply)
)  # fmt: skip


def _lone_trade(item: Any, t: int) -> bool:
    """Whether a frame's one item fits the trade columns exactly (types and ranges)."""
    return (
        type(item) is _Trade
        and item.ts_recv_ns == t
        and type(item.ts_event_ns) is int
        and 0 <= item.ts_event_ns <= _MAX_I64
        and type(item.price) is float
        and type(item.size) is float
        and item.side in _SIDE_CODE
        and type(item.venue) is str
        and type(item.instrument) is str
        and type(item.symbol) is str
    )


def _chunk(lines: list[Any], stats: ReadStats) -> bytes:
    kinds = bytearray()
    times: list[int] = []
    keys: dict[tuple[str, str, str], int] = {}
    key: list[int] = []
    ts_event: list[int] = []
    price: list[float] = []
    size: list[float] = []
    side = bytearray()
    generic: list[Any] = []
    for line in lines:
        if type(line) is _Trade:
            kinds.append(_TRADE)
            times.append(line.ts_recv_ns)
            k = (line.venue, line.instrument, line.symbol)
            key.append(keys.setdefault(k, len(keys)))
            ts_event.append(line.ts_event_ns)
            price.append(line.price)
            size.append(line.size)
            side.append(_SIDE_CODE[line.side])
        else:
            kinds.append(_GENERIC)
            times.append(line.t)
            generic.append(line)
    if len(keys) > 65535:
        raise _NotCacheable("more than 65,535 instruments in one block")
    encoded = _ENCODER.encode(generic)
    if generic and _ENCODER.encode(_GENERIC_CHECK.decode(encoded)) != encoded:
        raise _NotCacheable("a decoded line does not survive msgpack")
    chunk = _Chunk(
        stats=stats,
        kinds=bytes(kinds),
        times=_column("q", times),
        keys=list(keys),
        key=b"" if len(keys) <= 1 else _column("H", key),
        ts_event=_column("q", ts_event),
        price=_column("d", price),
        size=_column("d", size),
        side=bytes(side),
        generic=generic,
    )
    return _ENCODER.encode(chunk)


def _column(typecode: str, values: list[Any]) -> bytes:
    """``values`` as a little-endian column of ``typecode`` items."""
    column = array(typecode, values)
    if _SWAP:
        column.byteswap()
    return column.tobytes()


def _column_of(typecode: str, data: bytes) -> array[Any]:
    """A column, as an array of ``typecode`` items (iterating it makes each value as it goes).

    Raises:
        ValueError: ``data`` is not a whole number of items.
    """
    column = array(typecode)
    column.frombytes(data)
    if _SWAP:
        column.byteswap()
    return column


def _values(typecode: str, data: bytes) -> list[Any]:
    """A column's values.

    Raises:
        ValueError: ``data`` is not a whole number of items.
    """
    return _column_of(typecode, data).tolist()


class _Writer:
    """Records into a temporary file, checksummed; :meth:`publish` renames it into place."""

    def __init__(self, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        self.target = target
        self.tmp = target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        self._fh = open(self.tmp, "wb")  # noqa: SIM115 - closed in publish/discard
        self._crc = 0
        self._offset = 0
        self._raw(MAGIC)

    def _raw(self, data: bytes) -> None:
        self._fh.write(data)
        self._crc = zlib.crc32(data, self._crc)
        self._offset += len(data)

    def record(self, payload: bytes) -> None:
        self._raw(_LEN.pack(len(payload)))
        self._raw(payload)

    def publish(self, sha256: str, chunks: int, stats: ReadStats) -> None:
        offset = self._offset
        tail = _ENCODER.encode(_Tail(sha256, chunks, stats, self._crc))
        self._fh.write(_LEN.pack(len(tail)) + tail + _OFFSET.pack(offset) + END)
        self._fh.close()
        os.replace(self.tmp, self.target)

    def discard(self) -> None:
        self._fh.close()
        self.tmp.unlink(missing_ok=True)


def build(recording: Path, window_ns: int, target: Path) -> None:
    """Decode ``recording`` into the cache file ``target`` (replaced atomically).

    Raises:
        RecordingError: the recording cannot be read (as a replay would say).
        OSError: the cache file cannot be written.
        _NotCacheable: the recording decodes to what the cache does not keep.
    """
    with RecordingReader(recording) as reader:
        identity = _identity(recording)
        decoder = _Decoder(reader.header, window_ns)
        writer = _Writer(target)
        try:
            head = _Head(
                FORMAT,
                decoder_version(),
                window_ns,
                str(recording.resolve()),
                identity,
                msgspec.json.encode(reader.header),
            )
            writer.record(_ENCODER.encode(head))
            chunks = 0
            decode = decoder.decode
            for batch in reader.batches(decoder.wire_type):
                stats = msgspec.structs.replace(
                    reader.stats, corrupt_lines=list(reader.stats.corrupt_lines)
                )
                writer.record(_chunk([decode(line) for line in batch], stats))
                chunks += 1
            sha256 = reader.sha256()
            if _identity(recording) != identity:  # written to while it was read
                raise _NotCacheable("the recording changed while it was read")
            writer.publish(sha256, chunks, reader.stats)
        except BaseException:
            writer.discard()
            raise


# --- reading -----------------------------------------------------------------------------------


class CacheReader:
    """A recording's decoded batches, from its cache file: the replay side of a
    ``RecordingReader`` (``header``, ``stats``, ``batches``, ``size``, ``position``, ``sha256``).

    Raises:
        CacheError: the file is damaged, truncated, or not a cache file.
    """

    def __init__(self, file: Path, head: _Head, tail: _Tail, fh: Any, start: int, end: int) -> None:
        self.path = file
        self._fh = fh
        self._start, self._end = start, end
        self._at = start  # the file offset reached by :meth:`batches`
        self._tail = tail
        self.header: Header = _HEADER_JSON.decode(head.header)
        self.stats = ReadStats(lines=1)

    def __enter__(self) -> CacheReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._fh.close()

    def size(self) -> int:
        return self._end

    def position(self) -> int:
        return self._at

    def sha256(self) -> str:
        """The SHA-256 of the recording the cache was built from."""
        return self._tail.recording_sha256

    def batches(self, wire_type: Any = None) -> Iterator[Any]:
        """The decoded batches, one per block the recording reader read (``wire_type`` is
        ignored: the frames are decoded already): each a ``DecodedBatch`` or ``TradeColumns``
        (``framework.decoded``), for ``Engine.process``."""
        fh = self._fh
        self._at = fh.seek(self._start)
        for _ in range(self._tail.chunks):
            chunk = self._read_chunk(fh)
            self.stats = chunk.stats
            yield _materialize(chunk, self.path)
        self.stats = self._tail.stats

    def _read_chunk(self, fh: Any) -> _Chunk:
        # The offset is counted here rather than asked of the file (a system call per chunk).
        try:
            (n,) = _LEN.unpack(fh.read(4))
            self._at += 4 + n
            if self._at > self._end:
                raise CacheError(f"{self.path}: a record runs past the end")
            return _CHUNK.decode(fh.read(n))
        except (struct.error, msgspec.DecodeError) as exc:
            raise CacheError(f"{self.path}: damaged: {exc}") from exc


def _materialize(chunk: _Chunk, path: Path) -> DecodedBatch | TradeColumns:
    """The chunk's lines: lone trades of one instrument as their columns, lone trades of
    several built from the columns, the rest as decoded."""
    try:
        time_column = _column_of("q", chunk.times)
        kinds = chunk.kinds
        trades = kinds.count(_TRADE)
        generic = chunk.generic
        if len(kinds) != len(time_column) or trades + len(generic) != len(kinds):
            raise CacheError(f"{path}: damaged: a chunk's columns disagree")
        if not trades:
            return DecodedBatch(generic, time_column.tolist())
        ts_event = _column_of("q", chunk.ts_event)
        price = _column_of("d", chunk.price)
        size = _column_of("d", chunk.size)
        side = chunk.side
        if not (len(ts_event) == len(price) == len(size) == len(side) == trades):
            raise CacheError(f"{path}: damaged: a chunk's trade columns disagree")
        keys = chunk.keys
        if side.translate(None, _SIDE_CODES):  # a byte that is no side's code
            raise CacheError(f"{path}: damaged: a trade's side is out of range")
        if not generic and not chunk.key:  # lone trades of one instrument, as columns
            return TradeColumns(keys[0], time_column, ts_event, price, size, side)
        times: list[int] = time_column.tolist()
        ts_recv = (
            times if trades == len(times) else list(compress(times, kinds.translate(_IS_TRADE)))
        )
        venue: Any
        instrument: Any
        symbol: Any
        if not chunk.key:
            venue, instrument, symbol = (repeat(s) for s in keys[0])
        else:
            index = _values("H", chunk.key)
            if len(index) != trades or max(index) >= len(keys):
                raise CacheError(f"{path}: damaged: a trade's key is out of range")
            venue = [keys[i][0] for i in index]
            instrument = [keys[i][1] for i in index]
            symbol = [keys[i][2] for i in index]
        made = list(
            map(_Trade, venue, instrument, symbol, ts_event, ts_recv, price, size,
                map(_SIDE_OF, side))
        )  # fmt: skip
    except (ValueError, IndexError) as exc:
        raise CacheError(f"{path}: damaged: {exc}") from exc
    if not generic:
        return DecodedBatch(made, times, trades_only=True)
    it_trades, it_generic = iter(made), iter(generic)
    lines = [next(it_trades) if k == _TRADE else next(it_generic) for k in kinds]
    return DecodedBatch(lines, times)


def open_cache(recording: Path, window_ns: int, file: Path) -> CacheReader | None:
    """The cache of ``recording`` if ``file`` holds a valid, current one; None if it does not
    exist or is stale (another recording, decoder version or window).

    Raises:
        CacheError: the file is damaged or truncated.
    """
    try:
        fh = open(file, "rb")  # noqa: SIM115 - owned by the CacheReader
    except FileNotFoundError:
        return None
    try:
        reader = _check(recording, window_ns, file, fh)
    except BaseException:
        fh.close()
        raise
    if reader is None:
        fh.close()
    return reader


def _check(recording: Path, window_ns: int, file: Path, fh: Any) -> CacheReader | None:
    try:
        if fh.read(len(MAGIC)) != MAGIC:
            raise CacheError(f"{file}: not a papertrade cache file")
        (n,) = _LEN.unpack(fh.read(4))
        head = _HEAD.decode(fh.read(n))
        start = fh.tell()
        if (
            head.format != FORMAT
            or head.decoder != decoder_version()
            or head.window_ns != window_ns
            or head.source != str(recording.resolve())
            or head.identity != _identity(recording)
        ):
            return None
        size = fh.seek(0, os.SEEK_END)
        if size < start + _OFFSET.size + len(END):
            raise CacheError(f"{file}: truncated")
        fh.seek(size - _OFFSET.size - len(END))
        (offset,) = _OFFSET.unpack(fh.read(_OFFSET.size))
        if fh.read(len(END)) != END or not start <= offset <= size:
            raise CacheError(f"{file}: truncated")
        fh.seek(offset)
        (n,) = _LEN.unpack(fh.read(4))
        if offset + 4 + n + _OFFSET.size + len(END) != size:
            raise CacheError(f"{file}: damaged: the tail's length")
        tail = _TAIL.decode(fh.read(n))
        fh.seek(0)
        crc, left = 0, offset
        while left:
            block = fh.read(min(_READ, left))
            if not block:
                raise CacheError(f"{file}: truncated")
            crc = zlib.crc32(block, crc)
            left -= len(block)
        if crc != tail.crc32:
            raise CacheError(f"{file}: damaged: the checksum does not match")
        return CacheReader(file, head, tail, fh, start, offset)
    except (struct.error, msgspec.DecodeError, ValueError) as exc:
        raise CacheError(f"{file}: damaged: {exc}") from exc


def window_ns_of(event_time_window_s: float) -> int:
    """The screen's event time window in ns, as a run sets it (``run.event_time_window_s``)."""
    return round(event_time_window_s * 1_000_000_000)


def ensure(recording: Path, window_ns: int, folder: Path) -> tuple[Path, bool]:
    """Build the recording's cache unless a valid one exists: (its file, whether it was built).

    Raises:
        RecordingError: the recording cannot be read.
        CacheError: the cache cannot be written, or the recording cannot be cached.
    """
    file = cache_path(recording, window_ns, folder)
    reader = _valid(recording, window_ns, file)
    if reader is not None:
        reader.close()
        return file, False
    _build(recording, window_ns, file)
    return file, True


def _valid(recording: Path, window_ns: int, file: Path) -> CacheReader | None:
    """The cache in ``file`` if it is valid and current; None to build it (again).

    Raises:
        CacheError: the file exists but cannot be read.
    """
    try:
        return open_cache(recording, window_ns, file)
    except CacheError:
        return None
    except OSError as exc:
        raise CacheError(f"cannot read the cache file {file}: {exc.strerror}") from exc


def _build(recording: Path, window_ns: int, file: Path) -> None:
    """:func:`build`, its failures said as a CacheError (see :func:`ensure`)."""
    try:
        build(recording, window_ns, file)
    except _NotCacheable as exc:
        raise CacheError(f"{recording}: not cached: {exc}") from exc
    except OSError as exc:
        raise CacheError(f"cannot write the cache file {file}: {exc.strerror or exc}") from exc


def open_or_build(recording: Path, window_ns: int) -> CacheReader | None:
    """The recording's cache, built first if it is missing, stale or damaged; None when the
    cache is off, cannot be written, or cannot hold the recording (the replay then reads the
    recording itself).

    Raises:
        RecordingError: the recording cannot be read.
    """
    folder = cache_dir()
    if folder is None or not recording.is_file():
        return None  # a missing recording: the replay says what is wrong with it
    file = cache_path(recording, window_ns, folder)
    refused = file.with_suffix(".none")  # this recording, as it is, cannot be cached
    try:
        mark = _ENCODER.encode((decoder_version(), str(recording.resolve()), _identity(recording)))
        if refused.is_file() and refused.read_bytes() == mark:
            return None
        # A valid cache is opened (and its checksum checked) once, not once per step.
        reader = _valid(recording, window_ns, file)
        if reader is not None:
            return reader
        _build(recording, window_ns, file)
        return open_cache(recording, window_ns, file)
    except CacheError as exc:
        if isinstance(exc.__cause__, _NotCacheable):
            with contextlib.suppress(OSError):
                refused.write_bytes(mark)  # not tried again until the recording changes
        return None
    except OSError:
        return None
