"""The run's output files: fills.csv rows as CSV readers parse them, trades.csv, equity.csv."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.exchange import ExchangeConfig, PaperExchange
from framework.report import output as output_module
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


@given(st.integers(min_value=0, max_value=253_402_300_799_999_999_999))  # to 9999-12-31
def test_iso_time_agrees_with_the_standard_library(ts_ns: int) -> None:
    seconds, ns = divmod(ts_ns, 1_000_000_000)
    when = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)
    assert iso_time(ts_ns) == f"{when:%Y-%m-%dT%H:%M:%S}.{ns // 1_000_000:03d}Z"


def _equity_values(path: Path) -> list[str]:
    return [line.rsplit(",", 1)[1] for line in path.read_text().splitlines()[1:]]


def test_each_sample_values_the_balances_and_prices_of_its_moment(tmp_path: Path) -> None:
    exchange = PaperExchange(ExchangeConfig(balances={"USDT": Decimal(1000)}), lambda e: None)
    output = RunOutput(tmp_path, exchange, Results("USDT", exchange.markets()))
    account, btc = exchange._account, exchange.state.of("BTC/USDT")  # the venue's own
    btc.last = 100.0
    t = 1_750_953_600_000_000_000
    output.sample_equity("equity", t)
    account.credit("BTC", Decimal("0.5"))  # bought: the next sample counts it
    output.sample_equity("equity", t + 1)
    btc.last = 110.0  # only the price moved
    output.sample_equity("equity", t + 2)
    account.hold("BTC", Decimal("0.2"))  # held for an order: still the account's
    output.sample_equity("equity", t + 3)
    account.spend_held("BTC", Decimal("0.2"))  # sold: gone, though no balance_update says so
    output.sample_equity("equity", t + 4)
    account.debit("USDT", Decimal("0.25"))
    output.sample_equity("equity", t + 5)
    output.close()
    assert _equity_values(tmp_path / "equity.csv") == [
        "1000.00000000", "1050.00000000", "1055.00000000", "1055.00000000", "1033.00000000",
        "1032.75000000",
    ]  # fmt: skip
    assert output.unpriced == set()


def test_a_currency_no_market_values_is_left_out_of_equity_and_reported(tmp_path: Path) -> None:
    balances = {"USDT": Decimal(1000), "XYZ": Decimal(3), "BTC": Decimal(2)}
    exchange = PaperExchange(ExchangeConfig(balances=balances), lambda e: None)
    output = RunOutput(tmp_path, exchange, Results("USDT", exchange.markets()))
    output.sample_equity("equity", 60_000_000_000)  # BTC has no price yet
    assert output.unpriced == {"BTC", "XYZ"}
    exchange.state.of("BTC/USDT").last = 50.0
    output.unpriced.clear()
    output.sample_equity("equity", 120_000_000_000)
    assert output.unpriced == {"XYZ"}
    output.close()
    assert (tmp_path / "equity.csv").read_text().splitlines() == [
        "time,ts_ns,equity",
        "1970-01-01T00:01:00.000Z,60000000000,1000.00000000",
        "1970-01-01T00:02:00.000Z,120000000000,1100.00000000",
    ]


_AMOUNTS = st.decimals(min_value=0, max_value=10**7, places=16, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(_AMOUNTS, _AMOUNTS, _AMOUNTS, _AMOUNTS)
def test_a_fills_amounts_are_rounded_half_even_to_the_markets_decimals(
    price: Decimal, quantity: Decimal, value: Decimal, fee: Decimal
) -> None:
    with tempfile.TemporaryDirectory() as out:
        exchange = PaperExchange(ExchangeConfig(), lambda e: None)
        results = Results("USDT", exchange.markets(), keep=False)
        output = RunOutput(out, exchange, results)
        fill = msgspec.structs.replace(
            _fill("01JYM2Z3D8TX0000000000000A", 1_750_953_600),
            price=price, quantity=quantity, value=value, fee=fee,
        )  # fmt: skip
        results.add_fill(fill)
        output.close()
        row = (Path(out) / "fills.csv").read_text().splitlines()[1].split(",")
    # BTC/USDT: 6 decimals of price (and of value and fee), 8 of quantity; never an exponent
    expected = [
        format(amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN), "f")
        for amount, places in ((price, 6), (quantity, 8), (value, 6), (fee, 6))
    ]
    assert row[9:13] == expected


def test_a_trip_entered_many_fills_ago_shows_its_entry_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output_module, "_FILL_TIMES", 2)  # rendered fill times kept
    exchange = PaperExchange(ExchangeConfig(balances={"USDT": Decimal(1000)}), lambda e: None)
    results = Results("USDT", exchange.markets())
    output = RunOutput(tmp_path, exchange, results)
    start = 1_750_953_600
    results.add_fill(msgspec.structs.replace(_fill("TX0", start), strategy="Slow"))
    for i in range(1, 6):  # another strategy's fills in between
        results.add_fill(_fill(f"TX{i}", start + i))
    sell = msgspec.structs.replace(_fill("TX9", start + 9), strategy="Slow", side="sell")
    results.add_fill(sell)
    results.finish(start * 1_000_000_000, (start + 9) * 1_000_000_000, ["Slow", "Maker"])
    output.close()
    output.write_summary({})
    rows = list(csv.DictReader((tmp_path / "trades.csv").read_text().splitlines()))
    assert [(r["strategy"], r["entry_time"], r["exit_time"]) for r in rows] == [
        ("Slow", "2025-06-26T16:00:00.000Z", "2025-06-26T16:00:09.000Z"),
        ("Maker", "2025-06-26T16:00:01.000Z", ""),
    ]


def test_fills_and_trips_are_encoded_in_results_json_key_order_without_a_sort() -> None:
    # results.json keeps its keys sorted; fills and round trips are encoded as declared
    # (output._ITEMS), which is the same only while their fields are declared in name order.
    from framework.report.results import RoundTrip

    for kind in (Fill, RoundTrip):
        assert list(kind.__struct_fields__) == sorted(kind.__struct_fields__)
    trip = RoundTrip(
        strategy="Maker", instrument="BTC/USDT", quote="USDT", side="long", status="closed",
        entry_ns=1, exit_ns=2, entry_price=Decimal("1.5"), exit_price=Decimal("2.5"),
        quantity=Decimal("0.001"), gross_pnl=Decimal("0.001"), fees=Decimal(0),
        net_pnl=Decimal("0.001"), net_return=0.25, bars_held=0, trades_held=3, finalizing=True,
    )  # fmt: skip
    items = [_fill("01JYM2Z3D8TX0000000000000A", 1_750_953_600), trip]
    sorted_encoder = msgspec.json.Encoder(order="sorted")
    assert output_module._ITEMS.encode(items) == sorted_encoder.encode(items)
    assert b'"bars_held":0,"entry_ns":1' in output_module._ITEMS.encode(trip)
