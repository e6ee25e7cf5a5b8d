"""Providers without credentials get the built-in emulator, started in the run's nursery.

A live run needs a key for each provider (and, for Cryptomus, a user id) from the environment
variable the config names, or from the config itself. When a provider has none, live mode
does not fail: it starts that provider's strict loopback emulator (``framework.emulators``)
serving its seeded market, points the connection at it with the emulator's test credentials,
and says so, one line per provider, before anything else is printed. So
``papertrade run STRATEGY --live`` works on a fresh machine with no network.

Without a ``[[providers]]`` table the default is :data:`DEFAULT_PROVIDERS`: Cryptomus,
``BTC_USDT`` trades and its depth at scale index 0.

This module must not read the wall clock itself (the emulator's market start time comes from
the run's clock) or print a key the user supplied.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Final

import msgspec
import trio

from framework.config import ProviderConfig
from framework.emulators import cryptomus
from framework.emulators.cli import CREDENTIALS, build_emulator
from framework.emulators.server import EmulatorServer
from framework.providers import cryptomus as cryptomus_provider
from framework.providers import provider as provider_spec
from framework.providers.base import Subscription

__all__ = ["DEFAULT_PROVIDERS", "Live", "missing_credentials", "serve_missing"]

DEFAULT_PROVIDERS: Final = (
    ProviderConfig(
        name=cryptomus_provider.NAME,
        subscriptions=(Subscription("trades", "BTC_USDT"), Subscription("book", "BTC_USDT")),
    ),
)
"""What ``--live`` connects to when the config names no provider."""


class Live(msgspec.Struct, frozen=True):
    """The providers a run connects to, after emulators took the place of missing ones."""

    providers: tuple[ProviderConfig, ...]  # as configured, or pointed at an emulator
    emulated: tuple[str, ...]  # names of the providers served by a built-in emulator
    emulators: tuple[EmulatorServer, ...]  # the running emulators (tests arm faults on them)


def missing_credentials(provider: ProviderConfig) -> str:
    """Why ``provider`` has no usable credentials, in words; "" when it has them."""
    needed = [("key", provider.key_env, provider.secret())]
    if provider_spec(provider.name).ws_token:
        needed.append(("user id", provider.user_id_env, provider.user()))
    for what, env, value in needed:
        if value:
            continue
        if env and env not in os.environ:
            return f"${env} is not set"
        return f"no {what} configured"
    return ""


@asynccontextmanager
async def serve_missing(
    providers: Sequence[ProviderConfig],
    *,
    seed: int,
    clock: Callable[[], int],
    echo: Callable[[str], None],
) -> AsyncIterator[Live]:
    """Start an emulator for each provider without credentials, for the duration of the block.

    Args:
        providers: the configured providers; empty means :data:`DEFAULT_PROVIDERS`.
        seed: seeds the emulators' markets and tokens.
        clock: dates the emulated market's start (its timestamps look live).
        echo: prints the line that says an emulator is used, one per emulated provider.

    Yields:
        The providers to connect to; the emulators stop when the block ends.
    """
    chosen = tuple(providers) or DEFAULT_PROVIDERS
    resolved: list[ProviderConfig] = []
    emulated: list[str] = []
    servers: list[EmulatorServer] = []
    async with trio.open_nursery() as nursery:
        for provider in chosen:
            why = missing_credentials(provider)
            if not why:
                resolved.append(provider)
                continue
            # Strict: the project's own sessions keep every documented rule, samples or not.
            server = build_emulator(provider.name, seed=seed, now_ns=clock, strict=True)
            url = await nursery.start(server.serve)
            echo(
                f"no credentials for {provider.name} ({why}): using the built-in emulator at {url}"
            )
            resolved.append(_pointed_at(provider, server, url))
            emulated.append(provider.name)
            servers.append(server)
        try:
            yield Live(tuple(resolved), tuple(emulated), tuple(servers))
        finally:
            nursery.cancel_scope.cancel()


def _pointed_at(provider: ProviderConfig, server: EmulatorServer, url: str) -> ProviderConfig:
    rest = server.rest_url if isinstance(server, cryptomus.CryptomusEmulator) else ""
    key, user = CREDENTIALS[provider.name]
    return msgspec.structs.replace(
        provider,
        host=url,
        rest_host=rest,
        key_env="",
        user_id_env="",
        key=key,
        user_id=user,
    )
