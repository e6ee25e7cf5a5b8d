"""The paper exchange: takes orders, matches them against market data, keeps the account.

The public surface is re-exported here; the modules behind it each do one job:
``rules`` (market rules and config), ``orders`` (requests, records, state machine),
``validation`` (Cryptomus error codes), ``accounts`` (balances and fees), ``book`` (a market's
state), ``matching`` (the fill rules), ``execution`` (holds, fills, endings, event order),
``frames`` (event shapes) and ``venue`` (:class:`PaperExchange`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from framework.exchange.orders import OrderRequest as OrderRequest
from framework.exchange.orders import OrderView as OrderView
from framework.exchange.rules import DEFAULT_BALANCES as DEFAULT_BALANCES
from framework.exchange.rules import DEFAULT_MARKETS as DEFAULT_MARKETS
from framework.exchange.rules import ExchangeConfig as ExchangeConfig
from framework.exchange.rules import MarketRules as MarketRules

if TYPE_CHECKING:
    from framework.exchange.frames import DealRecord as DealRecord
    from framework.exchange.venue import PaperExchange as PaperExchange

__all__ = [
    "DEFAULT_BALANCES",
    "DEFAULT_MARKETS",
    "DealRecord",
    "ExchangeConfig",
    "MarketRules",
    "OrderRequest",
    "OrderView",
    "PaperExchange",
]


def __getattr__(name: str) -> Any:
    """``PaperExchange`` and ``DealRecord`` are imported when first used (PEP 562): the market
    rules alone (an importer's, a config check's) do not load the venue, the book and numpy."""
    if name == "PaperExchange":
        from framework.exchange.venue import PaperExchange

        return PaperExchange
    if name == "DealRecord":
        from framework.exchange.frames import DealRecord

        return DealRecord
    raise AttributeError(f"module 'framework.exchange' has no attribute {name!r}")
