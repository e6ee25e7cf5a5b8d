"""One market state: the book a strategy reads is the book the venue matches against.

Frames go through the real Cryptomus codec, the loop, the market state and the paper venue.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from framework import events as ev
from framework.exchange import ExchangeConfig
from framework.loop import Engine
from framework.marketbook import MarketBook, MarketState, size_known
from framework.providers.cryptomus import CryptomusCodec
from framework.recording import DisconnectedLine, frame_from_wire
from framework.strategy import Strategy
from tests.exchange.conftest import Harness

S = 1_000_000_000
T0 = 1_750_952_911


def depth(t: int, bids: str, asks: str, full: bool = True, venue: str = "cryptomus") -> Any:
    text = (
        f'{{"id":0,"method":"depth_update","data":{{"symbol":"BTC_USDT","timestamp":{T0 + t},'
        f'"full_reload":{"true" if full else "false"},"scale_index":0,"asks":{asks},'
        f'"bids":{bids}}},"error":null}}'
    )
    return frame_from_wire(venue, 1, (T0 + t) * S, text)


class Watcher(Strategy):
    """Records the best bid it is shown, and sells once at market on the first book."""

    def on_start(self) -> None:
        self.best: list[float | None] = []
        self.sold = False

    def on_book(self, book: MarketBook, event: ev.BookSnapshot | ev.BookDelta) -> None:
        self.best.append(book.best_bid())
        if not self.sold:
            self.sold = True
            self.sell_market("BTC/USDT", "0.5")


def run(*frames: Any, balances: dict[str, str] | None = None) -> tuple[Watcher, list[Any]]:
    sink: list[Any] = []
    watcher = Watcher()
    config = ExchangeConfig(balances={k: Decimal(v) for k, v in (balances or {"BTC": "1"}).items()})
    codecs = {"cryptomus": CryptomusCodec(), "other": CryptomusCodec()}
    engine = Engine(codecs, [watcher], config, seed=1, on_private=sink.append)
    engine.process(list(frames))
    engine.finish()
    return watcher, sink


def deals(sink: list[Any]) -> list[tuple[str, str]]:
    return [
        (e.data.info.filledPrice, e.data.info.filledQuantity)
        for e in sink
        if e.method == "deal_update"
    ]


def test_a_snapshot_level_of_size_0_is_no_level_for_the_strategy_nor_the_venue() -> None:
    # The probe that found two books: a 101 bid of size 0 above a real 100 bid.
    watcher, sink = run(depth(0, '[["101","0"],["100","1"]]', '[["102","1"]]'))
    assert watcher.best == [100.0]
    # the venue sold into the same best bid
    assert deals(sink) == [("100.0000000000000000", "0.5000000000000000")]


def test_a_delta_from_another_venue_changes_neither_view() -> None:
    h = Harness(ExchangeConfig(balances={"BTC": Decimal(1)}), 1, "BTC/USDT")
    h.book([(100.0, 1.0)], [(102.0, 1.0)])
    h.delta(bids=[(101.0, 5.0)], t=1, venue="alltick")
    book = h.x.state.book("BTC/USDT")
    assert book is not None and book.best_bid() == 100.0
    h.order(t=2, direction="sell", type="market", quantity="0.5")
    assert [(d["price"], d["quantity"]) for d in _deal_infos(h)] == [
        ("100.0000000000000000", "0.5000000000000000")
    ]


def _deal_infos(h: Harness) -> list[dict[str, str]]:
    return [
        {"price": f["data"]["info"]["filledPrice"], "quantity": f["data"]["info"]["filledQuantity"]}
        for f in h.take()
        if f["method"] == "deal_update"
    ]


def test_after_a_disconnect_the_book_is_untrusted_for_both_until_a_snapshot() -> None:
    watcher, _ = run(
        depth(0, '[["100","1"]]', '[["102","1"]]'),
        DisconnectedLine((T0 + 1) * S, "cryptomus", 1, "closed 1006"),
        depth(2, '[["101","1"]]', "[]", full=False),  # a delta over a gap: ignored
        depth(3, '[["98","1"]]', '[["99","1"]]'),
    )
    assert watcher.best == [100.0, 98.0]


def test_the_venue_reads_the_very_dicts_the_strategies_read() -> None:
    state = MarketState()
    h_state = Harness(ExchangeConfig(), 1, "BTC/USDT")
    market = h_state.x._markets["BTC/USDT"]
    shared = h_state.x.state.of("BTC/USDT").book
    assert market.bids is shared.bids and market.asks is shared.asks
    h_state.book([(99.0, 1.0), (98.0, 0.0)], [(100.0, 2.0)])
    assert shared.bids == {99.0: 1.0} and market.best_ask() == 100.0
    assert state.book("BTC/USDT") is None  # a state never fed knows no book


def test_a_level_of_unknown_size_is_shown_but_never_matched() -> None:
    h = Harness(ExchangeConfig(balances={"USDT": Decimal(1000)}), 1, "BTC/USDT")
    h.book([(99.0, ev.UNKNOWN_SIZE)], [(100.0, ev.UNKNOWN_SIZE)])
    book = h.x.state.book("BTC/USDT")
    assert book is not None and list(book.asks) == [100.0]
    assert not size_known(book.asks[100.0]) and math.isnan(book.asks[100.0])
    h.order(direction="buy", type="market", quantity="0.5")
    frames = h.take()
    assert not [f for f in frames if f["method"] == "deal_update"]
    assert h.x.balance("USDT") == (Decimal(1000), 0)
    # a delta of size 0 removes the level; a known size replaces the unknown one
    h.delta(asks=[(100.0, 0.0), (100.5, 1.0)], t=1)
    assert dict(book.asks) == {100.5: 1.0}
