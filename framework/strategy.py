"""The Strategy base class: what users subclass.

A strategy is a set of plain, synchronous callbacks (``on_trade``, ``on_bar``...). It never
awaits, never reads the wall clock, and cannot tell a live run from a replay. Orders placed
inside a callback are queued and applied after the event's last handler has returned (every
strategy has seen it), in the order they were placed: the barrier rule of ``framework.bus``.
Their results (``order_update``, ``deal_update``, ``balance_update`` or ``order_rejected``)
come back through the callbacks.

The class is three small ones joined: :class:`Callbacks` (what to override), :class:`Orders`
and :class:`Reads` (what to call); users subclass :class:`Strategy`.

Parameters are declared on the class with :func:`param` and set from the config file
(``[params]``) or the command line (``--set name=value``)::

    class SmaCross(Strategy):
        fast = param(10, help="fast SMA length, in bars")
        slow = param(30, help="slow SMA length, in bars")

        def on_bar(self, bar: Bar) -> None:
            closes = self.bars(bar.instrument, self.slow).close
            ...
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, overload

from framework import events as ev
from framework.clock import NS_PER_SECOND
from framework.errors import ConfigError
from framework.exchange.orders import OrderRequest
from framework.history import BarArrays, TradeArrays

if TYPE_CHECKING:
    from framework.bus import Target
    from framework.exchange import OrderView
    from framework.loop import Engine
    from framework.marketbook import MarketBook

__all__ = ["NS_PER_SECOND", "Callbacks", "OrderTicket", "Param", "Strategy", "param"]

T = TypeVar("T")


class Param(Generic[T]):
    """A strategy parameter: a typed class attribute with a default and a help text."""

    def __init__(self, default: T, help: str = "") -> None:
        self.default = default
        self.help = help
        self.kind: type = type(default)
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> Param[T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> T: ...
    def __get__(self, obj: object | None, owner: type) -> Param[T] | T:
        if obj is None:
            return self
        value: T = obj.__dict__.get(self.name, self.default)
        return value

    def __set__(self, obj: object, value: Any) -> None:
        obj.__dict__[self.name] = self.convert(value)

    def convert(self, value: Any) -> T:
        """Coerce a config value or a ``--set`` string to the default's type."""
        try:
            if self.kind is bool and isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in {"true", "false", "1", "0", "yes", "no"}:
                    raise ValueError(value)
                return lowered in {"true", "1", "yes"}  # type: ignore[return-value]
            if isinstance(value, self.kind) and not (self.kind is int and isinstance(value, bool)):
                return value  # type: ignore[return-value]
            if self.kind is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return self.kind(value)  # type: ignore[no-any-return]
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise ConfigError(
                f"parameter {self.name!r} expects {self.kind.__name__}, got {value!r}"
            ) from exc


def param(default: T, *, help: str = "") -> Any:
    """Declare a strategy parameter with a default (its type is the default's type)."""
    return Param(default, help)


class OrderTicket:
    """What a place-order call returns. ``order_id`` is set when the loop applies the order,
    right after the callback that placed it returns."""

    __slots__ = ("client_order_id", "order_id")

    def __init__(self, client_order_id: str | None) -> None:
        self.client_order_id = client_order_id
        self.order_id: str | None = None

    def __repr__(self) -> str:
        return f"OrderTicket(order_id={self.order_id!r}, client_order_id={self.client_order_id!r})"


class Callbacks:
    """The callbacks a strategy overrides; the run calls only those overridden."""

    def on_start(self) -> None:
        """Called once before the first event."""

    def on_stop(self) -> None:
        """Called once after the last event."""

    def on_trade(self, trade: ev.Trade) -> None:
        """A trade printed."""

    def on_bar(self, bar: ev.Bar) -> None:
        """A bar closed."""

    def on_bar_update(self, bar: ev.BarUpdate) -> None:
        """The bar still forming changed."""

    def on_book(self, book: MarketBook, event: ev.BookSnapshot | ev.BookDelta) -> None:
        """The L2 book of ``event.instrument`` changed; ``book`` is its state after the change."""

    def on_ticker(self, ticker: ev.Ticker) -> None:
        """24-hour statistics changed."""

    def on_last_price(self, last: ev.LastPrice) -> None:
        """The last price changed."""

    def on_order_update(self, update: ev.OrderUpdate) -> None:
        """One of this strategy's orders was created, updated (filled in part) or finished."""

    def on_deal(self, deal: ev.DealUpdate) -> None:
        """One of this strategy's orders filled (in part)."""

    def on_balance(self, balance: ev.BalanceUpdate) -> None:
        """A balance of the account changed."""

    def on_order_rejected(self, rejection: ev.OrderRejected) -> None:
        """An order or cancel of this strategy was refused (code and message inside)."""

    def on_timer(self, name: str, ts_ns: int) -> None:
        """A timer set with :meth:`set_timer` or :meth:`every` fired."""

    def on_connection(self, event: ev.Connected | ev.Disconnected | ev.Subscribed) -> None:
        """A provider connection opened, closed or (re)subscribed."""


class _Attached:
    """The link from a strategy to the run it is attached to (set by the run, once)."""

    name: str
    _engine: Engine | None

    def _run(self) -> Engine:
        if self._engine is None:
            raise RuntimeError(
                f"strategy {self.name!r} is not attached to a run yet: use it from a callback"
            )
        return self._engine


class Orders(_Attached):
    """Placing and cancelling orders. Each is queued and applied after the event being handled
    (the barrier rule, ``framework.bus``)."""

    def buy_limit(
        self,
        instrument: str,
        quantity: Decimal | str,
        price: Decimal | str,
        *,
        time_in_force: str = "gtc",
        post_only: bool = False,
        client_order_id: str | None = None,
        stop_loss_price: Decimal | str | None = None,
    ) -> OrderTicket:
        """Place a limit buy (``time_in_force`` ``gtc``, ``ioc`` or ``fok``)."""
        return self._limit(
            "buy", instrument, quantity, price, time_in_force, post_only, client_order_id,
            stop_loss_price,
        )  # fmt: skip

    def sell_limit(
        self,
        instrument: str,
        quantity: Decimal | str,
        price: Decimal | str,
        *,
        time_in_force: str = "gtc",
        post_only: bool = False,
        client_order_id: str | None = None,
        stop_loss_price: Decimal | str | None = None,
    ) -> OrderTicket:
        """Place a limit sell (``time_in_force`` ``gtc``, ``ioc`` or ``fok``)."""
        return self._limit(
            "sell", instrument, quantity, price, time_in_force, post_only, client_order_id,
            stop_loss_price,
        )  # fmt: skip

    def buy_market(
        self,
        instrument: str,
        *,
        value: Decimal | str | None = None,
        quantity: Decimal | str | None = None,
        client_order_id: str | None = None,
    ) -> OrderTicket:
        """Buy at market, spending ``value`` in the quote currency or buying ``quantity`` base."""
        return self._order(
            "buy", instrument, "market", quantity=quantity, value=value,
            client_order_id=client_order_id,
        )  # fmt: skip

    def sell_market(
        self, instrument: str, quantity: Decimal | str, *, client_order_id: str | None = None
    ) -> OrderTicket:
        """Sell ``quantity`` base at market."""
        return self._order(
            "sell", instrument, "market", quantity=quantity, client_order_id=client_order_id
        )

    def cancel(self, order_id: str) -> None:
        """Cancel a resting limit order by its id."""
        self._run().desk.queue_cancel(order_id)

    def cancel_all(self, instrument: str | None = None) -> None:
        """Cancel every open order of this strategy (on one instrument, if given)."""
        for order in self._run().desk.open_orders(self, instrument):  # type: ignore[arg-type]
            self.cancel(order.id)

    def _limit(
        self,
        direction: str,
        instrument: str,
        quantity: Decimal | str,
        price: Decimal | str,
        time_in_force: str,
        post_only: bool,
        client_order_id: str | None,
        stop_loss_price: Decimal | str | None,
    ) -> OrderTicket:
        return self._order(
            direction, instrument, "limit", quantity=quantity, price=price,
            time_in_force=time_in_force, post_only=post_only, client_order_id=client_order_id,
            stop_loss_price=stop_loss_price,
        )  # fmt: skip

    def _order(
        self,
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
        return self._run().desk.queue_order(self, request)  # type: ignore[arg-type]


class Reads(_Attached):
    """What a strategy may read of the run (time, account, market state) and its timers."""

    _timer_target: Target

    @property
    def now_ns(self) -> int:
        """The loop's clock, integer ns since the Unix epoch."""
        return self._run().clock.now_ns

    def balance(self, currency: str) -> tuple[Decimal, Decimal]:
        """(available, held) of one currency."""
        return self._run().exchange.balance(currency)

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """(available, held) of every currency, sorted by currency code."""
        return self._run().exchange.balances()

    def position(self, instrument: str) -> Decimal:
        """This strategy's own net position in the instrument (base), from its own fills.

        Several strategies in one run share the account's funds (:meth:`balance`) but each sees
        only its own position: negative after selling more than it bought (base it did not buy,
        from the starting balance).
        """
        return self._run().position_of(self, instrument)  # type: ignore[arg-type]

    def open_orders(self, instrument: str | None = None) -> list[OrderView]:
        """This strategy's resting orders (on one instrument, if given), oldest first."""
        return self._run().desk.open_orders(self, instrument)  # type: ignore[arg-type]

    def last_price(self, instrument: str) -> float | None:
        """The last traded price seen for an instrument, or None before the first."""
        return self._run().state.last_price(instrument)

    def book(self, instrument: str) -> MarketBook | None:
        """The current L2 book of an instrument, or None if no depth feed carries it."""
        return self._run().state.book(instrument)

    def trades(self, instrument: str, n: int | None = None) -> TradeArrays:
        """The last ``n`` trades as numpy views (see ``trade_history``)."""
        return self._run().state.trades(instrument, n)

    def bars(
        self, instrument: str, n: int | None = None, *, interval: str | None = None
    ) -> BarArrays:
        """The last ``n`` closed bars as numpy views (see ``bar_history``).

        With ``interval``, the bars of that interval built for :meth:`subscribe_bars`. Without
        it, the feed's own bars; on a feed without bars, those of the first interval this
        strategy subscribed to for ``instrument``.
        """
        run = self._run()
        if interval is not None:
            return run.bar_service.bars(instrument, interval, n)
        arrays = run.state.bars(instrument, n)
        if len(arrays.close) == 0:
            built = run.bar_service.first_bars(self, instrument, n)
            if built is not None:
                return built
        return arrays

    def subscribe_bars(self, instrument: str, interval: str) -> None:
        """Receive ``instrument``'s bars of ``interval`` in ``on_bar`` (call from ``on_start``).

        The bars are built from the instrument's trades (or from the feed's shorter bars) and
        closed by the simulated clock, epoch-aligned; an interval without a trade makes no bar
        (``framework.bars``). Several intervals may be subscribed; ``bar.interval_ns`` tells
        them apart, and ``bars(instrument, n, interval=...)`` reads each. Only a strategy that
        defines ``on_bar`` receives them.

        Raises:
            ConfigError: ``interval`` is not a bar length (``1m``, ``5m``, ``1h``, ``1d``...).
        """
        history: int = getattr(self, "bar_history", 1000)
        self._run().bar_service.subscribe(self, instrument, interval, history)

    def set_timer(self, name: str, at_ns: int) -> None:
        """Call :meth:`on_timer` once, at simulated time ``at_ns``."""
        self._run().clock.call_at(at_ns, name, self._fire)

    def every(self, seconds: float, name: str) -> None:
        """Call :meth:`on_timer` every ``seconds`` of simulated time."""
        self._run().clock.call_every(round(seconds * NS_PER_SECOND), name, self._fire)

    def _fire(self, name: str, ts_ns: int) -> None:
        self._run().dispatcher.deliver((self._timer_target,), name, ts_ns)


class Strategy(Callbacks, Orders, Reads):
    """Base class of user strategies. Override the ``on_*`` callbacks you need
    (:class:`Callbacks`); place orders (:class:`Orders`); read the run (:class:`Reads`).

    Class attributes:
        trade_history: trades kept per instrument for :meth:`trades` (0 keeps none).
        bar_history: closed bars kept per instrument for :meth:`bars`.
    """

    trade_history: ClassVar[int] = 1000
    bar_history: ClassVar[int] = 1000

    def __init__(self, name: str | None = None) -> None:
        self.name = name or type(self).__name__
        self.log = logging.getLogger(f"papertrade.strategy.{self.name}")
        self._engine = None

    # --- parameters --------------------------------------------------------------------------

    @classmethod
    def params(cls) -> dict[str, Param[Any]]:
        """The declared parameters, by name, in declaration order (base classes first)."""
        found: dict[str, Param[Any]] = {}
        for klass in reversed(cls.__mro__):
            for key, value in vars(klass).items():
                if isinstance(value, Param):
                    found[key] = value
        return found

    def set_params(self, values: dict[str, Any]) -> None:
        """Set parameters by name; an unknown name is a ConfigError that lists the known ones."""
        known = self.params()
        for key, value in values.items():
            if key not in known:
                names = ", ".join(known) or "none"
                raise ConfigError(
                    f"strategy {self.name!r} has no parameter {key!r} (parameters: {names})"
                )
            setattr(self, key, value)

    def param_values(self) -> dict[str, Any]:
        """Current parameter values, by name."""
        return {key: getattr(self, key) for key in self.params()}

    def _attach(self, engine: Engine) -> None:
        """Called once by the run being wired: from now on orders and reads go to it."""
        if self._engine is not None and self._engine is not engine:
            raise RuntimeError(f"strategy {self.name!r} is already attached to another run")
        self._engine = engine
        self._timer_target = (self.on_timer, (self, "on_timer"))


def _decimal(value: Decimal | str | int | None, name: str) -> Decimal | None:
    """A price or quantity from a strategy: a Decimal, a string or an int; never a float."""
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        raise ConfigError(f"{name} must be a Decimal or a string, not a float ({value!r})")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ConfigError(f"{name} is not a number: {value!r}") from exc
