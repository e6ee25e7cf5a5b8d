"""``papertrade serve PROVIDER``: one provider emulator on loopback, for testing clients by hand.

Without ``--replay`` it serves the seeded market model, its timestamps starting at the wall
clock's current second (the only wall-clock read in the emulators); with ``--replay FILE`` it
serves that recording's frames of PROVIDER, paced by their receive times divided by
``--speed``. The first line printed names the URL(s) to connect to and a test credential;
Ctrl-C (or SIGTERM) stops it cleanly with exit code 0. Bad input is one line and a non-zero
exit code.

This module builds and runs an emulator; it must not implement protocol rules itself.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import click
import trio

from framework import instruments
from framework.emulators import alltick, cryptomus, finazon
from framework.emulators.server import EmulatorServer, HarnessOptions, RecordingSource
from framework.errors import ConfigError, PapertradeError, find_error
from framework.providers.cryptomus import TOKEN_PATH

__all__ = ["CREDENTIALS", "PROVIDERS", "build_emulator", "serve"]

PROVIDERS: Final = ("alltick", "cryptomus", "finazon")
CREDENTIALS: Final = {
    "alltick": (alltick.DEFAULT_TOKEN, ""),
    "cryptomus": (cryptomus.DEFAULT_API_KEY, cryptomus.DEFAULT_USER_ID),
    "finazon": (finazon.DEFAULT_API_KEY, ""),
}
"""The (key, user id) each built-in emulator accepts, by provider."""
_NS: Final = 1_000_000_000


_HELP: Final = f"""Run a PROVIDER emulator (alltick, cryptomus, finazon) on loopback until Ctrl-C.

The first line printed says where to connect and with what. Any well-formed symbol is
served, from a seeded market derived from it (documented markets keep their documented
rules). Every rule enforced, and where it comes from, is in the README's "serve" section.

\b
The providers' own samples run with the host changed, wss://HOST to ws://127.0.0.1:PORT
(PORT as the first line prints it, or fixed with --port):
  finazon    ws://127.0.0.1:PORT/v1?apikey={finazon.SAMPLE_API_KEY}
  alltick    ws://127.0.0.1:PORT/quote-b-ws-api?token={alltick.SAMPLE_TOKEN}
             ws://127.0.0.1:PORT/quote-stock-b-ws-api?token={alltick.SAMPLE_TOKEN}
  cryptomus  ws://127.0.0.1:PORT/ws?token={cryptomus.SAMPLE_TOKEN}
Those placeholders are accepted, and counted, unless --strict. (The Cryptomus Node.js
sample's URL needs backticks, not single quotes, to fill in its token.)

\b
Your own client uses the emulator's credentials:
  finazon    apikey {finazon.DEFAULT_API_KEY}
  alltick    token {alltick.DEFAULT_TOKEN}
  cryptomus  userId {cryptomus.DEFAULT_USER_ID}, key {cryptomus.DEFAULT_API_KEY}:
             GET {TOKEN_PATH} on the REST port, signed, gives a one-time token

--strict also refuses what the samples do beyond the documentation: AllTick requests
less than 1 s apart, and WebSocket pings in place of AllTick's JSON heartbeat.
"""


@click.command("serve", help=_HELP)
@click.argument("provider")
@click.option(
    "--replay",
    type=click.Path(path_type=Path),
    default=None,
    help="Serve this recording's frames of PROVIDER instead of the seeded market.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="WebSocket port; 0 picks a free one.",
)
@click.option(
    "--rest-port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Cryptomus REST port; 0 picks a free one.",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Market seconds per real second.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the market model.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--quiet", is_flag=True, help="Do not log connections to stderr.")
@click.option(
    "--strict",
    is_flag=True,
    help="Also enforce the rules the providers' own samples break (placeholder credentials, "
    "AllTick's 1 s between any two requests, its JSON-only heartbeat).",
)
def serve(
    provider: str, replay: Path | None, port: int, rest_port: int, speed: float, seed: int,
    host: str, quiet: bool, strict: bool,
) -> None:  # fmt: skip
    if not quiet:
        # Its own handler: the papertrade group has already set the root logger to warnings.
        log = logging.getLogger("papertrade.emulators")
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    try:
        emulator = build_emulator(
            provider, replay=replay, port=port, rest_port=rest_port, speed=speed, seed=seed,
            host=host, strict=strict,
        )  # fmt: skip
    except PapertradeError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        trio.run(_run, emulator, replay)
    except KeyboardInterrupt:  # Ctrl-C before the signal handler was in place
        pass
    except (OSError, BaseExceptionGroup) as exc:
        error = find_error(exc, OSError)  # trio reports a failed bind inside groups
        if error is None:
            raise
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {error.strerror or error}"
        ) from None


def build_emulator(
    provider: str,
    *,
    replay: Path | None = None,
    port: int = 0,
    rest_port: int = 0,
    speed: float = 1.0,
    seed: int = 1,
    host: str = "127.0.0.1",
    now_ns: Callable[[], int] = time.time_ns,
    strict: bool = False,
) -> EmulatorServer:
    """The emulator ``papertrade serve`` runs, not yet started.

    Args:
        provider: ``"alltick"``, ``"cryptomus"`` or ``"finazon"``.
        replay: a recording to serve instead of the seeded market.
        port: the WebSocket port (0: any free one); ``rest_port`` the Cryptomus REST port.
        speed: market seconds per second.
        seed: the market model's seed.
        host: the interface to bind.
        now_ns: the clock that dates the seeded market's start (read once, whole seconds).
        strict: also enforce the rules the providers' samples break (``rules.Rule.lenient``).

    Raises:
        ConfigError: an unknown provider, or a recording without that provider.
        RecordingError: the recording is missing or unreadable.
    """
    if provider not in PROVIDERS:
        raise ConfigError(f"unknown provider {provider!r} (known: {', '.join(PROVIDERS)})")
    common: HarnessOptions = {"speed": speed, "port": port, "host": host}
    # Any well-formed symbol is accepted; a replay has data only for the ones it recorded.
    if provider == "cryptomus":
        names: tuple[str, ...] = cryptomus.DEFAULT_INSTRUMENTS
        if replay is None:
            common["source"] = cryptomus.market_source(seed, _start(now_ns), names)
        else:
            common["source"], names = _replay(replay, provider, instruments.from_cryptomus)
        return cryptomus.CryptomusEmulator(
            instruments=names, seed=seed, rest_port=rest_port, strict=strict, **common
        )
    if provider == "alltick":
        names = tuple(alltick.DEFAULT_INSTRUMENTS)
        if replay is None:
            common["source"] = alltick.market_source(seed, _start(now_ns), names)
        else:
            common["source"], names = _replay(replay, provider, instruments.from_alltick)
        return alltick.AllTickEmulator(instruments=names, strict=strict, **common)
    datasets: dict[str, tuple[str, ...]] = dict(finazon.DEFAULT_DATASETS)
    if replay is None:
        common["source"] = finazon.market_source(seed, _start(now_ns), datasets)
    else:
        recording = RecordingSource(replay, provider)
        dataset = recording.options.get("dataset", "kucoin")
        tickers = dict.fromkeys(sub.symbol for sub in recording.subscriptions)
        datasets = {dataset: tuple(instruments.from_finazon(t, dataset) for t in tickers)}
        common["source"] = recording
    return finazon.FinazonEmulator(datasets=datasets, strict=strict, **common)


async def _run(emulator: EmulatorServer, replay: Path | None) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(emulator.serve)
            click.echo(_banner(emulator))
            what = f"replaying {replay}" if replay else "serving the seeded market"
            click.echo(f"{what} at speed {emulator.speed:g}; Ctrl-C to stop", err=True)
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


def _banner(emulator: EmulatorServer) -> str:
    """The first line: where to connect and with what."""
    base = emulator.url
    if isinstance(emulator, cryptomus.CryptomusEmulator):
        user, key = next(iter(emulator.users.items()))
        return (
            f"cryptomus emulator: REST {emulator.rest_url} WebSocket {base}/ws?token=TOKEN "
            f"userId={user} key={key} (TOKEN from GET {TOKEN_PATH})"
        )
    if isinstance(emulator, alltick.AllTickEmulator):
        token = sorted(emulator.tokens)[0]
        return (
            f"alltick emulator: {base}/quote-b-ws-api?token={token} (forex, crypto, metals) "
            f"{base}/quote-stock-b-ws-api?token={token} (stocks)"
        )
    assert isinstance(emulator, finazon.FinazonEmulator)
    return f"finazon emulator: {base}/v1?apikey={sorted(emulator.api_keys)[0]}"


def _start(now_ns: Callable[[], int]) -> int:
    # The seeded market starts at the current whole second, so its timestamps look live.
    return now_ns() // _NS * _NS


def _replay(
    path: Path, provider: str, canonical: Callable[[str], str]
) -> tuple[RecordingSource, tuple[str, ...]]:
    recording = RecordingSource(path, provider)
    symbols = dict.fromkeys(s.symbol for s in recording.subscriptions if s.symbol != "all")
    return recording, tuple(canonical(symbol) for symbol in symbols)


if __name__ == "__main__":
    serve()
