"""The loop: the one place where frames become decisions, in replay and live alike.

Theory of operation. The loop consumes *lines* (``framework.recording.Line``): provider frames
stamped with their receive time, connection events and clock ticks. For each line, in order:

1. record it (live runs; a replay is already a recording);
2. move the clock to its time, first firing every timer due before it (``Clock.advance_to``);
3. decode a frame with its provider's codec into normalized events (a frame that breaks the
   documentation is counted and skipped: bad input never kills the loop);
4. publish each event on the bus: the paper exchange first, then market-data bookkeeping
   (books, histories), then the strategies, each in the order they were given.

Orders a strategy places inside a callback are queued and applied after the callback returns,
in the order placed: for a market event, once every strategy has seen that event (so no
strategy's reaction changes what another strategy is shown of the same event); for a timer or
a private event, right after that one callback. Private events the exchange emits are queued
too, written to the run's output, and delivered (to the order's owner; balances to every
strategy) before the next market event, so the same input always gives the same sequence of
callbacks and events.

Nothing here awaits. Live mode calls :meth:`Engine.process` with the batches its sessions hand
over; replay calls it with the batches the recording reader decodes. That is the whole difference.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final, cast

import msgspec

from framework import events as ev
from framework.bus import Bus, Handler
from framework.clock import Clock
from framework.errors import ConfigError, ProviderProtocolError, StrategyError
from framework.exchange import ExchangeConfig, OrderRequest, OrderView, PaperExchange
from framework.history import BarArrays, BarHistory, TradeArrays, TradeHistory
from framework.marketbook import MarketBook
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
from framework.report.results import Fill, Results
from framework.strategy import OrderTicket, Strategy

__all__ = ["Engine", "LoopStats", "PrivateSink"]

log = logging.getLogger("papertrade.loop")

PrivateSink = Callable[[ev.PrivateEvent], None]
_MARKET_CALLBACKS: Final[tuple[tuple[type, str], ...]] = (
    (ev.Trade, "on_trade"),
    (ev.Bar, "on_bar"),
    (ev.BarUpdate, "on_bar_update"),
    (ev.Ticker, "on_ticker"),
    (ev.LastPrice, "on_last_price"),
)
_EXCHANGE_HANDLERS: Final[tuple[tuple[type, str], ...]] = (
    (ev.Trade, "on_trade"),
    (ev.Bar, "on_bar"),
    (ev.BookSnapshot, "on_book_snapshot"),
    (ev.BookDelta, "on_book_delta"),
    (ev.Ticker, "on_ticker"),
    (ev.LastPrice, "on_last_price"),
)
_PRIVATE_CALLBACKS: Final = ("on_order_update", "on_deal", "on_balance", "on_order_rejected")
_EMPTY_BARS: Final = BarHistory(1)
_EMPTY_TRADES: Final = TradeHistory(1)


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
    """Codecs, clock, bus, paper exchange and strategies, wired in the documented order.

    Args:
        codecs: one codec per provider name, as the frames' ``p`` field names them.
        strategies: the strategies, in delivery order.
        exchange_config: the paper exchange's markets, balances, fees and latency.
        seed: seeds the exchange's ids.
        on_private: called with every private event, in order (the run's output log).
        recorder: live runs write every consumed line here, before processing it.
        isolate_strategy_errors: log and skip a failing callback instead of stopping the run.
        results: the run's results model (fills by strategy, round trips, statistics); a
            fresh one valued in no currency if not given.
        finalize: at the end, after ``on_stop``, close every strategy's open position with a
            market order (see :meth:`finish`).
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
    ) -> None:
        self.clock = Clock()
        self.results = results or Results("", exchange_config.markets)
        self._requests: dict[str, OrderRequest] = {}  # open order id -> what was asked
        self._finalizing: set[str] = set()  # ids of the orders finish() placed; membership only
        self._finalize = finalize
        self._latency_ns = exchange_config.latency_ns
        self.bus = Bus()
        self.stats = LoopStats()
        self.strategies = list(strategies)
        self.books: dict[str, MarketBook] = {}
        self.codecs = dict(codecs)  # provider name -> its codec
        # typed frame class the reader yields -> its codec's bound decode_wire (the optional
        # wire fast path, see recording.typed_frame)
        self._typed: dict[type, Callable[[Any, int], list[Any]]] = {}
        for name, codec in self.codecs.items():
            wire_type = getattr(codec, "wire_type", None)
            if wire_type is not None:
                self._typed[typed_frame(wire_type, name)] = codec.decode_wire  # type: ignore[attr-defined]
        self._recorder = recorder
        self.on_private = on_private  # every private event, in order: the run's output log
        self._isolate = isolate_strategy_errors
        self._private: deque[ev.PrivateEvent] = deque()
        self._commands: deque[Callable[[], None]] = deque()
        self._owners: dict[str, Strategy] = {}
        self._book_venue: dict[str, str] = {}
        self._trade_hist: dict[str, TradeHistory] = {}
        self._bar_hist: dict[str, BarHistory] = {}
        self._reported: set[tuple[str, str]] = set()
        self._handler_owner: dict[int, tuple[Strategy, str]] = {}
        self._started = False
        self._finished = False
        self._settling = False
        self.start_hooks: list[Callable[[int], None]] = []  # called with the first line's time
        self.finish_hooks: list[Callable[[int], None]] = []  # called with the last time
        self._unbooked: list[ev.DealUpdate] = []  # fills of an order still being submitted
        self.exchange = PaperExchange(exchange_config, self._emitted, seed)
        self._wire()
        self._routes = self.bus.table()

    # --- the loop -----------------------------------------------------------------------------

    def process(self, lines: Sequence[Line]) -> None:
        """Consume one batch of lines, in order. Never awaits; raises only StrategyError."""
        if not lines:
            return
        if self._recorder is not None:
            self._recorder.write(lines)
        if not self._started:
            self._start(lines[0].t)
        clock = self.clock
        codecs = self.codecs
        typed = self._typed
        routes = self._routes
        commands, private = self._commands, self._private
        others = 0  # ticks and connection lines: rare, so counted instead of the frames
        # Lookups by type are redone only when the type changes: feeds repeat one type.
        # (The routing table is fixed once the engine is wired.)
        last_kind: type | None = None
        fast: Callable[[Any, int], list[Any]] | None = None
        last_item_kind: type | None = None
        handlers: tuple[Handler, ...] | None = None
        for line in lines:
            kind = type(line)
            if kind is not last_kind:
                last_kind, fast = kind, typed.get(kind)
            if fast is not None or kind is Frame:
                ts = line.t
                if ts >= clock.next_deadline_ns:
                    self._advance(ts)
                elif ts > clock.now_ns:
                    clock.now_ns = ts
                try:
                    if fast is not None:  # decoded ahead by the reader (recording.typed_frame)
                        items = fast(line.f, ts)  # type: ignore[union-attr]
                    else:
                        frame = cast(Frame, line)
                        codec = codecs.get(frame.p)
                        if codec is None:
                            self._no_codec(frame)
                            continue
                        items = codec.decode(frame.f if frame.f else frame.payload(), ts)
                except ProviderProtocolError as exc:
                    self._decode_failed(exc)
                    continue
                for item in items:
                    if type(item) is not last_item_kind:
                        last_item_kind = type(item)
                        handlers = routes.get(last_item_kind)
                    if handlers:
                        try:
                            for handler in handlers:
                                handler(item)
                        except Exception as exc:
                            self._handler_failed(handlers, handler, item, exc)
                        if commands or private:
                            self._settle()
            else:
                others += 1
                self._advance(line.t)
                if kind is not Tick:
                    self._connection(line)  # type: ignore[arg-type]
        self.stats.frames += len(lines) - others
        self.stats.last_ts_ns = clock.now_ns

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
        self._settle()
        for strategy in self.strategies:
            self.deliver(strategy, "on_stop")
        if self._finalize:
            self._close_positions()
        for hook in self.finish_hooks:
            hook(self.clock.now_ns)

    # --- the routing both modes share ---------------------------------------------------------

    def _wire(self) -> None:
        bus = self.bus
        for kind, method in _EXCHANGE_HANDLERS:
            bus.subscribe(kind, getattr(self.exchange, method))
        bus.subscribe(ev.Bar, self.results.on_bar)
        bus.subscribe(ev.Trade, self.results.on_trade)
        bus.subscribe(ev.BookSnapshot, self._book_snapshot)
        bus.subscribe(ev.BookDelta, self._book_delta)
        if max((s.trade_history for s in self.strategies), default=0) > 0:
            bus.subscribe(ev.Trade, self._record_trade)
        if max((s.bar_history for s in self.strategies), default=0) > 0:
            bus.subscribe(ev.Bar, self._record_bar)
        # Private-event callbacks a strategy does not override are not called at all.
        self._listeners = {
            name: [s for s in self.strategies if _overrides(s, name)] for name in _PRIVATE_CALLBACKS
        }
        self._any_private_listener = any(self._listeners.values())
        for strategy in self.strategies:
            strategy._engine = self
            for kind, callback in _MARKET_CALLBACKS:
                if _overrides(strategy, callback):
                    method = getattr(strategy, callback)
                    self._handler_owner[id(method)] = (strategy, callback)
                    bus.subscribe(kind, method)
            if _overrides(strategy, "on_book"):
                book_handler = self._book_handler(strategy)
                bus.subscribe(ev.BookSnapshot, book_handler)
                bus.subscribe(ev.BookDelta, book_handler)
        bus.subscribe(Ack, self._count_ack)
        bus.subscribe(Pong, self._count_pong)
        bus.subscribe(ErrorReply, self._provider_error)

    def _handler_failed(
        self, handlers: tuple[Handler, ...], failed: Handler, event: object, exc: Exception
    ) -> None:
        """A handler raised while an event was dispatched: name the strategy, or re-raise.

        Handlers are the strategies' own bound methods (no wrapper on the hot path), so the one
        that raised is found by identity. With isolation on, the handlers after it still run.
        """
        owner = self._handler_owner.get(id(failed))
        if owner is None:
            raise exc
        self._strategy_failed(owner[0], owner[1], event, exc)
        rest = handlers[[id(h) for h in handlers].index(id(failed)) + 1 :]
        if rest:
            try:
                for handler in rest:
                    handler(event)
            except Exception as again:
                self._handler_failed(rest, handler, event, again)

    def _book_handler(self, strategy: Strategy) -> Callable[[Any], None]:
        def handle(event: ev.BookSnapshot | ev.BookDelta) -> None:
            book = self.books.get(event.instrument)
            if book is not None and book.trusted:
                self.deliver(strategy, "on_book", book, event)

        return handle

    def deliver(self, strategy: Strategy, callback: str, *args: Any) -> None:
        """Call one strategy callback, then apply what it queued."""
        try:
            getattr(strategy, callback)(*args)
        except Exception as exc:
            self._strategy_failed(strategy, callback, args[0] if args else None, exc)
        if (self._commands or self._private) and not self._settling:
            self._settle()

    def _settle(self) -> None:
        """Apply queued commands and deliver private events until both queues are empty.

        Iterative: a callback run from here only queues; this loop applies what it queued
        next, so a strategy answering every order update with a new order builds no stack.
        """
        commands, private = self._commands, self._private
        self._settling = True
        try:
            while commands or private:
                while commands:
                    commands.popleft()()
                while private and not commands:
                    self._deliver_private(private.popleft())
        finally:
            self._settling = False

    def _emitted(self, event: ev.PrivateEvent) -> None:
        """The exchange emitted an event: book it now (a strategy's position moves with its
        fill, as the account's balance does), deliver it after the event being handled."""
        self._private.append(event)
        if type(event) is not ev.BalanceUpdate:
            self._account_for(event)

    def _deliver_private(self, event: ev.PrivateEvent) -> None:
        if self.on_private is not None:
            self.on_private(event)
        if type(event) is ev.BalanceUpdate:
            for strategy in self._listeners["on_balance"]:
                self.deliver(strategy, "on_balance", event)
            return
        if self._any_private_listener:
            owner, callback = self._owner_of(event)
            if owner is not None and owner in self._listeners[callback]:
                self.deliver(owner, callback, event)
        if type(event) is ev.OrderUpdate and event.data.type == "finished":
            # Every event of this order is out: let go of it, so memory stays flat.
            order_id = event.data.info.id
            self._owners.pop(order_id, None)
            self._requests.pop(order_id, None)
            self.exchange.forget(order_id)

    def _owner_of(self, event: ev.PrivateEvent) -> tuple[Strategy | None, str]:
        if type(event) is ev.OrderUpdate:
            return self._owners.get(event.data.info.id), "on_order_update"
        if type(event) is ev.DealUpdate:
            order_id = self.exchange.order_id_of_deal(event.data.info.dealId)
            return self._owners.get(order_id or ""), "on_deal"
        if type(event) is ev.OrderRejected:
            return self._owners.get(event.data.info.orderId or ""), "on_order_rejected"
        return None, ""

    def _account_for(self, event: ev.PrivateEvent) -> None:
        """The one place fills are attributed: to the strategy whose order filled.

        Runs as the exchange emits the event, before any callback, so :meth:`position_of`
        counts a fill as soon as the account does. An order that fills while it is being
        submitted (no latency) has no owner yet: its fills are booked right after submit().
        """
        results = self.results
        if type(event) is ev.DealUpdate:
            info = event.data.info
            order_id = self.exchange.order_id_of_deal(info.dealId) or ""
            owner = self._owners.get(order_id)
            request = self._requests.get(order_id)
            if request is None:  # its submit() has not returned yet
                self._unbooked.append(event)
                return
            results.add_fill(
                Fill(
                    ts_ns=info.committedAt * 1_000_000_000,
                    strategy=owner.name if owner is not None else "",
                    instrument=request.instrument,
                    symbol=info.symbol,
                    order_id=order_id,
                    deal_id=info.dealId,
                    transaction_id=info.transactionId,
                    side=request.direction,
                    role=info.tradeRole,
                    price=Decimal(info.filledPrice),
                    quantity=Decimal(info.filledQuantity),
                    value=Decimal(info.filledValue),
                    fee=Decimal(info.fee),
                    fee_currency=info.feeCurrency,
                    finalizing=order_id in self._finalizing,
                )
            )
        elif type(event) is ev.OrderUpdate:
            if event.data.type == "created":
                results.add_order()
        elif type(event) is ev.OrderRejected:
            results.add_rejection(event.data.info)

    def write_pending(self) -> None:
        """After a strategy error: write the private events not yet delivered to the output
        (the run's record of what the exchange did), without calling any strategy."""
        self.stats.last_ts_ns = self.clock.now_ns
        while self._private:
            event = self._private.popleft()
            if self.on_private is not None:
                self.on_private(event)

    def _close_positions(self) -> None:
        for strategy in self.strategies:
            for order in self.open_orders(strategy, None):
                if order.type == "limit":
                    self.exchange.cancel(order.id, self.clock.now_ns)
        self._end_step()
        for strategy in self.strategies:
            for instrument, held in self.results.positions(strategy.name).items():
                request = OrderRequest(
                    instrument=instrument,
                    direction="sell" if held > 0 else "buy",
                    type="market",
                    quantity=abs(held),
                )
                order_id = self.exchange.submit(request, self.clock.now_ns)
                self._owners[order_id] = strategy
                self._requests[order_id] = request
                self._finalizing.add(order_id)
                self._book_unbooked()
        self._end_step()

    def _end_step(self) -> None:
        """Let what was just sent reach the venue; fill what waits for a bar at the last price."""
        self._settle()
        self._advance(self.clock.now_ns + self._latency_ns)
        self.exchange.fill_waiting_at_last(self.clock.now_ns)
        self._settle()

    def _book_unbooked(self) -> None:
        unbooked, self._unbooked = self._unbooked, []
        for event in unbooked:
            self._account_for(event)

    def position_of(self, strategy: Strategy, instrument: str) -> Decimal:
        """A strategy's own net position in an instrument (base), from its own fills."""
        return self.results.position(strategy.name, instrument)

    # --- commands from strategies ---------------------------------------------------------------

    def queue_order(
        self,
        strategy: Strategy,
        direction: str,
        instrument: str,
        type_: str,
        *,
        quantity: Decimal | str | None = None,
        price: Decimal | str | None = None,
        value: Decimal | str | None = None,
        time_in_force: str = "gtc",
        post_only: bool = False,
        client_order_id: str | None = None,
        stop_loss_price: Decimal | str | None = None,
    ) -> OrderTicket:
        """Queue an order for ``strategy``; it is submitted when the callback returns."""
        request = OrderRequest(
            instrument=instrument,
            direction=direction,  # type: ignore[arg-type]
            type=type_,  # type: ignore[arg-type]
            quantity=_decimal(quantity, "quantity"),
            price=_decimal(price, "price"),
            value=_decimal(value, "value"),
            time_in_force=time_in_force,  # type: ignore[arg-type]
            post_only=post_only,
            client_order_id=client_order_id,
            stop_loss_price=_decimal(stop_loss_price, "stop_loss_price"),
        )
        ticket = OrderTicket(client_order_id)

        def submit() -> None:
            order_id = self.exchange.submit(request, self.clock.now_ns)
            ticket.order_id = order_id
            self._owners[order_id] = strategy
            self._requests[order_id] = request
            self._book_unbooked()

        self._commands.append(submit)
        return ticket

    def queue_cancel(self, strategy: Strategy, order_id: str) -> None:
        """Queue a cancel; it is sent when the callback returns."""
        self._commands.append(lambda: self.exchange.cancel(order_id, self.clock.now_ns))

    def open_orders(self, strategy: Strategy, instrument: str | None) -> list[OrderView]:
        """The strategy's own resting orders."""
        return [
            o for o in self.exchange.open_orders(instrument) if self._owners.get(o.id) is strategy
        ]

    # --- market-data bookkeeping ---------------------------------------------------------------

    def trade_arrays(self, instrument: str, n: int | None) -> TradeArrays:
        return self._trade_hist.get(instrument, _EMPTY_TRADES).last(0 if n == 0 else n)

    def bar_arrays(self, instrument: str, n: int | None) -> BarArrays:
        return self._bar_hist.get(instrument, _EMPTY_BARS).last(0 if n == 0 else n)

    def _record_trade(self, trade: ev.Trade) -> None:
        hist = self._trade_hist.get(trade.instrument)
        if hist is None:
            cap = max(s.trade_history for s in self.strategies)
            hist = self._trade_hist[trade.instrument] = TradeHistory(cap)
        hist.append(trade.ts_event_ns, trade.price, trade.size, trade.side)

    def _record_bar(self, bar: ev.Bar) -> None:
        hist = self._bar_hist.get(bar.instrument)
        if hist is None:
            cap = max(s.bar_history for s in self.strategies)
            hist = self._bar_hist[bar.instrument] = BarHistory(cap)
        hist.append(bar.ts_event_ns, bar.open, bar.high, bar.low, bar.close, bar.volume)

    def _book_snapshot(self, snap: ev.BookSnapshot) -> None:
        book = self.books.get(snap.instrument)
        if book is None:
            book = self.books[snap.instrument] = MarketBook(snap.instrument)
        book.apply_snapshot(snap)
        self._book_venue[snap.instrument] = snap.venue

    def _book_delta(self, delta: ev.BookDelta) -> None:
        book = self.books.get(delta.instrument)
        if book is not None:
            book.apply_delta(delta)

    # --- clock, connections, errors --------------------------------------------------------------

    def _start(self, ts_ns: int) -> None:
        self._started = True
        self.clock.now_ns = ts_ns
        self.stats.first_ts_ns = ts_ns
        for hook in self.start_hooks:
            hook(ts_ns)
        for strategy in self.strategies:
            self.deliver(strategy, "on_start")

    def _advance(self, ts_ns: int) -> None:
        self.clock.advance_to(ts_ns)
        self.exchange.advance(self.clock.now_ns)
        if self._private or self._commands:
            self._settle()

    def _connection(self, line: ConnectedLine | DisconnectedLine | SubscribedLine) -> None:
        event: ev.Connected | ev.Disconnected | ev.Subscribed
        if type(line) is ConnectedLine:
            self.stats.connects += 1
            event = ev.Connected(line.p, line.c, line.t, line.url)
        elif type(line) is DisconnectedLine:
            self.stats.disconnects += 1
            event = ev.Disconnected(line.p, line.c, line.t, line.reason)
            self.exchange.on_disconnect(line.p)
            for instrument, venue in self._book_venue.items():
                if venue == line.p:
                    self.books[instrument].trusted = False
            codec = self.codecs.get(line.p)
            if codec is not None:
                codec.reset()
        else:
            assert type(line) is SubscribedLine
            instruments = tuple(sorted({s.symbol for s in line.subscriptions}))
            event = ev.Subscribed(line.p, line.c, line.t, instruments)
        for strategy in self.strategies:
            self.deliver(strategy, "on_connection", event)

    def _count_ack(self, _: Ack) -> None:
        self.stats.acks += 1

    def _count_pong(self, _: Pong) -> None:
        self.stats.pongs += 1

    def _provider_error(self, error: ErrorReply) -> None:
        self.stats.provider_errors += 1
        self._once(
            ("provider", str(error.code)),
            "%s error %s: %s",
            error.provider,
            error.code,
            error.message,
        )

    def _decode_failed(self, exc: ProviderProtocolError) -> None:
        self.stats.decode_errors += 1
        self._once(("decode", exc.provider + exc.reason[:40]), "undecodable frame: %s", exc)

    def _no_codec(self, line: Frame) -> None:
        self.stats.decode_errors += 1
        self._once(("codec", line.p), "no codec for provider %r; its frames are skipped", line.p)

    def _once(self, key: tuple[str, str], message: str, *args: object) -> None:
        if key not in self._reported:
            self._reported.add(key)
            log.warning(message, *args)

    def _strategy_failed(
        self, strategy: Strategy, callback: str, event: object, exc: Exception
    ) -> None:
        described = _describe(event)
        if not self._isolate:
            raise StrategyError(strategy.name, callback, described, exc) from exc
        self.stats.strategy_errors += 1
        self._once(
            ("strategy", strategy.name + callback),
            "strategy %r raised %s in %s(%s); isolated, the run goes on",
            strategy.name, type(exc).__name__, callback, described,
        )  # fmt: skip


def _overrides(strategy: Strategy, name: str) -> bool:
    return getattr(type(strategy), name) is not getattr(Strategy, name)


def _decimal(value: Decimal | str | int | None, name: str) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        raise ConfigError(f"{name} must be a Decimal or a string, not a float ({value!r})")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ConfigError(f"{name} is not a number: {value!r}") from exc


def _describe(event: object) -> str:
    if event is None:
        return ""
    text = repr(event)
    return text if len(text) <= 160 else text[:157] + "..."
