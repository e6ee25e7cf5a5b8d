"""The venue writes each private event's line itself: it must be, byte for byte, what msgspec
writes for the event's Struct, whatever text a user or a config puts in it.

The expected Struct is built here field by field from the order, the fill and the balance
change, as the Cryptomus private channels lay it out, with ``framework.money``'s renderings;
msgspec encodes it. Symbols, currency codes and client order ids are drawn from any text
(quotes, backslashes, control characters, "%", braces, non-ASCII), amounts from any Decimal.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import events as ev
from framework.exchange import frames as frames_module
from framework.exchange.accounts import BalanceChange
from framework.exchange.frames import (
    BALANCE,
    CREATED,
    DEAL,
    FINISHED,
    UPDATED,
    DealRecord,
    Emitted,
    Frames,
    PrivateLines,
    decode,
    wallet_id,
)
from framework.exchange.matching import Fill
from framework.exchange.orders import Order, OrderRequest, finished_states
from framework.exchange.rules import MarketRules
from framework.money import ZERO, at16, quantize, render, render8

_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)  # no lone surrogates
_HOSTILE = st.one_of(_TEXT, st.sampled_from(['"', "\\", "%s", "%%d", "{}", "\n\t\x00\x1f", "é€"]))
_AMOUNT = st.decimals(
    min_value=Decimal(0), max_value=Decimal("1e12"), allow_nan=False, allow_infinity=False
)
_POSITIVE = _AMOUNT.filter(lambda d: d > 0)
_ORDER_ID = "01JYPFF906C42657VFQVC2R1YD"
_DEAL_ID = "01JYPFFCWY0MQ6QAMMAQHYE1M2"
_TX_ID = "01JYPFFCWY0MQ6QAMMAQHYE1M3"
_TS_NS = 1_750_953_603_123_456_789


def _frames(seed: int = 7) -> tuple[Frames, list[Emitted], list[DealRecord]]:
    queued: list[Emitted] = []
    records: list[DealRecord] = []
    lines = PrivateLines(queued.append)
    lines.structs = True  # every event queued, as when someone reads Structs
    return Frames(lines, seed, records.append), queued, records


def _rules(base: str, quote: str) -> MarketRules:
    one = Decimal(1)
    return MarketRules(
        base_currency=base, quote_currency=quote, base_min_size=one, base_max_size=one,
        quote_min_size=one, quote_max_size=one, base_prec=8, quote_prec=6,
    )  # fmt: skip


def _expected_order(
    n: int, kind: str, order: Order, symbol: str, ts_ns: int, filled: tuple[Decimal, Decimal]
) -> bytes:
    req = order.req
    limit = req.type == "limit"
    price = req.price if limit and req.price is not None else ZERO
    quantity = req.quantity if req.quantity is not None else ZERO
    value = (
        quantize(price * quantity, order.rules.quote_prec)
        if limit
        else (req.value if req.value is not None else ZERO)
    )
    extra: dict[str, object] = {}
    if kind == "updated":
        extra["updateTs"] = ts_ns // 10**9
    elif kind == "finished":
        state, internal = finished_states(order)
        extra = {"finishTs": ts_ns // 10**9, "state": state, "internalState": internal}
    info = ev.OrderInfo(
        id=order.id, symbol=symbol, orderType=req.type, direction=req.direction,
        price=render(price), quantity=render(quantity), value=render(value),
        filledQuantity=render(filled[0]), filledValue=render(filled[1]),
        clientOid=req.client_order_id, createTs=order.create_ts, **extra,  # type: ignore[arg-type]
    )  # fmt: skip
    event = ev.OrderUpdate(id=str(n), data=ev.OrderUpdateData(type=kind, info=info))  # type: ignore[arg-type]
    return msgspec.json.encode(event) + b"\n"


@settings(max_examples=150, deadline=None)
@given(
    base=_HOSTILE,
    quote=_HOSTILE,
    client=st.none() | _HOSTILE,
    limit=st.booleans(),
    sell=st.booleans(),
    quantity=_POSITIVE,
    price=_POSITIVE,
    fill_price=_POSITIVE,
    fill_quantity=_POSITIVE,
    fee=_AMOUNT,
    maker=st.booleans(),
    end=st.sampled_from(["filled", "cancelled", "expired"]),
)
def test_order_and_deal_lines_are_msgspec_encodings_of_their_structs(
    base: str,
    quote: str,
    client: str | None,
    limit: bool,
    sell: bool,
    quantity: Decimal,
    price: Decimal,
    fill_price: Decimal,
    fill_quantity: Decimal,
    fee: Decimal,
    maker: bool,
    end: str,
) -> None:
    instrument = f"{base}/{quote}"
    symbol = instrument.replace("/", "_", 1)
    req = OrderRequest(
        instrument=instrument,
        direction="sell" if sell else "buy",
        type="limit" if limit else "market",
        quantity=quantity,
        price=price if limit else None,
        client_order_id=client,
    )
    order = Order(_ORDER_ID, req, _rules(base, quote), 1, _TS_NS)
    order.create_ts = _TS_NS // 10**9
    frames, queued, records = _frames()

    frames.order("created", order, _TS_NS)
    value = quantize(fill_price * fill_quantity, 6)
    order.filled_qty += fill_quantity
    order.filled_value += value
    order.deal_id = _DEAL_ID
    later = _TS_NS + 2 * 10**9
    fill = Fill(fill_price, fill_quantity, "maker" if maker else "taker")
    frames.deal(order, fill, value, fee, _TX_ID, later)
    frames.order("updated", order, later)
    order.state = end  # type: ignore[assignment]
    frames.order("finished", order, later + 10**9)

    deal = ev.DealUpdate(
        id="2",
        data=ev.DealUpdateData(
            info=ev.DealInfo(
                dealId=_DEAL_ID,
                symbol=symbol,
                dealState="completed",
                transactionId=_TX_ID,
                filledPrice=render(at16(fill_price)),
                filledQuantity=render(at16(fill_quantity)),
                filledValue=render(at16(value)),
                fee=render(at16(fee)),
                feeCurrency=quote,
                tradeRole=fill.role,
                committedAt=later // 10**9,
            )
        ),
    )
    filled = (order.filled_qty, order.filled_value)
    assert [(kind, key) for kind, _, key in queued] == [
        (CREATED, _ORDER_ID), (DEAL, _ORDER_ID), (UPDATED, _ORDER_ID), (FINISHED, _ORDER_ID)
    ]  # fmt: skip
    assert [line for _, line, _ in queued] == [
        _expected_order(1, "created", order, symbol, _TS_NS, (ZERO, ZERO)),
        msgspec.json.encode(deal) + b"\n",
        _expected_order(3, "updated", order, symbol, later, filled),
        _expected_order(4, "finished", order, symbol, later + 10**9, filled),
    ]
    assert records[0].symbol == symbol and records[0].fee_currency == quote
    assert records[0].price == at16(fill_price) and records[0].fee == at16(fee)
    # and the Structs decoded for readers are those Structs
    assert decode(DEAL, queued[1][1]) == deal


@settings(max_examples=150, deadline=None)
@given(
    currency=_HOSTILE,
    steps=st.lists(st.tuples(_AMOUNT, st.booleans()), min_size=1, max_size=6),
    start=_AMOUNT,
)
def test_balance_lines_are_msgspec_encodings_of_their_structs(
    currency: str, steps: list[tuple[Decimal, bool]], start: Decimal
) -> None:
    frames, queued, _ = _frames(seed=3)
    expected = []
    balance = start
    for n, (amount, chained) in enumerate(steps, 1):
        # the old balance is the last new one (as the account makes them), or any other
        old = balance if chained else balance + Decimal("0.000000000000000001")
        new = old + amount
        frames.balance(BalanceChange(currency, amount, old, new))
        info = ev.BalanceInfo(
            walletId=wallet_id(3, currency), currencyCode=currency, amount=render(amount),
            oldBalance=render(old), newBalance=render8(new),
        )  # fmt: skip
        event = ev.BalanceUpdate(id=str(n), data=ev.BalanceUpdateData(info=info))
        expected.append(msgspec.json.encode(event) + b"\n")
        balance = new
    assert [line for _, line, _ in queued] == expected
    assert {kind for kind, _, _ in queued} == {BALANCE}


def test_lines_go_to_the_log_and_only_followed_events_are_queued() -> None:
    queued: list[Emitted] = []
    lines = PrivateLines(queued.append)  # nobody reads Structs
    frames = Frames(lines, 1)
    req = OrderRequest(instrument="BTC/USDT", direction="buy", type="market", quantity=Decimal(1))
    order = Order(_ORDER_ID, req, _rules("BTC", "USDT"), 1, _TS_NS)
    frames.order("created", order, _TS_NS)
    frames.balance(BalanceChange("USDT", Decimal(5), Decimal(10), Decimal(5)))
    order.state = "cancelled"
    frames.order("finished", order, _TS_NS)
    log = bytes(lines.log).splitlines(keepends=True)
    assert [msgspec.json.decode(line)["method"] for line in log] == [
        "order_update", "balance_update", "order_update"
    ]  # fmt: skip
    assert queued == [(BALANCE, log[1], ""), (FINISHED, log[2], _ORDER_ID)]


def _life(frames: Frames, refuse_between: bool) -> None:
    """Two orders' events (created, holds, deals, updates, finished), a refusal between them
    when asked, through ``frames``."""
    from framework.exchange.validation import Rejection

    rules = _rules("BTC", "USDT")
    for n, (sell, parts) in enumerate(((False, 2), (True, 1))):
        req = OrderRequest(
            instrument="BTC/USDT", direction="sell" if sell else "buy", type="limit",
            quantity=Decimal("0.5"), price=Decimal("101.25"), client_order_id=f'c"{n}',
        )  # fmt: skip
        order = Order(f"{_ORDER_ID[:-1]}{n}", req, rules, n, _TS_NS)
        order.create_ts = _TS_NS // 10**9 + n
        frames.order("created", order, _TS_NS)
        frames.balance(BalanceChange("USDT", Decimal("50.7"), Decimal(1000), Decimal("949.3")))
        for part in range(parts):
            quantity = Decimal("0.5") / parts
            value = quantize(Decimal("101.25") * quantity, 6)
            order.filled_qty += quantity
            order.filled_value += value
            order.deal_id = order.deal_id or _DEAL_ID
            fill = Fill(Decimal("101.25"), quantity, "maker")
            frames.deal(order, fill, value, Decimal("0.05"), f"{_TX_ID[:-1]}{part}", _TS_NS)
            frames.balance(BalanceChange("BTC", quantity, Decimal(0), quantity))
            if part < parts - 1:
                frames.order("updated", order, _TS_NS + part)
        if refuse_between and n == 0:
            frames.rejected(Rejection(6, "Insufficient funds."), "X", req, "limit", _TS_NS)
        order.state = "filled"
        frames.order("finished", order, _TS_NS + 5 * 10**9)


@pytest.mark.parametrize("refuse_between", [False, True])
@pytest.mark.parametrize("batch", [1, 2, 3, 1024])
def test_lines_rendered_later_in_batches_equal_lines_rendered_at_once(
    refuse_between: bool, batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While nobody reads them, the venue keeps records and renders them in batches: the same
    bytes, ids counted the same way, whatever the batch size and wherever a refusal (rendered at
    once) falls; only followed events are queued, with no line, one balance update for many."""
    monkeypatch.setattr(frames_module, "_BATCH", batch)
    now_queued: list[Emitted] = []
    at_once = PrivateLines(now_queued.append)
    _life(Frames(at_once, 1), refuse_between)

    late_queued: list[Emitted] = []
    late = PrivateLines(late_queued.append)
    late.defer = True
    records: list[DealRecord] = []
    frames = Frames(late, 1, records.append)
    _life(frames, refuse_between)
    assert len(records) == 3  # every fill is handed over as it is made, whatever is deferred
    frames.settle()
    assert bytes(late.log) == bytes(at_once.log)
    ids = [msgspec.json.decode(line)["id"] for line in bytes(late.log).splitlines()]
    assert ids == [str(n) for n in range(1, 14 + refuse_between)]
    assert [item for item in late_queued if item[0] == FINISHED] == [
        (FINISHED, b"", f"{_ORDER_ID[:-1]}0"), (FINISHED, b"", f"{_ORDER_ID[:-1]}1")
    ]  # fmt: skip
    assert [item for item in late_queued if item[0] == BALANCE] == [(BALANCE, b"", "")]


def test_the_log_is_flushed_with_the_lines_kept_back_rendered_first() -> None:
    flushed: list[bytes] = []
    queued: list[Emitted] = []
    lines = PrivateLines(queued.append)
    lines.defer = True
    frames = Frames(lines, 1)

    def flush() -> None:  # as RunOutput.flush_events does
        frames.settle()
        flushed.append(bytes(lines.log))
        lines.log.clear()

    lines.flush = flush
    lines.limit = 1  # every rendered batch fills the log
    frames.balance(BalanceChange("USDT", Decimal(5), Decimal(10), Decimal(5)))
    assert lines.log == bytearray() and not flushed  # kept back
    lines.settle()  # what the run's output does before it writes (RunOutput._flush)
    assert [msgspec.json.decode(chunk)["id"] for chunk in flushed] == ["1"]
