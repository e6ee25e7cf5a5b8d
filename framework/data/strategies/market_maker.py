"""A market maker: a bid and an ask around the mid of the L2 book, within an inventory limit.

Run it on the bundled Cryptomus recording (trades and an L2 book of BTC_USDT)::

    papertrade run strategies/market_maker.py --replay replays/cryptomus-btc-usdt.jsonl.gz
    papertrade run strategies/market_maker.py --replay replays/cryptomus-btc-usdt.jsonl.gz \
        --set half_spread_bps=2 --set max_inventory=0.01

On every book change of ``instrument`` it works out where its quotes belong: a post-only bid
``half_spread_bps`` below the mid and a post-only ask as far above it, each of ``size`` base.
It leaves resting quotes alone until the mid has moved ``requote_bps`` from the mid they were
placed at, or a quote has gone (filled or refused); then it cancels what is left and quotes
again. Inventory (base bought minus base sold since the start) stays within
``max_inventory``: the bid is not quoted when one more fill would take inventory above it, and
the ask is not quoted when one more fill would take it below minus the limit or sell base the
account does not have (this is a spot account: it cannot sell short). When the book's provider
disconnects it cancels every quote, and quotes again on the next trusted book.

With the default 0.1 % maker fee a round trip costs 20 basis points, more than these spreads
earn: the example shows the mechanics, not a profitable edge (set ``exchange.maker_fee_percent``
to see the spread alone).

It must not take liquidity: every quote is post-only, so a quote that would cross is refused
rather than filled.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Final

from framework import (
    BookDelta,
    BookSnapshot,
    ConfigError,
    Connected,
    Disconnected,
    MarketBook,
    Strategy,
    Subscribed,
    from_float,
    param,
    step,
)

__all__ = ["MarketMaker"]

_BPS: Final = Decimal("0.0001")  # one basis point


class MarketMaker(Strategy):
    """Two-sided post-only quotes around the mid, re-quoted when the mid moves."""

    trade_history = 0  # it reads only the book: keep no trades
    bar_history = 0

    instrument = param("BTC/USDT", help="canonical instrument id to quote")
    size = param("0.001", help="quantity of each quote, in the base currency")
    half_spread_bps = param(3.0, help="distance of each quote from the mid, in basis points")
    requote_bps = param(5.0, help="re-quote once the mid has moved this far, in basis points")
    max_inventory = param("0.005", help="largest inventory either way, in the base currency")
    price_decimals = param(2, help="decimals of a quote price (the market's tick)")

    def on_start(self) -> None:
        """Check the parameters."""
        self._size = _positive(self.size, "size")
        self._max_inventory = _positive(self.max_inventory, "max_inventory")
        self._base = self.instrument.split("/")[0]  # the currency a sell quote gives up
        self._quoted_mid: Decimal | None = None  # the mid the resting quotes were placed at
        self._tick = step(self.price_decimals)

    def on_book(self, book: MarketBook, event: BookSnapshot | BookDelta) -> None:
        """Re-quote if the mid has moved enough or a quote has gone."""
        if event.instrument != self.instrument:
            return
        raw_mid = book.mid()
        if raw_mid is None:
            return
        mid = from_float(raw_mid)
        wanted = self._sides()
        resting = {order.direction for order in self.open_orders(self.instrument)}
        if resting == wanted and not self._moved(mid):
            return
        self.cancel_all(self.instrument)
        spread = mid * Decimal(str(self.half_spread_bps)) * _BPS
        if "buy" in wanted:
            price = (mid - spread).quantize(self._tick, rounding=ROUND_FLOOR)
            self.buy_limit(self.instrument, self._size, price, post_only=True)
        if "sell" in wanted:
            price = (mid + spread).quantize(self._tick, rounding=ROUND_CEILING)
            self.sell_limit(self.instrument, self._size, price, post_only=True)
        self._quoted_mid = mid

    def on_connection(self, event: Connected | Disconnected | Subscribed) -> None:
        """Pull every quote when a feed drops: the book it priced them on is gone."""
        if isinstance(event, Disconnected):
            self.cancel_all(self.instrument)
            self._quoted_mid = None

    @property
    def inventory(self) -> Decimal:
        """Base bought minus base sold since the start: this strategy's own position."""
        return self.position(self.instrument)

    def _sides(self) -> set[str]:
        inventory = self.inventory
        sides = set()
        if inventory + self._size <= self._max_inventory:
            sides.add("buy")
        if (
            inventory - self._size >= -self._max_inventory
            and sum(self.balance(self._base)) >= self._size
        ):
            sides.add("sell")
        return sides

    def _moved(self, mid: Decimal) -> bool:
        if self._quoted_mid is None:
            return True
        return (
            abs(mid - self._quoted_mid) >= self._quoted_mid * Decimal(str(self.requote_bps)) * _BPS
        )


def _positive(text: str, name: str) -> Decimal:
    try:
        value = Decimal(text)
    except ArithmeticError:
        value = Decimal(0)
    if not value > 0:
        raise ConfigError(f"MarketMaker {name} must be a positive number, got {text!r}")
    return value
