"""Trade momentum: buy when recent trades lean to the buy side; sell after a while or on reversal.

Run it on the bundled Cryptomus or AllTick recording (both carry BTC/USDT trades)::

    papertrade run strategies/trade_momentum.py --replay replays/cryptomus-btc-usdt.jsonl.gz
    papertrade run strategies/trade_momentum.py --replay replays/alltick-btcusdt.jsonl.gz \
        --set window_s=5 --set threshold=0.7 --set hold_s=20

The signal is the order-flow imbalance of the last ``window_s`` seconds of trades: buyer-
initiated size minus seller-initiated size, over all size, from -1 (all sells) to +1 (all
buys). Once at least ``min_trades`` trades are in the window, an imbalance above
``threshold`` while flat buys ``stake`` worth (quote currency) at market, and sets a timer.
The position is sold at market when the timer fires ``hold_s`` seconds later, or earlier if
the imbalance reverses below ``-threshold``. Trades whose aggressor is not known (AllTick
forex, direction 0) count as volume on neither side.

It must not hold more than one entry, nor act while its last order is still open.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from framework import NS_PER_SECOND, ConfigError, Strategy, Trade, param

__all__ = ["TradeMomentum"]


class TradeMomentum(Strategy):
    """Long-only order-flow momentum, exiting by timer or on reversal."""

    bar_history = 0  # it reads only trades

    instrument = param("BTC/USDT", help="canonical instrument id whose trades are traded")
    window_s = param(10.0, help="length of the signal window, in seconds")
    threshold = param(0.6, help="imbalance (-1..1) that triggers an entry; its negative, an exit")
    min_trades = param(5, help="trades needed in the window before the signal counts")
    hold_s = param(30.0, help="seconds after an entry when the position is sold")
    stake = param("500", help="quote amount (USDT) spent on each entry")

    def on_start(self) -> None:
        """Check the parameters."""
        if not 0 < self.threshold <= 1:
            raise ConfigError(f"TradeMomentum threshold must be in (0, 1], got {self.threshold}")
        try:
            self._stake = Decimal(self.stake)
        except InvalidOperation:
            raise ConfigError(f"TradeMomentum stake {self.stake!r} is not a number") from None
        self._entries = 0  # names each entry's exit timer, so a stale timer is recognised

    def on_trade(self, trade: Trade) -> None:
        """Enter on a strong buy imbalance; exit early on a strong sell imbalance."""
        if trade.instrument != self.instrument or self.open_orders(self.instrument):
            return
        signal = self.imbalance(trade.ts_event_ns)
        if signal is None:
            return
        held = self.position(self.instrument)
        if held == 0 and signal > self.threshold:
            self.buy_market(self.instrument, value=self._stake)
            self._entries += 1
            self.set_timer(
                f"exit-{self._entries}", self.now_ns + round(self.hold_s * NS_PER_SECOND)
            )
        elif held > 0 and signal < -self.threshold:
            self.sell_market(self.instrument, held)

    def on_timer(self, name: str, ts_ns: int) -> None:
        """The holding time of the latest entry is up: sell what is held."""
        held = self.position(self.instrument)
        if name == f"exit-{self._entries}" and held > 0 and not self.open_orders(self.instrument):
            self.sell_market(self.instrument, held)

    def imbalance(self, now_ns: int) -> float | None:
        """Signed over total size of the trades in the window ending at ``now_ns``, or None
        while the window holds fewer than ``min_trades`` trades (or no size)."""
        trades = self.trades(self.instrument)
        cutoff = now_ns - round(self.window_s * NS_PER_SECOND)
        recent = trades.ts_ns > cutoff
        if int(recent.sum()) < self.min_trades:
            return None
        sizes = trades.size[recent]
        total = float(sizes.sum())
        return float((sizes * trades.side[recent]).sum()) / total if total > 0 else None
