"""A series of numbers that a run appends to and reads back only at the end, in bounded memory.

A :class:`Spill` keeps the last rows in memory, up to ``chunk`` of them; a full chunk is
written to an anonymous temporary file (it has no name on disk and goes away when the spill is
closed or freed, or the process ends, however it ends) as one block per column. Reading walks
the file from the start, one chunk of one column at a time, then the rows still in memory, so
a run's memory does not grow with its length and the values come back exactly as appended, in
the same order.

Used by the results model for what its statistics need only at the end: equity samples, closed
trips' P&L and held intervals (see ``framework.report.results``).
"""

from __future__ import annotations

import os
import tempfile
import weakref
from array import array
from collections.abc import Iterator
from typing import IO, Any, Final

__all__ = ["CHUNK", "Column", "Numbers", "Pairs", "Spill"]

CHUNK: Final = 4096  # rows kept in memory before they are written out


class Spill:
    """Rows of numbers of fixed types (``array`` type codes, one per column), appended in order
    by a subclass (:class:`Numbers`, :class:`Pairs`) and read back here.

    Args:
        typecodes: one ``array`` type code per column: ``"qd"`` is an int64 and a double.
        chunk: rows kept in memory before they are written out together.
    """

    __slots__ = ("__weakref__", "_chunk", "_columns", "_file", "_spilled", "_widths")

    def __init__(self, typecodes: str, chunk: int = CHUNK) -> None:
        if chunk < 1:
            raise ValueError(f"chunk must be at least 1, not {chunk}")
        self._chunk = chunk
        self._columns: tuple[array[Any], ...] = tuple(array(code) for code in typecodes)
        self._widths = tuple(column.itemsize * chunk for column in self._columns)
        self._file: IO[bytes] | None = None
        self._spilled = 0  # chunks written

    def __len__(self) -> int:
        return self._spilled * self._chunk + len(self._columns[0])

    def column(self, index: int) -> Column:
        """One column, to read (as often as needed) from its first value to its last."""
        return Column(self, index)

    def chunks(self, index: int) -> Iterator[array[Any]]:
        """One column's values in order, a chunk at a time (the last one may be shorter)."""
        for k in range(self._spilled):
            yield self._read(k, index)
        tail = self._columns[index]
        if tail:
            yield tail[:]

    def at(self, row: int, index: int) -> Any:
        """The value of one column in one row (0 <= row < len)."""
        if not 0 <= row < len(self):
            raise IndexError(f"row {row} of {len(self)}")
        k, i = divmod(row, self._chunk)
        if k == self._spilled:
            return self._columns[index][i]
        width = self._columns[index].itemsize
        return self._read(k, index, i * width, width)[0]

    def close(self) -> None:
        """Drop the temporary file and the rows in memory."""
        if self._file is not None:
            self._file.close()
            self._file = None
        for column in self._columns:
            del column[:]
        self._spilled = 0

    def _write(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115  (closed by close or finalize)
            weakref.finalize(self, self._file.close)
        for column in self._columns:
            self._file.write(column)
            del column[:]
        self._file.flush()
        self._spilled += 1

    def _read(self, k: int, index: int, skip: int = 0, size: int | None = None) -> array[Any]:
        assert self._file is not None
        offset = k * sum(self._widths) + sum(self._widths[:index]) + skip
        want = self._widths[index] - skip if size is None else size
        data = os.pread(self._file.fileno(), want, offset)
        if len(data) != want:
            raise OSError(f"spilled series: read {len(data)} of {want} bytes")
        out = array(self._columns[index].typecode)
        out.frombytes(data)
        return out


class Column:
    """One column of a :class:`Spill`: counted, and read in order as often as needed."""

    __slots__ = ("_index", "_spill")

    def __init__(self, spill: Spill, index: int) -> None:
        self._spill = spill
        self._index = index

    def __len__(self) -> int:
        return len(self._spill)

    def __iter__(self) -> Iterator[Any]:
        for chunk in self._spill.chunks(self._index):
            yield from chunk


class Numbers(Spill):
    """A spilled series of single numbers: ``Numbers("d")``."""

    __slots__ = ()

    def append(self, value: Any) -> None:
        """Append one value (a list's append, and a write once per chunk)."""
        column = self._columns[0]
        column.append(value)
        if len(column) >= self._chunk:
            self._write()


class Pairs(Spill):
    """A spilled series of pairs: ``Pairs("qd")`` is (int64, double)."""

    __slots__ = ()

    def append(self, first: Any, second: Any) -> None:
        """Append one pair (two appends, and a write once per chunk)."""
        left, right = self._columns
        left.append(first)
        right.append(second)
        if len(left) >= self._chunk:
            self._write()
