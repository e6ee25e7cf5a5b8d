"""A market for any instrument: the preset when one exists, else one derived from its id.

The emulators serve every well-formed symbol, not only a fixed list. An instrument without a
preset (``framework.emulators.market.PRESETS``) gets :class:`MarketParams` derived from its
canonical id alone, so the same id is the same market on every run and every machine:

* the asset class comes from the id's shape: ``AAPL.US`` (US stock), ``700.HK`` (Hong Kong),
  ``600519.SH`` / ``000627.SZ`` (A-share), a pair of currencies (forex), a pair with a crypto
  side (crypto), a known commodity code (``GOLD``, ``Silver``, ``USOIL``...), anything else on
  AllTick's forex endpoint (a commodity or an index);
* the price level is plausible for that class: a currency pair's cross of approximate USD
  rates, a known coin's or commodity's approximate level, otherwise a log-uniform draw, from
  the id's crc32, over the class's range (US stocks 10 to 500, HK 1 to 500, A-shares 5 to 200,
  unknown coins 0.05 to 50...);
* tick and size step follow the class: cents for US and A-shares, Hong Kong's tick ladder,
  five decimals for forex (three for yen), about six significant digits for crypto.

The levels are round figures of mid-2025, for plausibility only; nothing here claims a price.

Pure functions; no I/O, no clock, no unseeded randomness.
"""

from __future__ import annotations

import math
import zlib
from decimal import Decimal
from typing import Final

from framework.emulators.market import PRESETS, MarketParams

__all__ = ["asset_class", "params_for"]

# Approximate USD value of one unit, for pairs of known currencies and coins.
_USD: Final[dict[str, float]] = {
    "USD": 1.0, "USDT": 1.0, "USDC": 1.0, "BUSD": 1.0, "FDUSD": 1.0, "TUSD": 1.0, "USDD": 1.0,
    "DAI": 1.0, "EUR": 1.0725, "GBP": 1.27, "JPY": 0.0067, "CHF": 1.12, "CAD": 0.73,
    "AUD": 0.66, "NZD": 0.60, "CNH": 0.138, "CNY": 0.138, "HKD": 0.128, "SGD": 0.74,
    "TRY": 0.03, "SEK": 0.095, "NOK": 0.094, "MXN": 0.055, "ZAR": 0.055,
    "BTC": 107_100.0, "ETH": 2430.0, "SOL": 150.0, "BNB": 650.0, "XRP": 2.2, "TRX": 0.27,
    "DOGE": 0.17, "ADA": 0.6, "LTC": 85.0, "TON": 3.0, "DOT": 4.0, "AVAX": 18.0,
    "LINK": 13.0, "MATIC": 0.2, "SHIB": 0.000012, "BCH": 480.0, "XMR": 320.0,
}  # fmt: skip
_FIAT: Final = frozenset(
    {"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "CNH", "CNY", "HKD", "SGD", "TRY",
     "SEK", "NOK", "MXN", "ZAR"}
)  # fmt: skip
# AllTick's commodity and metal codes (protocols.md 1.8), by level.
_COMMODITIES: Final[dict[str, float]] = {
    "GOLD": 2330.0, "XAUUSD": 2330.0, "Silver": 29.5, "SILVER": 29.5, "XAGUSD": 29.5,
    "USOIL": 75.0, "UKOIL": 79.0, "NGAS": 2.8, "COPPER": 4.5, "Platinum": 980.0,
    "Palladium": 1000.0,
}  # fmt: skip
_RANGES: Final[dict[str, tuple[float, float]]] = {
    "us_stock": (10.0, 500.0),
    "hk_stock": (1.0, 500.0),
    "cn_stock": (5.0, 200.0),
    "crypto": (0.05, 50.0),
    "forex": (0.5, 2.0),
    "commodity": (10.0, 5000.0),
}
_VOLATILITY: Final = {"crypto": 0.8e-4, "forex": 1.5e-5, "commodity": 3e-5}
_HK_TICKS: Final = ((0.25, "0.001"), (0.5, "0.005"), (10, "0.01"), (20, "0.02"), (100, "0.05"),
                    (200, "0.1"), (500, "0.2"), (1000, "0.5"))  # fmt: skip


def asset_class(instrument: str) -> str:
    """``us_stock``, ``hk_stock``, ``cn_stock``, ``forex``, ``crypto`` or ``commodity``."""
    if instrument.endswith(".US"):
        return "us_stock"
    if instrument.endswith(".HK"):
        return "hk_stock"
    if instrument.endswith((".SH", ".SZ")):
        return "cn_stock"
    base, slash, quote = instrument.partition("/")
    if slash:
        return "forex" if base in _FIAT and quote in _FIAT else "crypto"
    return "commodity"


def params_for(instrument: str) -> MarketParams:
    """The preset for ``instrument`` (a canonical id), else a market derived from the id."""
    preset = PRESETS.get(instrument)
    if preset is not None:
        return preset
    kind = asset_class(instrument)
    price = _level(instrument, kind)
    tick = _tick(kind, price, instrument)
    start = tick * max(1, round(Decimal(repr(price)) / tick))  # on the grid, even a 0.05 one
    if kind in ("us_stock", "hk_stock", "cn_stock"):
        lot = Decimal(1) if kind == "us_stock" else Decimal(100)
        return MarketParams(
            instrument=instrument, tick=tick, size_step=lot, start_price=start,
            vol_per_sqrt_s=1.0e-4, trade_rate=3.0, trade_size_median=60.0 * float(lot),
            book_levels=10, level_gap_ticks=1.5, level_size_median=400.0 * float(lot),
        )  # fmt: skip
    if kind == "forex":
        return MarketParams(
            instrument=instrument, tick=tick, size_step=Decimal(1000), start_price=start,
            vol_per_sqrt_s=_VOLATILITY[kind], trade_rate=4.0, trade_size_median=100_000.0,
            side_bias=0.0, book_levels=1, spread_ticks_max=2, level_gap_ticks=1.0,
            level_size_median=2_000_000.0,
        )  # fmt: skip
    # Crypto and commodities: about 200 USD a trade, books a few basis points deep.
    trade = 200.0 / (price * _USD.get(instrument.partition("/")[2], 1.0))
    size_step = Decimal(1).scaleb(min(0, math.floor(math.log10(trade)) - 2))
    return MarketParams(
        instrument=instrument, tick=tick, size_step=size_step, start_price=start,
        vol_per_sqrt_s=_VOLATILITY[kind], trade_size_median=trade,
        level_gap_ticks=max(1.0, price * 2e-5 / float(tick)), level_size_median=20.0 * trade,
    )  # fmt: skip


def _level(instrument: str, kind: str) -> float:
    if kind == "commodity" and instrument in _COMMODITIES:
        return _COMMODITIES[instrument]
    base, _, quote = instrument.partition("/")
    if base in _USD and quote in _USD:
        return _USD[base] / _USD[quote]
    low, high = _RANGES[kind]
    if kind == "crypto" and quote in _USD and quote not in _FIAT:
        low, high = low / _USD[quote], high / _USD[quote]  # priced in a coin: ETH/BTC
    draw = zlib.crc32(instrument.encode("utf-8")) / 0xFFFF_FFFF
    return float(low * (high / low) ** draw)


def _tick(kind: str, price: float, instrument: str) -> Decimal:
    if kind in ("us_stock", "cn_stock"):
        return Decimal("0.01")
    if kind == "hk_stock":
        return Decimal(next((t for top, t in _HK_TICKS if price < top), "1"))
    if kind == "forex":
        return Decimal("0.001") if instrument.endswith("/JPY") else Decimal("0.00001")
    # About six significant digits, never coarser than a cent.
    return Decimal(1).scaleb(min(-2, math.floor(math.log10(price)) - 5))
