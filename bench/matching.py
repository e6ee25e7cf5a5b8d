"""Market events per second through the paper exchange, with 0, 10 and 1,000 resting orders.

Run by hand: ``.venv/bin/python bench/matching.py [--events N]``. Prints one line per case:
trades (the replay hot path) and L2 book deltas, each with the resting orders placed away from
the traded range (the common case: nothing fills) and, for trades, with the orders' prices
inside the range, so every trade walks their queues.

This measures the exchange alone: events are built before the clock starts, and the private
events it emits are dropped.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from framework import events as ev
from framework.exchange import ExchangeConfig, OrderRequest, PaperExchange

__all__ = ["main"]

T0_NS = 1_750_696_376_000_000_000
RESTING = (0, 10, 1_000)


def _exchange(resting: int, near: bool) -> PaperExchange:
    """An exchange with ``resting`` limit orders, half bids and half asks."""
    config = ExchangeConfig(balances={"USDT": Decimal(10**9), "BTC": Decimal(10**6)})
    exchange = PaperExchange(config, lambda event: None)
    _feed_book(exchange)
    for i in range(resting):
        buy = i % 2 == 0
        offset = Decimal(i % 50) / 100 if near else Decimal(5 + i % 50) / 10
        price = Decimal(100) - offset if buy else Decimal(101) + offset
        request = OrderRequest(
            instrument="BTC/USDT",
            direction="buy" if buy else "sell",
            type="limit",
            quantity=Decimal("0.01"),
            price=price,
        )
        exchange.submit(request, T0_NS)
    return exchange


def _feed_book(exchange: PaperExchange) -> None:
    bids = tuple((100.0 - i / 100, 1.0) for i in range(20))
    asks = tuple((101.0 + i / 100, 1.0) for i in range(20))
    exchange.state.on_book_snapshot(ev.BookSnapshot(**_stamp(0), bids=bids, asks=asks))


def _stamp(i: int) -> dict[str, Any]:
    ts = T0_NS + i * 1000
    return {
        "venue": "cryptomus",
        "instrument": "BTC/USDT",
        "symbol": "BTC_USDT",
        "ts_event_ns": ts,
        "ts_recv_ns": ts,
    }


def _trades(n: int, near: bool) -> list[ev.Trade]:
    # Away: between the best bid and ask, touching no order. Near: at and through order prices.
    prices = (100.3, 99.9, 101.2, 100.0) if near else (100.2, 100.5, 100.8, 100.4)
    return [
        ev.Trade(**_stamp(i + 1), price=prices[i % 4], size=0.001, side="buy") for i in range(n)
    ]


def _deltas(n: int) -> list[ev.BookDelta]:
    return [ev.BookDelta(**_stamp(i + 1), bids=((99.95, 1.0 + i % 3),), asks=()) for i in range(n)]


def _rate(handler: Callable[[Any], None], items: Sequence[Any]) -> float:
    start = time.perf_counter()
    for item in items:
        handler(item)
    return len(items) / (time.perf_counter() - start)


def _row(case: str, resting: int, rate: float) -> None:
    print(f"{case:<44}{resting:>8}{rate:>14,.0f}{1e6 / rate:>10.3f}")


def main(argv: list[str] | None = None) -> None:
    """Print events per second for each case (through the market state, as in a run)."""
    parser = argparse.ArgumentParser(description="Market events per second through the exchange.")
    parser.add_argument("--events", type=int, default=1_000_000)
    n = parser.parse_args(argv).events
    print(f"{'case':<44}{'resting':>8}{'events/s':>14}{'us/event':>10}")
    for resting in RESTING:
        _row("trades, orders away from the market", resting,
             _rate(_exchange(resting, False).state.on_trade, _trades(n, False)))  # fmt: skip
    for resting in RESTING[1:]:
        _row("trades, orders at traded prices", resting,
             _rate(_exchange(resting, True).state.on_trade, _trades(n, True)))  # fmt: skip
    for resting in RESTING:
        _row("book deltas, orders away from the market", resting,
             _rate(_exchange(resting, False).state.on_book_delta, _deltas(n // 10)))  # fmt: skip


if __name__ == "__main__":
    main()
