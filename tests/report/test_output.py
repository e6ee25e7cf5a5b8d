"""The run's output files: fills.csv rows as CSV readers parse them."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.exchange import ExchangeConfig, PaperExchange
from framework.report.output import RunOutput, _write_row, iso_time
from framework.report.results import Fill, Results


def _fill(transaction_id: str, ts_s: int) -> Fill:
    return Fill(
        ts_ns=ts_s * 1_000_000_000,
        strategy="Maker",
        instrument="BTC/USDT",
        symbol="BTC_USDT",
        order_id="01JYM2Z3D8OR0000000000000A",
        deal_id="01JYM2Z3D8A5C4M8K7Q2W1E9RT",
        transaction_id=transaction_id,
        side="buy",
        role="taker",
        price=Decimal("107100.0100000000000000"),
        quantity=Decimal("0.0010000000000000"),
        value=Decimal("107.1000000000000000"),
        fee=Decimal("0.1071000000000000"),
        fee_currency="USDT",
    )


def test_fills_are_written_at_market_precision_and_odd_fields_are_quoted(tmp_path: Path) -> None:
    exchange = PaperExchange(ExchangeConfig(balances={"USDT": Decimal(1000)}), lambda e: None)
    results = Results("USDT", exchange.markets())
    output = RunOutput(tmp_path, exchange, results)
    odd = 'tx,with "quotes"\nand a newline'
    for i, transaction_id in enumerate(
        ("01JYM2Z3D8TX0000000000000A", odd, "01JYM2Z3D8TX0000000000000B")
    ):
        results.add_fill(_fill(transaction_id, 1_750_953_600 + i))
    output.close()
    text = (tmp_path / "fills.csv").read_text()
    lines = text.splitlines()
    # 2025-06-26T16:00:00Z is 1750953600; BTC/USDT has 8 decimals of quantity, 6 of price.
    assert lines[1] == (
        "2025-06-26T16:00:00.000Z,1750953600000000000,Maker,01JYM2Z3D8OR0000000000000A,"
        "01JYM2Z3D8A5C4M8K7Q2W1E9RT,01JYM2Z3D8TX0000000000000A,BTC_USDT,buy,taker,"
        "107100.010000,0.00100000,107.100000,0.107100,USDT"
    )
    rows = list(csv.reader(text.splitlines(keepends=True)))
    assert rows[0][:4] == ["time", "ts_ns", "strategy", "order_id"]
    assert [row[5] for row in rows[1:]] == [
        "01JYM2Z3D8TX0000000000000A",
        odd,
        "01JYM2Z3D8TX0000000000000B",
    ]
    assert all(len(row) == 14 for row in rows)


@pytest.mark.parametrize(
    ("ts_ns", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1_750_953_600_123_456_789, "2025-06-26T16:00:00.123Z"),
        (1_709_251_199_999_999_999, "2024-02-29T23:59:59.999Z"),  # a leap day's last ms
        (1_709_251_200_000_000_000, "2024-03-01T00:00:00.000Z"),
    ],
)
def test_iso_time_is_utc_to_the_millisecond_truncated(ts_ns: int, text: str) -> None:
    assert iso_time(ts_ns) == text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("ab1.,\"\r\n \t;'é"), max_size=6), max_size=6))
def test_rows_joined_without_csv_are_the_rows_csv_writes(fields: list[str]) -> None:
    # a row is joined by hand only when csv would quote none of its fields: same text always
    ours, theirs = io.StringIO(), io.StringIO()
    _write_row(ours, csv.writer(io.StringIO(), lineterminator="\n"), tuple(fields))
    csv.writer(theirs, lineterminator="\n").writerow(fields)
    expected = theirs.getvalue()
    if ours.getvalue():  # written here, not handed to the (other) writer
        assert ours.getvalue() == expected
    else:
        assert any(c in field for field in fields for c in ',"\r\n') or len(fields) < 2
