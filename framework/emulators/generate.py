"""Generated recordings: a seeded market rendered in one provider's wire format, written to disk.

A generated recording looks like one made live: a header naming the provider, its
subscriptions and (in ``meta``) the generator, seed and parameters; a ``connected`` and a
``subscribed`` line; the provider's subscribe acknowledgements; then the market's push frames.
Receive times are event times plus a small seeded network delay, never decreasing. Nothing
reads the clock, so the same arguments give the same bytes (for a ``.gz`` file, the same file
name too: gzip keeps it in its header).

This module must not open sockets or read the wall clock; it writes one file and nothing else.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final, Literal

import click
import msgspec

from framework import instruments
from framework.emulators.market import MarketModel, MarketParams, preset
from framework.emulators.wire import (
    AllTickRenderer,
    CryptomusRenderer,
    FinazonRenderer,
    WireFrame,
    acknowledge,
)
from framework.errors import ConfigError
from framework.providers.alltick import AllTickCodec
from framework.providers.base import Subscription
from framework.providers.cryptomus import CryptomusCodec
from framework.providers.finazon import FinazonCodec
from framework.recording import (
    FORMAT,
    VERSION,
    ConnectedLine,
    Header,
    Line,
    ProviderSpec,
    RecordingWriter,
    SubscribedLine,
    frame_from_wire,
)
from framework.redact import redact

__all__ = ["DEFAULT_START_S", "GENERATOR", "PROVIDERS", "generate", "generate_recording"]

GENERATOR: Final = "papertrade.emulators.market"
PROVIDERS: Final = ("alltick", "cryptomus", "finazon")
DEFAULT_START_S: Final = 1_750_953_600  # 2025-06-26 16:00:00 UTC, beside the documented examples
_NS: Final = 1_000_000_000
_CHUNK_NS: Final = 60 * _NS  # simulated time rendered per model call
_WRITE_BATCH: Final = 2000  # lines per write: the gzip writer sync-flushes on every write
_FIAT: Final = frozenset({"AUD", "CAD", "CHF", "EUR", "GBP", "JPY", "NZD", "USD"})
_PLACEHOLDER_KEY: Final = "generated-recording-key"  # redacted in the recorded URL
_FREQUENCY_NS: Final = {"1s": _NS, "10s": 10 * _NS, "1m": 60 * _NS}

Frequency = Literal["1s", "10s", "1m"]
Renderer = CryptomusRenderer | AllTickRenderer | FinazonRenderer


def generate_recording(
    path: str | Path,
    *,
    provider: str,
    instrument: str = "BTC/USDT",
    seed: int = 1,
    minutes: int = 35,
    start_s: int = DEFAULT_START_S,
    frequency: Frequency = "10s",
    dataset: str = "kucoin",
    depth: int = 0,
    string_times: bool = False,
) -> int:
    """Write a recording of ``minutes`` of a seeded ``instrument`` market as ``provider`` sends it.

    Args:
        path: the file to write; a ``.gz`` suffix compresses it.
        provider: ``"alltick"``, ``"cryptomus"`` or ``"finazon"``.
        instrument: canonical id with a market preset (``BTC/USDT``, ``EUR/USD``, ``AAPL.US``...).
        seed: the market's and the network delays' only source of randomness.
        minutes: market time covered, from ``start_s``.
        start_s: simulated start, Unix seconds.
        frequency: Finazon push frequency.
        dataset: Finazon dataset code.
        depth: AllTick levels per book side; 0 picks the documented count (crypto 5, else 1).
        string_times: AllTick ``seq``/``tick_time`` as strings, as the older docs show.

    Returns:
        The number of lines written, header included.

    Raises:
        ConfigError: an unknown provider or instrument, or a non-positive duration.
    """
    if provider not in PROVIDERS:
        raise ConfigError(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")
    if minutes <= 0:
        raise ConfigError(f"minutes must be positive, not {minutes}")
    options = _options(provider, instrument, seed, minutes, start_s, frequency, dataset, depth,
                       string_times)  # fmt: skip
    params = _market_params(provider, instrument, frequency)
    subs, renderer, codec_requests, url = _provider_setup(provider, instrument, options)
    header = Header(
        FORMAT,
        VERSION,
        (ProviderSpec(provider, subs, {"dataset": dataset} if provider == "finazon" else {}),),
        {"generator": GENERATOR, "seed": seed, "command": _command(options), "options": options,
         "market": msgspec.to_builtins(params)},
    )  # fmt: skip
    start_ns = start_s * _NS
    delays = _Delays(seed)
    lines = _lines(provider, start_ns, url, subs, codec_requests, delays)
    frames = _market_frames(MarketModel(params, seed, start_ns), renderer, start_ns, minutes)
    count = 1
    with RecordingWriter(path, header) as writer:
        for batch in _batched(_stamped(provider, lines, frames, delays), _WRITE_BATCH):
            writer.write(batch)
            count += len(batch)
    return count


@click.command("generate")
@click.option("--provider", type=click.Choice(PROVIDERS), required=True, help="Wire format.")
@click.option("--instrument", default="BTC/USDT", show_default=True, help="Canonical id.")
@click.option("--seed", type=int, default=1, show_default=True, help="Randomness seed.")
@click.option("--minutes", type=click.IntRange(min=1), default=35, show_default=True)
@click.option("--start", "start_s", type=int, default=DEFAULT_START_S, show_default=True,
              help="Simulated start, Unix seconds.")  # fmt: skip
@click.option("--frequency", type=click.Choice(tuple(_FREQUENCY_NS)), default="10s",
              show_default=True, help="Finazon push frequency.")  # fmt: skip
@click.option("--dataset", default="kucoin", show_default=True, help="Finazon dataset.")
@click.option("--depth", type=click.IntRange(min=0), default=0,
              help="AllTick book levels per side (0: crypto 5, others 1).")  # fmt: skip
@click.option("--string-times", is_flag=True, help="AllTick seq/tick_time as strings.")
@click.option("--out", "-o", "out", required=True,
              type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Recording to write (.jsonl or .jsonl.gz).")  # fmt: skip
def generate(
    provider: str, instrument: str, seed: int, minutes: int, start_s: int, frequency: Frequency,
    dataset: str, depth: int, string_times: bool, out: Path,
) -> None:  # fmt: skip
    """Write a recording of a seeded synthetic market in one provider's wire format.

    The same options give the same bytes.
    """
    count = generate_recording(
        out, provider=provider, instrument=instrument, seed=seed, minutes=minutes,
        start_s=start_s, frequency=frequency, dataset=dataset, depth=depth,
        string_times=string_times,
    )  # fmt: skip
    click.echo(f"wrote {out}: {count} lines, {provider} {instrument}, seed {seed}")


# --- set-up ------------------------------------------------------------------------------------


def _options(
    provider: str, instrument: str, seed: int, minutes: int, start_s: int, frequency: str,
    dataset: str, depth: int, string_times: bool,
) -> dict[str, Any]:  # fmt: skip
    # Only the options that shape this provider's output: they make the header and the command.
    options: dict[str, Any] = {"provider": provider, "instrument": instrument, "seed": seed,
                               "minutes": minutes, "start": start_s}  # fmt: skip
    if provider == "finazon":
        options.update(frequency=frequency, dataset=dataset)
    elif provider == "alltick":
        options["depth"] = depth or _alltick_depth(instrument)
        if string_times:
            options["string_times"] = True
    return options


def _command(options: dict[str, Any]) -> str:
    words = ["papertrade", "generate"]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        words += [flag] if value is True else [flag, str(value)]
    return " ".join(words)


def _market_params(provider: str, instrument: str, frequency: str) -> MarketParams:
    # Cadences draw no randomness: switching unused outputs off leaves the market unchanged.
    params = preset(instrument)
    if provider == "finazon":
        return msgspec.structs.replace(
            params, book_interval_ns=0, ticker_interval_ns=0, bar_update_ns=_FREQUENCY_NS[frequency]
        )
    if provider == "alltick":
        return msgspec.structs.replace(params, ticker_interval_ns=0, bar_update_ns=0)
    return msgspec.structs.replace(params, bar_update_ns=0)


def _provider_setup(
    provider: str, instrument: str, options: dict[str, Any]
) -> tuple[tuple[Subscription, ...], Renderer, list[str], str]:
    renderer: Renderer
    codec: CryptomusCodec | AllTickCodec | FinazonCodec
    if provider == "cryptomus":
        symbol = instruments.to_cryptomus(instrument)
        subs = tuple(
            Subscription(channel, symbol) for channel in ("trades", "book", "ticker", "last_price")
        )
        renderer, codec = CryptomusRenderer(symbol), CryptomusCodec()
    elif provider == "alltick":
        code = instruments.to_alltick(instrument)
        subs = (Subscription("trades", code), Subscription("book", code, depth=options["depth"]))
        renderer = AllTickRenderer(
            code, depth_levels=options["depth"], forex=_is_forex(instrument),
            string_times=bool(options.get("string_times")),
        )  # fmt: skip
        codec = AllTickCodec()
    else:
        ticker = instruments.to_finazon(instrument)
        subs = (Subscription("bars", ticker, interval=options["frequency"]),)
        renderer = FinazonRenderer(
            ticker, dataset=options["dataset"], frequency=options["frequency"]
        )
        codec = FinazonCodec(options["dataset"])
    url = redact(codec.url(subs, "", _PLACEHOLDER_KEY))
    return subs, renderer, codec.subscribe(subs), url


def _alltick_depth(instrument: str) -> int:
    # Documented levels: crypto 5; forex, metals and US stocks 1.
    return 1 if _is_forex(instrument) or instruments.is_stock(instrument) else 5


def _is_forex(instrument: str) -> bool:
    base, _, quote = instrument.partition("/")
    return base in _FIAT and quote in _FIAT


# --- lines -------------------------------------------------------------------------------------


def _lines(
    provider: str, start_ns: int, url: str, subs: Sequence[Subscription], requests: list[str],
    delays: _Delays,
) -> list[Line]:  # fmt: skip
    # The session opened a second before the market starts, subscribed, and got its acks.
    opened = start_ns - _NS
    lines: list[Line] = [
        ConnectedLine(opened, provider, 1, url),
        SubscribedLine(opened, provider, 1, tuple(subs)),
    ]
    for request in requests:
        ack_ns = delays.receive(opened + 20_000_000)  # a round trip after the request
        lines.append(frame_from_wire(provider, 1, ack_ns, acknowledge(provider, request)))
    return lines


def _market_frames(
    model: MarketModel, renderer: Renderer, start_ns: int, minutes: int
) -> Iterator[WireFrame]:
    end_ns = start_ns + minutes * 60 * _NS
    now = start_ns
    while now < end_ns:
        now = min(now + _CHUNK_NS, end_ns)
        yield from renderer.render(model.advance_to(now))


def _stamped(
    provider: str, head: list[Line], frames: Iterator[WireFrame], delays: _Delays
) -> Iterator[Line]:
    yield from head
    for frame in frames:
        yield frame_from_wire(provider, 1, delays.receive(frame.ts_ns), frame.text)


class _Delays:
    """Seeded one-way network delays: 5 ms plus an exponential tail (mean 10 ms)."""

    def __init__(self, seed: int) -> None:
        # A string seed gives a stream unrelated to the market's ``Random(seed)``.
        self._rng = random.Random(f"network-delay:{seed}")
        self.last = 0

    def receive(self, sent_ns: int) -> int:
        delay_ms = 5.0 - 10.0 * math.log(1.0 - self._rng.random())
        self.last = max(self.last, sent_ns + int(delay_ms * 1_000_000))
        return self.last


def _batched(items: Iterator[Line], size: int) -> Iterator[list[Line]]:
    batch: list[Line] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
