"""A block converted as columns says and writes exactly what the rows converted one by one do.

The row-by-row path (``feed_lines``) is the reference: it checks each field and reports the
line. The column path (``feed``) must write the same bytes for the same rows, leave the same
converter state, and hand every block with a row it cannot take to the row-by-row path, so
the bad row is still reported with its line number.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.importers import base, binance, tardis
from framework.importers.base import Converter, columns, digits, number, numbers, plain_numbers

T = 1735689600000000  # 2025-01-01 in microseconds

_NUMBER = st.sampled_from(["93000.01000000", "0.5", "17", "0.00100000", "12.0", "0", "0.000",
                           "007", "1e-7", "9e-05", "1E5", ".5", "5.", "1.2.3", "", "-1", "nan",
                           "10", '"17"', "-0", "1" * 5000])  # fmt: skip
_GOOD_NUMBER = st.sampled_from(["93000.01000000", "0.5", "17", "0.00100000", "12.0", "10"])


def _times(draw: st.DrawFn, count: int, digits: int, clean: bool) -> list[str]:
    """Increasing times, sometimes equal; unless ``clean``, now and then back or misshapen."""
    now, out = T if digits == 16 else T // 1000, []
    for _ in range(count):
        now += draw(st.sampled_from([0, 0, 1, 7, 1000] + ([] if clean else [-3])))
        text = str(now)
        out.append(text if clean else draw(st.sampled_from([text] * 5 + ["0" + text[1:], "x"])))
    return out


def _number(draw: st.DrawFn, clean: bool) -> str:
    return draw(_GOOD_NUMBER if clean else _NUMBER)


@st.composite
def binance_rows(draw: st.DrawFn, width: int) -> list[str]:
    count = draw(st.integers(1, 30))
    clean = draw(st.booleans())  # a block the column path takes, most likely
    times = _times(draw, count, draw(st.sampled_from([13, 16])), clean)
    rows = []
    for i, stamp in enumerate(times):
        maker = draw(st.sampled_from(["True", "False", "true", "false"] + ([] if clean else ["x"])))
        price, qty = _number(draw, clean), _number(draw, clean)
        cells = [str(i), price, qty, "1.5", stamp, maker, "True"]
        if width == 8:
            cells = [str(i), price, qty, "1", "2", stamp, maker, "True"]
        short = not clean and draw(st.integers(0, 9)) == 0
        rows.append(",".join(cells[:-1] if short else cells))
    return rows


@st.composite
def tardis_rows(draw: st.DrawFn, book: bool) -> list[str]:
    count = draw(st.integers(1, 30))
    clean = draw(st.booleans())
    local = _times(draw, count, 16, clean)
    rows = []
    for stamp in local:
        symbol = "BTCUSDT" if clean else draw(st.sampled_from(["BTCUSDT"] * 5 + ["ETHUSDT", ""]))
        exchange = "binance" if clean else draw(st.sampled_from(["binance"] * 5 + ["bybit", ""]))
        times = [str(int(stamp) - 900) if stamp.isdigit() else "", str(T + 5_000_000)]
        exchange_time = draw(st.sampled_from(times if clean else [*times, ""]))
        if book:
            side = draw(st.sampled_from(["bid", "ask"] + ([] if clean else ["buy"])))
            amount = draw(st.sampled_from(["0", "1.5", "0.000"])) if clean else _number(draw, False)
            middle = ["false" if clean else draw(st.sampled_from(["false"] * 5 + ["true"])), side]
            rows.append(",".join([exchange, symbol, exchange_time, stamp, *middle,
                                  _number(draw, clean), amount]))  # fmt: skip
        else:
            side = draw(st.sampled_from(["buy", "sell"] + ([] if clean else ["unknown"])))
            rows.append(",".join([exchange, symbol, exchange_time, stamp, "id1", side,
                                  _number(draw, clean), _number(draw, clean)]))  # fmt: skip
    return rows


def _state(conv: Converter, out: bytearray) -> object:
    return (bytes(out), conv.rows, conv.written, conv.first_ns, conv.last_ns,
            conv.problems.count, conv.problems.listed, conv.sample, conv.notes)  # fmt: skip


def _both(make: type[Converter], blocks: list[tuple[int, list[str]]]) -> tuple[object, object]:
    """Feed the same blocks as columns and row by row; each one's whole outcome.

    The blocks are fed twice as columns: as they are, and with refused blocks halved down to
    a few bytes (every row of a refused block tried as columns on its own), which must change
    nothing either.
    """
    by_block, by_row = make("BTC/USDT", sample=True), make("BTC/USDT", sample=True)
    halved = make("BTC/USDT", sample=True)
    out_block, out_row, out_halved = bytearray(), bytearray(), bytearray()
    for first_line, lines in blocks:
        data = [line.encode() for line in lines]
        by_block.feed("f.csv", first_line, b"\n".join(data), out_block)
        by_row.feed_lines("f.csv", first_line, data, out_row)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(base, "HALVES_FROM", 2)
            halved.feed("f.csv", first_line, b"\n".join(data), out_halved)
    by_block.finish(out_block)
    by_row.finish(out_row)
    halved.finish(out_halved)
    assert _state(halved, out_halved) == _state(by_row, out_row)
    return _state(by_block, out_block), _state(by_row, out_row)


@pytest.mark.parametrize(("make", "width"), [(binance.Trades, 7), (binance.AggTrades, 8)])
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_binance_blocks_match_rows(make: type[Converter], width: int, data: st.DataObject) -> None:
    first = data.draw(binance_rows(width))
    second = data.draw(binance_rows(width))
    by_block, by_row = _both(make, [(1, first), (1 + len(first), second)])
    assert by_block == by_row


@settings(max_examples=100, deadline=None)
@given(first=tardis_rows(book=False), second=tardis_rows(book=False))
def test_tardis_trade_blocks_match_rows(first: list[str], second: list[str]) -> None:
    header = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"
    blocks = [(1, [header, *first]), (2 + len(first), second)]
    by_block, by_row = _both(tardis.Trades, blocks)
    assert by_block == by_row


@settings(max_examples=150, deadline=None)
@given(updates=st.lists(tardis_rows(book=True), min_size=1, max_size=4))
def test_tardis_book_blocks_match_rows(updates: list[list[str]]) -> None:
    """A snapshot first (found row by row), then blocks of updates, messages across blocks."""
    header = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount"
    snapshot = [f"binance,BTCUSDT,{T - 10},{T - 5},true,bid,92000.5,1.5",
                f"binance,BTCUSDT,{T - 10},{T - 5},true,ask,93000.5,0"]  # fmt: skip
    blocks, line = [(1, [header, *snapshot])], 2 + len(snapshot)
    for rows in updates:
        blocks.append((line, rows))
        line += len(rows)
    by_block, by_row = _both(tardis.IncrementalBook, blocks)
    assert by_block == by_row


def test_a_bad_row_in_a_block_is_reported_on_its_line_and_the_rest_imported() -> None:
    rows = [f"{i},93000.01,0.5,1,{T + i},True,True" for i in range(10)]
    rows[6] = f"6,93000.01,-0.5,1,{T + 6},True,True"
    conv = binance.Trades("BTC/USDT", sample=False)
    out = bytearray()
    conv.feed("f.csv", 101, "\n".join(rows).encode(), out)
    assert conv.problems.listed == [("f.csv", 107, "quantity '-0.5' is not a positive number")]
    assert conv.written == 9 and bytes(out).count(b"\n") == 9


class _Counted(tardis.Trades):
    """Tardis trades that count the rows converted row by row."""

    by_rows = 0

    def _by_rows(self, source: str, first_line: int, block: bytes, out: bytearray) -> None:
        self.by_rows += block.count(b"\n") + 1
        super()._by_rows(source, first_line, block, out)


def test_unusual_numbers_stay_on_the_column_path_and_a_bad_row_costs_its_neighbours() -> None:
    """Amounts such as 1e-05 (as Python writes 0.00001) are rewritten within their column; a
    row that cannot be imported sends a few dozen rows around it row by row, not its block."""
    header = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"
    rows = [f"binance,BTCUSDT,{T + i},{T + i + 5},{i},buy,93000.5,0.25" for i in range(2000)]
    rows[700] = rows[700].replace("0.25", "1e-05")
    rows[1500] = rows[1500].replace("0.25", "9E-05")
    conv, out = _Counted("BTC/USDT", sample=False), bytearray()
    conv.feed("f.csv", 1, "\n".join([header, *rows]).encode(), out)
    lines = bytes(out).splitlines()
    assert len(lines) == 2000 and conv.problems.count == 0 and conv.by_rows == 0
    assert b'"quantity":1e-05,' in lines[700] and b'"quantity":9e-05,' in lines[1500]
    rows[1000] = rows[1000].replace("buy", "unknown")
    conv, out = _Counted("BTC/USDT", sample=False), bytearray()
    conv.feed("f.csv", 1, "\n".join([header, *rows]).encode(), out)
    assert conv.problems.listed == [("f.csv", 1002, "side 'unknown' is not buy or sell")]
    assert conv.written == 1999 and 1 <= conv.by_rows <= 100
    # A file whose every block is refused goes row by row at once after its first block.
    many = [row.replace("buy", "unknown") if i % 2 else row for i, row in enumerate(rows)]
    conv = _Counted("BTC/USDT", sample=False)
    conv.feed("f.csv", 1, "\n".join([header, *many[:500]]).encode(), out)
    for start in range(500, 2000, 500):
        conv.feed("f.csv", 2 + start, "\n".join(many[start : start + 500]).encode(), out)
    assert conv.by_rows == 2000 and conv.written == 999 and conv.problems.count == 1001


def test_columns_need_every_line_to_have_the_width() -> None:
    assert columns(b"a,b\nc,d", 2) == [b"a", b"b", b"\x00", b"c", b"d"]
    assert columns(b"a,b\nc,d,e\nf", 2) is None  # 2 + 3 + 1 fields, as many as 3 rows of 2
    assert columns(b"a,b\n\x00,d", 2) is None
    assert columns(b"a,b\n", 2) is None  # an empty last line


@pytest.mark.parametrize(
    ("texts", "positive", "plain"),
    [
        (["1", "0.5", "93000.01000000", "10"], True, True),
        (["0"], False, True),
        (["0", "0"], False, True),  # each zero alone, side by side
        (["0"], True, False),  # not positive
        (["0.000"], True, False),
        (["00"], False, False),  # a leading zero
        (["1.2.3"], True, False),
        ([".5"], True, False),
        (["5."], True, False),
        ([""], False, False),
        (["1e5"], True, False),
        (["-1"], False, False),
    ],
)
def test_plain_numbers_agree_with_number(texts: list[str], positive: bool, plain: bool) -> None:
    assert plain_numbers([t.encode() for t in texts], positive=positive) is plain


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text("0123456789.", max_size=6), min_size=1, max_size=40), st.booleans())
def test_plain_numbers_is_true_exactly_when_number_keeps_every_text(
    texts: list[str], positive: bool
) -> None:
    """Texts of digits and dots in any arrangement (empty, dots first, last, doubled, zeros):
    plain exactly when number() returns each of them unchanged, refusing none."""
    encoded = [t.encode() for t in texts]
    kept = True
    for text in encoded:
        try:
            kept = kept and number(text, "price", positive=positive) == text
        except base.RowError:
            kept = False
    assert plain_numbers(encoded, positive=positive) is kept


@pytest.mark.parametrize(
    ("texts", "size", "expected"),
    [
        (["1735689600000000", "1735689600000001"], 16, True),
        (["1735689600000"], 13, True),
        (["173568960000000", "17356896000000001"], 16, False),  # 15 + 17 digits: 32 in all
        (["1735689600000000", "0735689600000001"], 16, False),  # a leading zero, not first
        (["0735689600000000"], 16, False),
        (["17356896000000x0"], 16, False),
        (["1735689600000.00"], 16, False),
        (["", "17356896000000001735689600000000"], 16, False),
        (["1735689600000000", ""], 16, False),
    ],
)
def test_digits_needs_every_text_to_be_size_digits(
    texts: list[str], size: int, expected: bool
) -> None:
    assert digits([t.encode() for t in texts], size) is expected


@settings(max_examples=200, deadline=None)
@given(st.lists(_NUMBER, min_size=1, max_size=300), st.booleans())
def test_numbers_write_each_text_as_number_does(texts: list[str], positive: bool) -> None:
    """A column is converted as number() converts each text, or refused when any is refused,
    however its unusual texts are spread (the column is checked by halves)."""
    column = [t.encode() for t in texts]
    try:
        expected: list[bytes] | None = [number(t, "price", positive=positive) for t in column]
    except base.RowError:
        expected = None
    assert numbers(column, "price", positive=positive) == expected
