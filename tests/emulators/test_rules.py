"""Rules marked documented or assumed; what the providers' samples do is accepted unless strict.

Where a provider's own sample breaks a rule the documentation does not state (the pages'
placeholder credentials, AllTick's PHP sample keeping alive with WebSocket pings), the default
accepts it and counts it, and ``strict`` refuses it. The README's table is the rules' own.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from framework.emulators import alltick, cryptomus, finazon
from framework.emulators.rules import markdown_table

ROOT = Path(__file__).resolve().parents[2]
EMULATORS = (("alltick", alltick), ("cryptomus", cryptomus), ("finazon", finazon))


def test_the_readme_serve_section_tables_every_rule_with_its_source() -> None:
    readme = (ROOT / "README.md").read_text()
    rules = [(name, rule) for name, module in EMULATORS for rule in module.RULES]
    assert markdown_table(rules) in readme


@pytest.mark.parametrize(("name", "module"), EMULATORS)
def test_every_rule_names_where_it_comes_from(name: str, module: object) -> None:
    rules = module.RULES  # type: ignore[attr-defined]
    assert len({rule.name for rule in rules}) == len(rules)
    for rule in rules:
        # A documented rule cites a seed page or a protocols.md section.
        assert re.search(r"seed 00\d|protocols\.md \d", rule.source), rule
        if rule.lenient:
            assert not rule.documented or "sample" in rule.source, rule


# --- placeholder credentials ---------------------------------------------------------------


async def first_then_close(ws: WebSocketConnection) -> str | bytes:
    """The first message; then, if the server closes, its socket closed too (trio-websocket's
    client leaks it when the server closes first)."""
    first = await ws.get_message()
    with trio.move_on_after(1), contextlib.suppress(ConnectionClosed):
        await ws.get_message()
    if ws.closed is not None:
        await ws._stream.aclose()
    return first


async def _alltick_reply(strict: bool, token: str) -> str | bytes:
    emulator = alltick.AllTickEmulator(strict=strict)
    async with trio.open_nursery() as nursery:
        base = await nursery.start(emulator.serve)
        async with open_websocket_url(f"{base}/quote-b-ws-api?token={token}") as ws:
            await ws.send_message('{"cmd_id":22000,"seq_id":1,"trace":"t","data":{}}')
            reply = await first_then_close(ws)
        nursery.cancel_scope.cancel()
    assert emulator.leniency.waived["placeholder token"] == (0 if strict else 1)
    return reply


async def test_alltick_accepts_the_pages_testtoken_unless_strict() -> None:
    with trio.fail_after(5):
        assert '"ret":200' in str(await _alltick_reply(False, "testtoken"))
        assert '"ret":401' in str(await _alltick_reply(True, "testtoken"))


async def test_finazon_accepts_the_pages_your_api_key_unless_strict(nursery: trio.Nursery) -> None:
    for strict, expected in ((False, '"status":"success"'), (True, "INVALID_API_KEY")):
        emulator = finazon.FinazonEmulator(strict=strict)
        base = await nursery.start(emulator.serve)
        with trio.fail_after(5):
            async with open_websocket_url(f"{base}/v1?apikey=your_api_key") as ws:
                await ws.send_message('{"event":"heartbeat","request_id":1}')
                assert expected in str(await first_then_close(ws))
        assert emulator.leniency.waived["placeholder key"] == (0 if strict else 1)


async def test_cryptomus_takes_the_pages_token_again_and_again_unless_strict(
    nursery: trio.Nursery,
) -> None:
    emulator = cryptomus.CryptomusEmulator()
    base = await nursery.start(emulator.serve)
    with trio.fail_after(5):
        for _ in range(2):  # a real token is used up by the first connection
            async with open_websocket_url(f"{base}/ws?token=your_auth_token_here") as ws:
                await ws.send_message('{"id":7,"method":"ping","params":[]}')
                assert await ws.get_message() == (
                    '{"id":7,"method":"pong","data":null,"error":null}'
                )
    assert emulator.leniency.waived["placeholder token"] == 2
    strict = cryptomus.CryptomusEmulator(strict=True)
    base = await nursery.start(strict.serve)
    from tests.emulators.test_cryptomus_emulator import handshake

    with trio.fail_after(5):
        refused = await handshake(f"{base}/ws?token=your_auth_token_here")
    assert refused.startswith(b"HTTP/1.1 401")


# --- AllTick's keep-alive by ping frames ---------------------------------------------------


async def _pinging_for(strict: bool, seconds: int) -> tuple[int | None, alltick.AllTickEmulator]:
    """Ping every 10 s, as the PHP sample does, never sending 22000; the close code, if any."""
    emulator = alltick.AllTickEmulator(strict=strict)
    async with trio.open_nursery() as nursery:
        base = await nursery.start(emulator.serve)
        code: int | None = None
        async with open_websocket_url(f"{base}/quote-b-ws-api?token={alltick.DEFAULT_TOKEN}") as ws:
            try:
                for _ in range(seconds // 10):
                    with trio.move_on_after(1):  # no pong comes once the server closed
                        await ws.ping()
                    await trio.sleep(10)
            except ConnectionClosed as closed:
                code = closed.reason.code if closed.reason else None
            if ws.closed is not None:
                code = ws.closed.code
                await ws._stream.aclose()
        nursery.cancel_scope.cancel()
    return code, emulator


async def test_ping_frames_keep_an_alltick_connection_alive_unless_strict(
    autojump_clock: trio.abc.Clock,
) -> None:
    code, emulator = await _pinging_for(strict=False, seconds=90)
    assert code is None  # still open after 90 s without a 22000
    assert emulator.leniency.waived["JSON heartbeat only"] >= 2
    code, emulator = await _pinging_for(strict=True, seconds=90)
    assert code == alltick.TIMEOUT_CLOSE  # closed 30 s in, as without any keep-alive
    assert emulator.connections[0].close_reason == "heartbeat timeout"
    assert emulator.leniency.waived == {}


# --- papertrade serve --------------------------------------------------------------------------


def test_serve_help_tells_how_to_connect_each_sample_and_with_what() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "framework", "serve", "--help"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    text = " ".join(result.stdout.split())
    for expected in (
        "ws://127.0.0.1:PORT/v1?apikey=your_api_key",
        "ws://127.0.0.1:PORT/quote-b-ws-api?token=testtoken",
        "ws://127.0.0.1:PORT/quote-stock-b-ws-api?token=testtoken",
        "ws://127.0.0.1:PORT/ws?token=your_auth_token_here",
        f"apikey {finazon.DEFAULT_API_KEY}",
        f"token {alltick.DEFAULT_TOKEN}",
        f"userId {cryptomus.DEFAULT_USER_ID}, key {cryptomus.DEFAULT_API_KEY}",
        "--strict",
    ):
        assert expected in text, expected


def test_serve_strict_refuses_the_pages_token() -> None:
    command = [sys.executable, "-m", "framework", "serve", "alltick", "--strict", "--quiet"]
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        base = re.search(r"ws://127\.0\.0\.1:\d+", proc.stdout.readline())
        assert base is not None

        async def first_reply() -> str | bytes:
            with trio.fail_after(5):
                url = f"{base.group(0)}/quote-b-ws-api?token=testtoken"
                async with open_websocket_url(url) as ws:
                    return await first_then_close(ws)

        assert '"ret":401,"msg":"token invalid"' in str(trio.run(first_reply))
    finally:
        proc.kill()
        proc.communicate()
