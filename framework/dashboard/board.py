"""What the live dashboard shows, gathered off the loop's hot path.

Theory of operation. The board follows the run two ways. Private events reach
:meth:`Board.on_private` after the run's output log (fills and rejections are appended to short
rings, fills also move the per-strategy positions); that is the only work it adds to the loop,
and only for private events. Everything else is read by :meth:`Board.sample`, which a task of
the run's nursery calls every :data:`SAMPLE_S` seconds between two batches of the loop: a
:class:`~framework.live.status.Monitor` snapshot, one equity point, the open orders. The SSE
endpoint then sends :meth:`Board.payload` to each browser; nothing a browser does reaches the
engine (the dashboard is read-only, so it needs no token).

Equity points are capped at :data:`MAX_POINTS`: when full, every other point is dropped and
``generation`` changes, so browsers take the whole series again. Values here are for people
and never reach a run's output files.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from framework import events as ev
from framework.instruments import from_cryptomus
from framework.report.output import iso_time

if TYPE_CHECKING:
    from framework.live.status import Monitor
    from framework.loop import Engine

__all__ = ["MAX_POINTS", "RECENT", "SAMPLE_S", "Board"]

SAMPLE_S: Final = 0.5  # seconds between samples (and at most this often to each browser)
MAX_POINTS: Final = 10_000  # equity points kept; thinned by half when full
RECENT: Final = 50  # fills and rejections shown
_ORDERS_SHOWN: Final = 100
_ZERO: Final = Decimal(0)


class Board:
    """The dashboard's state: equity and drawdown, positions, orders, fills, feeds."""

    def __init__(self, engine: Engine, monitor: Monitor) -> None:
        self._engine = engine
        self._monitor = monitor
        self.generation = 0
        self.t_ms: list[int] = []  # simulated time of each equity point, Unix ms
        self.equity: list[float] = []
        self.drawdown: list[float] = []  # fraction below the running peak
        self._peak = 0.0
        self.fills: deque[dict[str, str]] = deque(maxlen=RECENT)
        self.rejections: deque[dict[str, str]] = deque(maxlen=RECENT)
        self.fill_count = 0
        self.rejection_count = 0
        self._directions: dict[str, str] = {}  # open order id -> "buy" | "sell"
        # (strategy, instrument) -> [signed quantity, signed cost of the open position]
        self._positions: dict[tuple[str, str], list[Decimal]] = {}
        self._latest: dict[str, Any] = {}

    # --- from the loop (private events only) ----------------------------------------------------

    def on_private(self, event: ev.PrivateEvent) -> None:
        """Follow one private event: orders' sides, fills, rejections."""
        kind = type(event)
        if kind is ev.OrderUpdate:
            assert isinstance(event, ev.OrderUpdate)
            info = event.data.info
            if event.data.type == "created":
                self._directions[info.id] = info.direction
            elif event.data.type == "finished":
                self._directions.pop(info.id, None)
        elif kind is ev.DealUpdate:
            assert isinstance(event, ev.DealUpdate)
            self._fill(event.data.info)
        elif kind is ev.OrderRejected:
            assert isinstance(event, ev.OrderRejected)
            r = event.data.info
            self.rejection_count += 1
            self.rejections.appendleft(
                {
                    "time": iso_time(self._engine.clock.now_ns),
                    "strategy": self._engine.owner_name(r.orderId or "") or "",
                    "symbol": r.symbol,
                    "type": r.orderType,
                    "side": r.direction,
                    "code": str(r.code),
                    "message": r.message,
                }
            )

    def _fill(self, d: ev.DealInfo) -> None:
        engine = self._engine
        order_id = engine.exchange.order_id_of_deal(d.dealId) or ""
        strategy = engine.owner_name(order_id) or ""
        side = self._directions.get(order_id, "")
        self.fill_count += 1
        self.fills.appendleft(
            {
                "time": iso_time(engine.clock.now_ns),
                "strategy": strategy,
                "symbol": d.symbol,
                "side": side,
                "role": d.tradeRole,
                "price": _short(d.filledPrice),
                "quantity": _short(d.filledQuantity),
                "fee": f"{_short(d.fee)} {d.feeCurrency}",
            }
        )
        if side:
            qty = Decimal(d.filledQuantity)
            signed = qty if side == "buy" else -qty
            _move(self._positions.setdefault((strategy, from_cryptomus(d.symbol)), [_ZERO, _ZERO]),
                  signed, Decimal(d.filledPrice))  # fmt: skip

    # --- sampled a few times a second -----------------------------------------------------------

    def sample(self) -> None:
        """Take a snapshot of the run and add an equity point (between two loop batches)."""
        snap = self._monitor.snapshot()
        if snap.sim_ns:
            self._point(snap.sim_ns // 1_000_000, snap.equity)
        exchange = self._engine.exchange
        positions = []
        for (strategy, instrument), (qty, cost) in sorted(self._positions.items()):
            if qty == 0:
                continue
            last = exchange.last_price(instrument)
            pnl = "" if last is None else f"{float(qty) * last - float(cost):,.2f}"
            avg = cost / qty
            positions.append(
                {
                    "strategy": strategy,
                    "instrument": instrument,
                    "quantity": _short(str(qty)),
                    "average_price": f"{avg:.8g}",
                    "last_price": "" if last is None else f"{last:.8g}",
                    "unrealised_pnl": pnl,
                }
            )
        orders = [
            {
                "id": o.id,
                "strategy": self._engine.owner_name(o.id) or "",
                "instrument": o.instrument,
                "side": o.direction,
                "type": o.type,
                "price": "" if o.price is None else _short(str(o.price)),
                "quantity": "" if o.quantity is None else _short(str(o.quantity)),
                "state": o.state,
            }
            for o in exchange.open_orders()[:_ORDERS_SHOWN]
        ]
        self._latest = {
            "sim_time": snap.sim_time,
            "currency": snap.currency,
            "equity": round(snap.equity, 2),
            "frames": snap.frames,
            "frames_per_s": snap.frames_per_s,
            "positions": positions,
            "open_orders": orders,
            "open_order_count": snap.open_orders,
            "feeds": [
                {
                    "name": f.name,
                    "connected": f.connected,
                    "last_frame_age_s": f.last_frame_age_s,
                    "frames": f.frames,
                    "frames_per_s": f.frames_per_s,
                    "reconnects": f.reconnects,
                    "faults": f.faults,
                }
                for f in snap.feeds
            ],
        }

    def payload(self, generation: int, sent: int) -> tuple[dict[str, Any], int]:
        """What one browser needs next, given the generation and points it already has.

        Returns:
            The message, and the number of points the browser has after it.
        """
        reset = generation != self.generation or sent > len(self.t_ms)
        start = 0 if reset else sent
        message = {
            **self._latest,
            "generation": self.generation,
            "reset": reset,
            "t": self.t_ms[start:],
            "equity_points": self.equity[start:],
            "drawdown": self.drawdown[start:],
            "fills": list(self.fills),
            "fill_count": self.fill_count,
            "rejections": list(self.rejections),
            "rejection_count": self.rejection_count,
        }
        return message, len(self.t_ms)

    def _point(self, t_ms: int, equity: float) -> None:
        if self.t_ms and t_ms <= self.t_ms[-1]:
            return  # the market was quiet: no new simulated time, no new point
        self._peak = max(self._peak, equity)
        self.t_ms.append(t_ms)
        self.equity.append(round(equity, 2))
        self.drawdown.append(
            round((self._peak - equity) / self._peak, 6) if self._peak > 0 else 0.0
        )
        if len(self.t_ms) > MAX_POINTS:
            self.t_ms, self.equity = self.t_ms[::2], self.equity[::2]
            self.drawdown = self.drawdown[::2]
            self.generation += 1


def _move(position: list[Decimal], signed: Decimal, price: Decimal) -> None:
    """Average-cost bookkeeping of one fill: adding keeps the average, reducing keeps it too,
    crossing zero opens the remainder at the fill's price."""
    qty, cost = position
    after = qty + signed
    if qty == 0 or (qty > 0) == (signed > 0):
        position[0], position[1] = after, cost + signed * price
    elif after == 0 or (after > 0) == (qty > 0):
        position[0], position[1] = after, cost * after / qty
    else:
        position[0], position[1] = after, after * price


def _short(text: str) -> str:
    """A 16-decimal money string without its trailing zeros, for display."""
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
