"""The provider registry: one :class:`~framework.providers.base.Provider` per provider.

A new provider is one module here (its codec and its ``SPEC``), one emulator, one config, one
test file and one frames folder; registering it is one line in ``_BUILT_IN`` (or one call to
:func:`register`, for a provider kept outside the project). Everything else (live sessions,
reconnect policies, symbol mapping, config checks) asks the registry.

The registry loads the built-in providers' modules when it is first used (PEP 562), not when
the package is: a module that needs one provider's constants, or ``validation``, does not load
the other providers (``papertrade import`` writes Cryptomus frames without any codec).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from framework.errors import ConfigError

if TYPE_CHECKING:
    from framework.providers.base import Codec, Provider

__all__ = ["PROVIDERS", "from_native", "make_codec", "provider", "register"]

_BUILT_IN: Final = ("alltick", "cryptomus", "finazon")  # modules of this package, with a SPEC
_REGISTRY: dict[str, Provider] = {}
_LOADED = False

PROVIDERS: dict[str, Provider]
"""Every known provider, by registry name (the built-in ones loaded on first use)."""


def __getattr__(name: str) -> dict[str, Provider]:
    if name == "PROVIDERS":
        return _providers()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _providers() -> dict[str, Provider]:
    """The registry, the built-in providers loaded into it the first time."""
    global _LOADED
    if not _LOADED:
        for module in _BUILT_IN:
            spec: Provider = importlib.import_module(f"{__name__}.{module}").SPEC
            _REGISTRY[spec.name] = spec
        _LOADED = True
    return _REGISTRY


def register(spec: Provider) -> None:
    """Add a provider (or replace the one of the same name)."""
    _providers()[spec.name] = spec


def provider(name: str) -> Provider:
    """The description of provider ``name``.

    Raises:
        ConfigError: the provider is unknown.
    """
    providers = _providers()
    spec = providers.get(name)
    if spec is None:
        known = ", ".join(sorted(providers))
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
    spec = _providers().get(name)
    return spec.from_native(symbol, options or {}) if spec is not None else symbol
