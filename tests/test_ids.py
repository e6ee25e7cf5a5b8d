"""ULIDs from simulated time and a seed."""

from __future__ import annotations

import random

from framework.ids import UlidGenerator, encode_ulid


def test_encoding_matches_the_ulid_spec_example_layout() -> None:
    # time 0 and randomness 0 is all zeros; the max time is 7ZZZZZZZZZ.
    assert encode_ulid(0, 0) == "0" * 26
    assert encode_ulid((1 << 48) - 1, 0).startswith("7ZZZZZZZZZ")


def test_time_part_encodes_milliseconds() -> None:
    # 1750696376000 ms = 0x197_9C8D_B7C0, i.e. "01JYET..." as in the documented order ids.
    assert encode_ulid(1_750_696_376_000, 0)[:6] == "01JYET"


def test_same_seed_same_times_same_ids() -> None:
    a, b = UlidGenerator(7), UlidGenerator(7)
    times = [1_750_000_000_000_000_000 + i * 400_000 for i in range(20)]
    assert [a.new(t) for t in times] == [b.new(t) for t in times]


def test_ids_sort_in_creation_order_within_one_millisecond() -> None:
    gen = UlidGenerator(1)
    ids = [gen.new(1_750_000_000_000_000_000) for _ in range(50)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 50


def test_different_seeds_give_different_ids() -> None:
    assert UlidGenerator(1).new(10**18) != UlidGenerator(2).new(10**18)


def _reference_ulid(time_ms: int, randomness: int) -> str:
    """The ULID spec's encoding, five bits at a time from the least significant end."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    value = (time_ms << 80) | randomness
    chars = []
    for _ in range(26):
        chars.append(alphabet[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def test_fast_encoding_agrees_with_the_reference_on_edge_and_random_values() -> None:
    import random

    rng = random.Random(11)
    cases = [(0, 0), ((1 << 48) - 1, (1 << 80) - 1), (1, 1), (1 << 47, 1 << 79)]
    cases += [(rng.getrandbits(48), rng.getrandbits(80)) for _ in range(2000)]
    for time_ms, randomness in cases:
        assert encode_ulid(time_ms, randomness) == _reference_ulid(time_ms, randomness)


def test_generated_ids_carry_their_millisecond_across_cached_prefix_boundaries() -> None:
    gen = UlidGenerator(3)
    # From 1022 ms into a 1024-ms block to past the next: the cached 8-symbol prefix changes.
    base_ms = (1_750_000_000_000 >> 10 << 10) + 1022
    for ms in range(base_ms, base_ms + 5):
        assert gen.new(ms * 1_000_000 + 999)[:10] == _reference_ulid(ms, 0)[:10]


def _reference_sequence(seed: int, times_ns: list[int]) -> list[str]:
    """What the generator must give: the spec's encoding of the seeded monotonic sequence."""
    import random

    rng = random.Random(seed)
    last_ms, rand, out = -1, 0, []
    for ts_ns in times_ns:
        ms = ts_ns // 1_000_000
        if ms <= last_ms:
            rand += 1
        else:
            last_ms, rand = ms, rng.getrandbits(79)
        out.append(_reference_ulid(last_ms, rand & ((1 << 80) - 1)))
    return out


def test_generator_gives_the_seeded_monotonic_sequence_in_the_spec_encoding() -> None:
    import random

    rng = random.Random(5)
    base = 1_750_000_000_000 >> 10 << 10
    times = []
    t = (base + 1020) * 1_000_000
    for _ in range(3000):  # same ms, next ms, across 1024-ms blocks, and back in time
        t += rng.choice((0, 0, 1, 400_000, 999_999, 1_000_000, 1_300_000_000, -2_000_000))
        times.append(t)
    gen = UlidGenerator(9)
    assert [gen.new(t) for t in times] == _reference_sequence(9, times)


class _Drawn(random.Random):
    """A generator whose draws are given: to reach the random part's carries in a few ids."""

    def __init__(self, draws: list[int]) -> None:
        super().__init__(0)
        self._draws = draws

    def getrandbits(self, k: int, /) -> int:
        return self._draws.pop(0)


def test_random_part_carries_across_its_symbols_within_one_millisecond() -> None:
    # Increments that carry out of the last 10 bits, and out of the low 40 bits.
    starts = [(1 << 40) - 3, 1020, 5 << 40 | 0xFFFF_FFFC00 | 1021, (1 << 79) - 2]
    gen = UlidGenerator(0)
    gen._rng = _Drawn(list(starts))
    t = 1_750_000_000_000_000_000
    for n, start in enumerate(starts):
        ts = t + n * 1_000_000  # a new millisecond: the next draw
        ids = [gen.new(ts + i) for i in range(6)]
        assert ids == [_reference_ulid(ts // 1_000_000, start + i) for i in range(6)]
        assert ids == sorted(ids)


def test_a_time_before_the_epoch_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="ULID time out of range"):
        UlidGenerator(1).new(-1)
