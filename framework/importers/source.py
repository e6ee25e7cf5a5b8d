"""Reading an input file for an importer: plain, gzip or zip, as lines, in constant memory.

A downloaded market-data file is often larger than memory, so it is read in blocks of about
1 MB of whole lines (bytes, joined by ``\n``, without the last line end), each block with the
line number of its first line so that a bad row can be reported where the user can find it. The
compression is found from the file's first bytes, not its name: gzip (Tardis ``.csv.gz``), zip
(Binance ``.zip``, whose one CSV member is read) or plain text. How far into the file reading
has got (on disk, compressed or not) drives the progress bar.

This module reads files only; it knows nothing of any format's columns.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

if TYPE_CHECKING:
    import zipfile  # imported for a zip file only: it loads bz2, lzma and shutil (start-up)

from framework.errors import ConfigError

__all__ = ["Source"]

_BLOCK: Final = 1 << 16  # 64 kB: a block's rows stay in the processor's cache while converted
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
        self.sha256, self.size = _digest(self.path)
        self._raw: IO[bytes] = open(self.path, "rb")  # noqa: SIM115 - closed in close()
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
                    line_no += block.count(b"\n") + 1
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


def _digest(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a file, streamed; the errors a user can act on."""
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_BLOCK):
                digest.update(chunk)
                size += len(chunk)
    except FileNotFoundError as exc:
        raise ConfigError(f"file not found: {path}") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{path} is a directory, not a data file") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    return digest.hexdigest(), size
