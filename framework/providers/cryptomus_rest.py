"""Cryptomus REST: request signing, the WebSocket token request, and the public reply Structs.

Pure functions and wire Structs only. This module never opens a connection, never reads the
clock and never registers or logs a secret: the caller sends the request it describes, hands
the reply bytes back here, and registers the token with ``framework.redact`` itself.

Signing, as documented for the "user-api" endpoints (and in PHP as
``md5(base64_encode(json_encode($data)) . $API_KEY)``)::

    sign = md5( base64(body) + api_key )      lowercase hex; a GET signs the empty body

The signature covers the exact bytes sent, so callers sign the body they are about to send.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Annotated, Final, TypeVar

import msgspec
from msgspec import UNSET, Meta, UnsetType

from framework.errors import ProviderProtocolError

__all__ = [
    "MARKETS_PATH",
    "REST_BASE",
    "TOKEN_PATH",
    "DepthScale",
    "DepthScales",
    "Market",
    "MarketList",
    "TokenReply",
    "decode_depth_scales",
    "decode_markets",
    "decode_token_reply",
    "sign",
    "token_request",
]

REST_BASE: Final = "https://api.cryptomus.com"
TOKEN_PATH: Final = "/v2/user-api/exchange/account/web-socket/token"
MARKETS_PATH: Final = "/v2/user-api/exchange/markets"
_PROVIDER: Final = "cryptomus"

_T = TypeVar("_T")


class TokenReply(msgspec.Struct, frozen=True):
    """Reply of ``GET /v2/user-api/exchange/account/web-socket/token``."""

    token: Annotated[str, Meta(min_length=1)]  # one-time WebSocket token, 64 hex chars


class Market(msgspec.Struct, frozen=True, kw_only=True):
    """One market of ``GET /v2/user-api/exchange/markets``; every number is a decimal string."""

    id: str  # market id, a ULID
    symbol: str  # native market name, "BTC_USDT"
    baseCurrency: str  # "BTC"
    quoteCurrency: str  # "USDT"
    baseMinSize: str  # smallest order quantity, base currency
    quoteMinSize: str  # smallest order value, quote currency
    baseMaxSize: str  # largest order quantity, base currency
    quoteMaxSize: str  # largest order value, quote currency
    basePrec: str  # decimals allowed in a quantity, "8"
    quotePrec: str  # decimals allowed in a price, "6"
    baseCurrencyFullName: str | UnsetType = UNSET  # "Bitcoin"; absent in older replies
    quoteCurrencyFullName: str | UnsetType = UNSET  # "Tether USD"; absent in older replies


class MarketList(msgspec.Struct, frozen=True):
    """Reply of ``GET /v2/user-api/exchange/markets``."""

    result: list[Market]  # every market the exchange lists


class DepthScale(msgspec.Struct, frozen=True):
    """One depth aggregation step of a market."""

    scale: str  # price step of the aggregated book, "0.01"
    index: int  # the scale_index a depth subscription names, 0 = finest


class DepthScales(msgspec.Struct, frozen=True):
    """Reply of the depth-scale request ("Symbols of the depth scale").

    The documentation shows this reply but not the request that returns it.
    """

    status: str  # "success"
    message: str  # "success"
    data: list[DepthScale]  # the scales a market offers


_TOKEN_DECODER: Final = msgspec.json.Decoder(TokenReply)
_MARKETS_DECODER: Final = msgspec.json.Decoder(MarketList)
_SCALES_DECODER: Final = msgspec.json.Decoder(DepthScales)


def sign(body: bytes, api_key: str) -> str:
    """The ``sign`` header: ``md5(base64(body) + api_key)`` as lowercase hex.

    Args:
        body: the exact request body bytes; ``b""`` for a GET or DELETE.
        api_key: the user's API key.

    Returns:
        32 lowercase hex characters.
    """
    return hashlib.md5(base64.b64encode(body) + api_key.encode("utf-8")).hexdigest()


def token_request(user_id: str, api_key: str) -> tuple[str, str, dict[str, str]]:
    """The request for a one-time WebSocket token.

    Args:
        user_id: the user's UUID, sent as the ``userId`` header.
        api_key: the API key that signs the (empty) body.

    Returns:
        ``(method, path, headers)``: ``"GET"``, :data:`TOKEN_PATH` (relative to
        :data:`REST_BASE`) and the ``userId`` and ``sign`` headers. The headers hold a
        signature: do not log them unredacted.
    """
    return "GET", TOKEN_PATH, {"userId": user_id, "sign": sign(b"", api_key)}


def decode_token_reply(body: bytes | str) -> TokenReply:
    """Decode the token reply.

    Raises:
        ProviderProtocolError: the body is not ``{"token": "<non-empty string>"}``.
    """
    return _decode(_TOKEN_DECODER, body)


def decode_markets(body: bytes | str) -> MarketList:
    """Decode the market list reply.

    Raises:
        ProviderProtocolError: the body breaks the documented shape.
    """
    return _decode(_MARKETS_DECODER, body)


def decode_depth_scales(body: bytes | str) -> DepthScales:
    """Decode the depth-scale reply.

    Raises:
        ProviderProtocolError: the body breaks the documented shape.
    """
    return _decode(_SCALES_DECODER, body)


def _decode(decoder: msgspec.json.Decoder[_T], body: bytes | str) -> _T:
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        reason, _, where = str(exc).partition(" - at `")
        raise ProviderProtocolError(_PROVIDER, body, reason, where.rstrip("`")) from exc
    except (msgspec.DecodeError, UnicodeError) as exc:
        raise ProviderProtocolError(_PROVIDER, body, f"invalid JSON: {exc}") from exc
