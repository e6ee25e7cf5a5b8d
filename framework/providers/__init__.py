"""The provider registry: one sans-IO codec per provider, by registry name (sorted).

A new provider is one module here, one emulator, one config, one test file and one frames
folder; registering it is one line below.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from framework.errors import ConfigError
from framework.providers.alltick import AllTickCodec
from framework.providers.base import Codec
from framework.providers.cryptomus import CryptomusCodec
from framework.providers.finazon import FinazonCodec

__all__ = ["PROVIDERS", "make_codec"]

PROVIDERS: Final[Mapping[str, type[Codec]]] = {
    "alltick": AllTickCodec,
    "cryptomus": CryptomusCodec,
    "finazon": FinazonCodec,
}


def make_codec(name: str, options: Mapping[str, str] | None = None) -> Codec:
    """A fresh codec for provider ``name`` (Finazon reads ``options["dataset"]``).

    Raises:
        ConfigError: the provider is unknown.
    """
    options = options or {}
    if name == "finazon":
        return FinazonCodec(dataset=options.get("dataset", "kucoin"))
    try:
        codec: Codec = PROVIDERS[name]()
    except KeyError:
        known = ", ".join(PROVIDERS)
        raise ConfigError(f"unknown provider {name!r} (known: {known})") from None
    return codec
