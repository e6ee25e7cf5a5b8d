"""What a live run is doing right now: snapshots of the engine and the sessions, and the status line.

Theory of operation. A :class:`Monitor` is taken (read) from a task of the run's nursery a few
times a second at most, between the loop's batches: trio runs one task at a time, so a snapshot
sees the engine between two ``Engine.process`` calls, never inside one, and the loop itself
does no extra work for it. Rates (frames per second) are differences between two snapshots
over trio's clock. The status line is printed on stderr every :data:`STATUS_S` seconds unless
``--quiet``; the dashboard (``framework.dashboard``) serves the same snapshots.

Nothing here changes the run: it only reads the engine, the exchange and the session stats.
Snapshot values are for people; they never reach a run's output files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Final

import msgspec
import trio

from framework.report.output import iso_time

if TYPE_CHECKING:
    from framework.exchange import PaperExchange
    from framework.live.session import Session
    from framework.loop import Engine

__all__ = [
    "STATUS_S",
    "FeedHealth",
    "Monitor",
    "Snapshot",
    "account_value",
    "print_status",
    "status_line",
]

STATUS_S: Final = 5.0  # seconds between status lines


class FeedHealth(msgspec.Struct, frozen=True):
    """One provider session, as the status line and the dashboard show it."""

    name: str
    connected: bool
    last_frame_age_s: float | None  # wall seconds since the last frame; None before any
    frames: int
    frames_per_s: float
    reconnects: int
    faults: int


class Snapshot(msgspec.Struct, frozen=True):
    """The run at one moment between two batches of the loop."""

    sim_ns: int  # the loop's clock
    sim_time: str
    currency: str
    equity: float  # account value in ``currency`` at the last prices
    positions: dict[str, str]  # instrument -> base quantity held (exact text), non-zero only
    open_orders: int
    frames: int
    frames_per_s: float
    feeds: tuple[FeedHealth, ...]


class Monitor:
    """Takes :class:`Snapshot` s of a running engine and its sessions.

    Args:
        engine: the run's engine.
        currency: the report currency equity is valued in.
        sessions: the live sessions (filled in as the run starts them).
        now: trio's clock by default; rates and ages are measured on it.
    """

    def __init__(
        self,
        engine: Engine,
        currency: str,
        sessions: Sequence[Session],
        now: Callable[[], float] = trio.current_time,
    ) -> None:
        self.engine = engine
        self.currency = currency
        self.sessions = sessions
        self._now = now
        self._last_t: float | None = None
        self._last_frames: dict[str, int] = {}

    def snapshot(self) -> Snapshot:
        """The run now; rates are over the time since the previous snapshot."""
        engine, exchange = self.engine, self.engine.exchange
        now = self._now()
        dt = now - self._last_t if self._last_t is not None else 0.0
        feeds = tuple(self._feed(s, now, dt) for s in self.sessions)
        self._last_t = now
        positions = {
            name: _text(qty)
            for name in sorted(exchange.markets())
            if (qty := exchange.position(name)) != 0
        }
        equity, _ = account_value(exchange, self.currency)
        return Snapshot(
            sim_ns=engine.clock.now_ns,
            sim_time=iso_time(engine.clock.now_ns),
            currency=self.currency,
            equity=equity,
            positions=positions,
            open_orders=len(exchange.open_orders()),
            frames=engine.stats.frames,
            frames_per_s=sum(f.frames_per_s for f in feeds),
            feeds=feeds,
        )

    def _feed(self, session: Session, now: float, dt: float) -> FeedHealth:
        frames = session.stats.frames
        before = self._last_frames.get(session.name, frames)
        self._last_frames[session.name] = frames
        seen = session.last_frame_at
        return FeedHealth(
            name=session.name,
            connected=session.connected,
            last_frame_age_s=round(now - seen, 3) if seen else None,
            frames=frames,
            frames_per_s=round((frames - before) / dt, 1) if dt > 0 else 0.0,
            reconnects=session.stats.reconnects,
            faults=sum(session.stats.faults.values()),
        )


def status_line(snap: Snapshot) -> str:
    """One line: simulated time, equity, positions, open orders, frames/s, feed state."""
    positions = ", ".join(f"{k} {v}" for k, v in snap.positions.items()) or "flat"
    feeds = "; ".join(_feed_text(f) for f in snap.feeds)
    return (
        f"{snap.sim_time}  equity {snap.equity:,.2f} {snap.currency}  {positions}  "
        f"{snap.open_orders} open orders  {snap.frames_per_s:,.0f} frames/s  {feeds}"
    )


async def print_status(monitor: Monitor, echo: Callable[[str], None], every_s: float) -> None:
    """Print a status line every ``every_s`` seconds until cancelled."""
    monitor.snapshot()  # the first rate is measured from here
    while True:
        await trio.sleep(every_s)
        echo(status_line(monitor.snapshot()))


def account_value(exchange: PaperExchange, currency: str) -> tuple[float, set[str]]:
    """The account's value in ``currency`` at the last prices, and the currencies left unpriced.

    A currency is valued at the last price of the market that quotes it in ``currency``, the
    rule ``equity.csv`` follows.
    """
    priced_by: dict[str, str] = {}
    for instrument, rules in sorted(exchange.markets().items()):
        if rules.quote_currency == currency:
            priced_by.setdefault(rules.base_currency, instrument)
    total, unpriced = 0.0, set()
    for code, (available, held) in exchange.balances().items():
        amount = available + held
        if code == currency:
            total += float(amount)
        elif amount != 0:
            market = priced_by.get(code)
            price = None if market is None else exchange.last_price(market)
            if price is None:
                unpriced.add(code)
            else:
                total += float(amount) * price
    return total, unpriced


def _feed_text(feed: FeedHealth) -> str:
    state = "up" if feed.connected else "DOWN"
    age = (
        "no frames yet"
        if feed.last_frame_age_s is None
        else f"last {feed.last_frame_age_s:.1f} s ago"
    )
    extra = f", {feed.reconnects} reconnects" if feed.reconnects else ""
    extra += f", {feed.faults} faults" if feed.faults else ""
    return f"{feed.name} {state} ({age}{extra})"


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")
