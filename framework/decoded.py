"""Lines already decoded: what the decoded cache (``framework.replaycache``) hands the loop.

A recording's frames become events through their codecs (``framework.loop``). The decoded
cache keeps the result, and a replay from it hands the loop :class:`DecodedBatch` batches
instead of recorded lines. Each line of such a batch is one of:

* a :class:`~framework.events.Trade`: a frame that decoded to exactly this one trade, stamped
  with the frame's receive time (the common line; its decoding is the trade itself);
* a :class:`CachedFrame`: the items (events and control replies) of any other frame;
* a :class:`NotedFrame`: a frame whose decoding also dropped invalid market data (counted and
  logged again, as the codec's screen did) or failed (a ``ProviderProtocolError``, counted by
  the loop as any other), with the items that went through;
* a recorded :class:`~framework.recording.Tick` or connection line, as recorded.

The batch carries every line's receive time beside it (:attr:`DecodedBatch.times`), so the
clock follows the same times as with the recording, frame by frame.

A block whose every line is a lone trade of one instrument (nearly every block of a trade
feed) comes as :class:`TradeColumns` instead: the cache's columns, from which the loop builds
the block's trades (in one stretch of the same code) and lets them go at the block's end,
while their memory is still in the processor's cache, and from which the instrument's trade
history (``framework.history``) copies the trades a strategy asks for, rather than keeping the
objects (to be freed much later, cold).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import repeat
from operator import length_hint
from typing import Any, Final

import msgspec

from framework import events as ev
from framework.errors import ProviderProtocolError
from framework.providers.base import Ack, ErrorReply, Pong
from framework.recording import ConnectedLine, DisconnectedLine, SubscribedLine, Tick

__all__ = [
    "TRADE_SIDES",
    "CachedFrame",
    "DecodedBatch",
    "Drop",
    "Failure",
    "Item",
    "NotedFrame",
    "TradeColumns",
    "failure_of",
]

TRADE_SIDES: Final[tuple[ev.Side, ...]] = ("buy", "sell", "")
"""A trade's side by its code in :attr:`TradeColumns.side`."""
# A list's __getitem__ is called without building a tuple of arguments; a tuple's is not.
_SIDE_OF: Final = list(TRADE_SIDES).__getitem__

Item = (
    ev.Trade | ev.Bar | ev.BarUpdate | ev.BookSnapshot | ev.BookDelta | ev.Ticker | ev.LastPrice
    | Ack | Pong | ErrorReply
)  # fmt: skip
"""What a codec's decoding may yield, as the cache keeps it (private events are not kept)."""


class CachedFrame(msgspec.Struct, frozen=True, gc=False, tag_field="k", tag="decoded"):
    """The items one frame received at ``t`` decoded to, in order (none, one or several)."""

    t: int
    items: list[Item]


class Drop(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """One ``Screen.drop`` of the frame's decoding: its rule, the item's symbol, its detail."""

    rule: str
    symbol: str
    ts_recv_ns: int
    detail: str
    n: int


class Failure(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """Why the frame's decoding failed: a ``ProviderProtocolError``, or no codec (``""``)."""

    excerpt: str
    reason: str
    path: str
    no_codec: bool = False


class NotedFrame(msgspec.Struct, frozen=True, gc=False, tag_field="k", tag="noted"):
    """A frame of provider ``p`` whose decoding dropped items or failed."""

    t: int
    p: str
    items: list[Item]
    drops: list[Drop]
    failure: Failure | None = None


CachedLine = CachedFrame | NotedFrame | Tick | ConnectedLine | DisconnectedLine | SubscribedLine
"""A line of the cache that is not a lone trade."""


class DecodedBatch(list[Any]):
    """Decoded lines (see the module docstring), with the receive time of each in :attr:`times`.

    :attr:`trades_only` says that every line is a lone trade (the loop then skips its
    per-line checks of the line's kind).
    """

    __slots__ = ("times", "trades_only")

    def __init__(self, lines: list[Any], times: list[int], *, trades_only: bool = False) -> None:
        super().__init__(lines)
        self.times = times
        self.trades_only = trades_only


class TradeColumns:
    """A block of lone trades of one instrument (see the module docstring), oldest first.

    Iterating builds the trades; :meth:`applied` says how many of them the loop has applied to
    the market state so far (its history then holds them).

    Args:
        key: the trades' (venue, instrument, symbol).
        times: each trade's receive time (its line's time, and its ``ts_recv_ns``; an
            ``array('q')``).
        ts_event: each trade's ``ts_event_ns`` (an ``array('q')``).
        price: each trade's price (an ``array('d')``).
        size: each trade's size (an ``array('d')``).
        side: each trade's side, as its index in :data:`TRADE_SIDES`.
    """

    __slots__ = ("_made", "key", "price", "side", "size", "times", "ts_event", "unapplied")

    def __init__(
        self,
        key: tuple[str, str, str],
        times: Any,
        ts_event: Any,
        price: Any,
        size: Any,
        side: bytes,
    ) -> None:
        self.key = key
        self.times = times
        self.ts_event = ts_event
        self.price = price
        self.size = size
        self.side = side
        self._made: Iterator[ev.Trade] | None = None  # the trades not yet handed out
        # 1 while the trade built last is not yet applied: the loop sets it while the timers
        # due before that trade fire.
        self.unapplied = 0

    def __len__(self) -> int:
        return len(self.times)

    def __iter__(self) -> Iterator[ev.Trade]:
        """The trades, all built at once (one stretch of the same code), handed out in order:
        once all are, none is kept here."""
        venue, instrument, symbol = self.key
        made = list(
            map(
                ev.Trade, repeat(venue), repeat(instrument), repeat(symbol), self.ts_event,
                self.times, self.price, self.size, map(_SIDE_OF, self.side),
            )
        )  # fmt: skip
        self._made = handed = iter(made)  # a list iterator lets go of its list at the end
        return handed

    def applied(self) -> int:
        """How many trades (the first ones) the loop has applied to the market state."""
        if self._made is None:
            return 0
        return len(self.times) - length_hint(self._made) - self.unapplied


class _Symbol:
    """Stands for a dropped item in ``Screen.drop``, which reads only its symbol."""

    __slots__ = ("symbol",)

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol


def drop_again(screen: Any, drop: Drop) -> None:
    """Count and log a kept drop on the run's screen, as the codec's screen did."""
    screen.drop(drop.rule, _Symbol(drop.symbol), drop.ts_recv_ns, drop.detail, drop.n)


def failure_of(provider: str, failure: Failure) -> ProviderProtocolError:
    """The error the codec raised, rebuilt."""
    exc = ProviderProtocolError(provider, failure.excerpt, failure.reason, failure.path)
    return exc
