"""The one rule set for market data, applied at the codec edge.

A codec turns a frame into events; before it hands them over it passes them through its
:class:`Screen`, which drops every item that breaks a rule below and counts it under the rule's
name. A dropped item never reaches the exchange, a history or a strategy; the valid items of the
same frame still go through. The first drop of each kind is logged once, with the provider, the
instrument and the frame's receive time (its ``t`` in the recording); after that it is only
counted (``summary.json``: ``rejected_market_data``).

==================  ==========================================================================
rule                what must hold
==================  ==========================================================================
``price``           every price (trade, last price, ticker, level, bar OHLC) finite and > 0
``size``            sizes finite and >= 0 where the provider documents 0 (a delta level's
                    removal; AllTick's price-only forex trades), > 0 elsewhere; a book level
                    may also have ``events.UNKNOWN_SIZE`` (NaN: a price shown without size)
``bar``             ``low <= open, close <= high`` and volume finite and >= 0
``ticker``          high, low, open, volume and quote volume finite and >= 0; change finite
``symbol``          the native symbol at most ``MAX_SYMBOL`` (64) characters: a feed that
                    invents huge symbols cannot grow the caches and tables keyed by them
``time``            the event time and the receive time inside signed 64-bit nanoseconds
                    (the years 1970 to 2262) and, when the run sets a window (by default
                    ``run.event_time_window_s``, a day), the event time within it of the
                    receive time either way (a bar's open time: earlier by its length too)
==================  ==========================================================================

A book level that breaks a rule is dropped from its event (counted per level); the rest of the
book is kept. Every other item is kept or dropped whole.

:func:`check_depth` bounds the nesting of a frame before any JSON decoder sees it, so that no
frame can exhaust the interpreter's stack, and so that a frame is accepted or refused the same
way live and in replay, whatever the stack depth of the caller.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, Final

import msgspec

from framework import events as ev
from framework.errors import ProviderProtocolError

__all__ = [
    "DEFAULT_WINDOW_NS",
    "MAX_DEPTH",
    "MAX_NS",
    "MAX_SYMBOL",
    "Screen",
    "check_depth",
    "too_deep",
]

log = logging.getLogger("papertrade.validation")

DEFAULT_WINDOW_NS: Final = 86_400 * 1_000_000_000
"""How far an event's own time may lie from its receive time, either way: a day."""
MAX_NS: Final = 2**63 - 1
"""The largest time a run can hold: signed 64-bit nanoseconds (2262-04-11)."""
MAX_SYMBOL: Final = 64
"""The longest native symbol accepted; documented ones are under 20 characters."""
MAX_DEPTH: Final = 64
"""The deepest nesting of arrays and objects a frame may have; documented frames use 4."""
_INF: Final = float("inf")
_SMALLEST: Final = 5e-324  # the least positive float: a level's size must be > 0
_BRACKETS: Final = bytes(range(256)).translate(None, b'[]{}"\\')
_STRING: Final = re.compile(rb'"(?:[^"\\]|\\.)*"')
_UP: Final = bytes.maketrans(b"[]{}", b"\x02\x00\x02\x00")


def too_deep(
    data: bytes | bytearray | memoryview | str | msgspec.Raw, limit: int = MAX_DEPTH
) -> bool:
    """Whether the JSON text ``data`` nests arrays and objects deeper than ``limit`` levels.

    Brackets inside strings do not count. Malformed text is measured as written (an unclosed
    string counts the brackets after it); the decoder reports what else is wrong with it.
    """
    if isinstance(data, str):
        data = data.encode("utf-8", errors="surrogatepass")
    elif not isinstance(data, bytes):
        data = bytes(memoryview(data))
    if data.count(b"[") + data.count(b"{") <= limit:  # the common case: cheap and exact
        return False
    kept = data.translate(None, _BRACKETS)  # brackets, quotes and backslashes only
    if b'"' in kept:
        kept = _STRING.sub(b"", kept)
    kept = kept.translate(_UP, b'"\\')
    if len(kept) <= limit:
        return False
    import numpy as np  # only here, for the rare deep frame: importing a codec stays cheap

    steps = np.frombuffer(kept, dtype=np.uint8).astype(np.int64) - 1
    return int(np.cumsum(steps).max()) > limit


def check_depth(provider: str, frame: bytes | bytearray | memoryview | str | msgspec.Raw) -> None:
    """Raise ``ProviderProtocolError`` when ``frame`` nests deeper than :data:`MAX_DEPTH`."""
    if too_deep(frame):
        excerpt = frame if isinstance(frame, str) else bytes(memoryview(frame)[:1024])
        raise ProviderProtocolError(provider, excerpt, f"nested deeper than {MAX_DEPTH} levels")


class Screen:
    """One provider's filter of decoded items, with its counts of dropped ones.

    Args:
        provider: the provider's registry name, for the log line.
        window_ns: how far an event time may lie from its receive time, either way; None
            checks only that both fit in 64-bit nanoseconds. A codec alone cannot know whether
            its receive times are real, so the run sets it.
        zero_sizes: whether trades and snapshot levels may have size 0 (AllTick forex).

    Attributes:
        rejected: rule name -> how many items (or book levels) it dropped, in first-seen order.
        on_drop: if set, every drop is handed to it instead of being counted and logged
            (``framework.replaycache`` keeps them, to count and log them when the run replays).
    """

    def __init__(
        self, provider: str, window_ns: int | None = None, *, zero_sizes: bool = False
    ) -> None:
        self.provider = provider
        self.window_ns = window_ns
        self.size_floor = 0.0 if zero_sizes else _SMALLEST
        self.rejected: dict[str, int] = {}
        self.on_drop: Callable[[str, Any, int, str, int], None] | None = None

    def __call__(self, items: list[Any], ts_recv_ns: int) -> list[Any]:
        """``items`` without the invalid market data; the same list when all of it is valid."""
        out: list[Any] | None = None
        for i, item in enumerate(items):
            check = _CHECKS.get(type(item))
            kept = item if check is None else self._symbol(item, ts_recv_ns, check)
            if kept is not item and out is None:
                out = items[:i]
            if out is not None and kept is not None:
                out.append(kept)
        return items if out is None else out

    def accept(self, item: Any, ts_recv_ns: int) -> bool:
        """Whether one item is valid whole; a drop is counted and logged as by the call."""
        check = _CHECKS.get(type(item))
        return check is None or self._symbol(item, ts_recv_ns, check) is item

    def _symbol(self, item: Any, ts_recv_ns: int, check: Callable[[Screen, Any, int], Any]) -> Any:
        if len(item.symbol) > MAX_SYMBOL:
            self.drop("symbol", item, ts_recv_ns, f"a symbol of {len(item.symbol)} characters")
            return None
        return check(self, item, ts_recv_ns)

    def drop(self, rule: str, item: Any, ts_recv_ns: int, detail: str, n: int = 1) -> None:
        """Count ``n`` drops under ``rule``; log the first of each rule once."""
        if self.on_drop is not None:
            self.on_drop(rule, item, ts_recv_ns, detail, n)
            return
        count = self.rejected.get(rule, 0)
        self.rejected[rule] = count + n
        if not count:
            log.warning(
                "%s: dropped market data breaking the %r rule (%s) for %s in the frame "
                "received at t=%d; further drops of this kind are only counted",
                self.provider, rule, detail, getattr(item, "symbol", "?")[:MAX_SYMBOL], ts_recv_ns,
            )  # fmt: skip

    def _time(self, item: Any, ts_recv_ns: int, span_ns: int = 0) -> bool:
        """Whether the event's time is representable and near its receive time; a bar's may
        be earlier by its length too (it is stamped with its open time)."""
        ts = item.ts_event_ns
        window = self.window_ns
        if (
            0 <= ts <= MAX_NS
            and 0 <= ts_recv_ns <= MAX_NS
            and (window is None or -window <= ts_recv_ns - ts <= window + span_ns)
        ):
            return True
        self.drop("time", item, ts_recv_ns, f"event time {ts} ns")
        return False


def _trade(screen: Screen, t: ev.Trade, ts: int) -> ev.Trade | None:
    if not 0.0 < t.price < _INF:
        screen.drop("price", t, ts, f"price {t.price!r}")
        return None
    if not screen.size_floor <= t.size < _INF:
        screen.drop("size", t, ts, f"size {t.size!r}")
        return None
    return t if screen._time(t, ts) else None


def _last_price(screen: Screen, p: ev.LastPrice, ts: int) -> ev.LastPrice | None:
    if not 0.0 < p.price < _INF:
        screen.drop("price", p, ts, f"price {p.price!r}")
        return None
    return p if screen._time(p, ts) else None


def _ticker(screen: Screen, t: ev.Ticker, ts: int) -> ev.Ticker | None:
    if not 0.0 < t.price < _INF:
        screen.drop("price", t, ts, f"price {t.price!r}")
        return None
    for name in ("open", "high", "low", "volume", "quote_volume"):
        value = getattr(t, name)
        if not 0.0 <= value < _INF:
            screen.drop("ticker", t, ts, f"{name} {value!r}")
            return None
    if not -_INF < t.price_change < _INF:
        screen.drop("ticker", t, ts, f"price_change {t.price_change!r}")
        return None
    return t if screen._time(t, ts) else None


def _bar(screen: Screen, b: ev.Bar | ev.BarUpdate, ts: int) -> ev.Bar | ev.BarUpdate | None:
    o, h, lo, c = b.open, b.high, b.low, b.close
    if not (lo > 0.0 and h < _INF and 0.0 < o < _INF and 0.0 < c < _INF):
        screen.drop("price", b, ts, f"ohlc {o!r} {h!r} {lo!r} {c!r}")
        return None
    if not (lo <= o <= h and lo <= c <= h and 0.0 <= b.volume < _INF):
        screen.drop("bar", b, ts, f"ohlc {o!r} {h!r} {lo!r} {c!r}, volume {b.volume!r}")
        return None
    return b if screen._time(b, ts, max(b.interval_ns, 0)) else None


def _book(
    screen: Screen, b: ev.BookSnapshot | ev.BookDelta, ts: int
) -> ev.BookSnapshot | ev.BookDelta | None:
    if not screen._time(b, ts):
        return None
    floor = 0.0 if type(b) is ev.BookDelta else screen.size_floor  # 0 removes a level
    bids, asks = b.bids, b.asks
    for levels in (bids, asks):
        for p, q in levels:
            if not (0.0 < p < _INF and (floor <= q < _INF or q != q)):  # NaN: size unknown
                break
        else:
            continue
        # Rare: rebuild the event without the bad levels, counting them per rule.
        bids = _good_levels(screen, b, ts, bids, floor)
        asks = _good_levels(screen, b, ts, asks, floor)
        return msgspec.structs.replace(b, bids=bids, asks=asks)
    return b


def _good_levels(
    screen: Screen, b: Any, ts: int, levels: tuple[ev.Level, ...], floor: float
) -> tuple[ev.Level, ...]:
    good = []
    for p, q in levels:
        if not 0.0 < p < _INF:
            screen.drop("price", b, ts, f"level price {p!r}")
        elif not (floor <= q < _INF or q != q):  # NaN is events.UNKNOWN_SIZE
            screen.drop("size", b, ts, f"level size {q!r}")
        else:
            good.append((p, q))
    return tuple(good)


_CHECKS: Final[dict[type, Callable[[Screen, Any, int], Any]]] = {
    ev.Trade: _trade,
    ev.LastPrice: _last_price,
    ev.Ticker: _ticker,
    ev.Bar: _bar,
    ev.BarUpdate: _bar,
    ev.BookSnapshot: _book,
    ev.BookDelta: _book,
}
