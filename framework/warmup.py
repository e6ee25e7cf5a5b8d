"""Warm-up: the first part of a run, where strategies see the data but may not trade.

``[run] warmup`` is a duration (``"30m"``, ``"2h"``, ``"1d"``) counted from the run's first
line, or a bar count (``"50 bars"``) counted over every closed bar the run delivers (feed
bars, and bars built for ``subscribe_bars``; each counted once, whatever its instrument or
interval). Until it ends, every order is refused at once with an ``order_rejected`` event
(code 0, "warm-up: ..."), and the run's statistics (equity samples, the summary's period,
return, drawdown) start when it ends. Cancels are not refused: there is nothing to cancel.

This module only decides when the warm-up ends; the loop refuses and the run output starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from framework.bars import interval_ns
from framework.errors import ConfigError

__all__ = ["Warmup"]

_BARS: Final = re.compile(r"^\s*(\d+)\s*bars?\s*$")


class Warmup:
    """The warm-up of one run.

    Args:
        text: ``[run] warmup``: a duration, ``"N bars"``, or ``""`` for none.

    Raises:
        ConfigError: neither a duration nor a bar count.
    """

    def __init__(self, text: str) -> None:
        self.text = text.strip()
        self.duration_ns = 0
        self.bars = 0
        match = _BARS.match(self.text)
        if match:
            self.bars = int(match.group(1))
        elif self.text:
            try:
                self.duration_ns = interval_ns(self.text)
            except ConfigError:
                raise ConfigError(
                    f"run.warmup {text!r} is neither a duration (30m, 2h, 1d) nor a bar count "
                    "(50 bars)"
                ) from None
        self.end_ns: int | None = None if self.text else 0  # known once it has ended or begun
        self._seen = 0
        self.on_end: list[Callable[[int], None]] = []  # called once, with the end time

    @property
    def enabled(self) -> bool:
        return bool(self.duration_ns or self.bars)

    def begin(self, first_ns: int) -> int | None:
        """The run's first line is at ``first_ns``; the end time if a duration says it."""
        if self.duration_ns:
            self.end_ns = first_ns + self.duration_ns
        elif not self.bars:
            self._end(first_ns)
        return self.end_ns

    def bar_closed(self, now_ns: int) -> None:
        """One more bar closed (bar-count warm-ups end on the last one)."""
        if self.bars and self.end_ns is None:
            self._seen += 1
            if self._seen >= self.bars:
                self._end(now_ns)

    def refuses(self, now_ns: int) -> bool:
        """True while orders are refused."""
        end = self.end_ns
        return end is None or now_ns < end

    def gate(self, now_ns: int) -> str | None:
        """Why an order placed at ``now_ns`` is refused, or None when it may go."""
        return self.reason() if self.refuses(now_ns) else None

    def reason(self) -> str:
        if self.bars:
            return f"warm-up: orders are refused until {self.bars} bars have closed ([run] warmup)"
        return f"warm-up: orders are refused for the first {self.text} of the run ([run] warmup)"

    def reached(self, now_ns: int) -> None:
        """The clock reached a duration warm-up's end."""
        if self.duration_ns and self.end_ns is not None and now_ns >= self.end_ns:
            self._end(self.end_ns)

    def _end(self, at_ns: int) -> None:
        self.end_ns = at_ns
        hooks, self.on_end = self.on_end, []
        for hook in hooks:
            hook(at_ns)
