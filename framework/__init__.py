"""papertrade: paper trading and deterministic replay backtests on live market-data feeds.

**This module is the public API**: everything a strategy and a strategy's tests need, and
nothing else. Names imported from here keep working across minor versions; every other module
(``framework.loop``, ``framework.exchange``, ``framework.providers``...) is internal and may
change without notice::

    from framework import Bar, Strategy, param

The groups below: the strategy base class and its parameters; the events callbacks receive;
the market state a strategy reads; exact-money helpers; time constants (simulated time is
integer nanoseconds since the Unix epoch); the errors a run raises; the test kit; and
``sweep``, which runs a strategy at many parameter points (``framework.sweeps``), for notebooks.
"""

from __future__ import annotations

__version__ = "0.1.0"

from importlib import import_module
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from framework.bars import interval_ns
    from framework.clock import NS_PER_MILLISECOND, NS_PER_MINUTE, NS_PER_SECOND
    from framework.errors import ConfigError, PapertradeError, StrategyError
    from framework.events import (
        UNKNOWN_SIZE,
        BalanceUpdate,
        Bar,
        BarUpdate,
        BookDelta,
        BookSnapshot,
        Connected,
        DealUpdate,
        Disconnected,
        LastPrice,
        Level,
        OrderRejected,
        OrderUpdate,
        Side,
        Subscribed,
        Ticker,
        Trade,
    )
    from framework.exchange.orders import OrderView
    from framework.history import BarArrays, TradeArrays
    from framework.marketbook import MarketBook, size_known
    from framework.money import ZERO, from_float, parse, quantize, step
    from framework.strategy import OrderTicket, Param, Strategy, param
    from framework.sweeps import sweep
    from framework.testing import (
        DEFAULT_START_S,
        Fill,
        RunResult,
        Scenario,
        check_codec,
        run_strategy,
    )

_LAZY: Final = {
    "interval_ns": "framework.bars",
    "NS_PER_MILLISECOND": "framework.clock",
    "NS_PER_MINUTE": "framework.clock",
    "NS_PER_SECOND": "framework.clock",
    "ConfigError": "framework.errors",
    "PapertradeError": "framework.errors",
    "StrategyError": "framework.errors",
    "UNKNOWN_SIZE": "framework.events",
    "BalanceUpdate": "framework.events",
    "Bar": "framework.events",
    "BarUpdate": "framework.events",
    "BookDelta": "framework.events",
    "BookSnapshot": "framework.events",
    "Connected": "framework.events",
    "DealUpdate": "framework.events",
    "Disconnected": "framework.events",
    "LastPrice": "framework.events",
    "Level": "framework.events",
    "OrderRejected": "framework.events",
    "OrderUpdate": "framework.events",
    "Side": "framework.events",
    "Subscribed": "framework.events",
    "Ticker": "framework.events",
    "Trade": "framework.events",
    "OrderView": "framework.exchange.orders",
    "BarArrays": "framework.history",
    "TradeArrays": "framework.history",
    "MarketBook": "framework.marketbook",
    "size_known": "framework.marketbook",
    "ZERO": "framework.money",
    "from_float": "framework.money",
    "parse": "framework.money",
    "quantize": "framework.money",
    "step": "framework.money",
    "OrderTicket": "framework.strategy",
    "Param": "framework.strategy",
    "Strategy": "framework.strategy",
    "param": "framework.strategy",
    "sweep": "framework.sweeps",
    "DEFAULT_START_S": "framework.testing",
    "Fill": "framework.testing",
    "RunResult": "framework.testing",
    "Scenario": "framework.testing",
    "check_codec": "framework.testing",
    "run_strategy": "framework.testing",
}
"""Each public name and the module it comes from, imported when first used."""


def __getattr__(name: str) -> Any:
    """Import a public name's module when the name is first used (PEP 562).

    ``import framework`` stays cheap, so a command that needs little (``papertrade import``,
    ``--help``) does not pay for numpy, the loop and the exchange before it starts.
    """
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'framework' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "DEFAULT_START_S",
    "NS_PER_MILLISECOND",
    "NS_PER_MINUTE",
    "NS_PER_SECOND",
    "UNKNOWN_SIZE",
    "ZERO",
    "BalanceUpdate",
    "Bar",
    "BarArrays",
    "BarUpdate",
    "BookDelta",
    "BookSnapshot",
    "ConfigError",
    "Connected",
    "DealUpdate",
    "Disconnected",
    "Fill",
    "LastPrice",
    "Level",
    "MarketBook",
    "OrderRejected",
    "OrderTicket",
    "OrderUpdate",
    "OrderView",
    "PapertradeError",
    "Param",
    "RunResult",
    "Scenario",
    "Side",
    "Strategy",
    "StrategyError",
    "Subscribed",
    "Ticker",
    "Trade",
    "TradeArrays",
    "check_codec",
    "from_float",
    "interval_ns",
    "param",
    "parse",
    "quantize",
    "run_strategy",
    "size_known",
    "step",
    "sweep",
]
