"""Recordings: JSON Lines of what the loop consumed, in the order it consumed it.

The format is specified in ``docs/recording-format.md``; in short, a :class:`Header` line, then
one line per :data:`Line`: a :class:`Frame` (an inbound provider frame, byte-exact, with its
receive time and connection id), a connection event (:class:`ConnectedLine`,
:class:`DisconnectedLine`, :class:`SubscribedLine`) or a :class:`Tick` (a clock tick that fired
timers in a quiet market).

A frame that is one line of valid JSON is embedded as JSON (``"f"``) and read back as
``msgspec.Raw``: its exact bytes, undecoded until its provider's codec decodes it. Any other text
frame (invalid JSON, several lines, surrounding white space) is kept as a JSON string (``"s"``),
and a binary frame as base64 (``"b"``), so nothing a provider sent is ever lost or altered.

The reader streams in constant memory, reads ``.gz`` transparently (by its magic bytes), and
reports corrupt lines and a truncated last line through :class:`ReadStats` instead of failing.
The writer flushes after every write, so a crash loses at most the line being written.

Crash safety of ``.gz``: the writer syncs the compressor after every write and closes a gzip
member every second (or every 1,000 writes), so a killed run leaves a file whose complete
members any gzip tool reads and whose last, unfinished member still holds every flushed line.
The reader decompresses member by member and stops quietly at a cut-off or damaged member or at
trailing bytes that are not gzip, keeping every complete line before it and reporting the
rest as a truncated tail, exactly as for an uncompressed file cut short.
"""

from __future__ import annotations

import functools
import hashlib
import io
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Annotated, Any, Final, Literal

import msgspec

from framework.errors import RecordingError
from framework.providers.base import Subscription
from framework.providers.validation import MAX_DEPTH, MAX_NS, too_deep
from framework.redact import redact_secrets

__all__ = [
    "FLUSH_BYTES",
    "FORMAT",
    "VERSION",
    "ConnectedLine",
    "DisconnectedLine",
    "Frame",
    "Header",
    "Line",
    "ProviderSpec",
    "ReadStats",
    "RecordingReader",
    "RecordingWriter",
    "SubscribedLine",
    "Tick",
    "frame_from_wire",
    "typed_frame",
]

FORMAT: Final = "papertrade-recording"
VERSION: Final = 1
# Bytes read and decoded at a time. A block's decoded lines stay in the CPU caches while the
# loop consumes them: 128 KB replays about 1.4 times faster than 1 MB on the bench machine.
_CHUNK: Final = 1 << 17
_GZIP_MAGIC: Final = b"\x1f\x8b"
_NO_RAW: Final = msgspec.Raw()
_MAX_HEADER: Final = 1 << 20
_BOM: Final = b"\xef\xbb\xbf"
# A line wraps its frame in one object: one level more than a frame may have.
_MAX_LINE_DEPTH: Final = MAX_DEPTH + 1
_MEMBER_S: Final = 1.0  # the writer closes a gzip member at least this often (wall clock)
_MEMBER_WRITES: Final = 1000  # ... or after this many flushes
FLUSH_BYTES: Final = 1 << 20  # a writer's buffer is written out once it holds this much
Time = Annotated[int, msgspec.Meta(ge=0, le=MAX_NS)]
"""Integer nanoseconds since the Unix epoch that a run can hold (1970 to 2262)."""


class ProviderSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One provider connection's setup, as the header records it."""

    name: str  # registry name: "cryptomus", "alltick", "finazon"
    subscriptions: tuple[Subscription, ...] = ()
    options: dict[str, str] = {}  # provider options that shape decoding (Finazon "dataset")


class Header(msgspec.Struct, frozen=True, tag_field="k", tag="header"):
    """The first line of every recording."""

    format: str
    version: int
    providers: tuple[ProviderSpec, ...]
    meta: dict[str, Any] = {}  # free-form: generator and seed, papertrade version, config hash


class Frame(msgspec.Struct, frozen=True, gc=False, omit_defaults=True, tag_field="k", tag="frame"):
    """One inbound provider frame. Exactly one of ``f``, ``s``, ``b`` carries it."""

    t: Time  # receive time, integer ns since the Unix epoch
    p: str  # provider registry name
    c: int  # connection id within the recording, from 1
    f: msgspec.Raw = _NO_RAW  # the frame, when it is one line of valid JSON: byte-exact
    s: str | None = None  # a text frame that is not (invalid JSON, several lines...)
    b: bytes | None = None  # a binary frame (base64 on disk)

    def payload(self) -> msgspec.Raw | str | bytes:
        """The frame as the provider sent it, ready for its codec's ``decode``."""
        if self.f:
            return self.f
        if self.s is not None:
            return self.s
        return self.b if self.b is not None else b""


class ConnectedLine(msgspec.Struct, frozen=True, gc=False, tag_field="k", tag="connected"):
    t: Time
    p: str
    c: int
    url: str  # redacted


class DisconnectedLine(msgspec.Struct, frozen=True, gc=False, tag_field="k", tag="disconnected"):
    t: Time
    p: str
    c: int
    reason: str


class SubscribedLine(msgspec.Struct, frozen=True, gc=False, tag_field="k", tag="subscribed"):
    t: Time
    p: str
    c: int
    subscriptions: tuple[Subscription, ...]


class Tick(msgspec.Struct, frozen=True, gc=False, tag_field="k", tag="tick"):
    """A clock tick recorded live so that timers fire at the same moments in replay."""

    t: Time


Line = Frame | ConnectedLine | DisconnectedLine | SubscribedLine | Tick


@functools.cache
def typed_frame(wire_type: Any, provider: str) -> type[msgspec.Struct]:
    """A ``frame`` line of ``provider`` whose ``f`` is decoded straight into ``wire_type``.

    The replay fast path: one JSON pass over a line yields the provider's wire message (its
    codec's union), not a ``msgspec.Raw`` for a second pass. Only for ``"f"`` frames that fit
    ``wire_type`` and name ``provider`` in ``p`` (a literal: checked, and no string to make
    per line); a block holding any other frame is decoded the ordinary way (see
    :meth:`RecordingReader.batches`). The same arguments always give the same class, so the
    loop can recognise it.
    """
    return msgspec.defstruct(
        "TypedFrame",
        [("t", Time), ("p", Literal[provider]), ("c", int), ("f", wire_type)],
        tag_field="k",
        tag="frame",
        frozen=True,
        gc=False,
        module=__name__,
    )


@functools.cache
def _typed_decoder(wire_type: Any, provider: str) -> msgspec.json.Decoder[Any]:
    typed = typed_frame(wire_type, provider)
    return msgspec.json.Decoder(typed | ConnectedLine | DisconnectedLine | SubscribedLine | Tick)


_LINE_DECODER: Final = msgspec.json.Decoder(Line)
_HEADER_DECODER: Final = msgspec.json.Decoder(Header)
_ENCODER: Final = msgspec.json.Encoder()
_JSON_CHECK: Final = msgspec.json.Decoder(msgspec.Raw)


def frame_from_wire(provider: str, conn: int, ts_recv_ns: int, message: str | bytes) -> Frame:
    """Wrap a WebSocket message as a :class:`Frame`, choosing the lossless representation.

    Every registered secret in a text frame is masked first (``framework.redact``), so a
    provider that echoes a key or token never puts it in a recording; the loop decodes this
    same masked frame live, so a replay sees exactly what the live run saw.
    """
    if not isinstance(message, str):
        return Frame(ts_recv_ns, provider, conn, b=bytes(message))
    message = redact_secrets(message)
    data = message.encode("utf-8", "surrogatepass")
    if (
        data
        and b"\n" not in data
        and b"\r" not in data
        and not data[:1].isspace()  # the whitespace strip() would take (\n, \r are out)
        and not data[-1:].isspace()
        # kept as text: no decoder's stack depends on it (too_deep's cheap test first)
        and (data.count(b"[") + data.count(b"{") <= MAX_DEPTH or not too_deep(data))
    ):
        try:
            raw = _JSON_CHECK.decode(data)
        except msgspec.DecodeError:
            pass
        else:
            return Frame(ts_recv_ns, provider, conn, f=raw)
    return Frame(ts_recv_ns, provider, conn, s=message)


class ReadStats(msgspec.Struct):
    """What the reader skipped. ``corrupt_lines`` holds the first 100 bad line numbers."""

    lines: int = 0
    corrupt: int = 0
    corrupt_lines: list[int] = []
    truncated_tail: bool = False


class RecordingReader:
    """Stream the lines of a recording in constant memory.

    Args:
        path: a ``.jsonl`` file, gzip-compressed or not (detected by content, not by name).

    Raises:
        RecordingError: the file is missing, unreadable, or its first line is not a header.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.stats = ReadStats()
        self._typed: msgspec.json.Decoder[Any] | None = None
        self._raw, self._fh = _open_binary(self.path)
        self._gzip = getattr(self._fh, "raw", None)
        self._sha256 = ""
        try:
            # A header is small; a "first line" of megabytes is not a recording.
            first = self._fh.readline(_MAX_HEADER)
            if first.startswith(_BOM):  # written by an editor that marks UTF-8
                first = first[len(_BOM) :]
            self.header = _HEADER_DECODER.decode(_header_line(first))
        except (OSError, EOFError, zlib.error) as exc:
            self.close()
            raise RecordingError(f"{self.path}: cannot read: {exc}") from exc
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            self.close()
            if isinstance(self._gzip, _GzipStream) and self._gzip.damaged:
                raise RecordingError(
                    f"{self.path}: cannot read: {self._gzip.damaged} within line 1"
                ) from exc
            raise RecordingError(
                f"{self.path}: not a papertrade recording (line 1: {exc})"
            ) from exc
        if self.header.format != FORMAT or self.header.version > VERSION:
            self.close()
            raise RecordingError(
                f"{self.path}: format {self.header.format!r} version {self.header.version} "
                f"is not {FORMAT!r} version <= {VERSION}"
            )
        self.stats.lines = 1

    def __enter__(self) -> RecordingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._fh.close()
        self._raw.close()

    def sha256(self) -> str:
        """The SHA-256 of the file on disk, hashed as it was read (one pass, not two).

        What the replay did not read (it stopped early, or the gzip stream ended at damage) is
        read and hashed now. Call it after reading, before :meth:`close`.
        """
        if not self._sha256:
            hashing = self._raw.raw  # type: ignore[attr-defined]
            try:
                while hashing.read(_CHUNK):
                    pass
            except OSError as exc:
                raise RecordingError(f"{self.path}: cannot read: {exc}") from exc
            self._sha256 = hashing.digest.hexdigest()
        return self._sha256

    def size(self) -> int:
        """The file's size on disk, in bytes."""
        return self.path.stat().st_size

    def position(self) -> int:
        """How far into the file (on disk, compressed or not) reading has got, in bytes."""
        return self._raw.tell()

    def __iter__(self) -> Iterator[Line]:
        for batch in self.batches():
            yield from batch

    def batches(self, wire_type: Any = None) -> Iterator[list[Line]]:
        """Yield lists of decoded lines, about 128 KB of file each: the replay fast path.

        Each chunk is read straight into a fresh buffer (one copy, by the OS) and decoded in
        place through a memoryview; the frames' ``msgspec.Raw`` values point into it.

        Args:
            wire_type: for a recording of one provider, its codec's wire union: frames are
                then decoded straight into it, as :func:`typed_frame` lines. A block in which
                any frame does not fit is decoded the ordinary way, so nothing changes but speed.
                Ignored for a recording of several providers.
        """
        providers = self.header.providers
        self._typed = None
        if wire_type is not None and len(providers) == 1:
            self._typed = _typed_decoder(wire_type, providers[0].name)
        rest = b""
        try:
            while True:
                # A line longer than a chunk: read as much again, so long lines cost linear time.
                buf = bytearray(len(rest) + max(_CHUNK, len(rest)))
                buf[: len(rest)] = rest
                n = self._fh.readinto(memoryview(buf)[len(rest) :])  # type: ignore[attr-defined]
                if not n:
                    break
                end = len(rest) + n
                cut = buf.rfind(b"\n", 0, end) + 1
                rest = bytes(buf[cut:end])
                if cut:
                    yield self._decode_block(memoryview(buf)[:cut])
        except (OSError, EOFError, zlib.error) as exc:
            raise RecordingError(
                f"{self.path}: read failed after line {self.stats.lines}: {exc}"
            ) from exc
        damaged = isinstance(self._gzip, _GzipStream) and bool(self._gzip.damaged)
        if rest.strip():
            self.stats.lines += 1
            try:
                if too_deep(rest, _MAX_LINE_DEPTH):
                    raise msgspec.DecodeError("nested too deep")
                yield [_LINE_DECODER.decode(rest)]
            except msgspec.DecodeError:
                self.stats.truncated_tail = True
            else:
                self.stats.truncated_tail = damaged
        elif damaged:
            self.stats.truncated_tail = True

    def _decode_block(self, block: memoryview) -> list[Line]:
        if self._typed is not None:
            try:
                typed: list[Line] = self._typed.decode_lines(block)
            except (msgspec.DecodeError, RecursionError):
                pass
            else:
                self.stats.lines += len(typed)
                return typed
        try:
            lines = _LINE_DECODER.decode_lines(block)
        except (msgspec.DecodeError, RecursionError):
            return self._decode_slowly(block)
        self.stats.lines += len(lines)
        return lines

    def _decode_slowly(self, block: memoryview) -> list[Line]:
        out: list[Line] = []
        for raw in bytes(block).split(b"\n")[:-1]:
            self.stats.lines += 1
            if not raw.strip():
                continue
            try:
                if too_deep(raw, _MAX_LINE_DEPTH):  # bounded before any decoder recurses
                    raise msgspec.DecodeError("nested too deep")
                out.append(_LINE_DECODER.decode(raw))
            except msgspec.DecodeError:
                self.stats.corrupt += 1
                if len(self.stats.corrupt_lines) < 100:
                    self.stats.corrupt_lines.append(self.stats.lines)
        return out


class RecordingWriter:
    """Append lines to a recording, handing them to the operating system in batches.

    :meth:`write` only encodes into a buffer; :meth:`flush` writes the buffer out, and happens
    on its own once the buffer holds :data:`FLUSH_BYTES`, and at :meth:`close`. A live run
    flushes from its timer every half second, so a kill loses at most that much. A ``.gz``
    path is written gzip-compressed: the compressor is synced at every flush, and a gzip
    member is closed (and a new one begun) every second or every 1,000 flushes, so that a
    crash at any moment leaves a file from which every flushed line is read back.
    """

    def __init__(self, path: str | Path, header: Header) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            raw = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise RecordingError(f"cannot write recording {self.path}: {exc.strerror}") from exc
        self._raw = raw
        self._gz = self.path.suffix == ".gz"
        self._buf = bytearray()
        self._member: Any = None  # the open gzip member's compressor
        self._member_writes = 0
        self._member_since = 0.0
        self.write([header])
        self.flush()

    @classmethod
    def append_to(cls, path: str | Path) -> RecordingWriter:
        """Reopen a plain (not gzip) recording to append lines after its last complete one.

        Raises:
            RecordingError: the file cannot be opened for appending.
        """
        writer = cls.__new__(cls)
        writer.path = Path(path)
        try:
            raw = open(writer.path, "ab")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise RecordingError(f"cannot append to recording {path}: {exc.strerror}") from exc
        writer._raw, writer._gz, writer._buf = raw, False, bytearray()
        writer._member, writer._member_writes, writer._member_since = None, 0, 0.0
        return writer

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, lines: Sequence[Line | Header]) -> None:
        """Encode lines into the buffer (flushed once it holds :data:`FLUSH_BYTES`)."""
        buf = self._buf
        encode = _ENCODER.encode_into
        for line in lines:
            encode(line, buf, len(buf))
            buf += b"\n"
        if len(buf) >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Hand the buffered lines to the operating system."""
        buf = self._buf
        if not buf:
            return
        if not self._gz:
            self._raw.write(buf)
        else:
            # Only live runs write recordings; the wall clock decides nothing a replay sees.
            now = time.monotonic()
            if self._member is None:
                self._member = zlib.compressobj(6, zlib.DEFLATED, 31)
                self._member_writes, self._member_since = 0, now
            member = self._member
            self._raw.write(member.compress(buf) + member.flush(zlib.Z_SYNC_FLUSH))
            self._member_writes += 1
            if self._member_writes >= _MEMBER_WRITES or now - self._member_since >= _MEMBER_S:
                self._end_member()
        buf.clear()
        self._raw.flush()

    def _end_member(self) -> None:
        if self._member is not None:
            self._raw.write(self._member.flush(zlib.Z_FINISH))
            self._member = None

    def close(self) -> None:
        if self._raw.closed:
            return
        self.flush()
        if self._gz:
            self._end_member()
        self._raw.close()


def _open_binary(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """(the file on disk, the stream of its lines: the same file, or a gzip reader over it)."""
    try:
        fh = io.BufferedReader(_HashingFile(path))
    except FileNotFoundError as exc:
        raise RecordingError(f"recording not found: {path}") from exc
    except IsADirectoryError as exc:
        raise RecordingError(f"recording is a directory, not a file: {path}") from exc
    except OSError as exc:
        raise RecordingError(f"cannot open recording {path}: {exc.strerror}") from exc
    if isinstance(fh, io.BufferedReader) and fh.peek(2)[:2] == _GZIP_MAGIC:
        return fh, io.BufferedReader(_GzipStream(fh), _CHUNK)
    return fh, fh


def _header_line(first: bytes) -> bytes:
    """The first line, or a DecodeError saying in words why it cannot be a header."""
    if not first:
        raise msgspec.DecodeError("the file is empty")
    if not first.endswith(b"\n") and len(first) >= _MAX_HEADER:
        raise msgspec.DecodeError(f"no header: the first line is longer than {_MAX_HEADER} bytes")
    if too_deep(first, _MAX_LINE_DEPTH):
        raise msgspec.DecodeError(f"the first line nests deeper than {_MAX_LINE_DEPTH} levels")
    return first


class _HashingFile(io.FileIO):
    """A file read once, front to back, hashing (SHA-256) every byte as it is read."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "rb")
        self.digest = hashlib.sha256()

    def readinto(self, buffer: Any) -> int:
        n = super().readinto(buffer)
        if n:
            self.digest.update(memoryview(buffer)[:n])
        return n or 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.digest.update(data or b"")
        return data or b""

    def readall(self) -> bytes:
        data = super().readall()
        self.digest.update(data)
        return data


class _GzipStream(io.RawIOBase):
    """The decompressed bytes of a gzip file of one or more members, read forgivingly.

    A member cut short, corrupt data or trailing bytes that do not begin a gzip member end the
    stream quietly, after every byte decompressed before them. :attr:`damaged` then says what
    ended it; a member cut short is not damage when it ends after a complete line (the
    writer's sync flushes make that the state of a killed run's file).
    """

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._inflate = zlib.decompressobj(31)
        self._pending = b""  # decompressed, not yet returned
        self._last = b"\n"  # the last byte returned
        self._done = False
        self.damaged = ""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending and not self._done:
            self._pending = self._more(len(view))
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        if n:
            self._last = bytes(view[n - 1 : n])
        return n

    def _more(self, size: int) -> bytes:
        inflate = self._inflate
        if inflate.eof:  # a member ended: what follows must be another one, or nothing
            rest = inflate.unused_data
            if not rest:
                rest = self._raw.read(_CHUNK)
                if not rest:
                    self._done = True
                    return b""
            if not (_GZIP_MAGIC.startswith(rest[:2]) and rest.strip(b"\0")):
                return self._stop("trailing bytes after the last gzip member")
            self._inflate = inflate = zlib.decompressobj(31)
            data = rest
        else:
            data = inflate.unconsumed_tail or self._raw.read(_CHUNK)
            if not data:
                cut = self._last != b"\n" or bool(inflate.flush())
                return self._stop("the last gzip member is cut short" if cut else "")
        backup = inflate.copy()
        try:
            return inflate.decompress(data, max(size, _CHUNK))
        except zlib.error as exc:
            # Keep what decompresses before the bad byte: feed the chunk again a byte at a time.
            good = bytearray()
            try:
                for i in range(len(data)):
                    good += backup.decompress(data[i : i + 1])
            except zlib.error:
                pass
            self._stop(f"corrupt gzip data ({exc})")
            return bytes(good)

    def _stop(self, damage: str) -> bytes:
        self._done = True
        self.damaged = damage
        return b""
