"""Reading an input file for an importer: plain, gzip or zip, as lines, in constant memory.

A downloaded market-data file is often larger than memory, so it is read in blocks of about
64 kB of whole lines (bytes, joined by ``\n``, without the last line end), each block with the
line number of its first line so that a bad row can be reported where the user can find it. The
compression is found from the file's first bytes, not its name: gzip (Tardis ``.csv.gz``), zip
(Binance ``.zip``, whose one CSV member is read) or plain text. How far into the file reading
has got (on disk, compressed or not) drives the progress bar. The files' SHA-256 digests, which
the recording's header names, are computed on a thread of their own (:class:`Digests`).

This module reads files only; it knows nothing of any format's columns.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

if TYPE_CHECKING:
    import zipfile  # imported for a zip file only: it loads bz2, lzma and shutil (start-up)

from framework.errors import ConfigError

__all__ = ["Digests", "Source"]

_BLOCK: Final = 1 << 16  # 64 kB: a block's rows stay in the processor's cache while converted
_DIGESTED: Final = 4 << 20
_GZIP_MAGIC: Final = b"\x1f\x8b"
_ZIP_MAGIC: Final = b"PK\x03\x04"


class Source:
    """One input file, opened for streaming its lines.

    Args:
        path: a CSV file, gzip-compressed, zipped (one member) or plain.

    Raises:
        ConfigError: the file is missing, unreadable, a directory, or a zip without one file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._raw: IO[bytes] = _open(self.path)
        self.size = os.fstat(self._raw.fileno()).st_size
        self._read = 0  # bytes read from the stream so far
        self._zip: zipfile.ZipFile | None = None
        self._errors: tuple[type[Exception], ...] = (OSError, EOFError, zlib.error)
        magic = self._raw.read(4)
        self._raw.seek(0)
        self._stream: IO[bytes]
        if magic.startswith(_GZIP_MAGIC):
            self.compression = "gzip"
            self._stream = gzip.GzipFile(fileobj=self._raw, mode="rb")  # type: ignore[assignment]
        elif magic == _ZIP_MAGIC:
            self.compression = "zip"
            self._stream = self._open_zip()
        else:
            self.compression = "plain"
            self._stream = self._raw

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._stream is not self._raw:
            self._stream.close()
        if self._zip is not None:
            self._zip.close()
        self._raw.close()

    def position(self) -> int:
        """Bytes of the file on disk read so far (for progress)."""
        if self._stream is self._raw:
            return self._read  # a plain file: counted, not asked (tell() costs a lock per call)
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return self.size

    def blocks(self) -> Iterator[tuple[int, bytes]]:
        """Yield ``(number of the first line, block)`` for every block of the file, in order.

        A block is whole lines joined by ``\\n``, without the last one's (``\\r`` before a line end
        is dropped too). A last line without a line end is still a line.

        Raises:
            ConfigError: the file cannot be read or decompressed (named, with the line reached).
        """
        rest = b""
        line_no = 1
        try:
            while True:
                data = self._stream.read(_BLOCK)
                if not data:
                    break
                self._read += len(data)
                data = rest + data
                cut = data.rfind(b"\n") + 1
                rest = data[cut:]
                if cut:
                    block = data[: cut - 1]
                    if b"\r" in block:
                        block = b"\n".join([line.rstrip(b"\r") for line in block.split(b"\n")])
                    yield line_no, block
                    line_no += len(block) - len(block.replace(b"\n", b"")) + 1  # line ends
                    # (bytes.count of one byte tests each byte; replace finds them by memchr,
                    # in a third of the time)
        except self._errors as exc:
            raise ConfigError(f"{self.path}: cannot read past line {line_no}: {exc}") from exc
        if rest:
            yield line_no, rest.rstrip(b"\r")

    def _open_zip(self) -> IO[bytes]:
        import zipfile

        self._errors += (zipfile.BadZipFile,)
        try:
            self._zip = zipfile.ZipFile(self._raw)
            members = [m for m in self._zip.infolist() if not m.is_dir()]
            if len(members) == 1:
                return self._zip.open(members[0])
            found = ", ".join(m.filename for m in members) or "nothing"
            reason = f"a zip with one CSV file inside was expected, found {found}"
        except (zipfile.BadZipFile, OSError) as exc:
            reason = f"not a readable zip file: {exc}"
        self._raw.close()
        raise ConfigError(f"{self.path}: {reason}")


class Digests:
    """The SHA-256 of each of some files (for the recording's header), computed on a thread of
    its own while the files are converted: reading and hashing let go of the interpreter lock,
    so on a second core the digests cost the import little of its time.

    Raises (from :meth:`result`):
        ConfigError: a file cannot be read.
    """

    def __init__(self, paths: list[Path]) -> None:
        self._paths = paths
        self._digests: list[str] = []
        self._error: ConfigError | None = None
        self._thread = threading.Thread(target=self._run, name="source digests", daemon=True)
        self._thread.start()

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self) -> list[str]:
        """The digests, in the order of the paths (waiting for them if need be)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._digests

    def _run(self) -> None:
        try:
            for path in self._paths:
                self._digests.append(_digest(path))
        except ConfigError as exc:
            self._error = exc


def _open(path: Path) -> io.BufferedReader:
    """A file opened for reading; the errors a user can act on."""
    try:
        return open(path, "rb")
    except FileNotFoundError as exc:
        raise ConfigError(f"file not found: {path}") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{path} is a directory, not a data file") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc


def _digest(path: Path) -> str:
    """SHA-256 of a file, read :data:`_DIGESTED` bytes at a time (each one a single wait for
    the interpreter lock, which the converting thread holds)."""
    digest = hashlib.sha256()
    buffer = bytearray(_DIGESTED)
    view = memoryview(buffer)
    with _open(path) as fh:
        try:
            while count := fh.readinto(buffer):
                digest.update(view[:count])
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    return digest.hexdigest()
