"""The paper exchange: takes orders, matches them against market data, keeps the account.

The public surface is re-exported here; the modules behind it each do one job:
``rules`` (market rules and config), ``orders`` (requests, records, state machine),
``validation`` (Cryptomus error codes), ``accounts`` (balances and fees), ``book`` (a market's
state), ``matching`` (the fill rules), ``execution`` (holds, fills, endings, event order),
``frames`` (event shapes) and ``venue`` (:class:`PaperExchange`).
"""

from __future__ import annotations

from framework.exchange.frames import DealRecord as DealRecord
from framework.exchange.orders import OrderRequest as OrderRequest
from framework.exchange.orders import OrderView as OrderView
from framework.exchange.rules import DEFAULT_BALANCES as DEFAULT_BALANCES
from framework.exchange.rules import DEFAULT_MARKETS as DEFAULT_MARKETS
from framework.exchange.rules import ExchangeConfig as ExchangeConfig
from framework.exchange.rules import MarketRules as MarketRules
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
