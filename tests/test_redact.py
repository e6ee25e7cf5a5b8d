"""Secrets never leave the process in clear."""

from __future__ import annotations

from framework.errors import ProviderProtocolError
from framework.redact import redact, register_secret


def test_url_tokens_and_api_keys_are_masked() -> None:
    assert redact("wss://quote.alltick.io/quote-b-ws-api?token=abcdef123456") == (
        "wss://quote.alltick.io/quote-b-ws-api?token=***"
    )
    assert (
        redact("wss://ws.finazon.io/v1?apikey=SECRETKEY9&x=1")
        == "wss://ws.finazon.io/v1?apikey=***&x=1"
    )


def test_json_token_values_are_masked() -> None:
    assert redact('{"token": "168b34a3a1237074"}') == '{"token": "***"}'


def test_registered_secrets_are_masked_anywhere() -> None:
    register_secret("s3cr3t-value-42")
    assert redact("header sign-off s3cr3t-value-42 end") == "header sign-off *** end"


def test_protocol_error_excerpt_is_redacted() -> None:
    err = ProviderProtocolError("alltick", b'{"url":"x?token=topsecret99"}', "bad frame")
    assert "topsecret99" not in str(err)
    assert "token=***" in err.excerpt


def test_a_short_secret_is_masked_at_every_occurrence_inside_words_too() -> None:
    register_secret("q7z")
    assert redact("q7z, q7zboard and xq7zx") == "***, ***board and x***x"


def test_a_short_key_never_shows_in_the_undecodable_frame_line() -> None:
    register_secret("w4v")
    err = ProviderProtocolError("alltick", b'{"msg":"bad w4v","code":"w4vw4v"}', "bad frame")
    assert "w4v" not in str(err)
    assert "w4v" not in err.excerpt
