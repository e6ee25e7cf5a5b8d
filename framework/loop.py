"""The loop: the one place where frames become decisions, in replay and live alike.

Theory of operation. The loop consumes *lines* (``framework.recording.Line``): provider frames
stamped with their receive time, connection events and clock ticks. For each line, in order:

1. record it (live runs; a replay is already a recording);
2. move the clock to its time (``Clock.advance_to``), which first fires every timer due before
   it: strategies' timers, the equity sampler, and commands reaching the venue after their
   latency (``framework.desk``);
3. decode a frame with its provider's codec into normalized events (a frame that breaks the
   documentation is counted and skipped: bad input never kills the loop);
4. hand the events to the dispatcher (``framework.bus``), which routes each one to the market
   state (``framework.marketbook``), then to the paper venue, then to the strategies, in the
   order they were given, and applies the barrier rule after each.

Orders a strategy places inside a callback are applied after the event's last handler, in the
order placed; their private events are written to the run's output and delivered (to the
order's owner; balances to every strategy) before the next event, so the same input always
gives the same sequence of callbacks and events.

Nothing here awaits. Live mode calls :meth:`Engine.process` with the batches its sessions hand
over; replay calls it with the batches the recording reader decodes. That is the whole difference.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, Protocol

import msgspec

from framework import events as ev
from framework.bars import BarService
from framework.bus import Blame, Dispatcher, Handler, Target
from framework.clock import Clock
from framework.decoded import (
    CachedFrame,
    DecodedBatch,
    NotedFrame,
    TradeColumns,
    drop_again,
    failure_of,
)
from framework.desk import LineSink, OrderDesk, PrivateSink
from framework.errors import ProviderProtocolError, StrategyError
from framework.exchange import DealRecord, ExchangeConfig, OrderRequest, PaperExchange
from framework.exchange.frames import PrivateLines
from framework.marketbook import MarketState
from framework.providers.base import Ack, Codec, ErrorReply, Pong
from framework.recording import (
    ConnectedLine,
    DisconnectedLine,
    Frame,
    Line,
    RecordingWriter,
    SubscribedLine,
    Tick,
    typed_frame,
)
from framework.report.results import Results
from framework.strategy import Callbacks, Strategy
from framework.warmup import Warmup

__all__ = ["Engine", "Gate", "LoopStats", "Monitor", "PrivateSink"]

log = logging.getLogger("papertrade.loop")

# The strategies' market callbacks, by the event type that calls them (on_book is wired apart:
# it also receives the book).
_MARKET_CALLBACKS: Final[tuple[tuple[type, Callable[..., None]], ...]] = (
    (ev.Trade, Callbacks.on_trade),
    (ev.Bar, Callbacks.on_bar),
    (ev.BarUpdate, Callbacks.on_bar_update),
    (ev.Ticker, Callbacks.on_ticker),
    (ev.LastPrice, Callbacks.on_last_price),
)
_PRIVATE_CALLBACKS: Final[tuple[tuple[type[ev.PrivateEvent], Callable[..., None]], ...]] = (
    (ev.OrderUpdate, Callbacks.on_order_update),
    (ev.DealUpdate, Callbacks.on_deal),
    (ev.BalanceUpdate, Callbacks.on_balance),
    (ev.OrderRejected, Callbacks.on_order_rejected),
)


class Gate(Protocol):
    """When a gated handler (:meth:`Engine.gate`) next has something to do."""

    @property
    def next_sample_ns(self) -> int: ...


class _Never:
    next_sample_ns = 1 << 64  # no trade is received this late


_NEVER: Final = _Never()


def _nothing(_: object) -> None:
    """The gated handler when there is none (never called: its gate is never due)."""


class LoopStats(msgspec.Struct):
    """What the loop saw, for the run summary."""

    frames: int = 0
    decode_errors: int = 0
    provider_errors: int = 0
    acks: int = 0
    pongs: int = 0
    connects: int = 0
    disconnects: int = 0
    strategy_errors: int = 0
    first_ts_ns: int = 0
    last_ts_ns: int = 0


class Engine:
    """Codecs, clock, market state, dispatcher, paper venue and strategies, wired in order.

    Args:
        codecs: one codec per provider name, as the frames' ``p`` field names them.
        strategies: the strategies, in delivery order.
        exchange_config: the paper exchange's markets, balances, fees and latency.
        seed: seeds the exchange's ids.
        on_private: called with every private event's Struct, in order (see :attr:`on_private`).
        recorder: live runs write every consumed line here, before processing it.
        isolate_strategy_errors: log and skip a failing callback instead of stopping the run.
        results: the run's results model (fills by strategy, round trips, statistics); a
            fresh one valued in no currency if not given.
        finalize: at the end, after ``on_stop``, close every strategy's open position with a
            market order (see :meth:`finish`).
        warmup: ``[run] warmup`` (``framework.warmup``): orders are refused until it ends.
        observers: (market event type, handler) pairs routed after the strategies: the run's
            own bookkeeping (equity sampling), which sees each event once it is handled.
    """

    def __init__(
        self,
        codecs: Mapping[str, Codec],
        strategies: Sequence[Strategy],
        exchange_config: ExchangeConfig,
        *,
        seed: int = 0,
        on_private: PrivateSink | None = None,
        recorder: RecordingWriter | None = None,
        isolate_strategy_errors: bool = False,
        results: Results | None = None,
        finalize: bool = False,
        warmup: str = "",
        observers: Sequence[tuple[type, Handler]] = (),
    ) -> None:
        self.clock = Clock()
        self.warmup = Warmup(warmup)
        self.results = results or Results("", exchange_config.markets)
        self._finalize = finalize
        self._latency_ns = exchange_config.latency_ns
        self.stats = LoopStats()
        self.monitor = Monitor(self.stats, isolate_strategy_errors)
        self.strategies = list(strategies)
        self.codecs = dict(codecs)  # provider name -> its codec
        self.state = MarketState(
            trade_history=max((s.trade_history for s in self.strategies), default=0),
            bar_history=max((s.bar_history for s in self.strategies), default=0),
        )
        self.dispatcher = Dispatcher(self.monitor.strategy_failed)
        # The venue queues its private events as lines (framework.exchange.frames), counting
        # accepted and refused orders in the results as it emits them.
        lines = PrivateLines(
            self.dispatcher.private.append, self.results.add_order, self.results.add_rejection
        )
        self.exchange = PaperExchange(exchange_config, lines, seed, self.state, on_deal=self._dealt)
        self.desk = OrderDesk(
            self.exchange,
            self.clock,
            self.dispatcher,
            exchange_config.latency_ns,
            self.results,
            lines,
        )
        self.desk.on_private = on_private
        self.desk.gate = self.warmup.gate
        self.bar_service = BarService(self.clock, self._deliver_bar)
        if self.warmup.bars:
            self.bar_service.on_close = self._bar_closed
        # line kind -> its decoder, called with the line: one entry per typed frame class the
        # reader may yield (the replay fast path of the Codec contract, see
        # recording.typed_frame), and one for a plain Frame, which goes by its provider.
        self._decoders: dict[type, Callable[[Any], Sequence[Any]]] = {
            typed_frame(codec.wire_type, name): _wire_decoder(codec.decode_wire)
            for name, codec in self.codecs.items()
            if codec.wire_type is not None
        }
        self._decoders[Frame] = self._decode_frame
        # Lines of a DecodedBatch (framework.decoded), decoded already: a lone trade is its
        # own decoding (see process), a cached frame holds its items.
        self._decoders[ev.Trade] = _itself
        self._decoders[CachedFrame] = operator.attrgetter("items")
        self._decoders[NotedFrame] = self._noted
        self._recorder = recorder
        self._started = False
        self._finished = False
        self.start_hooks: list[Callable[[int], None]] = []  # called with the first line's time
        self.finish_hooks: list[Callable[[int], None]] = []  # called with the last time
        # The market state's fused trade handler, when routed (see _wire and _trades).
        self._fused: Handler | None = None
        self._everyone = _wire(self, observers)
        self._gate: tuple[Handler, Gate] | None = None

    def _dealt(self, record: DealRecord) -> None:
        """The venue made a fill: booked in the results as its owner's."""
        self.desk.book_deal(record)

    def position_of(self, strategy: Strategy, instrument: str) -> Decimal:
        """A strategy's own net position in an instrument (base), from its own fills."""
        return self.results.position(strategy.name, instrument)

    @property
    def on_private(self) -> PrivateSink | None:
        """Called with every private event's Struct, in order, after the run's log: for those
        who read Structs (the run database, the dashboard, a resumed session's check)."""
        return self.desk.on_private

    @on_private.setter
    def on_private(self, sink: PrivateSink | None) -> None:
        self.desk.on_private = sink

    def log_private(self, log: bytearray, flush: Callable[[], None], on_balance: LineSink) -> None:
        """Append every private event's line to ``log`` (``events.jsonl``'s buffer; ``flush``
        once it is full) as it happens, and call ``on_balance`` with each balance update's
        line as it is delivered (see ``framework.desk``)."""
        self.desk.log_to(log, flush, on_balance)

    def owner_name(self, order_id: str) -> str | None:
        """The name of the strategy that placed a not yet forgotten order, or None."""
        return self.desk.owner_name(order_id)

    def record_to(self, recorder: RecordingWriter | None) -> None:
        """From the next batch on, write every consumed line to ``recorder`` (a resumed session)."""
        self._recorder = recorder

    # --- the loop -----------------------------------------------------------------------------

    def process(self, lines: Sequence[Line] | TradeColumns) -> None:
        """Consume one batch of lines, in order. Never awaits; raises only StrategyError."""
        if not lines:
            return
        if isinstance(lines, TradeColumns):  # lone trades of one instrument (framework.decoded)
            if not self._started:
                self._start(lines.times[0])
            self._trades(lines, lines.times, lines)
            return
        if self._recorder is not None:
            self._recorder.write(lines)
        # The receive time of each line: a DecodedBatch (framework.decoded) carries them apart.
        if type(lines) is DecodedBatch:
            times = lines.times
            if lines.trades_only:
                if not self._started:
                    self._start(times[0])
                self._trades(lines, times, None)
                return
        else:
            times = [line.t for line in lines]
        if not self._started:
            self._start(times[0])
        clock = self.clock
        decoders = self._decoders
        dispatcher = self.dispatcher
        routes = dispatcher.table()
        commands, private = dispatcher.commands, dispatcher.private
        monitor = self.monitor
        itself = _itself
        others = 0  # ticks and connection lines: rare, so counted instead of the frames
        # Lookups by type are redone only when the type changes: feeds repeat one type.
        last_kind: type | None = None
        decode: Callable[[Any], Sequence[Any]] | None = None
        last_item_kind: type | None = None
        handlers: tuple[Handler, ...] | None = None
        for ts, line in zip(times, lines, strict=False):
            # Clock.follow, inlined: the timers due by the line's time fire, then the clock is
            # at its time.
            if ts >= clock.next_deadline_ns:
                clock.advance_to(ts)
            elif ts > clock.now_ns:
                clock.now_ns = ts
            kind = type(line)
            if kind is not last_kind:
                last_kind, decode = kind, decoders.get(kind)
            if decode is itself:  # a lone trade of a DecodedBatch: its own one item
                if kind is not last_item_kind:
                    last_item_kind = kind
                    handlers = routes.get(kind)
                if handlers:  # the same dispatch as below, for one item
                    try:
                        for handler in handlers:
                            handler(line)
                    except Exception as exc:
                        dispatcher.failed(line, handlers.index(handler), exc)
                    if commands or private:
                        dispatcher.barrier()
            elif decode is not None:
                try:
                    items = decode(line)
                except ProviderProtocolError as exc:
                    monitor.decode_failed(exc)
                    continue
                # Dispatcher.publish, inlined on the hot path: the same table, the same
                # failure handling, the same barrier after each event.
                for item in items:
                    if type(item) is not last_item_kind:
                        last_item_kind = type(item)
                        handlers = routes.get(last_item_kind)
                    if handlers:
                        try:
                            for handler in handlers:
                                handler(item)
                        except Exception as exc:
                            dispatcher.failed(item, handlers.index(handler), exc)
                        if commands or private:
                            dispatcher.barrier()
            else:
                others += 1
                if kind is not Tick:
                    self._connection(line)
        self.stats.frames += len(lines) - others
        self.stats.last_ts_ns = clock.now_ns
        self.state.trim()

    def _trades(
        self, trades: Iterable[ev.Trade], times: Sequence[int], columns: TradeColumns | None
    ) -> None:
        """:meth:`process` of a batch of lone trades (a DecodedBatch's ``trades_only``, or
        ``columns``): the same clock moves, dispatch and barriers, without the checks of each
        line's kind.

        A lone trade's receive time is its line's time (``framework.decoded``). The trades of
        ``columns`` are built one at a time as they are handed on, and their instrument's
        history follows the columns (``MarketState.feed``) instead of keeping them.
        """
        handlers = self.dispatcher.table().get(ev.Trade, ())
        # The last handler, when gated (see gate), is called only once its gate is due.
        gate: Gate = _NEVER
        head, last = handlers, _nothing
        if self._gate is not None and handlers and handlers[-1] == self._gate[0]:
            head, last, gate = handlers[:-1], handlers[-1], self._gate[1]
        if not head or head[0] is not self._fused:
            self._trades_routed(trades, times, handlers, head, last, gate)
            return
        if columns is None:
            self._trades_fused(trades, times, handlers, head, last, gate, None)
            return
        self.state.feed(columns)
        try:
            self._trades_fused(trades, times, handlers, head, last, gate, columns)
        finally:
            self.state.feed(None)

    def _trades_fused(
        self,
        trades: Iterable[ev.Trade],
        times: Sequence[int],
        handlers: tuple[Handler, ...],
        head: tuple[Handler, ...],
        last: Handler,
        gate: Gate,
        columns: TradeColumns | None,
    ) -> None:
        """:meth:`_trades` when the first handler is the market state's fused one."""
        clock = self.clock
        dispatcher = self.dispatcher
        commands, private = dispatcher.commands, dispatcher.private
        # The first handler is the market state's fused one (MarketState.trade_handler): its
        # work is done here, inline, for a trade of the instrument of the trade before; the
        # first trade of another instrument goes through the handler itself, which makes or
        # finds that instrument's state and tape.
        fused, rest = head[0], head[1:]
        one = rest[0] if len(rest) == 1 else None  # the common case: one strategy, called alone
        taped = self.state.taped
        day_end = self.results.day_end
        next_day_ns = 0  # no trade before it starts a new day (Results.day_end)
        instrument = None  # the instrument of the trade before, whose state and tape these are
        state: Any = None
        tape: Any = None
        log: Any = None
        # The trades first: a TradeColumns' iterator, run to its end, lets go of the trades.
        for trade, ts in zip(trades, times, strict=False):
            if ts >= clock.next_deadline_ns:  # Clock.follow, inlined, as in process
                if columns is None:
                    clock.advance_to(ts)
                else:  # the trade is built, not yet applied, while the timers fire
                    columns.unapplied = 1
                    clock.advance_to(ts)
                    columns.unapplied = 0
            elif ts > clock.now_ns:
                clock.now_ns = ts
            handler = fused
            try:
                if trade.instrument is instrument:
                    # MarketState.on_trade
                    price = trade.price
                    state.last = price
                    state.last_trade = trade  # has_trades: set by its first trade, in fused
                    if log is not None:
                        log.pending.append(trade)
                    overlay = state.overlay
                    if overlay is not None and overlay.active:
                        state.venue.on_trade(trade)
                    # Results.on_trade
                    if ts >= next_day_ns:
                        next_day_ns = day_end(ts)
                    tape.last = price
                    tape.trades += 1
                    if ts >= tape.next_ns:
                        tape.point(ts, price)
                else:
                    fused(trade)
                    instrument = trade.instrument
                    state, tape = taped[instrument]
                    log = state.trade_log if columns is None else None
                if one is not None:
                    handler = one
                    handler(trade)
                else:
                    for handler in rest:
                        handler(trade)
                if ts >= gate.next_sample_ns:
                    handler = last
                    handler(trade)
            except Exception as exc:
                dispatcher.failed(trade, handlers.index(handler), exc)
            if commands or private:
                dispatcher.barrier()
        self.stats.frames += len(times)
        self.stats.last_ts_ns = clock.now_ns
        self.state.trim()

    def _trades_routed(
        self,
        trades: Iterable[ev.Trade],
        times: Sequence[int],
        handlers: tuple[Handler, ...],
        head: tuple[Handler, ...],
        last: Handler,
        gate: Gate,
    ) -> None:
        """:meth:`_trades` when the first handler is not the market state's fused one (bars
        are built from trades): every handler called as routed."""
        clock = self.clock
        dispatcher = self.dispatcher
        commands, private = dispatcher.commands, dispatcher.private
        for ts, trade in zip(times, trades, strict=False):
            if ts >= clock.next_deadline_ns:  # Clock.follow, inlined, as in process
                clock.advance_to(ts)
            elif ts > clock.now_ns:
                clock.now_ns = ts
            try:
                for handler in head:
                    handler(trade)
                if ts >= gate.next_sample_ns:
                    handler = last
                    handler(trade)
            except Exception as exc:
                dispatcher.failed(trade, handlers.index(handler), exc)
            if commands or private:
                dispatcher.barrier()
        self.stats.frames += len(times)
        self.stats.last_ts_ns = clock.now_ns
        self.state.trim()

    def gate(self, handler: Handler, gate: Gate) -> None:
        """``handler``, the last handler routed for trades, does nothing with a trade received
        before ``gate.next_sample_ns`` (the equity sampler): in a batch of lone trades it is
        then not called at all, a call saved on nearly every trade."""
        self._gate = (handler, gate)

    def _decode_frame(self, frame: Frame) -> Sequence[Any]:
        """A plain :class:`Frame`: decoded by its provider's codec, or counted if it has none."""
        codec = self.codecs.get(frame.p)
        if codec is None:
            self.monitor.no_codec(frame)
            return ()
        return codec.decode(frame.f if frame.f else frame.payload(), frame.t)

    def _noted(self, line: NotedFrame) -> Sequence[Any]:
        """A cached frame whose decoding dropped items or failed: count and log the drops on
        the codec's screen, raise the failure, as decoding the frame did."""
        codec = self.codecs.get(line.p)
        screen = getattr(codec, "screen", None)
        if screen is not None:
            for drop in line.drops:
                drop_again(screen, drop)
        failure = line.failure
        if failure is None:
            return line.items
        if failure.no_codec or codec is None:
            self.monitor.no_codec(Frame(line.t, line.p, 0))
            return ()
        raise failure_of(line.p, failure)

    def finish(self) -> None:
        """End the run: apply due commands, call ``on_stop``, flush private events.

        With ``finalize``, then close every strategy's positions: its resting limit orders are
        cancelled, and each non-zero position gets a market order the other way, marked as
        finalizing. Orders that wait for a next bar that will not come fill at the last price.
        Each step takes the exchange's latency on the simulated clock.
        """
        if self._finished:
            return
        self._finished = True
        if not self._started:
            return
        self.exchange.advance(self.clock.now_ns)
        self.dispatcher.barrier()
        self.dispatcher.deliver(self._everyone[Callbacks.on_stop])
        if self._finalize:
            self._close_positions()
        for hook in self.finish_hooks:
            hook(self.clock.now_ns)

    def write_pending(self) -> None:
        """After a strategy error: write the private events not yet delivered to the output
        (the run's record of what the exchange did), without calling any strategy."""
        self.stats.last_ts_ns = self.clock.now_ns
        private = self.dispatcher.private
        while private:
            kind, line, _ = private.popleft()
            self.desk.undelivered(kind, line)

    def _close_positions(self) -> None:
        desk = self.desk
        for strategy in self.strategies:
            for order in desk.open_orders(strategy, None):
                if order.type == "limit":
                    desk.queue_cancel(order.id)
        self._end_step()
        for strategy in self.strategies:
            for instrument, held in self.results.positions(strategy.name).items():
                request = OrderRequest(
                    instrument=instrument,
                    direction="sell" if held > 0 else "buy",
                    type="market",
                    quantity=abs(held),
                )
                desk.queue_order(strategy, request, finalizing=True)
        self._end_step()

    def _end_step(self) -> None:
        """Send what was queued, let it reach the venue, fill what waits for a bar at the last
        price."""
        self.dispatcher.barrier()
        self.clock.advance_to(self.clock.now_ns + self._latency_ns)
        self.exchange.advance(self.clock.now_ns)
        self.exchange.fill_waiting_at_last(self.clock.now_ns)
        self.dispatcher.barrier()

    def _start(self, ts_ns: int) -> None:
        self._started = True
        self.clock.advance_to(ts_ns)
        self.stats.first_ts_ns = ts_ns
        end = self.warmup.begin(ts_ns)
        if self.warmup.duration_ns and end is not None:
            self.clock.call_at(end, "warmup", lambda _, at: self.warmup.reached(at))
        for hook in self.start_hooks:
            hook(ts_ns)
        self.dispatcher.deliver(self._everyone[Callbacks.on_start])

    def _bar_closed(self, _: ev.Bar) -> None:
        self.warmup.bar_closed(self.clock.now_ns)

    def _deliver_bar(self, strategy: Strategy, bar: ev.Bar) -> None:
        """A bar built for ``strategy`` closed (``framework.bars``): its ``on_bar``, then the barrier."""
        self.dispatcher.deliver(((strategy.on_bar, _blame(strategy, Callbacks.on_bar)),), bar)

    def _connection(self, line: ConnectedLine | DisconnectedLine | SubscribedLine) -> None:
        event: ev.Connected | ev.Disconnected | ev.Subscribed
        if type(line) is ConnectedLine:
            self.stats.connects += 1
            event = ev.Connected(line.p, line.c, line.t, line.url)
        elif type(line) is DisconnectedLine:
            self.stats.disconnects += 1
            event = ev.Disconnected(line.p, line.c, line.t, line.reason)
            self.state.disconnect(line.p)
            codec = self.codecs.get(line.p)
            if codec is not None:
                codec.reset()
        else:
            assert type(line) is SubscribedLine
            instruments = tuple(sorted({s.symbol for s in line.subscriptions}))
            event = ev.Subscribed(line.p, line.c, line.t, instruments)
        self.dispatcher.deliver(self._everyone[Callbacks.on_connection], event)


def _wire(
    engine: Engine, observers: Sequence[tuple[type, Handler]]
) -> dict[Callable[..., None], tuple[Target, ...]]:
    """Build the routing table, once: market state (then venue), then strategies, per type.

    Returns the targets of the callbacks every strategy receives (start, stop, connection).
    """
    route = engine.dispatcher.route
    state, monitor = engine.state, engine.monitor  # the state hands events on to the venue
    # Bars built from trades go to strategies that define on_bar and subscribe in on_start;
    # runs whose strategies have no on_bar pay nothing per trade. Without them, the market
    # state and the results' tape take each trade in one fused handler, in the same order.
    bars_from_trades = any(_overrides(s, Callbacks.on_bar) for s in engine.strategies)
    if bars_from_trades:
        route(ev.Trade, state.on_trade)
    else:
        engine._fused = state.trade_handler(engine.results)
        route(ev.Trade, engine._fused)
    route(ev.Bar, state.on_bar)
    route(ev.BookSnapshot, state.on_book_snapshot)
    route(ev.BookDelta, state.on_book_delta)
    route(ev.Ticker, state.on_ticker)
    route(ev.LastPrice, state.on_last_price)
    if engine.warmup.bars:  # counted before any strategy sees the bar that ends the warm-up
        route(ev.Bar, engine._bar_closed)
    if bars_from_trades:
        route(ev.Trade, engine.bar_service.on_trade)
        route(ev.Bar, engine.bar_service.on_bar)
    route(Ack, monitor.count_ack)
    route(Pong, monitor.count_pong)
    route(ErrorReply, monitor.provider_error)
    route(ev.Bar, engine.results.on_bar)  # the results' calendar, prices and bar counts
    if bars_from_trades:
        route(ev.Trade, engine.results.on_trade)
    everyone: dict[Callable[..., None], list[Target]] = {
        Callbacks.on_start: [],
        Callbacks.on_stop: [],
        Callbacks.on_connection: [],
    }
    for strategy in engine.strategies:
        strategy._attach(engine)
        for kind, callback in _MARKET_CALLBACKS:
            if _overrides(strategy, callback):
                route(kind, _bound(strategy, callback), _blame(strategy, callback))
        if _overrides(strategy, Callbacks.on_book):
            snapshot, delta = _book_handlers(strategy, state)
            route(ev.BookSnapshot, snapshot, _blame(strategy, Callbacks.on_book))
            route(ev.BookDelta, delta, _blame(strategy, Callbacks.on_book))
        # Private-event callbacks a strategy does not override are not called at all.
        for private_kind, callback in _PRIVATE_CALLBACKS:
            if _overrides(strategy, callback):
                target = (_bound(strategy, callback), _blame(strategy, callback))
                engine.desk.listen(strategy, private_kind, target)
        for callback, targets in everyone.items():
            targets.append((_bound(strategy, callback), _blame(strategy, callback)))
    for kind, handler in observers:
        route(kind, handler)
    engine.dispatcher.seal()
    return {callback: tuple(targets) for callback, targets in everyone.items()}


def _overrides(strategy: Strategy, callback: Callable[..., None]) -> bool:
    return getattr(type(strategy), callback.__name__) is not callback


def _bound(strategy: Strategy, callback: Callable[..., None]) -> Callable[..., None]:
    bound: Callable[..., None] = getattr(strategy, callback.__name__)
    return bound


def _blame(strategy: Strategy, callback: Callable[..., None]) -> Blame:
    return (strategy, callback.__name__)


def _book_handlers(
    strategy: Strategy, state: MarketState
) -> tuple[Callable[[ev.BookSnapshot], None], Callable[[ev.BookDelta], None]]:
    """``on_book`` adapters: the strategy gets the shared book with each change it accepted."""
    on_book = strategy.on_book
    instruments = state.instruments

    def snapshot(event: ev.BookSnapshot) -> None:
        on_book(instruments[event.instrument].book, event)

    def delta(event: ev.BookDelta) -> None:
        inst = instruments.get(event.instrument)
        if inst is not None and inst.book.accepts(event):
            on_book(inst.book, event)

    return snapshot, delta


class Monitor:
    """Counts what the loop saw that is not market data, and reports each kind of trouble once."""

    def __init__(self, stats: LoopStats, isolate_strategy_errors: bool) -> None:
        self.stats = stats
        self._isolate = isolate_strategy_errors
        self._reported: set[tuple[str, str]] = set()

    def count_ack(self, _: Ack) -> None:
        self.stats.acks += 1

    def count_pong(self, _: Pong) -> None:
        self.stats.pongs += 1

    def provider_error(self, error: ErrorReply) -> None:
        self.stats.provider_errors += 1
        self._once(
            ("provider", str(error.code)),
            "%s error %s: %s",
            error.provider,
            error.code,
            error.message,
        )

    def decode_failed(self, exc: ProviderProtocolError) -> None:
        self.stats.decode_errors += 1
        self._once(("decode", exc.provider + exc.reason[:40]), "undecodable frame: %s", exc)

    def no_codec(self, line: Frame) -> None:
        self.stats.decode_errors += 1
        self._once(("codec", line.p), "no codec for provider %r; its frames are skipped", line.p)

    def strategy_failed(
        self, strategy: Strategy, callback: str, event: object, exc: Exception
    ) -> None:
        """Stop the run with a StrategyError, or (isolating) log it once and go on."""
        described = _describe(event)
        if not self._isolate:
            raise StrategyError(strategy.name, callback, described, exc) from exc
        self.stats.strategy_errors += 1
        self._once(
            ("strategy", strategy.name + callback),
            "strategy %r raised %s in %s(%s); isolated, the run goes on",
            strategy.name, type(exc).__name__, callback, described,
        )  # fmt: skip

    def _once(self, key: tuple[str, str], message: str, *args: object) -> None:
        if key not in self._reported:
            self._reported.add(key)
            log.warning(message, *args)


def _describe(event: object) -> str:
    if event is None:
        return ""
    text = repr(event)
    return text if len(text) <= 160 else text[:157] + "..."


def _itself(line: Any) -> Sequence[Any]:
    """The decoding of a lone trade of a DecodedBatch (never called: the loop tests for it)."""
    return (line,)


def _wire_decoder(decode_wire: Callable[[Any, int], list[Any]]) -> Callable[[Any], list[Any]]:
    """The decoder of a typed frame line: its codec's ``decode_wire`` of the wire message."""

    def decode(line: Any) -> list[Any]:
        return decode_wire(line.f, line.t)

    return decode
