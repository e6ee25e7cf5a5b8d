"""ULIDs built from simulated time and a seeded generator, so replays repeat them exactly.

A ULID is 48 bits of milliseconds and 80 random bits, written as 26 Crockford base32 characters,
the form Cryptomus uses for order, deal, transaction and wallet ids. Here the milliseconds come
from the loop's clock and the random bits from ``random.Random(seed)``: never the wall clock, never
the OS entropy pool. Within one millisecond the random part is incremented (the ULID spec's
monotonic mode), so ids sort in creation order.
"""

from __future__ import annotations

import random
from typing import Final

__all__ = ["UlidGenerator", "encode_ulid"]

_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS: Final = 80
_MAX_TIME_MS: Final = (1 << 48) - 1
_RANDOM_MASK: Final = (1 << _RANDOM_BITS) - 1
_PAIRS: Final = tuple(a + b for a in _ALPHABET for b in _ALPHABET)  # every 10-bit value


def encode_ulid(time_ms: int, randomness: int) -> str:
    """Encode a 48-bit millisecond time and 80 random bits as a 26-character ULID."""
    if not 0 <= time_ms <= _MAX_TIME_MS:
        raise ValueError(f"ULID time out of range: {time_ms}")
    return _time_part(time_ms) + _random_part(randomness & _RANDOM_MASK)


def _time_part(time_ms: int) -> str:
    # 48 bits as 10 symbols: the top symbol holds 3 bits, then 9 more of 5 bits each.
    return _time_prefix(time_ms >> 10) + _PAIRS[time_ms & 1023]


def _time_prefix(time_1024ms: int) -> str:
    # The first 8 symbols: the time's top 38 bits (they change about once a second).
    t = time_1024ms
    return f"{_ALPHABET[t >> 35]}{_PAIRS[t >> 25 & 1023]}{_PAIRS[t >> 15 & 1023]}{_PAIRS[t >> 5 & 1023]}{_ALPHABET[t & 31]}"


def _random_part(randomness: int) -> str:
    # 80 bits as 16 symbols, two at a time from a 1024-entry table: 8 lookups, not 16 shifts.
    # Split into 40-bit halves first: shifts of small ints are cheaper than of an 80-bit one.
    hi, lo = randomness >> 40, randomness & 0xFF_FFFF_FFFF
    p = _PAIRS
    return (
        f"{p[hi >> 30]}{p[hi >> 20 & 1023]}{p[hi >> 10 & 1023]}{p[hi & 1023]}"
        f"{p[lo >> 30]}{p[lo >> 20 & 1023]}{p[lo >> 10 & 1023]}{p[lo & 1023]}"
    )


class UlidGenerator:
    """Deterministic ULIDs: the same seed and the same times give the same ids."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._last_ms = -1
        self._last_rand = 0
        self._prefix_ms = -1  # time_ms >> 10 of the cached prefix
        self._prefix = ""
        # The next id in the same millisecond (the next id of the same order, most often) adds
        # one to the random part: unless that carries out of the last 10 bits (``_low``), only
        # the last two symbols of the last id change (after its ``_stem``).
        self._stem = ""
        self._low = 0  # the last random part's low 10 bits; it is _last_rand - _last_rand % 1024
        self._next_ns = -(1 << 63)  # the first ns of the millisecond after the last id's

    def new(self, ts_ns: int) -> str:
        """A new ULID for simulated time ``ts_ns`` (integer nanoseconds since the epoch)."""
        if ts_ns < self._next_ns:
            # Same (or earlier) millisecond: keep order by incrementing the random part.
            low = self._low + 1
            if low < 1024:  # no carry: the random part stays within _RANDOM_MASK
                self._low = low
                return self._stem + _PAIRS[low]
            time_ms = self._last_ms
            rand = (self._last_rand + low) & _RANDOM_MASK
        else:
            time_ms = self._last_ms = ts_ns // 1_000_000
            if not 0 <= time_ms <= _MAX_TIME_MS:
                raise ValueError(f"ULID time out of range: {time_ms}")
            self._next_ns = (time_ms + 1) * 1_000_000
            rand = self._rng.getrandbits(_RANDOM_BITS - 1)
        self._low = low = rand & 1023
        self._last_rand = rand - low
        p = _PAIRS
        t = time_ms >> 10
        if t != self._prefix_ms:  # _time_prefix(t), written out as the rest is
            self._prefix_ms = t
            self._prefix = f"{_ALPHABET[t >> 35]}{p[t >> 25 & 1023]}{p[t >> 15 & 1023]}{p[t >> 5 & 1023]}{_ALPHABET[t & 31]}"
        hi, lo = rand >> 40, rand & 0xFF_FFFF_FFFF
        last_id = (
            f"{self._prefix}{p[time_ms & 1023]}"
            f"{p[hi >> 30]}{p[hi >> 20 & 1023]}{p[hi >> 10 & 1023]}{p[hi & 1023]}"
            f"{p[lo >> 30]}{p[lo >> 20 & 1023]}{p[lo >> 10 & 1023]}{p[low]}"
        )
        self._stem = last_id[:-2]
        return last_id
