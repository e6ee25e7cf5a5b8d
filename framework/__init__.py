"""papertrade: paper trading and deterministic replay backtests on live market-data feeds."""

from __future__ import annotations

__all__: list[str] = []
__version__ = "0.1.0"
