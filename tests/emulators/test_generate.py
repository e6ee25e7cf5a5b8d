"""Generated recordings: same bytes per seed, decodable by the real codecs, true to the model."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TypeVar

import msgspec
import pytest
from click.testing import CliRunner

from framework import events as ev
from framework.emulators.generate import generate, generate_recording
from framework.emulators.market import (
    BarState,
    BookChange,
    Happening,
    MarketModel,
    MarketParams,
    TickerStats,
    TradePrint,
)
from framework.errors import ConfigError
from framework.providers.alltick import AllTickCodec
from framework.providers.base import Ack, Decoded, Subscription
from framework.providers.cryptomus import CryptomusCodec
from framework.providers.finazon import FinazonCodec
from framework.recording import ConnectedLine, Frame, Header, RecordingReader, SubscribedLine

NS = 1_000_000_000
START_S = 1_750_953_600
REPLAYS = Path(__file__).resolve().parents[2] / "replays"
T = TypeVar("T")


def read(path: Path) -> tuple[Header, list[object]]:
    with RecordingReader(path) as reader:
        return reader.header, list(reader)


def model_happenings(header: Header) -> list[Happening]:
    """Re-run the market the header describes, from its own meta."""
    params = msgspec.convert(header.meta["market"], MarketParams, strict=False)
    options = header.meta["options"]
    model = MarketModel(params, header.meta["seed"], options["start"] * NS)
    return model.advance_to((options["start"] + options["minutes"] * 60) * NS)


def decode_all(path: Path, codec: CryptomusCodec | AllTickCodec | FinazonCodec) -> list[Decoded]:
    _, lines = read(path)
    return [
        e for line in lines if isinstance(line, Frame) for e in codec.decode(line.payload(), line.t)
    ]


def of_type(items: list[Happening] | list[Decoded], kind: type[T]) -> list[T]:
    return [item for item in items if isinstance(item, kind)]


def test_the_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    # gzip keeps the file name in its header: the same name in two directories.
    first, second = tmp_path / "a" / "r.jsonl.gz", tmp_path / "b" / "r.jsonl.gz"
    generate_recording(first, provider="cryptomus", seed=5, minutes=1)
    generate_recording(second, provider="cryptomus", seed=5, minutes=1)
    assert first.read_bytes() == second.read_bytes()


def test_a_different_seed_writes_different_bytes(tmp_path: Path) -> None:
    generate_recording(tmp_path / "5.jsonl", provider="alltick", seed=5, minutes=1)
    generate_recording(tmp_path / "6.jsonl", provider="alltick", seed=6, minutes=1)
    assert (tmp_path / "5.jsonl").read_bytes() != (tmp_path / "6.jsonl").read_bytes()


def test_header_names_the_provider_subscriptions_generator_and_seed(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    generate_recording(path, provider="cryptomus", seed=9, minutes=1)
    header, _ = read(path)
    (spec,) = header.providers
    assert spec.name == "cryptomus"
    assert spec.subscriptions == (
        Subscription("trades", "BTC_USDT"), Subscription("book", "BTC_USDT"),
        Subscription("ticker", "BTC_USDT"), Subscription("last_price", "BTC_USDT"),
    )  # fmt: skip
    assert header.meta["generator"] == "papertrade.emulators.market"
    assert header.meta["seed"] == 9
    assert header.meta["command"] == (
        "papertrade generate --provider cryptomus --instrument BTC/USDT --seed 9 --minutes 1 "
        "--start 1750953600"
    )


def test_the_session_opens_subscribes_and_is_acknowledged_before_market_data(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r.jsonl"
    generate_recording(path, provider="alltick", minutes=1)
    _, lines = read(path)
    connected, subscribed, *rest = lines
    assert isinstance(connected, ConnectedLine)
    assert connected.url == "wss://quote.alltick.io/quote-b-ws-api?token=***"
    assert isinstance(subscribed, SubscribedLine)
    assert subscribed.subscriptions == (
        Subscription("trades", "BTCUSDT"), Subscription("book", "BTCUSDT", depth=5),
    )  # fmt: skip
    frames = [line for line in rest[:2] if isinstance(line, Frame)]
    acks = [e for frame in frames for e in AllTickCodec().decode(frame.payload(), 0)]
    assert acks == [Ack("alltick", 1, "22003"), Ack("alltick", 2, "22005")]


def test_receive_times_never_decrease_and_trail_event_times_by_a_few_ms(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    generate_recording(path, provider="alltick", seed=3, minutes=2)
    _, lines = read(path)
    frames = [line for line in lines if isinstance(line, Frame)][2:]  # after the two acks
    times = [f.t for f in frames]
    assert times == sorted(times)
    for frame in frames:
        (event,) = AllTickCodec().decode(frame.payload(), frame.t)
        assert isinstance(event, ev.Trade | ev.BookSnapshot)
        lag_ms = (frame.t - event.ts_event_ns) / 1e6
        assert 4 <= lag_ms <= 200  # 5 ms plus an exponential tail; tick_time drops sub-ms


def test_cryptomus_recording_decodes_to_the_model_trades_and_book(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl.gz"
    generate_recording(path, provider="cryptomus", seed=4, minutes=2)
    decoded = decode_all(path, CryptomusCodec())
    model = model_happenings(read(path)[0])
    prints = of_type(model, TradePrint)
    assert [(t.price, t.size, t.side, t.ts_event_ns) for t in of_type(decoded, ev.Trade)] == [
        (float(p.price), float(p.size), p.side, p.ts_ns // NS * NS) for p in prints
    ]
    assert of_type(decoded, ev.LastPrice)[-1].price == float(prints[-1].price)
    # The full reload plus every partial update rebuilds the model's last book exactly.
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    for event in decoded:
        if isinstance(event, ev.BookSnapshot):
            bids, asks = dict(event.bids), dict(event.asks)
        elif isinstance(event, ev.BookDelta):
            for side, levels in ((bids, event.bids), (asks, event.asks)):
                for price, size in levels:
                    side.pop(price) if size == 0 else side.__setitem__(price, size)
    last = of_type(model, BookChange)[-1]
    assert sorted(bids.items()) == sorted((float(p), float(s)) for p, s in last.bids)
    assert sorted(asks.items()) == sorted((float(p), float(s)) for p, s in last.asks)
    assert len(of_type(decoded, ev.Ticker)) == len(of_type(model, TickerStats)) == 25


def test_alltick_recording_decodes_to_the_model_trades_and_top_five(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    generate_recording(path, provider="alltick", seed=4, minutes=2)
    decoded = decode_all(path, AllTickCodec())
    model = model_happenings(read(path)[0])
    assert [(t.price, t.size, t.side, t.ts_event_ns) for t in of_type(decoded, ev.Trade)] == [
        (float(p.price), float(p.size), p.side, p.ts_ns // 1_000_000 * 1_000_000)
        for p in of_type(model, TradePrint)
    ]
    assert [(b.bids, b.asks) for b in of_type(decoded, ev.BookSnapshot)] == [
        (_floats(c.bids[:5]), _floats(c.asks[:5])) for c in of_type(model, BookChange)
    ]


def test_alltick_forex_recording_has_neutral_trades_and_price_only_levels(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    generate_recording(path, provider="alltick", instrument="EUR/USD", minutes=1)
    decoded = decode_all(path, AllTickCodec())
    assert {t.side for t in of_type(decoded, ev.Trade)} == {""}
    books = of_type(decoded, ev.BookSnapshot)
    assert books and all(len(b.bids) == len(b.asks) == 1 for b in books)
    # size unknown: NaN (events.UNKNOWN_SIZE), never 0, which would say "no level"
    assert all(math.isnan(b.bids[0][1]) and math.isnan(b.asks[0][1]) for b in books)


def test_finazon_recording_decodes_to_the_model_closed_bars(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    generate_recording(path, provider="finazon", seed=4, minutes=3)
    codec = FinazonCodec("kucoin")
    decoded = decode_all(path, codec) + codec.flush(0)
    model = model_happenings(read(path)[0])
    bars = [b for b in of_type(model, BarState) if b.closed]
    assert [(b.ts_event_ns, b.open, b.high, b.low, b.close, b.volume)
            for b in of_type(decoded, ev.Bar)] == [
        (b.open_ns, float(b.open), float(b.high), float(b.low), float(b.close), float(b.volume))
        for b in bars
    ]  # fmt: skip
    assert len(bars) == 3


def test_the_click_command_writes_what_the_function_writes(tmp_path: Path) -> None:
    by_function = tmp_path / "f" / "bars.jsonl"
    by_command = tmp_path / "c" / "bars.jsonl"
    generate_recording(by_function, provider="finazon", seed=2, minutes=2, frequency="1m")
    args = ["--provider", "finazon", "--seed", "2", "--minutes", "2", "--frequency", "1m",
            "--out", str(by_command)]  # fmt: skip
    result = CliRunner().invoke(generate, args)
    assert result.exit_code == 0, result.output
    assert "seed 2" in result.output
    assert by_command.read_bytes() == by_function.read_bytes()


def test_an_unknown_provider_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown provider 'binance'"):
        generate_recording(tmp_path / "r.jsonl", provider="binance")


def test_an_instrument_without_a_market_preset_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no market preset"):
        generate_recording(tmp_path / "r.jsonl", provider="cryptomus", instrument="DOGE/USDT")


BUNDLED = [
    ("cryptomus-btc-usdt.jsonl.gz", "cryptomus", 30),
    ("alltick-btcusdt.jsonl.gz", "alltick", 30),
    ("alltick-eurusd.jsonl.gz", "alltick", 30),
    ("finazon-btc-usdt-bars.jsonl.gz", "finazon", 8 * 60),
]


@pytest.mark.parametrize(("name", "provider", "minutes"), BUNDLED)
def test_bundled_recording_is_what_the_readme_says(name: str, provider: str, minutes: int) -> None:
    readme = (REPLAYS / "README.md").read_text()
    header, lines = read(REPLAYS / name)
    assert header.providers[0].name == provider
    assert f"{header.meta['command']} --out replays/{name}" in readme
    assert f"--seed {header.meta['seed']} " in header.meta["command"]
    frames = [line for line in lines if isinstance(line, Frame)]
    assert frames[-1].t - frames[0].t >= minutes * 60 * NS


def _floats(levels: tuple[tuple[object, object], ...]) -> tuple[tuple[float, float], ...]:
    return tuple((float(p), float(s)) for p, s in levels)  # type: ignore[arg-type]
