"""Hostile input, generated (hypothesis): only the project's typed errors come out.

Per codec, frames are either arbitrary JSON-like text (nesting, huge numbers, NaN and
Infinity spellings, wrong types, unicode, long strings) or a real frame from a bundled
recording with one value replaced by such a thing, optionally wrapped in deep nesting. A codec
must return a list or raise ``ProviderProtocolError``; anything it returns must pass the
market-data rules (a rule-breaking item never leaves a codec).

The recording reader gets files built from the bundled recordings' real lines, mutated the
same ways, plus random bytes, BOMs, out-of-range times and gzip files cut or extended at
random; it must either refuse the file with ``RecordingError`` or read it to the end.

Each test counts the cases it ran in ``CASES``; the counts are printed at the end of the
session (``pytest -s tests/test_fuzz.py``). The whole module runs in well under a minute.
"""

from __future__ import annotations

import contextlib
import gzip
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework import events as ev
from framework.errors import ProviderProtocolError, RecordingError
from framework.providers.alltick import AllTickCodec
from framework.providers.cryptomus import CryptomusCodec
from framework.providers.finazon import FinazonCodec
from framework.providers.validation import MAX_NS, Screen
from framework.recording import Frame, RecordingReader

REPLAYS = Path(__file__).resolve().parent.parent / "replays"
CASES: Counter[str] = Counter()
FUZZ = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _sample_lines(name: str, n: int = 60) -> list[bytes]:
    out = []
    with gzip.open(REPLAYS / name, "rb") as fh:
        for i, line in enumerate(fh):
            if i >= n:
                break
            out.append(line.rstrip(b"\n"))
    return out


RECORDINGS = {
    "cryptomus": "cryptomus-btc-usdt.jsonl.gz",
    "alltick": "alltick-btcusdt.jsonl.gz",
    "finazon": "finazon-btc-usdt-bars.jsonl.gz",
}
LINES = {p: _sample_lines(name) for p, name in RECORDINGS.items()}
FRAMES = {
    p: [json.loads(line)["f"] for line in lines if b'"k":"frame"' in line and b'"f":' in line]
    for p, lines in LINES.items()
}
CODECS = {"cryptomus": CryptomusCodec, "alltick": AllTickCodec, "finazon": FinazonCodec}
RECV_NS = 1_750_953_600_000_000_000


# --- hostile JSON ---------------------------------------------------------------------------

NUMBER_TEXT = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e-400", "-0", "0", "-1",
     "99999999999999999999999999999999", "1.5e308", "4.9e-324", "9223372036854775808",
     "-9223372036854775809", '"NaN"', '"inf"', '"-1"', '"1e999"', '"0x10"', '""', "true", "null"]
)  # fmt: skip
leaf_text = st.one_of(
    NUMBER_TEXT,
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(max_size=30).map(lambda s: json.dumps(s, ensure_ascii=False)),
    st.text(alphabet='\x00\ud7ff\ue000\U0010ffff€é"\\', max_size=10).map(json.dumps),
    st.integers(1_000, 100_000).map(lambda n: json.dumps("x" * n)),
)


def _array(items: list[str]) -> str:
    return "[" + ",".join(items) + "]"


def _object(items: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in items) + "}"


json_text = st.recursive(
    leaf_text,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5).map(_array),
        st.lists(st.tuples(st.text(max_size=8), inner), max_size=5).map(_object),
    ),
    max_leaves=20,
)
deep_nesting = st.integers(0, 3000).map(lambda n: "[" * n + "1" + "]" * n)


def _paths(obj: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _paths(value, (*path, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _paths(value, (*path, i))


def _replace(obj: Any, path: tuple[Any, ...], text: str) -> str:
    """``obj`` as JSON text with the value at ``path`` replaced by the JSON text ``text``."""
    marker = "\x00MARK\x00"
    if not path:
        return text
    copy = json.loads(json.dumps(obj))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = marker
    return json.dumps(copy).replace(json.dumps(marker), text)


@st.composite
def mutated_frames(draw: st.DrawFn, provider: str) -> str:
    frame = draw(st.sampled_from(FRAMES[provider]))
    paths = list(_paths(frame))
    path = draw(st.sampled_from(paths))
    value = draw(st.one_of(leaf_text, json_text, deep_nesting))
    text = _replace(frame, path, value)
    wrap = draw(st.sampled_from([0, 0, 0, 65, 2000]))
    return "[" * wrap + text + "]" * wrap


def frames_for(provider: str) -> st.SearchStrategy[str | bytes]:
    return st.one_of(
        mutated_frames(provider),
        mutated_frames(provider),
        json_text,
        deep_nesting,
        st.binary(max_size=200),
        st.text(max_size=200),
    )


def _check_decoded(out: object) -> None:
    assert isinstance(out, list)
    screen = Screen("check", None)
    for item in out:
        if isinstance(item, ev.Trade | ev.Bar | ev.BarUpdate | ev.BookSnapshot | ev.BookDelta):
            assert screen.accept(item, item.ts_recv_ns), item
        if isinstance(item, ev.Ticker | ev.LastPrice):
            assert screen.accept(item, item.ts_recv_ns), item
    assert not screen.rejected


def _fuzz_codec(provider: str, frame: str | bytes) -> None:
    CASES[provider] += 1
    codec = CODECS[provider]()
    for payload in (
        frame,
        frame.encode("utf-8", "surrogatepass") if isinstance(frame, str) else frame,
    ):
        try:
            out = codec.decode(payload, RECV_NS)
        except ProviderProtocolError:
            continue
        _check_decoded(out)


@FUZZ
@given(frames_for("cryptomus"))
def test_cryptomus_codec_raises_only_protocol_errors(frame: str | bytes) -> None:
    _fuzz_codec("cryptomus", frame)


@FUZZ
@given(frames_for("alltick"))
def test_alltick_codec_raises_only_protocol_errors(frame: str | bytes) -> None:
    _fuzz_codec("alltick", frame)


@FUZZ
@given(frames_for("finazon"))
def test_finazon_codec_raises_only_protocol_errors(frame: str | bytes) -> None:
    _fuzz_codec("finazon", frame)


# --- the recording reader ---------------------------------------------------------------------


@st.composite
def mutated_lines(draw: st.DrawFn) -> bytes:
    provider = draw(st.sampled_from(sorted(LINES)))
    line = draw(st.sampled_from(LINES[provider][1:]))
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return line
    if kind == 1:  # one value replaced
        obj = json.loads(line)
        path = draw(st.sampled_from(list(_paths(obj))))
        return _replace(obj, path, draw(st.one_of(leaf_text, json_text))).encode()
    if kind == 2:  # a time out of range
        obj = json.loads(line)
        t = draw(st.sampled_from([-1, MAX_NS + 1, 2**64, 10**30]))
        return json.dumps(obj | {"t": t}).encode()
    if kind == 3:
        n = draw(st.integers(60, 5000))
        return b'{"k":"frame","t":1,"p":"cryptomus","c":1,"f":' + b"[" * n + b"]" * n + b"}"
    if kind == 4:
        return draw(st.binary(max_size=100)).replace(b"\n", b"")
    cut = draw(st.integers(0, len(line)))
    return line[:cut]


@st.composite
def recording_files(draw: st.DrawFn) -> bytes:
    provider = draw(st.sampled_from(sorted(LINES)))
    header = LINES[provider][0]
    if draw(st.booleans()):
        obj = json.loads(header)
        path = draw(st.sampled_from(list(_paths(obj))))
        header = _replace(obj, path, draw(st.one_of(leaf_text, json_text, deep_nesting))).encode()
    prefix = draw(st.sampled_from([b"", b"", b"\xef\xbb\xbf", b"\n", b"\x00"]))
    lines = draw(st.lists(mutated_lines(), max_size=30))
    body = prefix + b"\n".join([header, *lines]) + draw(st.sampled_from([b"", b"\n"]))
    if draw(st.booleans()):
        body = gzip.compress(body, mtime=0)
        cut = draw(st.integers(0, len(body)))
        tail = draw(st.sampled_from([b"", b"garbage", b"\x00" * 10, b"\x1f\x8b\x08"]))
        body = body[:cut] + tail if draw(st.booleans()) else body + tail
    return body


@FUZZ
@given(recording_files())
def test_the_recording_reader_raises_only_recording_errors(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    CASES["recording"] += 1
    path = tmp_path_factory.mktemp("fuzz") / "r.jsonl"
    path.write_bytes(data)
    try:
        reader = RecordingReader(path)
    except RecordingError:
        return
    with reader:
        codecs = {name: cls() for name, cls in CODECS.items()}
        for line in reader:
            assert 0 <= line.t <= MAX_NS
            if isinstance(line, Frame) and line.p in codecs:
                with contextlib.suppress(ProviderProtocolError):
                    codecs[line.p].decode(line.payload(), line.t)
    assert reader.stats.lines >= 1


def test_the_samples_are_real_frames() -> None:
    assert all(len(frames) >= 20 for frames in FRAMES.values())
    assert all(len(lines) == 60 for lines in LINES.values())


@pytest.fixture(scope="module", autouse=True)
def _report_cases() -> Iterator[None]:
    yield
    print("\nfuzz cases run:", dict(sorted(CASES.items())))
