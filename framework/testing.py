"""The user test kit: run a strategy on a recording or a scripted scenario, under plain pytest.

A strategy test reads like the market it scripts. :class:`Scenario` writes trades and books as
Cryptomus frames and bars as Finazon frames, exactly as those providers send them, so the run
goes through the real codecs, loop and paper exchange; nothing is mocked::

    from framework.testing import Scenario, run_strategy

    def test_buys_on_the_first_up_tick(tmp_path):
        scenario = (
            Scenario("BTC/USDT")
            .book(0, bids=[(100.0, 1.0)], asks=[(100.5, 1.0)])
            .trade(1, 100.5, 0.01, "buy")
        )
        result = run_strategy(MyStrategy, scenario, params={"size": "0.001"}, tmp_path=tmp_path)
        result.assert_no_rejections()
        assert [(f.direction, f.price) for f in result.fills] == [("buy", Decimal("100.5"))]

:func:`run_strategy` also takes a recording path (``replays/...``), a config and parameters,
and returns a :class:`RunResult`: the private events, orders, fills, final balances, rejections
and the run summary, plus the strategy instances themselves. :func:`check_codec` is the
conformance check every provider codec passes (as trio's ``check_one_way_stream`` is for
streams).

Scenario times are seconds after the scenario's start (2025-06-26 16:00:00 UTC unless given).
This module must not read the wall clock or use unseeded randomness; it writes only under the
directory it is given (or a temporary one it removes).
"""

from __future__ import annotations

import csv
import inspect
import json
import tempfile
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, get_args

import msgspec

from framework import events as ev
from framework.config import Config, load_config
from framework.errors import ConfigError, ProviderProtocolError
from framework.importcsv import BarRow, bar_frames, finazon_names, parse_interval
from framework.instruments import to_cryptomus
from framework.providers.base import Ack, Channel, Codec, Decoded, ErrorReply, Pong, Subscription
from framework.recording import (
    FORMAT,
    VERSION,
    ConnectedLine,
    DisconnectedLine,
    Frame,
    Header,
    Line,
    ProviderSpec,
    RecordingWriter,
    Tick,
)
from framework.redact import redact
from framework.run import RunSetup, replay_engine, sha256_file
from framework.strategy import Strategy

__all__ = ["DEFAULT_START_S", "Fill", "RunResult", "Scenario", "check_codec", "run_strategy"]

DEFAULT_START_S: Final = 1_750_953_600  # 2025-06-26 16:00:00 UTC, as the bundled recordings
_NS: Final = 1_000_000_000
_ENCODER: Final = msgspec.json.Encoder()
_PRIVATE: Final[dict[str, msgspec.json.Decoder[Any]]] = {
    "order_update": msgspec.json.Decoder(ev.OrderUpdate),
    "deal_update": msgspec.json.Decoder(ev.DealUpdate),
    "balance_update": msgspec.json.Decoder(ev.BalanceUpdate),
    "order_rejected": msgspec.json.Decoder(ev.OrderRejected),
}
_DECODED: Final = get_args(Decoded)  # every event and control reply type, flattened
_MARKET: Final = get_args(ev.MarketEvent)
_GARBAGE: Final[tuple[str | bytes, ...]] = (
    "", "not json", "{", "[]", "null", "42", '"text"', "{}", '{"unexpected":true}',
    b"\xff\xfe\x00", "\ud800", "[" * 5000 + "]" * 5000,
)  # fmt: skip
_MUTANTS: Final[tuple[object, ...]] = (None, "x", -1, 1.5, [], {})
_SECRET: Final = "conformance-secret-0123456789"

Number = float | int | str | Decimal


class _Method(msgspec.Struct):
    method: str  # which private frame a line of events.jsonl is


_METHOD: Final = msgspec.json.Decoder(_Method)
Levels = Sequence[tuple[Number, Number]]


class Fill(msgspec.Struct, frozen=True, kw_only=True):
    """One fill of one of the strategy's orders, as ``fills.csv`` records it (money exact)."""

    ts_ns: int  # when it filled, simulated time (whole seconds, as Cryptomus stamps deals)
    order_id: str
    deal_id: str
    symbol: str  # Cryptomus spelling, "BTC_USDT"
    direction: str  # "buy" | "sell"
    role: str  # "maker" | "taker"
    price: Decimal
    quantity: Decimal
    value: Decimal
    fee: Decimal
    fee_currency: str


class Scenario:
    """A short scripted market, written in the providers' own wire formats.

    Trades and books become Cryptomus ``trade_update`` and ``depth_update`` frames; bars become
    Finazon bar frames that close when the bar ends (as ``papertrade import-csv`` writes them).
    Items are delivered in time order, items at the same time in the order they were added.

    Args:
        instrument: the canonical id the items are about unless one names another.
        start_s: Unix seconds of time 0.
        bar_interval: the length of the bars :meth:`bar` adds.
    """

    def __init__(
        self,
        instrument: str = "BTC/USDT",
        *,
        start_s: int = DEFAULT_START_S,
        bar_interval: str = "1m",
    ) -> None:
        self.instrument = instrument
        self.start_ns = start_s * _NS
        self.bar_interval, self._bar_s = parse_interval(bar_interval)
        self._items: list[tuple[int, Line]] = []  # (seq, line) of everything but bars
        self._bars: dict[str, list[tuple[int, BarRow]]] = {}  # instrument -> (seq, bar)
        self._channels: dict[str, dict[Channel, None]] = {}  # cryptomus symbol -> channels used
        self._seq = 0  # order of adding: breaks ties between items at the same time

    # --- market data ------------------------------------------------------------------------------

    def trade(
        self, at: float, price: Number, size: Number, side: str = "buy", *, instrument: str = ""
    ) -> Scenario:
        """A trade printed at ``at`` seconds; ``side`` is the aggressor (``buy`` or ``sell``)."""
        return self.trades(at, [(price, size, side)], instrument=instrument)

    def trades(
        self, at: float, trades: Sequence[tuple[Number, Number, str]], *, instrument: str = ""
    ) -> Scenario:
        """Several trades (price, size, side) in one ``trade_update`` frame, oldest first."""
        ts_ns, symbol = self._at(at), self._symbol(instrument, "trades")
        sec = ts_ns // _NS
        items = [{"price": float(p), "quantity": float(q), "timestamp": sec, "direction": side}
                 for p, q, side in trades]  # fmt: skip
        data = {"symbol": symbol, "timestamp": sec, "trades": items}
        return self._frame(ts_ns, "trade_update", data)

    def book(self, at: float, bids: Levels, asks: Levels, *, instrument: str = "") -> Scenario:
        """The whole L2 book at ``at`` (a ``full_reload`` depth update): (price, size) levels."""
        return self._depth(at, bids, asks, instrument, full=True)

    def book_update(
        self, at: float, bids: Levels = (), asks: Levels = (), *, instrument: str = ""
    ) -> Scenario:
        """Changed book levels at ``at``; a size of 0 removes the level."""
        return self._depth(at, bids, asks, instrument, full=False)

    def bar(
        self,
        at: float,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float = 0.0,
        *,
        instrument: str = "",
    ) -> Scenario:
        """A bar opening at ``at`` (whole seconds); strategies get it when it closes.

        Raises:
            ConfigError: ``at`` is not a whole second, or the bar starts before the previous
                bar of its instrument ends.
        """
        ts_ns = self._at(at)
        if ts_ns % _NS:
            raise ConfigError(f"scenario bar at {at}: bars open on whole seconds")
        bars = self._bars.setdefault(instrument or self.instrument, [])
        row = BarRow(
            ts_ns // _NS, float(open), float(high), float(low), float(close), float(volume)
        )
        if bars and row.t < bars[-1][1].t + self._bar_s:
            raise ConfigError(f"scenario bar at {at} starts before the previous bar ends")
        bars.append((self._next_seq(), row))
        return self

    # --- connection and clock ---------------------------------------------------------------------

    def disconnect(
        self, at: float, provider: str = "cryptomus", reason: str = "scripted"
    ) -> Scenario:
        """The provider's connection drops at ``at`` (books become untrusted)."""
        return self._line(DisconnectedLine(self._at(at), provider, 1, reason))

    def connect(self, at: float, provider: str = "cryptomus") -> Scenario:
        """The provider's connection (re)opens at ``at``."""
        return self._line(ConnectedLine(self._at(at), provider, 1, f"wss://{provider}/scenario"))

    def tick(self, at: float) -> Scenario:
        """Move the clock to ``at`` with no market data, so timers due by then fire."""
        return self._line(Tick(self._at(at)))

    # --- output -----------------------------------------------------------------------------------

    def lines(self) -> list[Line]:
        """Every line of the recording after its header, in delivery order."""
        keyed: list[tuple[int, int, int, Line]] = [(ln.t, seq, 0, ln) for seq, ln in self._items]
        for instrument, bars in self._bars.items():
            ticker, dataset = finazon_names(instrument)
            rows = [row for _, row in bars]
            frames = list(bar_frames(rows, ticker, dataset, self.bar_interval, self._bar_s))
            for i, frame in enumerate(frames):
                keyed.append((frame.t, bars[i // 2][0], i % 2, frame))
        keyed.sort(key=lambda item: item[:3])
        return [line for *_, line in keyed]

    def header(self) -> Header:
        """The recording header: the providers the scenario's frames come from."""
        providers = []
        if self._channels:
            subs = tuple(Subscription(c, sym) for sym, chs in self._channels.items() for c in chs)
            providers.append(ProviderSpec("cryptomus", subs))
        for instrument in self._bars:
            ticker, dataset = finazon_names(instrument)
            sub = Subscription("bars", ticker, interval=self.bar_interval)
            providers.append(ProviderSpec("finazon", (sub,), {"dataset": dataset}))
        return Header(FORMAT, VERSION, tuple(providers), {"generator": "papertrade.testing"})

    def write(self, path: str | Path) -> Path:
        """Write the scenario as a recording; returns the path."""
        with RecordingWriter(path, self.header()) as writer:
            writer.write(self.lines())
        return Path(path)

    # --- plumbing ---------------------------------------------------------------------------------

    def _at(self, at: float) -> int:
        if at < 0:
            raise ConfigError(f"scenario time {at} is before the start (0)")
        return self.start_ns + round(at * _NS)

    def _symbol(self, instrument: str, channel: Channel) -> str:
        symbol = to_cryptomus(instrument or self.instrument)
        self._channels.setdefault(symbol, {})[channel] = None
        return symbol

    def _depth(
        self, at: float, bids: Levels, asks: Levels, instrument: str, full: bool
    ) -> Scenario:
        ts_ns, symbol = self._at(at), self._symbol(instrument, "book")
        data = {
            "symbol": symbol, "timestamp": ts_ns // _NS, "full_reload": full, "scale_index": 0,
            "asks": [[_text(p), _text(q)] for p, q in asks],
            "bids": [[_text(p), _text(q)] for p, q in bids],
        }  # fmt: skip
        return self._frame(ts_ns, "depth_update", data)

    def _frame(self, ts_ns: int, method: str, data: dict[str, Any]) -> Scenario:
        # Keys in the documented order: id, method, data, error.
        body = _ENCODER.encode({"id": 0, "method": method, "data": data, "error": None})
        return self._line(Frame(ts_ns, "cryptomus", 1, f=msgspec.Raw(body)))

    def _line(self, line: Line) -> Scenario:
        self._items.append((self._next_seq(), line))
        return self

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq


class RunResult:
    """What a strategy did in one run. Money is Decimal; lists are in event order.

    Attributes:
        strategies: the strategy instances, after ``on_stop`` (inspect their state freely).
        events: every private event, as the run's ``events.jsonl`` holds it.
        orders: each order's last known state (``OrderInfo``), in creation order.
        fills: every fill, with its order's direction.
        rejections: why each refused order or cancel was refused.
        balances: each currency's final total (available plus held), by currency code.
        available: each currency's final available amount.
        summary: the run's ``summary.json`` content (equity, return, counts, fingerprint).
        out_dir: the output directory, or None when it was temporary and is gone.
    """

    def __init__(
        self,
        strategies: list[Strategy],
        balances: dict[str, tuple[Decimal, Decimal]],
        positions: dict[str, Decimal],
        summary: dict[str, Any],
        out_dir: Path,
        keep: bool,
    ) -> None:
        self.strategies = strategies
        self.summary = summary
        self.events = _read_events(out_dir / "events.jsonl")
        self.fills = _read_fills(out_dir / "fills.csv")
        orders: dict[str, ev.OrderInfo] = {}
        for event in self.events:
            if isinstance(event, ev.OrderUpdate):
                orders[event.data.info.id] = event.data.info
        self.orders = list(orders.values())
        self.rejections = [e.data.info for e in self.events if isinstance(e, ev.OrderRejected)]
        self.balances = {cur: available + held for cur, (available, held) in balances.items()}
        self.available = {cur: available for cur, (available, _) in balances.items()}
        self._positions = positions
        self.out_dir = out_dir if keep else None

    @property
    def strategy(self) -> Strategy:
        """The (first) strategy instance."""
        return self.strategies[0]

    @property
    def buys(self) -> list[Fill]:
        """The buy fills."""
        return [f for f in self.fills if f.direction == "buy"]

    @property
    def sells(self) -> list[Fill]:
        """The sell fills."""
        return [f for f in self.fills if f.direction == "sell"]

    def position(self, instrument: str) -> Decimal:
        """The final total balance of the instrument's base currency (``BTC`` for BTC/USDT)."""
        return self._positions.get(instrument, Decimal(0))

    def assert_no_rejections(self) -> None:
        """Fail, listing them, if any order or cancel was refused."""
        if self.rejections:
            listed = "; ".join(f"{r.orderType} {r.direction} {r.symbol}: [{r.code}] {r.message}"
                               for r in self.rejections)  # fmt: skip
            raise AssertionError(f"{len(self.rejections)} rejected: {listed}")

    def assert_balance(self, currency: str, expected: Decimal | str) -> None:
        """Fail unless the final total of ``currency`` is exactly ``expected``."""
        actual = self.balances.get(currency, Decimal(0))
        if actual != Decimal(expected):
            raise AssertionError(
                f"{currency} balance is {actual}, expected {expected}\n{self.describe()}"
            )

    def describe(self) -> str:
        """The orders, fills and balances, one per line: a readable account of the run."""
        lines = [f"order {o.id} {o.orderType} {o.direction} {o.symbol} qty {o.quantity} "
                 f"filled {o.filledQuantity} {o.state or 'open'}" for o in self.orders]  # fmt: skip
        lines += [f"fill {f.direction} {f.quantity} @ {f.price} ({f.role}, fee {f.fee} "
                  f"{f.fee_currency})" for f in self.fills]  # fmt: skip
        lines += [f"rejected {r.direction} {r.orderType}: {r.message}" for r in self.rejections]
        lines += [f"balance {cur} {amount:f}" for cur, amount in self.balances.items()]
        return "\n".join(lines)


def run_strategy(
    strategy: type[Strategy] | Sequence[type[Strategy]],
    source: Scenario | str | Path,
    *,
    config: Config | str | Path | None = None,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    tmp_path: str | Path | None = None,
) -> RunResult:
    """Replay a recording or a scenario through strategies, as ``papertrade run`` does.

    Args:
        strategy: a Strategy class, or several (delivered to in that order).
        source: a :class:`Scenario`, or the path of a recording.
        config: a :class:`~framework.config.Config`, a TOML file, or None for the defaults.
        params: strategy parameters (``{"fast": 5}`` or ``{"SmaCrossover.fast": 5}``), applied
            over the config's.
        seed: seeds order ids.
        tmp_path: where the scenario recording and the run's output files go (pytest's
            ``tmp_path``); None uses a temporary directory removed before returning.

    Raises:
        ConfigError: a bad config or parameter, or a scenario whose frames did not decode.
        RecordingError: the recording cannot be read.
        StrategyError: a strategy callback raised.
    """
    classes = (strategy,) if isinstance(strategy, type) else tuple(strategy)
    if not isinstance(config, Config):
        config = load_config(config)
    if params:
        config = msgspec.structs.replace(config, params={**config.params, **params})
    setup = RunSetup(
        strategies=classes,
        strategy_sources={cls.__name__: _source_digest(cls) for cls in classes},
        config=config,
        seed=seed,
    )
    if tmp_path is not None:
        return _run(setup, source, Path(tmp_path), keep=True)
    with tempfile.TemporaryDirectory(prefix="papertrade-test-") as tmp:
        return _run(setup, source, Path(tmp), keep=False)


def check_codec(
    codec: Codec, frames: Sequence[str | bytes], subscriptions: Sequence[Subscription] = ()
) -> list[list[Decoded]]:
    """Check that a provider codec keeps the codec contract (``framework.providers.base``).

    With the provider's documented ``frames`` (in an order that makes sense as a stream), it
    checks that each decodes, in text, bytes and ``msgspec.Raw`` form alike and the same again
    after :meth:`reset`, into known event types stamped with the codec's name and the receive
    time; that garbage, truncated frames and frames with any one value swapped for a wrong type
    raise :class:`~framework.errors.ProviderProtocolError` naming the provider, or decode, and
    never raise anything else; that the heartbeat is JSON; and, given ``subscriptions``, that
    (un)subscribe requests are JSON and that the API key in the URL is redacted from logs.

    Returns:
        What each documented frame decoded to, for further assertions.

    Raises:
        AssertionError: the first broken promise, naming the codec and the frame.
    """
    name = getattr(codec, "name", None)
    _require(isinstance(name, str) and bool(name), codec, "has no registry name")
    first = _decode_all(codec, list(frames))
    for form in (lambda f: f.encode() if isinstance(f, str) else f, _raw):
        codec.reset()
        again = _decode_all(codec, [form(f) for f in frames])
        _require(again == first, codec, "decodes differently after reset() or as bytes/Raw")
    codec.reset()
    for frame in _broken(frames):
        _decode_or_refuse(codec, frame)
    codec.reset()
    _require_json(codec, [codec.heartbeat()], "heartbeat()")
    if subscriptions:
        _require_json(codec, codec.subscribe(subscriptions), "subscribe()")
        _require_json(codec, codec.unsubscribe(subscriptions), "unsubscribe()")
        url = codec.url(subscriptions, "", _SECRET)
        _require(url.startswith(("ws://", "wss://")), codec, f"url() is not a WebSocket URL: {url}")
        _require(_SECRET not in redact(url), codec, "url() puts the key where redaction misses it")
    codec.reset()
    return first


# --- running ------------------------------------------------------------------------------------


def _run(setup: RunSetup, source: Scenario | str | Path, work: Path, keep: bool) -> RunResult:
    recording = (
        source.write(work / "scenario.jsonl") if isinstance(source, Scenario) else Path(source)
    )
    out_dir = work / "out"
    summary, engine = replay_engine(setup, recording, out_dir)
    if isinstance(source, Scenario) and engine.stats.decode_errors:
        raise ConfigError(
            f"{engine.stats.decode_errors} scenario frame(s) did not decode (see the warning "
            "logged); a bar interval other than 1m needs a Finazon codec that accepts it"
        )
    exchange = engine.exchange
    positions = {name: exchange.position(name) for name in setup.config.exchange.markets}
    return RunResult(
        list(engine.strategies), exchange.balances(), positions, summary, out_dir, keep
    )


def _source_digest(cls: type[Strategy]) -> str:
    source = inspect.getsourcefile(cls)
    return sha256_file(Path(source)) if source else ""


def _read_events(path: Path) -> list[ev.PrivateEvent]:
    out: list[ev.PrivateEvent] = []
    for line in path.read_bytes().splitlines():
        method = _METHOD.decode(line).method
        out.append(_PRIVATE[method].decode(line))
    return out


def _read_fills(path: Path) -> list[Fill]:
    with open(path, newline="", encoding="utf-8") as fh:
        # Lax conversion turns the CSV's text into int and Decimal, exactly as written.
        return [msgspec.convert(row, Fill, strict=False) for row in csv.DictReader(fh)]


# --- the codec check ----------------------------------------------------------------------------


def _decode_all(codec: Codec, frames: Sequence[str | bytes | msgspec.Raw]) -> list[list[Decoded]]:
    out = []
    for i, frame in enumerate(frames):
        ts = 1_000 + i
        try:
            items = codec.decode(frame, ts)
        except ProviderProtocolError as exc:
            raise AssertionError(f"{codec.name}: documented frame {i} was refused: {exc}") from exc
        _require(isinstance(items, list), codec, f"decode() returned {type(items).__name__}")
        for item in items:
            _check_item(codec, item, ts, i)
        out.append(items)
    return out


def _check_item(codec: Codec, item: object, ts: int, i: int, documented: bool = True) -> None:
    _require(isinstance(item, _DECODED), codec, f"frame {i} gave a {type(item).__name__}")
    if isinstance(item, _MARKET):
        _require(item.venue == codec.name, codec, f"frame {i}: venue {item.venue!r}")
        _require(item.ts_recv_ns == ts, codec, f"frame {i}: ts_recv_ns is not the receive time")
        # A wrongly typed value may still make a strange event; a documented one may not.
        _require(not documented or (item.ts_event_ns >= 0 and bool(item.instrument)), codec,
                 f"frame {i}: no event time or instrument: {item!r}")  # fmt: skip
    elif isinstance(item, Ack | Pong | ErrorReply):
        _require(item.provider == codec.name, codec, f"frame {i}: reply from {item.provider!r}")
    _ENCODER.encode(item)  # every event must be encodable: inspect and the output log write them


def _broken(frames: Sequence[str | bytes]) -> Iterator[str | bytes]:
    yield from _GARBAGE
    for frame in frames:
        text = frame.decode() if isinstance(frame, bytes) else frame
        yield text[: len(text) // 2]
        yield text[:-1]
        yield from _mutants(json.loads(text))


def _mutants(doc: Any) -> Iterator[str]:
    """The document with each value in turn swapped for each of a few wrongly typed ones."""
    for path in _paths(doc):
        for wrong in _MUTANTS:
            yield json.dumps(_replaced(doc, path, wrong))


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    children = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    )
    for key, value in children:
        yield (*prefix, key)
        yield from _paths(value, (*prefix, key))


def _replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {k: _replaced(v, rest, value) if k == head else v for k, v in doc.items()}
    return [_replaced(v, rest, value) if i == head else v for i, v in enumerate(doc)]


def _decode_or_refuse(codec: Codec, frame: str | bytes) -> None:
    try:
        items = codec.decode(frame, 1_000)
    except ProviderProtocolError as exc:
        _require(exc.provider == codec.name, codec, f"error names provider {exc.provider!r}")
        _require(len(exc.excerpt) <= 203, codec, "error excerpt is over 200 characters")
        return
    except Exception as exc:  # the very thing being checked: nothing else may escape
        raise AssertionError(
            f"{codec.name}: decode raised {type(exc).__name__} (not ProviderProtocolError) "
            f"on {_short(frame)}: {exc}"
        ) from exc
    for item in items:
        _check_item(codec, item, 1_000, -1, documented=False)


def _require_json(codec: Codec, texts: Sequence[str], what: str) -> None:
    _require(bool(texts) and all(isinstance(t, str) for t in texts), codec, f"{what} gave no text")
    for text in texts:
        try:
            json.loads(text)
        except ValueError as exc:
            raise AssertionError(f"{codec.name}: {what} is not JSON: {_short(text)}") from exc


def _require(ok: bool, codec: Codec, problem: str) -> None:
    if not ok:
        raise AssertionError(f"{getattr(codec, 'name', type(codec).__name__)}: {problem}")


def _raw(frame: str | bytes) -> msgspec.Raw:
    return msgspec.Raw(frame.encode() if isinstance(frame, str) else frame)


def _short(frame: object) -> str:
    text = repr(frame)
    return text if len(text) <= 120 else text[:117] + "..."


def _text(value: Number) -> str:
    """A decimal string as Cryptomus writes book levels (``"107043.93"``)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    return value if isinstance(value, str) else repr(value)
