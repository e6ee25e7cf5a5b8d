"""Search spaces: --grid text, grids, seeded samples."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.errors import ConfigError
from framework.sweeps.space import Axis, grid_points, parse_axis, sample_points
from framework.sweeps.where import Where


def test_a_range_runs_from_start_to_stop_inclusive() -> None:
    axis = parse_axis("fast=5:30:5")
    assert axis == Axis("fast", (5, 10, 15, 20, 25, 30), 5, 30, 5)


def test_a_range_that_does_not_land_on_its_stop_ends_at_the_last_step() -> None:
    assert parse_axis("fast=5:32:5").values == (5, 10, 15, 20, 25, 30)
    assert parse_axis("fast=5:32:5").high == 30


def test_a_decimal_range_is_stepped_exactly() -> None:
    # 0.1 + 0.1 + 0.1 in binary floats is 0.30000000000000004 and would lose the 0.5 at the end
    assert parse_axis("stop=0.1:0.5:0.1").values == (0.1, 0.2, 0.3, 0.4, 0.5)


def test_a_list_keeps_its_order_and_types_and_drops_repeats() -> None:
    assert parse_axis("slow=50,20,30,20").values == (50, 20, 30)
    assert parse_axis("stake=1000, 2500.5").values == (1000, 2500.5)
    assert parse_axis("mode=fast,slow").values == ("fast", "slow")
    assert parse_axis("flag=true,false").values == (True, False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fast", "expected NAME=a:b:step"),
        ("=1,2", "expected NAME=a:b:step"),
        ("fast=", "has no values"),
        ("fast=1:10:0", "positive step"),
        ("fast=10:1:1", "ends below its start"),
        ("fast=1:10", "is not a range"),
        ("fast=1:1000000000:1", "values (at most 100,000)"),
        ("fast=1,,2", "empty value"),
    ],
)
def test_a_bad_axis_is_a_config_error_that_quotes_it(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="--grid") as info:
        parse_axis(text)
    assert message in str(info.value)


def test_the_grid_is_the_product_in_axis_order_filtered_by_where() -> None:
    axes = [parse_axis("fast=5,10,20"), parse_axis("slow=10,20")]
    points = grid_points(axes, Where("fast < slow"))
    assert points == [{"fast": 5, "slow": 10}, {"fast": 5, "slow": 20}, {"fast": 10, "slow": 20}]


def test_samples_are_distinct_grid_points_fixed_by_the_seed() -> None:
    axes = [parse_axis("fast=1:20:1"), parse_axis("slow=10:100:10")]
    first = sample_points(axes, 15, seed=3)
    assert first == sample_points(axes, 15, seed=3)
    assert first != sample_points(axes, 15, seed=4)
    assert len({(p["fast"], p["slow"]) for p in first}) == 15
    grid = grid_points(axes)
    assert all(p in grid for p in first)
    assert first == sorted(first, key=grid.index)  # grid order, whatever order they were drawn


def test_asking_for_more_samples_than_points_gives_every_feasible_point() -> None:
    axes = [parse_axis("fast=5,10"), parse_axis("slow=5,20")]
    assert sample_points(axes, 10, seed=1, where=Where("fast < slow")) == [
        {"fast": 5, "slow": 20},
        {"fast": 10, "slow": 20},
    ]


@given(st.text(max_size=60))
def test_any_grid_text_is_an_axis_or_a_config_error(text: str) -> None:
    try:
        axis = parse_axis(text)
    except ConfigError:
        return
    assert axis.values and len(axis.values) <= 100_000


@given(
    st.from_regex(
        r"[a-z]{1,5}=-?[0-9]{1,4}(\.[0-9]{1,3})?:-?[0-9]{1,5}(\.[0-9]{1,3})?:[0-9]{1,3}(\.[0-9]{1,2})?",
        fullmatch=True,
    )
)
def test_any_numeric_range_is_an_axis_or_a_config_error(text: str) -> None:
    try:
        axis = parse_axis(text)
    except ConfigError:
        return
    assert list(axis.values) == sorted(axis.values)
