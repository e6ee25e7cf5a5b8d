"""Cryptomus REST helpers: the ``sign`` header, the token request, and the documented replies.

``sign`` is checked against values worked out independently of the code: the RFC 1321 MD5
test vector, and the documented formula (``md5(base64(body) + key)``, in PHP
``md5(base64_encode(json_encode($data)) . $API_KEY)``) computed here with hashlib and base64.
Replies are quoted from the Cryptomus pages (seed 002 and protocols.md section 3.3).
"""

from __future__ import annotations

import base64
import hashlib

import msgspec
import pytest

from framework.errors import ProviderProtocolError
from framework.providers.cryptomus import (
    Market,
    decode_depth_scales,
    decode_markets,
    decode_token_reply,
    sign,
    token_request,
)


def test_sign_of_an_empty_body_is_md5_of_the_key() -> None:
    # base64("") is "", so the sign is md5("abc"): the RFC 1321 test vector.
    assert sign(b"", "abc") == "900150983cd24fb0d6963f7d28e17f72"


def test_sign_is_md5_of_base64_body_plus_key() -> None:
    body = b'{"market":"TRX_USDT","quantity":"20"}'
    expected = hashlib.md5(base64.b64encode(body) + b"secret-key").hexdigest()
    assert sign(body, "secret-key") == expected


def test_sign_matches_the_documented_php_form() -> None:
    # $sign = md5(base64_encode(json_encode($data)) . $API_KEY); json_encode is compact and
    # escapes "/" as "\/", so the body signed is exactly these bytes.
    body = b'{"market":"TRX_USDT","quantity":"20","price":"0.2964","direction":"buy","tag":"a\\/b"}'
    php = hashlib.md5(base64.b64encode(body) + b"key").hexdigest()
    assert sign(body, "key") == php


def test_token_request_is_a_signed_get_of_the_token_path() -> None:
    assert token_request("user-uuid", "abc") == (
        "GET",
        "/v2/user-api/exchange/account/web-socket/token",
        {"userId": "user-uuid", "sign": "900150983cd24fb0d6963f7d28e17f72"},
    )


def test_documented_token_reply_decodes() -> None:
    reply = b'{ "token": "168b34a3a12370740ff1654f0d0c4726ff1bba8c4675edc0d7553f15e5a2a094" }'
    token = "168b34a3a12370740ff1654f0d0c4726ff1bba8c4675edc0d7553f15e5a2a094"
    assert decode_token_reply(reply).token == token


def test_empty_token_is_a_protocol_error() -> None:
    with pytest.raises(ProviderProtocolError) as info:
        decode_token_reply(b'{"token":""}')
    assert info.value.path == "$.token"


def test_documented_market_list_decodes() -> None:
    reply = """{"result": [{"id": "01HSBPVS17CT2GN2FV34K3AMP9", "symbol": "BTC_USDT",
        "baseCurrency": "BTC", "quoteCurrency": "USDT", "baseMinSize": "0.0000100000000000",
        "quoteMinSize": "0.1000000000000000", "baseMaxSize": "10000000000.0000000000000000",
        "quoteMaxSize": "99999999.0000000000000000", "basePrec": "8", "quotePrec": "6",
        "baseCurrencyFullName": "Bitcoin", "quoteCurrencyFullName": "Tether USD"}]}"""
    assert decode_markets(reply).result == [
        Market(
            id="01HSBPVS17CT2GN2FV34K3AMP9", symbol="BTC_USDT", baseCurrency="BTC",
            quoteCurrency="USDT", baseMinSize="0.0000100000000000",
            quoteMinSize="0.1000000000000000", baseMaxSize="10000000000.0000000000000000",
            quoteMaxSize="99999999.0000000000000000", basePrec="8", quotePrec="6",
            baseCurrencyFullName="Bitcoin", quoteCurrencyFullName="Tether USD",
        )
    ]  # fmt: skip


def test_market_list_without_full_names_decodes_and_encodes_without_them() -> None:
    reply = (
        b'{"result":[{"id":"01HSBPVS17CT2GN2FV34K3AMPC","symbol":"SOL_USDT","baseCurrency":"SOL",'
        b'"quoteCurrency":"USDT","baseMinSize":"0.01000000","quoteMinSize":"5.00000000",'
        b'"baseMaxSize":"500.00000000","quoteMaxSize":"10000000.00000000","basePrec":"4",'
        b'"quotePrec":"4"}]}'
    )
    assert msgspec.json.encode(decode_markets(reply)) == reply


def test_market_list_with_a_missing_field_is_a_protocol_error() -> None:
    with pytest.raises(ProviderProtocolError) as info:
        decode_markets(b'{"result":[{"id":"x","symbol":"BTC_USDT"}]}')
    assert info.value.path == "$.result[0]"


def test_documented_depth_scale_reply_decodes() -> None:
    reply = b'{"status": "success", "message": "success", "data": [{"scale": "0.01", "index": 0}]}'
    scales = decode_depth_scales(reply)
    assert [(s.scale, s.index) for s in scales.data] == [("0.01", 0)]
