"""The one clock strategies and the exchange see, moved forward by the loop.

Time is integer nanoseconds since the Unix epoch, taken from the frames' receive stamps (and, in
live runs, from recorded clock ticks). The clock never reads the wall clock and never goes
backwards: frames from several connections can arrive slightly out of order, and the clock keeps
the latest time seen.

Timers are one-shot (:meth:`Clock.call_at`) or repeating (:meth:`Clock.call_every`). The loop
asks :meth:`Clock.advance_to` for the timers due before it delivers a frame stamped later than
their deadline, so a timer always fires before the first frame past its deadline, in deadline
order, ties broken by creation order: the same recording fires the same timers in the same order.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from typing import Final, Protocol, TypeVar

__all__ = ["NEVER", "NS_PER_MILLISECOND", "NS_PER_MINUTE", "NS_PER_SECOND", "Clock", "Timer"]

NEVER: Final = 1 << 62
NS_PER_MILLISECOND: Final = 1_000_000
NS_PER_SECOND: Final = 1_000_000_000
NS_PER_MINUTE: Final = 60 * NS_PER_SECOND


class _Stamped(Protocol):
    @property
    def t(self) -> int: ...


_S = TypeVar("_S", bound=_Stamped)


class Timer:
    """A scheduled callback. ``interval_ns`` is 0 for one-shot timers."""

    __slots__ = ("callback", "cancelled", "deadline_ns", "interval_ns", "name")

    def __init__(
        self, name: str, deadline_ns: int, interval_ns: int, callback: Callable[[str, int], None]
    ) -> None:
        self.name = name
        self.deadline_ns = deadline_ns
        self.interval_ns = interval_ns
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        """Stop the timer; it will not fire again."""
        self.cancelled = True


class Clock:
    """Simulated time plus a deterministic timer queue."""

    def __init__(self, start_ns: int = 0) -> None:
        self.now_ns = start_ns  # read freely; written only by the methods here
        self.next_deadline_ns = NEVER  # the loop compares against this, cheaply, per frame
        self._heap: list[tuple[int, int, Timer]] = []
        self._seq = 0

    def call_at(self, deadline_ns: int, name: str, callback: Callable[[str, int], None]) -> Timer:
        """Fire ``callback(name, deadline_ns)`` once, at ``deadline_ns`` (not before now)."""
        return self._push(Timer(name, max(deadline_ns, self.now_ns), 0, callback))

    def call_every(
        self,
        interval_ns: int,
        name: str,
        callback: Callable[[str, int], None],
        start_ns: int | None = None,
    ) -> Timer:
        """Fire ``callback(name, t)`` every ``interval_ns``, first at ``start_ns`` or now + interval."""
        if interval_ns <= 0:
            raise ValueError(f"timer interval must be positive, got {interval_ns} ns")
        first = self.now_ns + interval_ns if start_ns is None else max(start_ns, self.now_ns)
        return self._push(Timer(name, first, interval_ns, callback))

    def advance_to(self, ts_ns: int) -> None:
        """Move time forward to ``ts_ns``, firing every timer due at or before it, in order.

        Each timer fires with the clock set to its own deadline, so anything it does (placing an
        order, say) is stamped with the deadline, not with the later frame's time.
        """
        while self._heap and self._heap[0][0] <= ts_ns:
            deadline, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            self.now_ns = max(self.now_ns, deadline)
            if timer.interval_ns:
                timer.deadline_ns = deadline + timer.interval_ns
                self._push(timer)
            timer.callback(timer.name, deadline)
        self.next_deadline_ns = self._heap[0][0] if self._heap else NEVER
        if ts_ns > self.now_ns:
            self.now_ns = ts_ns

    def follow(self, lines: Iterable[_S]) -> Iterator[_S]:
        """Yield each stamped line (``.t``, ns) with the clock moved to its time first.

        The time of every line is set here, by the clock, and timers due before a line fire
        before it is yielded, as with :meth:`advance_to` (``loop.Engine.process`` has this
        inlined: change both together).
        """
        for line in lines:
            ts = line.t
            if ts >= self.next_deadline_ns:
                self.advance_to(ts)
            elif ts > self.now_ns:
                self.now_ns = ts
            yield line

    def _push(self, timer: Timer) -> Timer:
        self._seq += 1
        heapq.heappush(self._heap, (timer.deadline_ns, self._seq, timer))
        if timer.deadline_ns < self.next_deadline_ns:
            self.next_deadline_ns = timer.deadline_ns
        return timer
