"""Private events, encoded exactly as the Cryptomus private channels document them.

Each frame gets ``id`` = a running counter per exchange, as a string (``"1"``, ``"2"``...), as
the documented examples write it. Times are Unix seconds of the simulated clock. Money is
rendered with ``framework.money``: 16 decimals, and ``newBalance`` with 8, as documented.

``order_update`` fields, per type (as the documented examples show them):

* ``created``: no ``updateTs``, ``finishTs``, ``state`` or ``internalState``;
* ``updated``: adds ``updateTs`` (the fill's time);
* ``finished``: adds ``finishTs``, ``state`` and ``internalState`` (see ``orders``).

``price`` is the limit price, and 0 for a market order. ``quantity`` is the requested base
quantity (0 for a market buy by value); ``value`` is price x quantity for a limit order, and for
a market order the requested quote value (0 for an order by quantity), so neither changes over
the order's life. ``filledQuantity`` and ``filledValue`` are the sums of the order's deals.

``deal_update``: one per fill. ``dealId`` is one per order (made at its first fill),
``transactionId`` one per fill, ``dealState`` always ``completed`` (the fill is committed),
``fee`` and ``feeCurrency`` in the market's quote currency, ``tradeRole`` ``maker`` or ``taker``.

Each fill is also handed, as a :class:`DealRecord` with its exact Decimals, to ``on_deal``: the
one record of a fill that the run's views (``fills.csv``, the statistics) are made from, so
nothing downstream parses a rendered string back or looks an order up by its deal id.

``balance_update``: ``walletId`` is stable per currency, derived from the seed and the currency
code alone, so it is the same in every run with the same seed.

**Lines, not Structs.** In a run, each frame is written straight to its line (the bytes
``msgspec.json.encode`` gives for its Struct, so ``events.jsonl`` is the same) from templates
made once per order (``order_update``), market (``deal_update``) and currency
(``balance_update``), with only the changing fields rendered into them. Strings that come from
a user or a config (client order ids, symbols, currency codes) are escaped by msgspec itself
when a template is made; ids are ULIDs (Crockford base32) and amounts decimal digits, written
as they are. The lines are queued (:class:`PrivateLines`) with what routing needs (the event's
kind and order id); a Struct is decoded from a line only for someone who reads Structs (a
strategy that listens, the run database, the dashboard, a resumed session's check). Given a
plain ``emit`` callable instead (the venue used on its own), each frame is passed as its Struct.
``order_rejected`` is rare: it is built as a Struct and encoded by msgspec.

This module builds and hands over frames; it decides nothing about orders or balances.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final, Literal

import msgspec

from framework import events as ev
from framework.exchange.accounts import BalanceChange
from framework.exchange.matching import Fill
from framework.exchange.orders import Order, OrderRequest, finished_states
from framework.exchange.validation import Rejection
from framework.ids import UlidGenerator
from framework.instruments import to_cryptomus
from framework.money import CONTEXT, ZERO, quantize, render, render8

__all__ = [
    "BALANCE",
    "CREATED",
    "DEAL",
    "FINISHED",
    "REJECTED",
    "UPDATED",
    "DealRecord",
    "Emitted",
    "Frames",
    "PrivateLines",
    "decode",
    "seconds",
    "wallet_id",
]

_NS_PER_S: Final = 1_000_000_000
# Wallets are made "when the account opened"; a fixed instant keeps their ids stable.
_WALLET_EPOCH_NS: Final = 1_704_067_200 * _NS_PER_S  # 2024-01-01T00:00:00Z
_ZERO_TEXT: Final = render(ZERO)  # "0.0000000000000000"
_Q16: Final = Decimal("1e-16")  # the events' 16 decimals
_PADS: Final = tuple("0" * n for n in range(17))  # money.render's zeros

# The kinds of private events, as queued: an index into a table of routes (framework.desk).
CREATED: Final = 0  # order_update "created"
UPDATED: Final = 1  # order_update "updated"
FINISHED: Final = 2  # order_update "finished"
DEAL: Final = 3  # deal_update
BALANCE: Final = 4  # balance_update
REJECTED: Final = 5  # order_rejected

Emitted = tuple[int, bytes, str]
"""One private event as queued: (kind, its line, the order id it is about or ""); the line is
empty while lines are deferred (:attr:`PrivateLines.defer`: nobody reads it)."""
_KINDS: Final = {"created": CREATED, "updated": UPDATED, "finished": FINISHED}
_TYPES: Final = ("created", "updated", "finished")  # order_update's type, by kind
_BATCH: Final = 1024  # deferred events rendered together (Frames.settle)
_DEFERRED_BALANCE: Final[Emitted] = (BALANCE, b"", "")

_DECODERS: Final = (
    msgspec.json.Decoder(ev.OrderUpdate),
    msgspec.json.Decoder(ev.OrderUpdate),
    msgspec.json.Decoder(ev.OrderUpdate),
    msgspec.json.Decoder(ev.DealUpdate),
    msgspec.json.Decoder(ev.BalanceUpdate),
    msgspec.json.Decoder(ev.OrderRejected),
)
_ENCODER: Final = msgspec.json.Encoder()


def decode(kind: int, line: bytes) -> ev.PrivateEvent:
    """The Struct of a queued line of ``kind``: equal to the one its line was encoded from."""
    event: ev.PrivateEvent = _DECODERS[kind].decode(line)
    return event


class DealRecord(msgspec.Struct, frozen=True, gc=False):
    """One fill as the venue made it, money exact: what its ``deal_update`` renders, each
    amount at the event's 16 decimals."""

    ts_ns: int  # the fill's simulated time in whole seconds (its ``committedAt``), in ns
    order_id: str
    deal_id: str
    transaction_id: str
    instrument: str  # canonical id, "BTC/USDT"
    symbol: str  # Cryptomus spelling, "BTC_USDT"
    side: Literal["buy", "sell"]
    role: Literal["maker", "taker"]
    price: Decimal
    quantity: Decimal  # base
    value: Decimal  # quote, price x quantity at the market's quote precision
    fee: Decimal
    fee_currency: str


def seconds(ts_ns: int) -> int:
    """Unix seconds of a simulated time in ns."""
    return ts_ns // _NS_PER_S


def wallet_id(seed: int, currency: str) -> str:
    """The stable wallet id (a ULID) of ``currency`` for a run seeded with ``seed``."""
    digest = hashlib.sha256(f"{seed}:{currency}".encode()).digest()
    return UlidGenerator(int.from_bytes(digest[:8], "big")).new(_WALLET_EPOCH_NS)


def _nothing() -> None:
    pass


class PrivateLines:
    """Where a run's venue writes its private events' lines, and queues those someone reads.

    Each line is appended to :attr:`log` (``events.jsonl``'s buffer) as it is made, and
    :attr:`flush` is called once the log holds :attr:`limit` bytes. An event is also put as an
    :data:`Emitted` ``(kind, line, key)`` when something is to be done at its delivery: every
    ``finished`` order update (the order is let go of) and every balance update (the equity
    sampler follows them), and every event while :attr:`structs` is set (someone reads
    Structs: a strategy that listens, the run database, the dashboard...).

    Args:
        put: receives the events to deliver, in the order they happen (the dispatcher's queue).
        on_created: called as an order is accepted (its ``created`` update is made).
        on_rejected: called with each refusal as it is made.
    """

    __slots__ = (
        "balance_queued", "defer", "flush", "limit", "log", "on_created", "on_rejected", "put",
        "settle", "structs",
    )  # fmt: skip

    def __init__(
        self,
        put: Callable[[Emitted], None],
        on_created: Callable[[], None] = _nothing,
        on_rejected: Callable[[ev.OrderRejectedInfo], None] | None = None,
    ) -> None:
        self.put = put
        self.on_created = on_created
        self.on_rejected = on_rejected
        self.structs = False
        # Nobody reads the lines until the log is flushed: the venue may keep compact records
        # and render them later, in a batch (:meth:`Frames.settle`).
        self.defer = False
        # While deferred, one balance update stands for all those made until it is delivered
        # (their delivery runs no strategy: only the equity sampler follows, once is enough);
        # this says one is queued (the route that delivers it clears it).
        self.balance_queued = False
        self.log = bytearray()
        self.limit = 1 << 16
        self.flush: Callable[[], None] = self.log.clear  # no log: lines are dropped
        # Renders the records kept back into the log (set by the Frames that writes here).
        self.settle: Callable[[], None] = _nothing


class Frames:
    """Builds private-event frames and hands each over in the order they happen: as a line to
    ``emit`` if it is a :class:`PrivateLines`, else as its Struct.

    While the lines are deferred (:attr:`PrivateLines.defer`: nobody reads a line or a Struct
    before the log is flushed), an event is kept as a compact record of what its line says,
    taken as it happens (the order, its filled amounts then, the fill's :class:`DealRecord`,
    the :class:`BalanceChange`), and :meth:`settle` renders the records in order, the running
    ``id`` included, a batch at a time: when :data:`_BATCH` are waiting, before the log is
    flushed or the readers change, and before an ``order_rejected`` (rendered at once). The
    lines are the same bytes either way; what is queued for delivery carries an empty line.
    """

    def __init__(
        self,
        emit: Callable[[ev.PrivateEvent], None] | PrivateLines,
        seed: int,
        on_deal: Callable[[DealRecord], None] | None = None,
    ) -> None:
        if isinstance(emit, PrivateLines):
            lines = emit
        else:
            structs = emit

            def put(item: Emitted) -> None:
                structs(decode(item[0], item[1]))

            lines = PrivateLines(put)
            lines.structs = True
        self._lines = lines
        lines.settle = self.settle
        self._on_deal = on_deal
        self._seed = seed
        self._count = 0
        # the events kept back while lines are deferred, in order (see the class doc)
        self._pending: list[tuple[Any, ...]] = []
        # currency -> the fixed head of its balance_update, its last new balance and its text
        self._balances: dict[str, list[Any]] = {}
        # instrument -> the fixed parts of its deal_update (before transactionId, tradeRole),
        # its symbol as the lines write it, and its symbol
        self._deals: dict[str, tuple[str, str, str, str]] = {}

    def order(
        self, kind: Literal["created", "updated", "finished"], order: Order, ts_ns: int
    ) -> None:
        """An ``order_update`` of type ``kind`` describing ``order`` as it is now."""
        code = _KINDS[kind]
        lines = self._lines
        if lines.defer:
            pending = self._pending
            pending.append((code, order, ts_ns, order.filled_qty, order.filled_value))
            if len(pending) >= _BATCH:
                self.settle()
            if code == CREATED:
                lines.on_created()
            elif code == FINISHED:
                lines.put((FINISHED, b"", order.id))
            return
        line = self._order_line(code, order, ts_ns, order.filled_qty, order.filled_value)
        log = lines.log
        log += line
        if len(log) >= lines.limit:
            lines.flush()
        if code == CREATED:
            if lines.structs:
                lines.put((CREATED, line, order.id))
            lines.on_created()
        elif code == FINISHED:
            lines.put((FINISHED, line, order.id))
        elif lines.structs:
            lines.put((UPDATED, line, order.id))

    def deal(
        self, order: Order, fill: Fill, value: Decimal, fee: Decimal, tx_id: str, ts_ns: int
    ) -> None:
        """A ``deal_update`` for one fill of ``order``."""
        # The record holds what the event says: each amount at the event's 16 decimals
        # (money.at16, written out).
        q16, even, context = _Q16, ROUND_HALF_EVEN, CONTEXT
        req = order.req
        parts = self._deals.get(req.instrument) or self._deal_parts(order)
        record = DealRecord(
            ts_ns // _NS_PER_S * _NS_PER_S,
            order.id,
            order.deal_id or "",
            tx_id,
            req.instrument,
            parts[3],
            req.direction,
            fill.role,
            fill.price.quantize(q16, even, context),
            fill.quantity.quantize(q16, even, context),
            value.quantize(q16, even, context),
            fee.quantize(q16, even, context),
            order.rules.quote_currency,
        )
        lines = self._lines
        if lines.defer:
            pending = self._pending
            pending.append((DEAL, order, record, order.filled_qty, order.filled_value))
            if len(pending) >= _BATCH:
                self.settle()
        else:
            line = self._deal_line(order, record, order.filled_qty, order.filled_value)
            log = lines.log
            log += line
            if len(log) >= lines.limit:
                lines.flush()
            if lines.structs:
                lines.put((DEAL, line, order.id))
        if self._on_deal is not None:
            self._on_deal(record)

    def balance(self, change: BalanceChange | None) -> None:
        """A ``balance_update`` for one change of an available balance (nothing for None)."""
        if change is None:
            return
        lines = self._lines
        if lines.defer:
            pending = self._pending
            pending.append((BALANCE, change))
            if len(pending) >= _BATCH:
                self.settle()
            if not lines.balance_queued:
                lines.balance_queued = True
                lines.put(_DEFERRED_BALANCE)
            return
        line = self._balance_line(change)
        log = lines.log
        log += line
        if len(log) >= lines.limit:
            lines.flush()
        lines.put((BALANCE, line, ""))

    def settle(self) -> None:
        """Render the events kept back, in order, into the log (flushed once it is full)."""
        pending = self._pending
        if not pending:
            return
        self._pending = []  # a flush of the log settles again: nothing is rendered twice
        lines = self._lines
        log = lines.log
        order_line, deal_line, balance_line = self._order_line, self._deal_line, self._balance_line
        for record in pending:
            code = record[0]
            if code == DEAL:
                log += deal_line(record[1], record[2], record[3], record[4])
            elif code == BALANCE:
                log += balance_line(record[1])
            else:
                log += order_line(code, record[1], record[2], record[3], record[4])
        if len(log) >= lines.limit:
            lines.flush()

    def _order_line(
        self, code: int, order: Order, ts_ns: int, filled_qty: Decimal, filled_value: Decimal
    ) -> bytes:
        """The line of an ``order_update`` (``code``: CREATED, UPDATED or FINISHED) of
        ``order`` with these filled amounts."""
        fixed = order.rendered
        if fixed is None:
            parts = self._deals.get(order.req.instrument) or self._deal_parts(order)
            fixed = order.rendered = _fixed_fields(order, parts[2], parts[3])
        # Rendered by the deal_update just before (one fill so far), or zero, or now.
        known = order.filled_text
        if known is not None and known[0] is filled_qty and known[1] is filled_value:
            qty_text, value_text = known[2], known[3]
        elif not filled_qty and not filled_value:
            qty_text = value_text = _ZERO_TEXT
        else:
            qty_text, value_text = render(filled_qty), render(filled_value)
        if code == CREATED:
            more = ""
        elif code == FINISHED:
            state, internal = finished_states(order)
            more = (
                f',"finishTs":{ts_ns // _NS_PER_S},"state":"{state}","internalState":"{internal}"'
            )
        else:
            more = f',"updateTs":{ts_ns // _NS_PER_S}'
        self._count += 1
        return (
            f'{{"id":"{self._count}","method":"order_update","data":{{"type":"{_TYPES[code]}'
            f'{fixed[1]}{qty_text}","filledValue":"{value_text}"{fixed[2]}{more}}}}},'
            f'"error":null}}\n'
        ).encode()

    def _deal_line(
        self, order: Order, record: DealRecord, filled_qty: Decimal, filled_value: Decimal
    ) -> bytes:
        """The line of a ``deal_update`` of ``record``, a fill of ``order``, which had
        filled ``filled_qty`` for ``filled_value`` with it."""
        quantity, value = record.quantity, record.value
        # At 16 decimals str() writes exactly the event's text, unless it writes an exponent
        # (zero, or below 1e-6): money.render then.
        quantity_text, value_text = str(quantity), str(value)
        price_text, fee_text = str(record.price), str(record.fee)
        if "E" in quantity_text:
            quantity_text = render(quantity)
        if "E" in value_text:
            value_text = render(value)
        if "E" in price_text:
            price_text = render(record.price)
        if "E" in fee_text:
            fee_text = render(record.fee)
        if filled_qty == quantity and filled_value == value:  # its first fill
            order.filled_text = (filled_qty, filled_value, quantity_text, value_text)
        parts = self._deals[record.instrument]
        self._count += 1
        return (
            f'{{"id":"{self._count}","method":"deal_update","data":{{"info":{{"dealId":"'
            f'{record.deal_id}{parts[0]}{record.transaction_id}","filledPrice":"{price_text}",'
            f'"filledQuantity":"{quantity_text}","filledValue":"{value_text}","fee":"'
            f'{fee_text}{parts[1]}{record.role}","committedAt":{record.ts_ns // _NS_PER_S}}}}},'
            f'"error":null}}\n'
        ).encode()

    def _balance_line(self, change: BalanceChange) -> bytes:
        """The line of a ``balance_update`` of ``change``."""
        known = self._balances.get(change.currency) or self._balance_head(change.currency)
        # The old balance is most often the new one of the currency's last update, rendered
        # then; newBalance's 8 decimals are the 16's when those end in 8 zeros (the 16 are
        # then the value rounded within 1e-16 of a multiple of 1e-8, so rounding it to 8
        # decimals gives that multiple).
        old, new, amount = change.old, change.new, change.amount
        old_text = known[2] if old == known[1] else render(old)
        # money.render of the new balance and the amount, written out for their usual case
        # (plain text with at most 16 decimals, padded with zeros)
        new_text = str(new)
        dot = new_text.find(".")
        pad = 17 + dot - len(new_text)
        if dot < 0 or pad < 0 or "E" in new_text:
            new_text = render(new)
        else:
            new_text += _PADS[pad]
        amount_text = str(amount)
        dot = amount_text.find(".")
        pad = 17 + dot - len(amount_text)
        if dot < 0 or pad < 0 or "E" in amount_text:
            amount_text = render(amount)
        else:
            amount_text += _PADS[pad]
        new8 = new_text[:-8] if new_text.endswith("00000000") else render8(new)
        known[1], known[2] = new, new_text
        self._count += 1
        return (
            f'{{"id":"{self._count}{known[0]}{amount_text}","oldBalance":"'
            f'{old_text}","newBalance":"{new8}"}}}},"error":null}}\n'
        ).encode()

    def rejected(
        self,
        rejection: Rejection,
        order_id: str,
        req: OrderRequest | None,
        order_type: str,
        ts_ns: int,
    ) -> None:
        """An ``order_rejected`` for a refused order or cancel (``order_type`` ``"cancel"``).

        ``req`` is the refused order's request, or for a cancel the named order's, if known.
        """
        info = ev.OrderRejectedInfo(
            code=rejection.code,
            message=rejection.message,
            symbol=to_cryptomus(req.instrument) if req else "",
            direction=req.direction if req and order_type != "cancel" else "",
            orderType=order_type,
            clientOid=req.client_order_id if req else None,
            orderId=order_id,
            ts=seconds(ts_ns),
        )
        self.settle()  # the lines kept back come first
        self._count += 1
        event = ev.OrderRejected(id=str(self._count), data=ev.OrderRejectedData(info=info))
        line = _ENCODER.encode(event) + b"\n"
        lines = self._lines
        log = lines.log
        log += line
        if len(log) >= lines.limit:
            lines.flush()
        if lines.structs:
            lines.put((REJECTED, line, order_id))
        if lines.on_rejected is not None:
            lines.on_rejected(info)

    def _deal_parts(self, order: Order) -> tuple[str, str, str, str]:
        plain = to_cryptomus(order.req.instrument)
        symbol = _quoted(plain)
        parts = (
            f'","symbol":{symbol},"dealState":"completed","transactionId":"',
            f'","feeCurrency":{_quoted(order.rules.quote_currency)},"tradeRole":"',
            symbol,
            plain,
        )
        self._deals[order.req.instrument] = parts
        return parts

    def _balance_head(self, currency: str) -> list[Any]:
        wallet = wallet_id(self._seed, currency)
        head = (
            f'","method":"balance_update","data":{{"info":{{"walletId":"{wallet}",'
            f'"currencyCode":{_quoted(currency)},"amount":"'
        )
        known = self._balances[currency] = [head, None, ""]
        return known


# The lines are written in f-strings, field by field in the Structs' order. Text from a config
# or a user (symbols, currency codes, client order ids) is msgspec's own encoding of it, its
# escaping (_quoted). Order, deal, transaction and wallet ids are ULIDs, an order's type and
# direction are checked before the order exists (framework.exchange.validation), states are
# the venue's own words and amounts are digits: they are put in as they are.


def _quoted(text: str | None) -> str:
    """``text`` as msgspec encodes it in a line: quoted and escaped (``null`` for None)."""
    return _ENCODER.encode(text).decode()


def _fixed_fields(order: Order, symbol_json: str, symbol: str) -> tuple[str, str, str]:
    """The symbol of an ``order_update`` and its parts that never change: from the end of
    ``type`` to ``filledQuantity``, and ``clientOid`` and ``createTs`` (``symbol``, and as
    the line writes it, ``symbol_json``)."""
    req = order.req
    limit = req.type == "limit"
    price = req.price if limit and req.price is not None else ZERO
    quantity = req.quantity if req.quantity is not None else ZERO
    if limit:
        value = quantize(price * quantity, order.rules.quote_prec)
    else:
        value = req.value if req.value is not None else ZERO
    head = (
        f'","info":{{"id":"{order.id}","symbol":{symbol_json},"orderType":"{req.type}",'
        f'"direction":"{req.direction}","price":"{render(price) if price else _ZERO_TEXT}",'
        f'"quantity":"{render(quantity) if quantity else _ZERO_TEXT}",'
        f'"value":"{render(value) if value else _ZERO_TEXT}","filledQuantity":"'
    )
    client = "null" if req.client_order_id is None else _quoted(req.client_order_id)
    tail = f',"clientOid":{client},"createTs":{order.create_ts}'
    return symbol, head, tail
