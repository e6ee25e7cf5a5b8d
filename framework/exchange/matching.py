"""Fill rules: which of our orders fill, at what price and size, for each kind of market data.

These are the rules a result rests on. Our orders never trade with each other, and they are
invisible to the feed: the market goes on as recorded.

**L2 book** (a trusted snapshot, then deltas; Cryptomus and AllTick depth):

* An order that is marketable when it reaches the venue takes liquidity (**taker**): it walks
  the visible levels from the best price, filling at each level's price up to the level's size
  and, for a limit order, never past its own price. Sizes are rounded down to the market's
  base precision. What it took stays consumed until the feed refreshes that level.
* An order that rests joins the queue behind the size displayed at its price on arrival, and
  behind our own earlier orders at that price. A trade printed at its price first uses up the
  queue ahead; whatever is left of the trade fills our orders in arrival order. When the
  displayed size at the price drops below the queue ahead, the queue shrinks to it
  (cancellations are assumed to come from behind).
* A trade through the order's price (below a bid, above an ask) fills the whole rest of the
  order as **maker** at its own price: every order at that price must have been taken.
* The book crossing it (asks shown at or below a bid, bids at or above an ask) fills it as
  **maker** at its own price, up to the size shown across it; that size is then consumed, as a
  taker's would be. Our better-priced orders, then our older ones, take it first.

**Trades only** (no trusted book): a marketable order fills in full, as taker, at the last
trade price moved against it by ``slippage_bps`` (a limit order never past its own price). A
resting order fills as above on trades at or through its price; when it started resting with
no known depth, each trade at its price gives ``1 - queue_when_depth_unknown`` of its size to
our orders at that price, in arrival order.

**Bars only** (Finazon, imported CSV; markets that have had no trades and no book): a bar is
known only when it closes, so an order takes part only in the bars after the last one the
venue had seen when the order arrived, and only in those that had not ended by then. An order
placed on a bar's close therefore fills at the next bar's open even if it arrives a little
after that bar began (feed delay, latency); an order placed in the middle of a bar may fill at
that bar's open, a price up to one bar old: bars carry nothing finer. A market order fills in
full at the open of the first bar it takes part in (taker). A limit order fills
in full when a bar's range reaches its price: at the open if the bar opens at or through it
(taker), else at its own price (maker). IOC and FOK orders get the first such bar's open or
expire. The path inside a bar is assumed to be open, low, high, close for a bar that closes at
or above its open, and open, high, low, close otherwise; whichever of the limit price and the
stop-loss price that path reaches first decides.

**Stop-loss**: a buy's stop-loss (above its price) cancels it when a trade, the last price or
ticker, the best bid, or a bar's path reaches the stop or above; a sell's, at or below. An
order whose stop-loss the market has already reached when it starts resting is cancelled at
once (after its ``created``).

**Fees**: a maker fill pays ``maker_fee_percent`` of its value, a taker fill
``taker_fee_percent``, in the quote currency (see ``accounts``). A fill's value is price x
quantity rounded half-even to the quote precision.

Which rules apply is decided per market and per event by what the market has
(``book.Market.mode``): a trusted book, else trades (or a last price or ticker), else bars.

Functions here are pure apart from queue positions (:func:`queue_fills`) and consumed sizes
(:func:`commit_walk`, :func:`cross_fills`), which they update in place. Prices and sizes
arrive as floats (market data) and leave as Decimals quantized to the market.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from typing import Final, Literal, NamedTuple

import msgspec

from framework.events import Bar
from framework.exchange.book import Market, available_size
from framework.exchange.orders import Order
from framework.money import ZERO, from_float, quantize, step

__all__ = [
    "Fill",
    "Walk",
    "bar_outcome",
    "bar_path",
    "commit_walk",
    "cross_fills",
    "quantity_for_value",
    "queue_fills",
    "slipped_price",
    "walk_book",
    "would_take",
]

_BPS: Final = Decimal(10000)
Role = Literal["maker", "taker"]
BarOutcome = Literal["open", "price", "stop"]


class Fill(msgspec.Struct, frozen=True, gc=False):
    """One fill of one order: price and base quantity, both quantized, and the order's role."""

    price: Decimal
    quantity: Decimal
    role: Role


class Walk(NamedTuple):
    """The fills a marketable order would get from the book, not yet applied."""

    fills: list[Fill]
    taken: list[tuple[float, float]]  # (level price, size) to mark consumed on commit
    complete: bool  # the whole quantity (or value) is covered


def would_take(market: Market, is_buy: bool, price_f: float) -> bool:
    """True if a limit order at ``price_f`` would take liquidity on arrival (post-only check)."""
    mode = market.mode()
    if mode == "book":
        return market.best_ask() <= price_f if is_buy else market.best_bid() >= price_f
    if mode in ("trades", "bars") and market.last is not None:
        return price_f >= market.last if is_buy else price_f <= market.last
    return False


def walk_book(
    market: Market,
    is_buy: bool,
    limit_f: float | None,
    quantity: Decimal | None,
    value: Decimal | None,
) -> Walk:
    """Walk the visible opposite side for ``quantity`` base, or for ``value`` quote when given."""
    side, taken = (market.asks, market.taken_asks) if is_buy else (market.bids, market.taken_bids)
    rules = market.rules
    fills: list[Fill] = []
    used: list[tuple[float, float]] = []
    left_q, left_v = quantity, value
    for level in sorted(side, reverse=not is_buy):
        if limit_f is not None and (level > limit_f if is_buy else level < limit_f):
            break
        if not market.fits(level, side[level]):
            continue  # a price or size the market cannot express as money
        size = quantize(
            from_float(available_size(side[level], taken, level)), rules.base_prec, down=True
        )
        if size <= 0:
            continue
        price = quantize(from_float(level), rules.quote_prec)
        if left_v is not None:
            affordable = quantity_for_value(left_v, price, rules.base_prec, rules.quote_prec)
            qty = min(size, affordable)
            if qty <= 0:
                return Walk(fills, used, True)
            left_v -= quantize(price * qty, rules.quote_prec)
            # Cut by the value, not the level: what is left buys less than one base step.
            left_v = ZERO if affordable <= size else left_v
        else:
            assert left_q is not None  # one of quantity and value is always given
            qty = min(size, left_q)
            left_q -= qty
        fills.append(Fill(price, qty, "taker"))
        used.append((level, float(qty)))
        if left_q == 0 or left_v == 0:
            return Walk(fills, used, True)
    return Walk(fills, used, False)


def cross_fills(market: Market, is_buy: bool) -> list[tuple[Order, Decimal]]:
    """Fills for our resting orders on one side that the feed's book now crosses.

    Our best-priced orders (then the oldest) take the crossing liquidity first, each from the
    best opposite price up; what they take is marked consumed. They fill at their own price.
    """
    levels = market.bid_levels if is_buy else market.ask_levels
    side, taken = (market.asks, market.taken_asks) if is_buy else (market.bids, market.taken_bids)
    base_prec = market.rules.base_prec
    fills: list[tuple[Order, Decimal]] = []
    for own in sorted(levels, reverse=is_buy):
        crossing = sorted(
            (p for p in side if (p <= own if is_buy else p >= own) and market.fits(p, side[p])),
            reverse=not is_buy,
        )
        if not crossing:
            break
        for order in levels[own]:
            qty = _take_crossing(order.remaining, crossing, side, taken, base_prec)
            if qty > 0:
                fills.append((order, qty))
    return fills


def _take_crossing(
    want: Decimal,
    prices: list[float],
    side: dict[float, float],
    taken: dict[float, float],
    base_prec: int,
) -> Decimal:
    got = Decimal(0)
    for price in prices:
        size = quantize(from_float(available_size(side[price], taken, price)), base_prec, down=True)
        qty = min(size, want - got)
        if qty <= 0:
            continue
        taken[price] = taken.get(price, 0.0) + float(qty)
        got += qty
        if got == want:
            break
    return got


def commit_walk(market: Market, is_buy: bool, walk: Walk) -> None:
    """Mark the liquidity a walk took as consumed until the feed refreshes those levels."""
    taken = market.taken_asks if is_buy else market.taken_bids
    for level, size in walk.taken:
        taken[level] = taken.get(level, 0.0) + size


def quantity_for_value(value: Decimal, price: Decimal, base_prec: int, quote_prec: int) -> Decimal:
    """The most base that ``value`` quote buys at ``price``, on the base precision grid."""
    qty = quantize(value / price, base_prec, down=True)
    # Guard against the division rounding up past an exact boundary.
    while qty > 0 and quantize(price * qty, quote_prec) > value:
        qty -= step(base_prec)
    return qty


def slipped_price(last: float, is_buy: bool, slippage_bps: Decimal, quote_prec: int) -> Decimal:
    """The last trade price moved against the order by ``slippage_bps``, quantized."""
    factor = 1 + slippage_bps / _BPS if is_buy else 1 - slippage_bps / _BPS
    return quantize(from_float(last) * factor, quote_prec)


def queue_fills(
    queue: list[Order], volume: float, unknown_share_ahead: float, base_prec: int
) -> list[tuple[Order, Decimal]]:
    """Fills for our orders resting at one price when a trade of ``volume`` prints there.

    ``queue`` is in arrival order. Each order's ``ahead`` is reduced by the market volume the
    trade took from in front of it.
    """
    fills: list[tuple[Order, Decimal]] = []
    left = volume
    unknown_left = volume * (1.0 - unknown_share_ahead)
    taken = prev = 0.0
    for order in queue:
        if order.ahead is None:
            size = min(unknown_left, left, float(order.remaining))
            unknown_left -= size
        else:
            start = max(order.ahead, prev)  # never ahead of our earlier order at this price
            take = min(left, start - prev)
            prev = start
            left -= take
            taken += take
            order.ahead = start - taken
            size = min(left, float(order.remaining))
        left -= size
        qty = min(quantize(from_float(size), base_prec, down=True), order.remaining)
        if qty > 0:
            fills.append((order, qty))
    return fills


def bar_path(bar: Bar) -> tuple[float, float, float, float]:
    """The assumed path through a bar: O L H C if it closed at or above its open, else O H L C."""
    if bar.close >= bar.open:
        return (bar.open, bar.low, bar.high, bar.close)
    return (bar.open, bar.high, bar.low, bar.close)


def bar_outcome(
    is_buy: bool, price_f: float | None, stop_f: float | None, path: tuple[float, ...]
) -> BarOutcome | None:
    """What a bar does to one order: fill at the open, fill at its price, stop it, or nothing.

    ``price_f`` is None for a market order, which always fills at the open.
    """
    first = path[0]
    if stop_f is not None and (first >= stop_f if is_buy else first <= stop_f):
        return "stop"
    if price_f is None or (first <= price_f if is_buy else first >= price_f):
        return "open"
    for start, end in pairwise(path):
        falling = end < start
        if is_buy and falling and end <= price_f:
            return "price"
        if not is_buy and not falling and end >= price_f:
            return "price"
        if stop_f is not None and (end >= stop_f if is_buy else end <= stop_f):
            return "stop"
    return None
