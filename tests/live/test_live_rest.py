"""The Cryptomus token request over h11, against the emulator's REST endpoint on loopback."""

from __future__ import annotations

import re
from functools import partial

import pytest
import trio

from framework.emulators.cryptomus import DEFAULT_API_KEY, DEFAULT_USER_ID
from framework.emulators.http import HttpRequest, HttpResponse, json_response, serve_http
from framework.errors import ConfigError, ProviderConnectionError
from framework.live.rest import fetch_ws_token, http_get, rest_base
from framework.redact import redact

from .live_helpers import cryptomus_emulator


async def serve(handler: object, nursery: trio.Nursery) -> str:
    port = await nursery.start(partial(serve_http, handler))
    return f"http://127.0.0.1:{port}"


async def test_a_signed_request_gets_the_token_the_server_issued() -> None:
    with trio.fail_after(10):
        emulator = cryptomus_emulator(market=False)
        async with trio.open_nursery() as nursery:
            await nursery.start(emulator.serve)
            issued: list[str] = []
            issue = emulator.tokens.issue
            emulator.tokens.issue = lambda: issued.append(issue()) or issued[-1]  # type: ignore[method-assign]
            token = await fetch_ws_token(emulator.rest_url, DEFAULT_USER_ID, DEFAULT_API_KEY)
            nursery.cancel_scope.cancel()
        assert re.fullmatch(r"[0-9a-f]{64}", token)
        assert [token] == issued


async def test_the_token_is_registered_as_a_secret() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            base = await serve(lambda _: json_response(200, {"token": "5f3a" * 16}), nursery)
            token = await fetch_ws_token(base, "user", "key-that-signs")
            nursery.cancel_scope.cancel()
        assert redact(f"wss://api-ws.cryptomus.com/ws?t={token} done") == (
            "wss://api-ws.cryptomus.com/ws?t=*** done"
        )


async def test_a_wrong_key_is_a_config_error_naming_what_to_check() -> None:
    with trio.fail_after(10):
        emulator = cryptomus_emulator(market=False)
        async with trio.open_nursery() as nursery:
            await nursery.start(emulator.serve)
            with pytest.raises(ConfigError) as caught:
                await fetch_ws_token(emulator.rest_url, DEFAULT_USER_ID, "not-the-key")
            nursery.cancel_scope.cancel()
        message = str(caught.value)
        assert "HTTP 401" in message and "Invalid sign" in message
        assert "user_id_env, key_env" in message


async def test_an_unknown_user_is_a_config_error() -> None:
    with trio.fail_after(10):
        emulator = cryptomus_emulator(market=False)
        async with trio.open_nursery() as nursery:
            await nursery.start(emulator.serve)
            with pytest.raises(ConfigError, match=r"HTTP 404.*User not found"):
                await fetch_ws_token(emulator.rest_url, "no-such-user", DEFAULT_API_KEY)
            nursery.cancel_scope.cancel()


async def test_a_server_error_is_a_connection_error_worth_retrying() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            base = await serve(lambda _: json_response(500, {"message": "Server error."}), nursery)
            with pytest.raises(ProviderConnectionError, match="HTTP 500"):
                await fetch_ws_token(base, "user", "key")
            nursery.cancel_scope.cancel()


async def test_a_reply_without_a_token_is_a_connection_error() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            base = await serve(lambda _: json_response(200, {"token": ""}), nursery)
            with pytest.raises(ProviderConnectionError, match=r"\$\.token"):
                await fetch_ws_token(base, "user", "key")
            nursery.cancel_scope.cancel()


async def test_a_closed_port_is_a_connection_error() -> None:
    with trio.fail_after(10):
        listener = trio.socket.socket()
        await listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        listener.close()  # nothing listens there now
        with pytest.raises(ProviderConnectionError, match=f"127.0.0.1:{port}"):
            await http_get(f"http://127.0.0.1:{port}/x", {})


async def test_a_server_that_never_answers_times_out(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:

            async def silent(stream: trio.SocketStream) -> None:
                await trio.sleep_forever()

            listeners = await nursery.start(trio.serve_tcp, silent, 0)
            port = listeners[0].socket.getsockname()[1]
            with pytest.raises(ProviderConnectionError, match="no reply within 5 s"):
                await http_get(f"http://127.0.0.1:{port}/x", {}, timeout=5)
            nursery.cancel_scope.cancel()


async def test_the_request_carries_the_signed_headers_and_the_host() -> None:
    seen: list[HttpRequest] = []

    def handler(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        return json_response(200, {"token": "ab" * 32})

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            base = await serve(handler, nursery)
            await fetch_ws_token(base, "3fa85f64-user", "key")
            nursery.cancel_scope.cancel()
    request = seen[0]
    assert (request.method, request.target) == (
        "GET", "/v2/user-api/exchange/account/web-socket/token",
    )  # fmt: skip
    assert request.header("userId") == "3fa85f64-user"
    # md5(base64("") + "key") = md5("key"), as the documentation's formula gives for a GET.
    assert request.header("sign") == "3c6e0b8a9c15224a8228b9a98ca1531d"
    assert request.header("host") == base.removeprefix("http://")
    assert request.body == b""


async def test_a_url_that_is_not_http_is_a_config_error() -> None:
    with trio.fail_after(10), pytest.raises(ConfigError, match="must start with http"):
        await http_get("ftp://example.com/x", {})


@pytest.mark.parametrize(
    ("configured", "base"),
    [
        ("", "https://api.cryptomus.com"),
        ("api.cryptomus.com", "https://api.cryptomus.com"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
    ],
)
def test_the_rest_base_defaults_to_https_on_the_documented_host(configured: str, base: str) -> None:
    assert rest_base(configured) == base
