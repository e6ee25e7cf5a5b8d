"""papertrade: paper trading and deterministic replay backtests on live market-data feeds.

The names users need most are here; the rest live in their modules:
``framework.events`` (what callbacks receive), ``framework.testing`` (the test kit),
``framework.config`` and ``framework.errors``. ``sweep`` runs a strategy at many parameter
points (``framework.sweeps``).
"""

from __future__ import annotations

from framework.errors import ConfigError as ConfigError
from framework.errors import PapertradeError as PapertradeError
from framework.strategy import OrderTicket as OrderTicket
from framework.strategy import Strategy as Strategy
from framework.strategy import param as param
from framework.sweeps import sweep as sweep

__all__ = ["ConfigError", "OrderTicket", "PapertradeError", "Strategy", "param", "sweep"]
__version__ = "0.1.0"
