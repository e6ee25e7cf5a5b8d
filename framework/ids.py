"""ULIDs built from simulated time and a seeded generator, so replays repeat them exactly.

A ULID is 48 bits of milliseconds and 80 random bits, written as 26 Crockford base32 characters,
the form Cryptomus uses for order, deal, transaction and wallet ids. Here the milliseconds come
from the loop's clock and the random bits from ``random.Random(seed)``: never the wall clock, never
the OS entropy pool. Within one millisecond the random part is incremented (the ULID spec's
monotonic mode), so ids sort in creation order.
"""

from __future__ import annotations

import base64
import random
from typing import Final

__all__ = ["UlidGenerator", "encode_ulid"]

_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS: Final = 80
_MAX_TIME_MS: Final = (1 << 48) - 1
_TO_CROCKFORD: Final = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode("ascii")
)


def encode_ulid(time_ms: int, randomness: int) -> str:
    """Encode a 48-bit millisecond time and 80 random bits as a 26-character ULID."""
    if not 0 <= time_ms <= _MAX_TIME_MS:
        raise ValueError(f"ULID time out of range: {time_ms}")
    value = (time_ms << _RANDOM_BITS) | (randomness & ((1 << _RANDOM_BITS) - 1))
    # 26 symbols of 5 bits are 130 bits: two zero bits, then the 128-bit value. Shifted left
    # by 6 into 17 bytes, RFC 4648 base32 reads exactly those symbols first; only the alphabet
    # differs from Crockford's. This runs in C, about ten times faster than a Python loop.
    symbols = base64.b32encode((value << 6).to_bytes(17, "big"))[:26]
    return symbols.translate(_TO_CROCKFORD).decode("ascii")


class UlidGenerator:
    """Deterministic ULIDs: the same seed and the same times give the same ids."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._last_ms = -1
        self._last_rand = 0

    def new(self, ts_ns: int) -> str:
        """A new ULID for simulated time ``ts_ns`` (integer nanoseconds since the epoch)."""
        time_ms = ts_ns // 1_000_000
        if time_ms <= self._last_ms:
            # Same (or earlier) millisecond: keep order by incrementing the random part.
            time_ms = self._last_ms
            self._last_rand += 1
        else:
            self._last_ms = time_ms
            self._last_rand = self._rng.getrandbits(_RANDOM_BITS - 1)
        return encode_ulid(time_ms, self._last_rand)
