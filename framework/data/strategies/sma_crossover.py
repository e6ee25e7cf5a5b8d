"""SMA crossover on closed bars: in when the fast average crosses above the slow, flat when below.

Run it on the bundled eight hours of 1-minute BTC/USDT bars::

    papertrade run strategies/sma_crossover.py --replay replays/finazon-btc-usdt-bars.jsonl.gz
    papertrade run strategies/sma_crossover.py --replay replays/finazon-btc-usdt-bars.jsonl.gz \
        --set fast=5 --set slow=20 --set stake=2000

or on your own history, imported once::

    papertrade import-csv my-btc.csv --symbol BTC/USDT --interval 1m --out my-btc.jsonl.gz
    papertrade run strategies/sma_crossover.py --replay my-btc.jsonl.gz

or on a feed of trades, with bars built from them (``bar_interval``)::

    papertrade run strategies/sma_crossover.py --replay replays/cryptomus-btc-usdt.jsonl.gz \
        --set bar_interval=15s --set fast=3 --set slow=8

On each closed bar of ``instrument`` it compares the simple moving averages of the last
``fast`` and ``slow`` closes with the same averages one bar earlier. When the fast one crosses
above the slow one while flat, it buys ``stake`` worth (quote currency) at market; when it
crosses below while in, it sells the whole position at market. So it is always either fully
in or flat. With bars only, the paper exchange fills a market order at the next bar's open: a
bar is known only once it has closed.

It must not trade on a bar still forming (``on_bar_update``) or hold more than one entry.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from framework import Bar, ConfigError, Strategy, interval_ns, param

__all__ = ["SmaCrossover"]


class SmaCrossover(Strategy):
    """Long-only SMA crossover with market orders, always fully in or flat."""

    instrument = param("BTC/USDT", help="canonical instrument id whose bars are traded")
    fast = param(10, help="fast SMA length, in bars")
    slow = param(30, help="slow SMA length, in bars")
    stake = param("1000", help="quote amount (USDT) spent on each entry")
    bar_interval = param(
        "", help="build bars of this interval from trades (1m, 5m...); empty: the feed's bars"
    )

    def on_start(self) -> None:
        """Check the parameters before the first bar."""
        if not 0 < self.fast < self.slow:
            raise ConfigError(
                f"SmaCrossover needs 0 < fast < slow, got {self.fast} and {self.slow}"
            )
        try:
            self._stake = Decimal(self.stake)
        except InvalidOperation:
            raise ConfigError(f"SmaCrossover stake {self.stake!r} is not a number") from None
        if self.bar_interval:
            self.subscribe_bars(self.instrument, self.bar_interval)

    def on_bar(self, bar: Bar) -> None:
        """Act on the cross, if this bar made one."""
        if bar.instrument != self.instrument or (
            self.bar_interval and bar.interval_ns != interval_ns(self.bar_interval)
        ):
            return
        closes = self.bars(self.instrument, self.slow + 1, interval=self.bar_interval or None).close
        if len(closes) <= self.slow:
            return  # the slow average needs ``slow`` closes, and one bar before it as well
        fast_now, slow_now = closes[-self.fast :].mean(), closes[-self.slow :].mean()
        fast_was, slow_was = closes[-self.fast - 1 : -1].mean(), closes[-self.slow - 1 : -1].mean()
        if self.open_orders(self.instrument):
            return  # the last order waits for the next bar's open
        held = self.position(self.instrument)
        if held == 0 and fast_was <= slow_was and fast_now > slow_now:
            self.buy_market(self.instrument, value=self._stake)
        elif held > 0 and fast_was >= slow_was and fast_now < slow_now:
            self.sell_market(self.instrument, held)
