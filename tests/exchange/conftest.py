"""A harness around PaperExchange: builds market events and orders, collects private events.

Times in tests are seconds after ``T0``, the documented order's ``createTs`` (2025-06-23), so
expected ``createTs`` and ``committedAt`` values are ``T0`` plus a plain number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from framework import events as ev
from framework.exchange import ExchangeConfig, OrderRequest, PaperExchange

T0 = 1_750_696_376  # the documented order's createTs
NS = 1_000_000_000


def ns(t: float) -> int:
    """Simulated ns of ``t`` seconds after T0."""
    return (T0 * NS) + round(t * NS)


def feed(x: PaperExchange, event: ev.MarketEvent) -> None:
    """Deliver one market event to a bare venue as the engine does: commands due by its
    time, then the shared market state, which hands it on to the venue."""
    x.advance(event.ts_recv_ns)
    state = x.state
    if type(event) is ev.Trade:
        state.on_trade(event)
    elif type(event) is ev.BookSnapshot:
        state.on_book_snapshot(event)
    elif type(event) is ev.BookDelta:
        state.on_book_delta(event)
    elif type(event) is ev.Bar:
        state.on_bar(event)
    elif type(event) is ev.BarUpdate:
        pass  # neither the state nor the venue keeps anything of a bar still forming
    elif type(event) is ev.LastPrice:
        state.on_last_price(event)
    elif type(event) is ev.Ticker:
        state.on_ticker(event)


class Harness:
    """One PaperExchange, the events it emitted, and short ways to feed it."""

    def __init__(self, config: ExchangeConfig, seed: int, instrument: str) -> None:
        self.events: list[ev.PrivateEvent] = []
        self.x = PaperExchange(config, self.events.append, seed)
        self.instrument = instrument
        self.symbol = instrument.replace("/", "_")
        self._seen = 0

    # --- market data -----------------------------------------------------------------------

    def feed(self, event: ev.MarketEvent) -> None:
        """Deliver ``event`` as the engine does: due commands, then the market state, then
        the venue."""
        feed(self.x, event)

    def _market(self, t: float, venue: str) -> dict[str, Any]:
        return {
            "venue": venue,
            "instrument": self.instrument,
            "symbol": self.symbol,
            "ts_event_ns": ns(t),
            "ts_recv_ns": ns(t),
        }

    def trade(self, price: float, size: float, t: float = 0, venue: str = "cryptomus") -> None:
        self.feed(ev.Trade(**self._market(t, venue), price=price, size=size, side="buy"))

    def book(
        self,
        bids: list[tuple[float, float]],
        asks: list[tuple[float, float]],
        t: float = 0,
        venue: str = "cryptomus",
    ) -> None:
        snap = ev.BookSnapshot(**self._market(t, venue), bids=tuple(bids), asks=tuple(asks))
        self.feed(snap)

    def delta(
        self,
        bids: Sequence[tuple[float, float]] = (),
        asks: Sequence[tuple[float, float]] = (),
        t: float = 0,
        venue: str = "cryptomus",
    ) -> None:
        upd = ev.BookDelta(**self._market(t, venue), bids=tuple(bids), asks=tuple(asks))
        self.feed(upd)

    def bar(self, o: float, h: float, low: float, c: float, opens: float, closes: float) -> None:
        """A closed bar from ``opens`` to ``closes`` (seconds), received when it closes."""
        fields = self._market(closes, "finazon")
        fields["ts_event_ns"] = ns(opens)
        bar = ev.Bar(
            **fields,
            interval_ns=ns(closes) - ns(opens),
            open=o,
            high=h,
            low=low,
            close=c,
            volume=1.0,
        )
        self.feed(bar)

    def bar_update(self, o: float, h: float, low: float, c: float, opens: float, t: float) -> None:
        """The bar still forming (open at ``opens``), as received at ``t``."""
        fields = self._market(t, "finazon")
        fields["ts_event_ns"] = ns(opens)
        forming = ev.BarUpdate(
            **fields, interval_ns=60 * NS, open=o, high=h, low=low, close=c, volume=1.0
        )
        self.feed(forming)

    def last_price(self, price: float, t: float = 0) -> None:
        self.feed(ev.LastPrice(**self._market(t, "cryptomus"), price=price))

    # --- orders ----------------------------------------------------------------------------

    def order(self, t: float = 0, **fields: Any) -> str:
        """Submit an order on the harness's instrument; numbers may be given as strings."""
        for name in ("quantity", "price", "value", "stop_loss_price"):
            if isinstance(fields.get(name), str):
                fields[name] = Decimal(fields[name])
        fields.setdefault("instrument", self.instrument)
        return self.x.submit(OrderRequest(**fields), ns(t))

    def buy(self, quantity: str, price: str, t: float = 0, **kw: Any) -> str:
        return self.order(t, direction="buy", type="limit", quantity=quantity, price=price, **kw)

    def sell(self, quantity: str, price: str, t: float = 0, **kw: Any) -> str:
        return self.order(t, direction="sell", type="limit", quantity=quantity, price=price, **kw)

    def cancel(self, order_id: str, t: float = 0) -> None:
        self.x.cancel(order_id, ns(t))

    # --- what came out ---------------------------------------------------------------------

    def take(self) -> list[dict[str, Any]]:
        """The events emitted since the last take, as plain JSON-like dicts."""
        new = self.events[self._seen :]
        self._seen = len(self.events)
        return [msgspec.to_builtins(e) for e in new]

    @staticmethod
    def kinds(frames: list[dict[str, Any]]) -> list[str]:
        """``order_update:created``, ``deal_update``, ``balance_update:USDT``... one per frame."""
        out = []
        for frame in frames:
            method, data = frame["method"], frame["data"]
            if method == "order_update":
                out.append(f"order_update:{data['type']}")
            elif method == "balance_update":
                out.append(f"balance_update:{data['info']['currencyCode']}")
            else:
                out.append(method)
        return out

    @staticmethod
    def infos(frames: list[dict[str, Any]], method: str) -> list[dict[str, Any]]:
        """The ``data.info`` of every frame of one method."""
        return [f["data"]["info"] for f in frames if f["method"] == method]

    def avail(self, currency: str) -> Decimal:
        return self.x.balance(currency)[0]

    def held(self, currency: str) -> Decimal:
        return self.x.balance(currency)[1]


def config(**fields: Any) -> ExchangeConfig:
    """An ExchangeConfig with fees 0 unless given, from plain values (strings for Decimals)."""
    fields.setdefault("maker_fee_percent", "0")
    fields.setdefault("taker_fee_percent", "0")
    return msgspec.convert(fields, ExchangeConfig, strict=False)


@pytest.fixture
def make() -> Callable[..., Harness]:
    """``make(balances={"USDT": "1000"}, taker_fee_percent="0.1")`` -> a Harness (fees 0)."""

    def build(instrument: str = "BTC/USDT", seed: int = 0, **fields: Any) -> Harness:
        return Harness(config(**fields), seed, instrument)

    return build
