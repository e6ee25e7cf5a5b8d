"""Reconnect schedules: exponential backoff with seeded jitter, never below a provider's spacing.

A pure schedule: :class:`Backoff` answers "how long to wait before the next attempt" and keeps
the count of consecutive failures. It never sleeps and never reads a clock, so it is tested by
calling it; ``live/session.py`` does the waiting on trio's clock.

The delay after the n-th consecutive failure is ``min(max_s, initial_s * factor**(n-1))``
stretched by a random fraction in ``[0, jitter)`` drawn from a seeded generator. Jitter only
ever lengthens a delay, and ``initial_s`` is at least the provider's documented minimum spacing
between connection attempts, so no delay is ever shorter than that spacing:

=========  ==================================================================  ==========
provider   documented spacing between reconnects                                minimum
=========  ==================================================================  ==========
alltick    at least 10 s on the free plan, 3 s on paid plans                    10 s / 3 s
finazon    the official sample reconnects after 5 s                             5 s
cryptomus  none documented; every attempt costs a token request (REST)          1 s
=========  ==================================================================  ==========

This module must not sleep, read a clock, or use an unseeded random generator.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Final

import msgspec

from framework.errors import ConfigError
from framework.providers import PROVIDERS

__all__ = ["Backoff", "BackoffPolicy", "policy_for"]

_DEFAULT_MAX_S: Final = 60.0


class BackoffPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """The shape of a reconnect schedule.

    Attributes:
        min_spacing_s: the provider's minimum spacing between attempts; no delay is shorter.
        initial_s: the delay after the first failure (raised to ``min_spacing_s`` if below).
        max_s: the cap of the exponential part; a delay is at most ``max_s * (1 + jitter)``.
        factor: growth per consecutive failure.
        jitter: each delay is lengthened by a random fraction in ``[0, jitter)``, so that many
            clients dropped together do not reconnect together.
        max_failures: consecutive failures after which the session gives up; 0 = never.
    """

    min_spacing_s: float
    initial_s: float = 0.0
    max_s: float = _DEFAULT_MAX_S
    factor: float = 2.0
    jitter: float = 0.25
    max_failures: int = 0

    def __post_init__(self) -> None:
        if self.min_spacing_s < 0 or self.max_s < 0 or self.initial_s < 0:
            raise ConfigError("backoff delays must not be negative")
        if self.factor < 1:
            raise ConfigError(f"backoff factor must be at least 1, not {self.factor}")
        if not 0 <= self.jitter <= 1:
            raise ConfigError(f"backoff jitter must be within [0, 1], not {self.jitter}")
        if self.max_failures < 0:
            raise ConfigError(f"max_failures must not be negative, not {self.max_failures}")


def policy_for(provider: str, options: Mapping[str, str] | None = None) -> BackoffPolicy:
    """The documented reconnect policy of ``provider``.

    Args:
        provider: the registry name.
        options: the provider's config options (a plan may change the spacing: see the
            provider's ``reconnect_spacing_s``).

    Raises:
        ConfigError: an unknown provider.
    """
    spec = PROVIDERS.get(provider)
    if spec is None:
        raise ConfigError(f"no reconnect policy for provider {provider!r}")
    spacing = spec.reconnect_spacing_s(options or {})
    return BackoffPolicy(min_spacing_s=spacing, initial_s=spacing)


class Backoff:
    """Consecutive failures and the delay each one earns.

    Args:
        policy: the schedule's shape.
        seed: seeds the jitter; the same seed gives the same delays.
    """

    def __init__(self, policy: BackoffPolicy, seed: int | str = 0) -> None:
        self.policy = policy
        self.failures = 0
        self._rng = random.Random(f"backoff:{seed}")

    @property
    def exhausted(self) -> bool:
        """True once ``max_failures`` consecutive failures have been counted (never if 0)."""
        limit = self.policy.max_failures
        return limit > 0 and self.failures >= limit

    def next_delay(self) -> float:
        """Count one more failure and return the seconds to wait before the next attempt."""
        self.failures += 1
        policy = self.policy
        first = max(policy.initial_s, policy.min_spacing_s)
        exponential = first * policy.factor ** min(self.failures - 1, 64)
        base = max(min(policy.max_s, exponential), policy.min_spacing_s)
        return base * (1.0 + policy.jitter * self._rng.random())

    def succeeded(self) -> None:
        """A connection worked: the next failure starts the schedule again."""
        self.failures = 0
