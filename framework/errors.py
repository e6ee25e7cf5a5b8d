"""The exception tree of papertrade. No other module defines exceptions.

Each class says whose fault the error is, so the CLI can print one line a user can act on::

    PapertradeError                 base; the CLI prints "TypeName: message" and exits non-zero
     +- ConfigError                 the user's input: config file, --set, a path, a strategy spec
     +- RecordingError              a recording that cannot be read (bad header, not JSON Lines)
     +- ProviderError               a market-data provider
     |   +- ProviderProtocolError   the provider broke its own documentation (a frame we cannot
     |   |                          decode); carries provider, a redacted excerpt and the $.path
     |   +- ProviderConnectionError a connection, or the token request before it, failed; the
     |                              session retries it, and gives up only as configured
     +- StrategyError               a user's strategy callback raised; names strategy, callback, event

Order rejections are *events* (``framework.events.OrderRejected``), never exceptions.
"""

from __future__ import annotations

import sysconfig
import traceback
from pathlib import Path
from typing import TypeVar

import msgspec

from framework.redact import redact

__all__ = [
    "ConfigError",
    "PapertradeError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderProtocolError",
    "RecordingError",
    "StrategyError",
    "find_error",
]

_EXCERPT_CHARS = 200
_PACKAGE = Path(__file__).resolve().parent  # papertrade's own frames are not the user's
_LIBRARIES = tuple(
    Path(p).resolve()
    for p in sorted({sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib")})
)
E = TypeVar("E", bound=BaseException)

Buffer = bytes | bytearray | memoryview | msgspec.Raw


class PapertradeError(Exception):
    """Base of every error papertrade raises on purpose."""


class ConfigError(PapertradeError):
    """The user's input is wrong: a config file, a ``--set`` pair, a path, a strategy spec."""


class RecordingError(PapertradeError):
    """A recording cannot be read: missing, not a papertrade recording, or a corrupt header."""


class ProviderError(PapertradeError):
    """Something about a market-data provider went wrong."""


class ProviderProtocolError(ProviderError):
    """A provider sent a frame that breaks its documentation.

    Attributes:
        provider: the provider's registry name (``"cryptomus"``...).
        excerpt: at most 200 characters of the frame, with secrets redacted.
        path: the msgspec JSON path of the offending field (``"$.data.price"``), or "".
        reason: what is wrong, in words.
    """

    def __init__(self, provider: str, frame: Buffer | str, reason: str, path: str = "") -> None:
        self.provider = provider
        self.excerpt = _excerpt(frame)
        self.reason = reason
        self.path = path
        where = f" at {path}" if path else ""
        super().__init__(f"{provider}: {reason}{where}; frame: {self.excerpt!r}")


class ProviderConnectionError(ProviderError):
    """A provider connection (or the Cryptomus token request before it) failed.

    Live sessions catch it and reconnect with backoff; it reaches the user only when the
    configured number of attempts is exhausted.
    """


class StrategyError(PapertradeError):
    """A user's strategy raised inside a callback.

    Attributes:
        strategy: the strategy's name.
        callback: the callback that raised (``"on_trade"``).
        event: a short description of the event being delivered.
    """

    def __init__(self, strategy: str, callback: str, event: str, cause: BaseException) -> None:
        self.strategy = strategy
        self.callback = callback
        self.event = event
        self.cause = cause
        where = _user_frames(cause)[-1:]
        at = f" at {where[0].filename}:{where[0].lineno}" if where else ""
        super().__init__(
            f"strategy {strategy!r} raised {type(cause).__name__}: {cause}{at} "
            f"in {callback}({event})"
        )

    def user_traceback(self) -> str:
        """The traceback of the cause, restricted to the user's own frames (not papertrade's,
        the standard library's or installed packages'): what to read to fix the strategy."""
        frames = _user_frames(self.cause)
        if not frames:
            return ""
        lines = traceback.format_list(frames)
        return "Traceback (your code, most recent call last):\n" + "".join(lines).rstrip("\n")


def find_error(exc: BaseException, kind: type[E]) -> E | None:
    """``exc`` itself if it is a ``kind``, else the first ``kind`` inside (nested) exception
    groups, as a trio nursery reports its children's errors; None if there is none."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = find_error(inner, kind)
            if found is not None:
                return found
    return None


def _user_frames(exc: BaseException) -> list[traceback.FrameSummary]:
    """The frames of ``exc``'s traceback in the user's files; the last frame if there are none."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if not _is_library(f.filename)]
    return mine or frames[-1:]


def _is_library(filename: str) -> bool:
    path = Path(filename).resolve()
    return path.is_relative_to(_PACKAGE) or any(path.is_relative_to(p) for p in _LIBRARIES)


def _excerpt(frame: Buffer | str) -> str:
    if isinstance(frame, str):
        text = frame[: _EXCERPT_CHARS * 4]
    else:  # bytes, bytearray, memoryview, msgspec.Raw: anything with the buffer protocol
        text = bytes(memoryview(frame)[: _EXCERPT_CHARS * 4]).decode("utf-8", errors="replace")
    text = redact(text)
    if len(text) > _EXCERPT_CHARS:
        return text[:_EXCERPT_CHARS] + "..."
    return text
