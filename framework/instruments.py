"""One canonical instrument id across providers, and each provider's native spelling of it.

Canonical ids:

==========================  ====================  ===========================================
kind                        canonical             natives
==========================  ====================  ===========================================
crypto and forex pairs      ``BTC/USDT``          Cryptomus ``BTC_USDT``, AllTick ``BTCUSDT``,
                                                  Finazon ``BTC/USDT``; forex ``EURUSD``
US stocks                   ``AAPL.US``           AllTick ``AAPL.US``, Finazon ``AAPL``
HK, Shanghai, Shenzhen      ``700.HK``            AllTick ``700.HK`` (also ``HK-700``),
                            ``600519.SH``         ``600519.SH``, ``000627.SZ``
metals, energy, indices     ``GOLD``              AllTick ``GOLD``, ``Silver``, ``USOIL``
==========================  ====================  ===========================================

AllTick writes pairs without a separator, so a pair is split at a known quote currency
(longest match first: ``USDT`` before ``USD``), and six letters with no known quote split 3/3.
Pure functions; no I/O.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "FINAZON_STOCK_DATASETS",
    "QUOTE_CURRENCIES",
    "from_alltick",
    "from_cryptomus",
    "from_finazon",
    "is_stock",
    "to_alltick",
    "to_cryptomus",
    "to_finazon",
]

# Longest first: the first suffix that matches wins.
QUOTE_CURRENCIES: Final = (
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDD", "DAI",
    "USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "CNH", "HKD", "SGD", "TRY",
    "BTC", "ETH", "BNB", "TRX",
)  # fmt: skip
FINAZON_STOCK_DATASETS: Final = frozenset({"sip_pro", "sip_non_pro", "us_stocks_essential"})
_STOCK: Final = re.compile(r"^[A-Z0-9][A-Z0-9.\-]*\.(US|HK|SH|SZ)$")
_HK_DASH: Final = re.compile(r"^HK-(\d+)$")
_PAIR: Final = re.compile(r"^[A-Z0-9]+/[A-Z0-9]+$")


def is_stock(instrument: str) -> bool:
    """True for a canonical stock id (``AAPL.US``, ``700.HK``, ``600519.SH``)."""
    return _STOCK.match(instrument) is not None


def from_cryptomus(symbol: str) -> str:
    """``BTC_USDT`` -> ``BTC/USDT``."""
    return symbol.replace("_", "/", 1)


def to_cryptomus(instrument: str) -> str:
    """``BTC/USDT`` -> ``BTC_USDT``."""
    return instrument.replace("/", "_", 1)


def from_finazon(ticker: str, dataset: str = "") -> str:
    """``BTC/USDT`` stays; a US-stock dataset's bare ``AAPL`` becomes ``AAPL.US``."""
    if "/" in ticker or is_stock(ticker):
        return ticker
    if dataset in FINAZON_STOCK_DATASETS or dataset == "":
        return f"{ticker}.US"
    return ticker


def to_finazon(instrument: str) -> str:
    """``AAPL.US`` -> ``AAPL``; pairs stay as they are."""
    return instrument[:-3] if instrument.endswith(".US") else instrument


def from_alltick(code: str) -> str:
    """``BTCUSDT`` -> ``BTC/USDT``, ``EURUSD`` -> ``EUR/USD``, ``HK-1288`` -> ``1288.HK``."""
    dash = _HK_DASH.match(code)
    if dash:
        return f"{dash.group(1)}.HK"
    if is_stock(code) or not code.isalnum() or not code.isupper():
        return code  # stocks and mixed-case commodities (``Silver``) are their own id
    for quote in QUOTE_CURRENCIES:
        if code.endswith(quote) and len(code) > len(quote):
            return f"{code[: -len(quote)]}/{quote}"
    if len(code) == 6 and code.isalpha():
        return f"{code[:3]}/{code[3:]}"
    return code  # GOLD, USOIL, NGAS


def to_alltick(instrument: str) -> str:
    """``BTC/USDT`` -> ``BTCUSDT``; stocks and commodities are unchanged."""
    return instrument.replace("/", "") if _PAIR.match(instrument) else instrument
