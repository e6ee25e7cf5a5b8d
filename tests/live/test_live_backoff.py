"""The reconnect schedule: exponential, capped, jittered upward only, never below the spacing.

Pure: no sleeping, no clock. The expected delays are worked out by hand from the policy.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.errors import ConfigError
from framework.live.backoff import Backoff, BackoffPolicy, policy_for


def delays(backoff: Backoff, n: int) -> list[float]:
    return [backoff.next_delay() for _ in range(n)]


def test_without_jitter_delays_double_from_the_spacing_up_to_the_cap() -> None:
    policy = BackoffPolicy(min_spacing_s=5.0, max_s=60.0, jitter=0.0)
    assert delays(Backoff(policy), 6) == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]


def test_an_initial_delay_below_the_spacing_is_raised_to_the_spacing() -> None:
    policy = BackoffPolicy(min_spacing_s=3.0, initial_s=0.5, jitter=0.0)
    assert delays(Backoff(policy), 3) == [3.0, 6.0, 12.0]


def test_a_cap_below_the_spacing_still_keeps_the_spacing() -> None:
    policy = BackoffPolicy(min_spacing_s=10.0, max_s=4.0, jitter=0.0)
    assert delays(Backoff(policy), 3) == [10.0, 10.0, 10.0]


def test_jitter_only_lengthens_a_delay_within_its_fraction() -> None:
    policy = BackoffPolicy(min_spacing_s=10.0, jitter=0.25)
    first = [Backoff(policy, seed).next_delay() for seed in range(200)]
    assert all(10.0 <= d < 12.5 for d in first)
    assert max(first) - min(first) > 1.0  # the jitter does spread the delays


def test_the_same_seed_gives_the_same_delays() -> None:
    policy = policy_for("finazon")
    assert delays(Backoff(policy, 42), 5) == delays(Backoff(policy, 42), 5)


def test_different_seeds_give_different_delays() -> None:
    policy = policy_for("finazon")
    assert delays(Backoff(policy, 1), 5) != delays(Backoff(policy, 2), 5)


def test_a_success_starts_the_schedule_again() -> None:
    backoff = Backoff(BackoffPolicy(min_spacing_s=1.0, jitter=0.0))
    assert delays(backoff, 3) == [1.0, 2.0, 4.0]
    backoff.succeeded()
    assert backoff.failures == 0
    assert backoff.next_delay() == 1.0


def test_the_schedule_is_exhausted_after_max_failures() -> None:
    backoff = Backoff(BackoffPolicy(min_spacing_s=1.0, max_failures=3))
    delays(backoff, 2)
    assert not backoff.exhausted
    backoff.next_delay()
    assert backoff.exhausted


def test_zero_max_failures_never_exhausts() -> None:
    backoff = Backoff(BackoffPolicy(min_spacing_s=1.0))
    delays(backoff, 1000)
    assert not backoff.exhausted


@pytest.mark.parametrize(
    ("provider", "options", "spacing"),
    [
        ("alltick", {}, 10.0),  # free plan unless told otherwise
        ("alltick", {"plan": "free"}, 10.0),
        ("alltick", {"plan": "basic"}, 3.0),
        ("finazon", {}, 5.0),
        ("cryptomus", {}, 1.0),
    ],
)
def test_each_provider_gets_its_documented_minimum_spacing(
    provider: str, options: dict[str, str], spacing: float
) -> None:
    policy = policy_for(provider, options)
    assert (policy.min_spacing_s, policy.initial_s) == (spacing, spacing)


def test_an_unknown_provider_has_no_policy() -> None:
    with pytest.raises(ConfigError, match="no reconnect policy for provider 'binance'"):
        policy_for("binance")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"min_spacing_s": -1.0}, "must not be negative"),
        ({"min_spacing_s": 1.0, "factor": 0.5}, "factor must be at least 1"),
        ({"min_spacing_s": 1.0, "jitter": 1.5}, "jitter must be within"),
        ({"min_spacing_s": 1.0, "max_failures": -1}, "max_failures must not be negative"),
    ],
)
def test_a_nonsensical_policy_is_refused(fields: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BackoffPolicy(**fields)  # type: ignore[arg-type]


@given(
    spacing=st.floats(0.0, 30.0),
    initial=st.floats(0.0, 30.0),
    cap=st.floats(0.0, 120.0),
    jitter=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32),
    failures=st.integers(1, 40),
)
def test_no_delay_is_ever_shorter_than_the_spacing_or_longer_than_the_jittered_cap(
    spacing: float, initial: float, cap: float, jitter: float, seed: int, failures: int
) -> None:
    policy = BackoffPolicy(min_spacing_s=spacing, initial_s=initial, max_s=cap, jitter=jitter)
    for delay in delays(Backoff(policy, seed), failures):
        assert delay >= spacing
        assert delay <= max(cap, spacing) * (1 + jitter)
