"""The run's output files: fills.csv rows as CSV readers parse them."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from framework import events as ev
from framework.exchange import ExchangeConfig, PaperExchange
from framework.report.output import RunOutput, iso_time


def _deal(transaction_id: str, committed_at: int) -> ev.DealUpdate:
    info = ev.DealInfo(
        dealId="01JYM2Z3D8A5C4M8K7Q2W1E9RT",
        symbol="BTC_USDT",
        dealState="completed",
        transactionId=transaction_id,
        filledPrice="107100.0100000000000000",
        filledQuantity="0.0010000000000000",
        filledValue="107.1000000000000000",
        fee="0.1071000000000000",
        feeCurrency="USDT",
        tradeRole="taker",
        committedAt=committed_at,
    )
    return ev.DealUpdate(id="3", data=ev.DealUpdateData(info=info))


def test_fills_are_written_as_csv_and_fields_needing_quotes_are_quoted(tmp_path: Path) -> None:
    exchange = PaperExchange(ExchangeConfig(balances={"USDT": Decimal(1000)}), lambda e: None)
    output = RunOutput(tmp_path, exchange, "USDT")
    odd = 'tx,with "quotes"\nand a newline'
    for i, transaction_id in enumerate(
        ("01JYM2Z3D8TX0000000000000A", odd, "01JYM2Z3D8TX0000000000000B")
    ):
        output.on_private(_deal(transaction_id, 1_750_953_600 + i))
    output.close()
    text = (tmp_path / "fills.csv").read_text()
    lines = text.splitlines()
    # 2025-06-26T16:00:00Z is 1750953600; the unknown deal's order and direction stay empty.
    assert lines[1] == (
        "2025-06-26T16:00:00.000Z,1750953600000000000,,01JYM2Z3D8A5C4M8K7Q2W1E9RT,"
        "01JYM2Z3D8TX0000000000000A,BTC_USDT,,taker,107100.0100000000000000,"
        "0.0010000000000000,107.1000000000000000,0.1071000000000000,USDT"
    )
    rows = list(csv.reader(text.splitlines(keepends=True)))
    assert rows[0][:3] == ["time", "ts_ns", "order_id"]
    assert [row[4] for row in rows[1:]] == [
        "01JYM2Z3D8TX0000000000000A",
        odd,
        "01JYM2Z3D8TX0000000000000B",
    ]
    assert all(len(row) == 13 for row in rows)
    assert output.fill_count == 3


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
