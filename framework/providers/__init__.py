"""The provider registry: one :class:`~framework.providers.base.Provider` per provider.

A new provider is one module here (its codec and its ``SPEC``), one emulator, one config, one
test file and one frames folder; registering it is one line in ``_BUILT_IN`` (or one call to
:func:`register`, for a provider kept outside the project). Everything else (live sessions,
reconnect policies, symbol mapping, config checks) asks the registry.
"""

from __future__ import annotations

from collections.abc import Mapping

from framework.errors import ConfigError
from framework.providers import alltick, cryptomus, finazon
from framework.providers.base import Codec, Provider

__all__ = ["PROVIDERS", "from_native", "make_codec", "provider", "register"]

_BUILT_IN = (alltick.SPEC, cryptomus.SPEC, finazon.SPEC)

PROVIDERS: dict[str, Provider] = {spec.name: spec for spec in _BUILT_IN}
"""Every known provider, by registry name."""


def register(spec: Provider) -> None:
    """Add a provider (or replace the one of the same name)."""
    PROVIDERS[spec.name] = spec


def provider(name: str) -> Provider:
    """The description of provider ``name``.

    Raises:
        ConfigError: the provider is unknown.
    """
    spec = PROVIDERS.get(name)
    if spec is None:
        known = ", ".join(sorted(PROVIDERS))
        raise ConfigError(f"unknown provider {name!r} (known: {known})")
    return spec


def make_codec(name: str, options: Mapping[str, str] | None = None) -> Codec:
    """A fresh codec for provider ``name``, configured by its options.

    Raises:
        ConfigError: the provider is unknown.
    """
    return provider(name).codec(options or {})


def from_native(name: str, symbol: str, options: Mapping[str, str] | None = None) -> str:
    """The canonical id of ``symbol`` as provider ``name`` spells it; the symbol itself for an
    unknown provider."""
    spec = PROVIDERS.get(name)
    return spec.from_native(symbol, options or {}) if spec is not None else symbol
