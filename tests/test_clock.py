"""The loop's clock: monotonic time and deterministic timers."""

from __future__ import annotations

import pytest

from framework.clock import NEVER, Clock


def _recorder() -> tuple[list[tuple[str, int]], object]:
    fired: list[tuple[str, int]] = []

    def callback(name: str, ts: int) -> None:
        fired.append((name, ts))

    return fired, callback


def test_one_shot_timer_fires_once_at_its_deadline_before_later_time() -> None:
    clock = Clock(1_000)
    fired, cb = _recorder()
    clock.call_at(1_500, "a", cb)  # type: ignore[arg-type]
    clock.advance_to(1_499)
    assert fired == []
    clock.advance_to(2_000)
    assert fired == [("a", 1_500)]
    clock.advance_to(9_000)
    assert fired == [("a", 1_500)]


def test_timers_fire_in_deadline_order_ties_in_creation_order() -> None:
    clock = Clock(0)
    fired, cb = _recorder()
    clock.call_at(300, "late", cb)  # type: ignore[arg-type]
    clock.call_at(100, "first-at-100", cb)  # type: ignore[arg-type]
    clock.call_at(100, "second-at-100", cb)  # type: ignore[arg-type]
    clock.advance_to(1_000)
    assert fired == [("first-at-100", 100), ("second-at-100", 100), ("late", 300)]


def test_repeating_timer_fires_every_interval_through_a_gap() -> None:
    clock = Clock(0)
    fired, cb = _recorder()
    clock.call_every(10, "tick", cb)  # type: ignore[arg-type]
    clock.advance_to(35)
    assert fired == [("tick", 10), ("tick", 20), ("tick", 30)]
    assert clock.next_deadline_ns == 40


def test_clock_is_at_the_deadline_while_a_timer_fires() -> None:
    clock = Clock(0)
    seen: list[int] = []
    clock.call_at(50, "x", lambda name, ts: seen.append(clock.now_ns))
    clock.advance_to(80)
    assert seen == [50]
    assert clock.now_ns == 80


def test_clock_never_goes_backwards() -> None:
    clock = Clock(100)
    clock.advance_to(50)
    assert clock.now_ns == 100


def test_cancelled_timer_does_not_fire() -> None:
    clock = Clock(0)
    fired, cb = _recorder()
    timer = clock.call_every(10, "t", cb)  # type: ignore[arg-type]
    clock.advance_to(10)
    timer.cancel()
    clock.advance_to(100)
    assert fired == [("t", 10)]
    assert clock.next_deadline_ns == NEVER


def test_a_timer_set_in_the_past_fires_at_now() -> None:
    clock = Clock(500)
    fired, cb = _recorder()
    clock.call_at(100, "late", cb)  # type: ignore[arg-type]
    clock.advance_to(500)
    assert fired == [("late", 500)]


def test_non_positive_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        Clock(0).call_every(0, "bad", lambda n, t: None)
