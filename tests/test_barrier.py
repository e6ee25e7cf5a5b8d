"""The barrier rule, for every callback kind, with two and three strategies.

"Orders placed while handling an event are applied after the event's last handler, in the
order placed" (``framework.bus``). Each strategy below logs when it sees an event and when its
callback returns; the first strategy also places a market buy the first time, and the run's
output logs every private event. The rule holds when every strategy that was shown the event
saw it, and every callback returned, before the first private event of that order.

Market data comes through a small codec of the project's own event JSON (real msgspec decoding,
the real loop, dispatcher, market state and paper venue).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import pytest

from framework import events as ev
from framework.exchange import ExchangeConfig
from framework.loop import Engine
from framework.providers.base import Decoded, Subscription, WireDefaults
from framework.recording import DisconnectedLine, Frame
from framework.strategy import Strategy

S = 1_000_000_000
T0 = 1_750_953_177 * S
_DECODER = msgspec.json.Decoder(list[ev.MarketEvent])
_ENCODER = msgspec.json.Encoder()


class EventsCodec(WireDefaults):
    """Frames that are JSON lists of the project's own market events."""

    name = "events"

    def url(self, subs: Sequence[Subscription], host: str, key: str) -> str:
        return host

    def subscribe(self, subs: Sequence[Subscription]) -> list[str]:
        return []

    def unsubscribe(self, subs: Sequence[Subscription]) -> list[str]:
        return []

    def heartbeat(self) -> str:
        return "{}"

    def decode(self, frame: bytes | str | msgspec.Raw, ts_recv_ns: int) -> list[Decoded]:
        return list(_DECODER.decode(frame))

    def reset(self) -> None:
        pass


def _stamp(t: int) -> dict[str, Any]:
    return {
        "venue": "events",
        "instrument": "BTC/USDT",
        "symbol": "BTC_USDT",
        "ts_event_ns": T0 + t * S,
        "ts_recv_ns": T0 + t * S,
    }


def _bar(kind: type[ev.Bar] | type[ev.BarUpdate], t: int) -> ev.Bar | ev.BarUpdate:
    fields = _stamp(t) | {"ts_event_ns": T0 + (t - 60) * S}
    return kind(**fields, interval_ns=60 * S, open=100.0, high=101.0, low=99.0, close=100.0, volume=1.0)  # fmt: skip


def _events(t: int, kind: str) -> list[ev.MarketEvent]:
    if kind == "trade":
        return [ev.Trade(**_stamp(t), price=100.0, size=1.0, side="buy")]
    if kind == "bar":
        return [_bar(ev.Bar, t)]
    if kind == "bar_update":
        return [_bar(ev.BarUpdate, t)]
    if kind == "ticker":
        return [ev.Ticker(**_stamp(t), price=100.0, open=99.0, high=101.0, low=98.0, volume=5.0, quote_volume=500.0, price_change=1.0)]  # fmt: skip
    if kind == "last_price":
        return [ev.LastPrice(**_stamp(t), price=100.0)]
    book = {"bids": ((99.0, 5.0),), "asks": ((100.0, 5.0),)}
    if kind == "book_snapshot":
        return [ev.BookSnapshot(**_stamp(t), **book)]
    assert kind == "book_delta"
    return [
        ev.BookSnapshot(**_stamp(t), **book),
        ev.BookDelta(**_stamp(t), bids=((99.5, 1.0),), asks=()),
    ]


def _frame(t: int, events: list[ev.MarketEvent]) -> Frame:
    return Frame(T0 + t * S, "events", 1, f=msgspec.Raw(_ENCODER.encode(events)))


class Probe(Strategy):
    """Logs the callback under test; the placer places one market buy the first time."""

    def __init__(self, name: str, log: list[tuple[Any, ...]], kind: str, placer: bool) -> None:
        super().__init__(name)
        self.log_ = log
        self.kind = kind
        self.placer = placer
        self.placed = False

    def _saw(self, kind: str, key: object) -> None:
        if kind != self.kind:
            return
        self.log_.append(("saw", self.name, key))
        if self.placer and not self.placed:
            self.placed = True
            ticket = self.buy_market("BTC/USDT", value="10")
            self.log_.append(("placed", self.name, key))
            assert ticket.order_id is None  # not applied yet: the callback has not returned
        self.log_.append(("returned", self.name, key))

    def on_start(self) -> None:
        self._saw("start", "start")
        if self.kind == "timer":
            self.set_timer("t", T0 + 2 * S)
        self.set_up = False

    def on_stop(self) -> None:
        self._saw("stop", "stop")

    def on_trade(self, trade: ev.Trade) -> None:
        self._saw("trade", trade)
        if self.kind in PRIVATE and self.placer and not self.set_up:
            self.set_up = True  # the order whose private events are under test
            self.buy_market("BTC/USDT", value="20000" if self.kind == "order_rejected" else "10")

    def on_bar(self, bar: ev.Bar) -> None:
        self._saw("bar", bar)

    def on_bar_update(self, bar: ev.BarUpdate) -> None:
        self._saw("bar_update", bar)

    def on_ticker(self, ticker: ev.Ticker) -> None:
        self._saw("ticker", ticker)

    def on_last_price(self, last: ev.LastPrice) -> None:
        self._saw("last_price", last)

    def on_book(self, book: object, event: ev.BookSnapshot | ev.BookDelta) -> None:
        self._saw("book_snapshot" if type(event) is ev.BookSnapshot else "book_delta", event)

    def on_timer(self, name: str, ts_ns: int) -> None:
        self._saw("timer", (self.name, ts_ns))  # each strategy's timer is an event of its own

    def on_connection(self, event: ev.Connected | ev.Disconnected | ev.Subscribed) -> None:
        self._saw("connection", event)

    def on_order_update(self, update: ev.OrderUpdate) -> None:
        self._saw("order_update", update)

    def on_deal(self, deal: ev.DealUpdate) -> None:
        self._saw("deal", deal)

    def on_balance(self, balance: ev.BalanceUpdate) -> None:
        self._saw("balance", balance)

    def on_order_rejected(self, rejection: ev.OrderRejected) -> None:
        self._saw("order_rejected", rejection)


PRIVATE = {"order_update", "deal", "balance", "order_rejected"}
KINDS = (
    "start", "stop", "trade", "bar", "bar_update", "ticker", "last_price", "book_snapshot",
    "book_delta", "timer", "connection", "order_update", "deal", "balance", "order_rejected",
)  # fmt: skip
# Kinds every strategy is shown (the rest go to one strategy: the order's owner, or the
# timer's).
SHARED = {"start", "stop", "trade", "bar", "bar_update", "ticker", "last_price", "book_snapshot",
          "book_delta", "connection", "balance"}  # fmt: skip


def _run(kind: str, n: int) -> list[tuple[Any, ...]]:
    log: list[tuple[Any, ...]] = []
    names = "ABC"[:n]
    strategies = [Probe(name, log, kind, placer=name == "A") for name in names]
    engine = Engine(
        {"events": EventsCodec()},
        strategies,
        ExchangeConfig(),
        seed=1,
        on_private=lambda event: log.append(("private", type(event).__name__)),
    )
    lines: list[Any] = [_frame(0, [ev.Trade(**_stamp(0), price=100.0, size=1.0, side="buy")])]
    if kind in {"bar", "bar_update", "ticker", "last_price", "book_snapshot", "book_delta"}:
        lines.append(_frame(1, _events(1, kind)))
    if kind == "connection":
        lines.append(DisconnectedLine(T0 + 1 * S, "events", 1, "closed 1006"))
    lines.append(_frame(3, [ev.Trade(**_stamp(3), price=100.0, size=1.0, side="buy")]))
    engine.process(lines)
    engine.finish()
    return log


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_orders_placed_in_a_callback_apply_after_the_events_last_handler(kind: str, n: int) -> None:
    log = _run(kind, n)
    placed = [i for i, entry in enumerate(log) if entry[0] == "placed"]
    assert len(placed) == 1, log
    key = log[placed[0]][2]
    same_event = [i for i, entry in enumerate(log) if entry[0] != "private" and entry[2] == key]
    if kind in SHARED:
        assert {log[i][1] for i in same_event if log[i][0] == "saw"} == set("ABC"[:n])
    first_private = next(i for i in range(placed[0], len(log)) if log[i][0] == "private")
    # every handler of the event saw it and returned before the order was applied
    assert max(same_event) < first_private, log[placed[0] : first_private + 1]
    if kind in PRIVATE:
        return  # the earlier order's remaining events are delivered first, then the new one's
    # the placed order's first event: "created", or refused before any market data
    assert log[first_private] == ("private", "OrderRejected" if kind == "start" else "OrderUpdate")
