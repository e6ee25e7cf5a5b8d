"""Renderers: market-model happenings in, provider push frames out, as exact wire text.

One renderer per provider, each for one instrument in the provider's native spelling. A
renderer is fed the happenings of :meth:`framework.emulators.market.MarketModel.advance_to`
in order and returns :class:`WireFrame` s stamped with the event time they describe. The
provider codecs' own wire Structs encode every frame where their field order is the
documented one; Cryptomus updates get a documented-order envelope here (the codec's tagged
Structs would write ``method`` before ``id``).

Choices the documentation leaves open, made here:

* **Cryptomus.** Prints of one aggressive order (one time) share a ``trade_update``; a
  ``lastprice_update`` follows each. The first ``depth_update`` (and the first after
  :meth:`CryptomusRenderer.reset`) is ``full_reload: true`` with the whole visible book, later
  ones carry only changed levels, ``"0"`` for a removed one.
* **AllTick.** One 22998 per print; a 22999 with the top ``depth_levels`` per book change;
  ``seq`` counts pushes per code from 1. Forex: no ``turnover``, ``trade_direction`` 0, and
  book levels **without** a ``volume`` key (the docs say "only price, no volume"; the AllTick
  codec reads an absent volume as size unknown).
* **Finazon.** A bar frame every ``frequency`` while the minute forms, plus one at the minute's
  end with the final values and the same ``t``: the codec then closes the bar with exactly
  those values when the next minute's first frame arrives.

Decimal strings are plain (no exponent, no trailing zeros). This module must not keep time,
draw random numbers or touch a socket.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from decimal import Context, Decimal
from typing import Final, Literal

import msgspec

from framework.emulators.market import BarState, BookChange, Happening, TickerStats, TradePrint
from framework.errors import ConfigError
from framework.providers import alltick, cryptomus, finazon

__all__ = [
    "CRYPTOMUS_CHANNELS",
    "AllTickRenderer",
    "CryptomusRenderer",
    "FinazonRenderer",
    "WireFrame",
    "acknowledge",
    "plain",
]

_NS: Final = 1_000_000_000
_MS: Final = 1_000_000
_ENCODER: Final = msgspec.json.Encoder()
_CTX: Final = Context(prec=50)
_FREQUENCY_NS: Final = {"1s": _NS, "10s": 10 * _NS, "1m": 60 * _NS}
CRYPTOMUS_CHANNELS: Final = ("trades", "book", "ticker", "last_price")


class WireFrame(msgspec.Struct, frozen=True, gc=False):
    """One server frame and the event time of what it reports."""

    ts_ns: int
    text: str


class _Update(msgspec.Struct, frozen=True, gc=False):
    # The documented envelope of every Cryptomus update, in the documented key order.
    id: int
    method: str
    data: cryptomus.TradeData | cryptomus.DepthData | cryptomus.TickerData | cryptomus.LastPriceData
    error: None = None


def plain(value: Decimal) -> str:
    """A Decimal as providers write numbers in strings: ``"107152.55"``, ``"0.3"``, ``"0"``."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


class CryptomusRenderer:
    """``trade_update``, ``lastprice_update``, ``depth_update`` and ``ticker_update`` frames.

    Args:
        symbol: the market, ``"BTC_USDT"``.
        scale_index: the depth scale the book is published at.
        channels: the framework channels to render (all four by default).
    """

    def __init__(
        self, symbol: str, *, scale_index: int = 0, channels: Collection[str] = CRYPTOMUS_CHANNELS
    ) -> None:
        self.symbol = symbol
        self.scale_index = scale_index
        self.channels = frozenset(channels)
        self._reloaded = False

    def reset(self) -> None:
        """A new subscriber: the next book frame is a full reload again."""
        self._reloaded = False

    def render(self, happenings: Sequence[Happening]) -> list[WireFrame]:
        """Frames for ``happenings``, in order."""
        out: list[WireFrame] = []
        burst: list[TradePrint] = []
        for item in happenings:
            if burst and not (isinstance(item, TradePrint) and item.ts_ns == burst[0].ts_ns):
                self._trades(burst, out)
                burst = []
            if isinstance(item, TradePrint):
                burst.append(item)
            elif isinstance(item, BookChange) and "book" in self.channels:
                out.append(self._depth(item))
            elif isinstance(item, TickerStats) and "ticker" in self.channels:
                out.append(self._ticker(item))
        if burst:
            self._trades(burst, out)
        return out

    def _trades(self, burst: list[TradePrint], out: list[WireFrame]) -> None:
        ts_ns = burst[0].ts_ns
        seconds = ts_ns // _NS
        if "trades" in self.channels:
            items = [
                cryptomus.TradeItem(_number(t.price), _number(t.size), seconds, t.side)
                for t in burst
            ]
            data = cryptomus.TradeData(self.symbol, seconds, items)
            out.append(self._frame(ts_ns, "trade_update", data))
        if "last_price" in self.channels:
            last = cryptomus.LastPriceData(self.symbol, seconds, plain(burst[-1].price))
            out.append(self._frame(ts_ns, "lastprice_update", last))

    def _depth(self, change: BookChange) -> WireFrame:
        full = not self._reloaded
        self._reloaded = True
        asks, bids = (
            (change.asks, change.bids) if full else (change.changed_asks, change.changed_bids)
        )
        data = cryptomus.DepthData(
            self.symbol, change.ts_ns // _NS, full, self.scale_index, _pairs(asks), _pairs(bids)
        )
        return self._frame(change.ts_ns, "depth_update", data)

    def _ticker(self, stats: TickerStats) -> WireFrame:
        data = cryptomus.TickerData(
            self.symbol, stats.ts_ns // _NS, plain(stats.price), plain(stats.open),
            plain(stats.high), plain(stats.low), plain(stats.volume), plain(stats.quote_volume),
            format(stats.price_change, "f"),
        )  # fmt: skip
        return self._frame(stats.ts_ns, "ticker_update", data)

    @staticmethod
    def _frame(ts_ns: int, method: str, data: object) -> WireFrame:
        update = _Update(0, method, data)  # type: ignore[arg-type]
        return WireFrame(ts_ns, _ENCODER.encode(update).decode())


class AllTickRenderer:
    """22998 trade pushes and 22999 book snapshots.

    Args:
        code: the product code, ``"BTCUSDT"``, ``"EURUSD"``.
        depth_levels: levels per side in a book push (crypto 5, forex 1).
        forex: forex conventions: no turnover, direction 0, prices without volumes.
        string_times: write ``seq`` and ``tick_time`` as strings, as the older docs show.
        channels: ``"trades"`` and/or ``"book"`` (both by default).
    """

    def __init__(
        self,
        code: str,
        *,
        depth_levels: int = 5,
        forex: bool = False,
        string_times: bool = False,
        channels: Collection[str] = ("trades", "book"),
    ) -> None:
        if depth_levels < 1:
            raise ConfigError(f"AllTick depth_levels {depth_levels} must be at least 1")
        self.code = code
        self.depth_levels = depth_levels
        self.forex = forex
        self.string_times = string_times
        self.channels = frozenset(channels)
        self._seq = 0

    def render(self, happenings: Sequence[Happening]) -> list[WireFrame]:
        """Frames for ``happenings``, in order."""
        out: list[WireFrame] = []
        for item in happenings:
            if isinstance(item, TradePrint) and "trades" in self.channels:
                out.append(self._trade(item))
            elif isinstance(item, BookChange) and "book" in self.channels:
                out.append(self._book(item))
        return out

    def _trade(self, t: TradePrint) -> WireFrame:
        seq, tick_time = self._stamp(t.ts_ns)
        tick = alltick.TradeTick(
            code=self.code,
            seq=seq,
            tick_time=tick_time,
            price=plain(t.price),
            volume=plain(t.size),
            turnover=msgspec.UNSET if self.forex else plain(_CTX.multiply(t.price, t.size)),
            trade_direction=0 if self.forex else (1 if t.side == "buy" else 2),
        )
        return WireFrame(t.ts_ns, _ENCODER.encode(alltick.TradeTickPush(tick)).decode())

    def _book(self, change: BookChange) -> WireFrame:
        seq, tick_time = self._stamp(change.ts_ns)
        book = alltick.OrderBook(
            self.code, seq, tick_time, self._levels(change.bids), self._levels(change.asks)
        )
        return WireFrame(change.ts_ns, _ENCODER.encode(alltick.OrderBookPush(book)).decode())

    def _levels(self, levels: Sequence[tuple[Decimal, Decimal]]) -> tuple[alltick.PriceLevel, ...]:
        top = levels[: self.depth_levels]
        if self.forex:
            return tuple(alltick.PriceLevel(plain(price)) for price, _ in top)
        return tuple(alltick.PriceLevel(plain(price), plain(size)) for price, size in top)

    def _stamp(self, ts_ns: int) -> tuple[int | str, int | str]:
        self._seq += 1
        ms = ts_ns // _MS
        return (str(self._seq), str(ms)) if self.string_times else (self._seq, ms)


class FinazonRenderer:
    """Bar frames for one ticker at one push frequency.

    Args:
        ticker: the native ticker, ``"BTC/USDT"``.
        dataset: the dataset code written as ``d`` (and as ``p`` unless ``publisher`` is given).
        frequency: ``"1s"``, ``"10s"`` or ``"1m"``; the model must publish the forming bar at
            least this often.
        publisher: ``p``, when it differs from the dataset (``"finazon"`` for
            ``us_stocks_essential``).
    """

    def __init__(
        self,
        ticker: str,
        *,
        dataset: str = "kucoin",
        frequency: Literal["1s", "10s", "1m"] = "10s",
        publisher: str = "",
    ) -> None:
        if frequency not in _FREQUENCY_NS:
            raise ConfigError(f"Finazon frequency {frequency!r} is not one of 1s, 10s, 1m")
        self.ticker = ticker
        self.dataset = dataset
        self.frequency = frequency
        self.publisher = publisher or dataset
        self._every_ns = _FREQUENCY_NS[frequency]

    def render(self, happenings: Sequence[Happening]) -> list[WireFrame]:
        """Frames for ``happenings``, in order: the bar states due at this frequency."""
        return [
            self._bar(item)
            for item in happenings
            if isinstance(item, BarState)
            and (item.closed or (item.ts_ns - item.open_ns) % self._every_ns == 0)
        ]

    def _bar(self, bar: BarState) -> WireFrame:
        candle = finazon.CandleUpdate(
            d=self.dataset, p=self.publisher, ch="bars", f=self.frequency, aggr="1m",
            s=self.ticker, t=bar.open_ns // _NS, o=_number(bar.open), h=_number(bar.high),
            l=_number(bar.low), c=_number(bar.close), v=_number(bar.volume),
        )  # fmt: skip
        return WireFrame(bar.ts_ns, _ENCODER.encode(candle).decode())


def acknowledge(provider: str, request: str) -> str:
    """The server's success reply to one subscribe request, as the provider documents it.

    Args:
        provider: ``"cryptomus"``, ``"alltick"`` or ``"finazon"``.
        request: the request text, as the provider's codec wrote it.

    Raises:
        ConfigError: an unknown provider, or a request that is not a subscription.
        ProviderProtocolError: an AllTick or Finazon request its codec cannot decode.
    """
    if provider == "cryptomus":
        try:
            sent = msgspec.json.decode(request, type=cryptomus.Request)
        except msgspec.DecodeError as exc:
            raise ConfigError(f"cryptomus: not a request: {request}") from exc
        if not sent.method.endswith("_subscribe"):
            raise ConfigError(f"cryptomus: not a subscription: {request}")
        reply = cryptomus.Reply(sent.id, sent.method, cryptomus.AckData("success"), None)
        return _ENCODER.encode(reply).decode()
    if provider == "alltick":
        return _alltick_ack(alltick.decode_request(request))
    if provider == "finazon":
        got = finazon.decode_request(request)
        if not isinstance(got, finazon.Subscribe):
            raise ConfigError(f"finazon: not a subscription: {request}")
        success = finazon.SuccessReply(
            status="success", code="SUCCESS_SUBSCRIPTION", data=got.tickers,
            request_id=got.request_id,
        )  # fmt: skip
        return _ENCODER.encode(success).decode()
    raise ConfigError(f"no renderer for provider {provider!r}")


def _alltick_ack(request: alltick.Request) -> str:
    reply: alltick.DepthSubscribeReply | alltick.TradeSubscribeReply
    if isinstance(request, alltick.DepthSubscribe):
        reply = alltick.DepthSubscribeReply(alltick.RET_OK, "ok", request.seq_id, request.trace)
    elif isinstance(request, alltick.TradeSubscribe):
        reply = alltick.TradeSubscribeReply(alltick.RET_OK, "ok", request.seq_id, request.trace)
    else:
        raise ConfigError(f"alltick: not a subscription: {request}")
    return _ENCODER.encode(reply).decode()


def _number(value: Decimal) -> float:
    # A JSON number as the documented examples write one: 4572, not 4572.0 (ints are floats
    # to the codec's Structs, and msgspec writes an int without the ".0").
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _pairs(levels: Sequence[tuple[Decimal, Decimal]]) -> list[tuple[str, str]]:
    return [(plain(price), plain(size)) for price, size in levels]
