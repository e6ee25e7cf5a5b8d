"""The dashboard's parts without a browser: the address it listens on, per-strategy position
bookkeeping for unrealised P&L, and the resumable event stream's cursor."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.dashboard.app import _resume_from, parse_address
from framework.dashboard.board import _move
from framework.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8050", ("127.0.0.1", 8050)),
        ("0", ("127.0.0.1", 0)),
        ("0.0.0.0:8050", ("0.0.0.0", 8050)),
        ("localhost:9000", ("localhost", 9000)),
        ("[::1]:8050", ("::1", 8050)),
    ],
)
def test_an_address_is_host_and_port_with_loopback_by_default(
    text: str, expected: tuple[str, int]
) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "70000", ":8050", "host:", "host:-1", "8050.5", "١٢"])
def test_a_bad_address_is_a_config_error_that_quotes_it(text: str) -> None:
    with pytest.raises(ConfigError, match="--dashboard"):
        parse_address(text)


@given(st.text(max_size=40))
def test_any_address_text_parses_or_gives_a_config_error(text: str) -> None:
    try:
        host, port = parse_address(text)
    except ConfigError:
        return
    assert host and 0 <= port <= 65_535


def position_after(*fills: tuple[str, str]) -> tuple[Decimal, Decimal]:
    position = [Decimal(0), Decimal(0)]
    for signed, price in fills:
        _move(position, Decimal(signed), Decimal(price))
    return position[0], position[1]


def test_adding_to_a_position_averages_its_cost() -> None:
    # 1 at 100 and 1 at 110: 2 held, cost 210 (average 105)
    assert position_after(("1", "100"), ("1", "110")) == (Decimal(2), Decimal(210))


def test_reducing_a_position_keeps_its_average_cost() -> None:
    # 2 at average 105, sell 0.5: 1.5 held at 105, cost 157.5 (the sale's price does not matter)
    assert position_after(("1", "100"), ("1", "110"), ("-0.5", "999")) == (
        Decimal("1.5"), Decimal("157.5"),
    )  # fmt: skip


def test_crossing_zero_opens_the_rest_at_the_fill_price() -> None:
    # long 1 at 100, sell 3 at 120: short 2 at 120, cost -240
    assert position_after(("1", "100"), ("-3", "120")) == (Decimal(-2), Decimal(-240))


def test_closing_leaves_nothing() -> None:
    assert position_after(("1", "100"), ("-1", "120")) == (Decimal(0), Decimal(0))


def test_a_stream_resumes_from_its_last_event_id_or_starts_over() -> None:
    assert _resume_from("3:1200") == (3, 1200)
    assert _resume_from("") == (-1, 0)
    assert _resume_from("garbage") == (-1, 0)
    assert _resume_from("1:-5") == (1, 0)
