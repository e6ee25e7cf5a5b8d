"""The decoded cache: a replay from it writes exactly what a replay of the JSON writes, and a
cache that no longer matches its recording, its decoders, or its own checksum is rebuilt."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework import replaycache
from framework.config import Config
from framework.recording import FORMAT, VERSION, Header, ProviderSpec, RecordingReader
from framework.replaycache import CacheError, CacheReader, cache_path, open_cache, window_ns_of
from framework.run import RunSetup, load_strategy, replay

ROOT = Path(__file__).resolve().parent.parent
REPLAYS = sorted((ROOT / "replays").glob("*.jsonl.gz"))
STRATEGIES = (ROOT / "strategies" / "sma_crossover.py", ROOT / "strategies" / "market_maker.py")
WINDOW = window_ns_of(Config().run.event_time_window_s)
OUTPUTS = ("events.jsonl", "fills.csv", "trades.csv", "equity.csv", "results.json", "summary.json")


@pytest.fixture
def cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("PAPERTRADE_CACHE", str(folder))
    return folder


def setup_for(*, cache: bool) -> RunSetup:
    loaded = [load_strategy(str(path)) for path in STRATEGIES]
    return RunSetup(
        strategies=tuple(cls for cls, _ in loaded),
        strategy_sources={cls.__name__: digest for cls, digest in loaded},
        config=Config(),
        seed=7,
        decoded_cache=cache,
    )


def outputs(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in OUTPUTS}


def replay_without_json(recording: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replay that fails if it opens the recording's JSON: it must read the cache."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the replay read the recording instead of its cache")

    with monkeypatch.context() as patch:
        patch.setattr("framework.run.RecordingReader", refuse)
        patch.setattr("framework.replaycache.RecordingReader", refuse)
        replay(setup_for(cache=True), recording, out)


@pytest.mark.parametrize("recording", REPLAYS, ids=[p.name for p in REPLAYS])
def test_a_replay_from_the_cache_writes_what_the_json_replay_writes(
    recording: Path, cache_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replay(setup_for(cache=False), recording, tmp_path / "json")
    assert not cache_folder.exists()
    replay(setup_for(cache=True), recording, tmp_path / "first")  # builds the cache
    assert cache_path(recording, WINDOW, cache_folder).is_file()
    replay_without_json(recording, tmp_path / "hit", monkeypatch)
    expected = outputs(tmp_path / "json")
    assert outputs(tmp_path / "first") == expected
    assert outputs(tmp_path / "hit") == expected
    assert msgspec.json.decode(expected["summary.json"])["counts"]["frames"] > 2000


def merged_recording(path: Path) -> Path:
    """One recording of two providers (Cryptomus and AllTick), lines merged by receive time."""
    lines: list[tuple[int, int, bytes]] = []
    providers: list[ProviderSpec] = []
    for order, name in enumerate(("cryptomus-btc-usdt", "alltick-btcusdt")):
        with RecordingReader(ROOT / "replays" / f"{name}.jsonl.gz") as reader:
            providers.extend(reader.header.providers)
        with gzip.open(ROOT / "replays" / f"{name}.jsonl.gz", "rb") as fh:
            body = fh.read().splitlines()[1:]
        lines += [(msgspec.json.decode(line)["t"], order, line) for line in body]
    header = msgspec.json.encode(Header(FORMAT, VERSION, tuple(providers)))
    path.write_bytes(b"\n".join([header, *(line for *_, line in sorted(lines))]) + b"\n")
    return path


def test_a_recording_of_two_providers_replays_alike_from_its_cache(
    cache_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = merged_recording(tmp_path / "two.jsonl")
    replay(setup_for(cache=False), recording, tmp_path / "json")
    replay(setup_for(cache=True), recording, tmp_path / "first")
    replay_without_json(recording, tmp_path / "hit", monkeypatch)
    expected = outputs(tmp_path / "json")
    assert outputs(tmp_path / "hit") == outputs(tmp_path / "first") == expected
    summary = msgspec.json.decode(expected["summary.json"])
    assert summary["counts"]["frames"] > 10_000  # both feeds went through
    assert summary["fingerprint"]["recording_sha256"] == sha256(recording)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def plain_copy(tmp_path: Path) -> Path:
    recording = tmp_path / "cryptomus.jsonl"
    with gzip.open(ROOT / "replays" / "cryptomus-btc-usdt.jsonl.gz", "rb") as fh:
        recording.write_bytes(fh.read())
    return recording


def test_one_changed_byte_of_the_recording_rebuilds_the_cache(
    cache_folder: Path, tmp_path: Path
) -> None:
    recording = plain_copy(tmp_path)
    before = replay(setup_for(cache=True), recording, tmp_path / "before")
    data = bytearray(recording.read_bytes())
    at = data.index(b'"price":"', len(data) // 2) + len(b'"price":"')
    assert data[at : at + 1].isdigit()
    data[at] = ord("1") if data[at] != ord("1") else ord("2")  # one digit of one price
    stat = recording.stat()
    recording.write_bytes(bytes(data))
    os.utime(recording, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the same size and mtime
    after = replay(setup_for(cache=True), recording, tmp_path / "after")
    replay(setup_for(cache=False), recording, tmp_path / "json")
    assert outputs(tmp_path / "after") == outputs(tmp_path / "json")
    assert after["fingerprint"]["recording_sha256"] == sha256(recording)
    assert before["fingerprint"]["recording_sha256"] != after["fingerprint"]["recording_sha256"]
    reader = open_cache(recording, WINDOW, cache_path(recording, WINDOW, cache_folder))
    assert reader is not None  # rebuilt for the changed recording
    reader.close()


def test_another_decoder_version_rebuilds_the_cache(
    cache_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = plain_copy(tmp_path)
    replay(setup_for(cache=True), recording, tmp_path / "first")
    file = cache_path(recording, WINDOW, cache_folder)
    built = file.stat().st_ino, file.stat().st_mtime_ns
    monkeypatch.setattr(replaycache, "decoder_version", lambda: "a codec changed")
    assert open_cache(recording, WINDOW, file) is None  # stale
    replay(setup_for(cache=True), recording, tmp_path / "second")
    assert (file.stat().st_ino, file.stat().st_mtime_ns) != built
    reader = open_cache(recording, WINDOW, file)
    assert reader is not None
    reader.close()
    assert outputs(tmp_path / "second") == outputs(tmp_path / "first")


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "garbage"])
def test_a_damaged_cache_file_is_rebuilt_not_trusted(
    damage: str, cache_folder: Path, tmp_path: Path
) -> None:
    recording = plain_copy(tmp_path)
    replay(setup_for(cache=True), recording, tmp_path / "first")
    file = cache_path(recording, WINDOW, cache_folder)
    data = bytearray(file.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    elif damage == "truncate":
        del data[len(data) * 2 // 3 :]
    elif damage == "empty":
        data.clear()
    else:
        data[:] = os.urandom(1000)
    file.write_bytes(bytes(data))
    with pytest.raises(CacheError):
        open_cache(recording, WINDOW, file)
    replay(setup_for(cache=True), recording, tmp_path / "second")
    assert outputs(tmp_path / "second") == outputs(tmp_path / "first")
    reader = open_cache(recording, WINDOW, file)
    assert reader is not None
    reader.close()


def test_writers_racing_on_one_cache_leave_a_whole_file(cache_folder: Path, tmp_path: Path) -> None:
    recording = plain_copy(tmp_path)
    file = cache_path(recording, WINDOW, cache_folder)
    errors: list[BaseException] = []

    def build() -> None:
        try:
            replaycache.build(recording, WINDOW, file)
        except BaseException as exc:  # pragma: no cover - the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [p.name for p in file.parent.iterdir()] == [file.name]  # no temporary file left
    reader = open_cache(recording, WINDOW, file)
    assert reader is not None
    with reader:
        frames = sum(len(batch) for batch in reader.batches())
    with RecordingReader(recording) as json_reader:
        assert frames == sum(len(batch) for batch in json_reader.batches())


def test_a_replay_with_the_cache_off_reads_the_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAPERTRADE_CACHE", "off")
    recording = plain_copy(tmp_path)
    summary = replay(setup_for(cache=True), recording, tmp_path / "out")
    assert summary["fingerprint"]["recording_sha256"] == sha256(recording)
    assert not (tmp_path / "cache").exists()


def rechecked(data: bytes) -> bytes:
    """A cache file's bytes with its tail's CRC made to match its (damaged) body."""
    end = len(replaycache.END)
    (offset,) = struct.unpack("<Q", data[-end - 8 : -end])
    (n,) = struct.unpack("<I", data[offset : offset + 4])
    tail = msgspec.msgpack.decode(data[offset + 4 : offset + 4 + n])
    tail[3] = zlib.crc32(data[:offset])
    payload = msgspec.msgpack.encode(tail)
    return data[:offset] + struct.pack("<I", len(payload)) + payload + data[-end - 8 :]


@pytest.fixture(scope="module")
def small_cache(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    folder = tmp_path_factory.mktemp("small")
    recording = folder / "small.jsonl"
    with gzip.open(ROOT / "replays" / "alltick-btcusdt.jsonl.gz", "rb") as fh:
        recording.write_bytes(b"\n".join(fh.read().splitlines()[:300]) + b"\n")
    file = folder / "small.ptdc"
    replaycache.build(recording, WINDOW, file)
    return recording, file.read_bytes()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    at=st.floats(min_value=0, max_value=1, exclude_max=True),
    value=st.binary(min_size=1, max_size=8),
    fix_crc=st.booleans(),
    cut=st.booleans(),
)
def test_fuzz_a_damaged_cache_gives_a_typed_error_or_its_lines(
    small_cache: tuple[Path, bytes], tmp_path: Path, at: float, value: bytes, fix_crc: bool,
    cut: bool,
) -> None:  # fmt: skip
    recording, good = small_cache
    data = bytearray(good)
    i = int(at * len(data))
    if cut:
        del data[i:]
    else:
        data[i : i + len(value)] = value
    if fix_crc:  # get past the checksum, to the decoding of damaged chunks
        with contextlib.suppress(
            struct.error, msgspec.DecodeError, IndexError, TypeError, ValueError
        ):
            data = bytearray(rechecked(bytes(data)))
    file = tmp_path / "damaged.ptdc"
    file.write_bytes(bytes(data))
    try:
        reader = open_cache(recording, WINDOW, file)
        if reader is not None:
            with reader:
                for batch in reader.batches():
                    assert len(batch) == len(batch.times)
    except CacheError:
        pass


def test_the_cache_command_builds_then_keeps_a_current_cache(cache_folder: Path) -> None:
    recording = ROOT / "replays" / "finazon-btc-usdt-bars.jsonl.gz"

    def papertrade(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "framework", *args],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PAPERTRADE_CACHE": str(cache_folder)},
        )

    help_text = papertrade("cache", "--help")
    assert help_text.returncode == 0
    assert "PAPERTRADE_CACHE" in help_text.stdout
    first = papertrade("cache", str(recording))
    assert first.returncode == 0, first.stderr
    file = cache_path(recording, WINDOW, cache_folder)
    assert first.stdout == f"{recording}: built, {file} ({file.stat().st_size / 1e6:.1f} MB)\n"
    second = papertrade("cache", str(recording))
    assert second.stdout.startswith(f"{recording}: already current, {file}")
    missing = papertrade("cache", "no-such-recording.jsonl")
    assert missing.returncode != 0
    assert missing.stderr.strip() == "Error: recording not found: no-such-recording.jsonl"


def test_a_cache_reader_reports_what_the_recording_reader_did(tmp_path: Path) -> None:
    """Read counts chunk by chunk (a run stopped by a strategy error reports them) and at the
    end, with a corrupt line and a truncated tail."""
    recording = plain_copy(tmp_path)
    data = recording.read_bytes().splitlines(keepends=True)
    data[100] = b'{"k":"frame","t":\n'
    recording.write_bytes(b"".join(data) + b'{"k":"tick","t":1')
    file = tmp_path / "c.ptdc"
    replaycache.build(recording, WINDOW, file)
    cached = open_cache(recording, WINDOW, file)
    assert isinstance(cached, CacheReader)
    with cached, RecordingReader(recording) as json_reader:
        for batch, json_batch in zip(cached.batches(), json_reader.batches(), strict=True):
            assert len(batch) == len(json_batch)
            assert cached.stats == json_reader.stats
        assert cached.stats == json_reader.stats
        assert cached.stats.corrupt == 1 and cached.stats.truncated_tail
        assert cached.sha256() == json_reader.sha256() == sha256(recording)


def test_the_recording_is_hashed_while_read_even_when_reading_stops_early(tmp_path: Path) -> None:
    recording = shutil.copy(ROOT / "replays" / "cryptomus-btc-usdt.jsonl.gz", tmp_path / "r.gz")
    with RecordingReader(recording) as reader:
        next(reader.batches())
        assert reader.sha256() == sha256(Path(recording))


def test_a_recording_that_decodes_to_account_events_replays_from_its_json(
    cache_folder: Path, tmp_path: Path
) -> None:
    """Private events are not kept in a cache: such a recording is refused once, remembered,
    and replayed from the JSON, with the same outputs as with the cache off."""
    recording = plain_copy(tmp_path)
    lines = recording.read_bytes().splitlines(keepends=True)
    documented = ROOT / "tests" / "providers" / "frames" / "cryptomus" / "balance_update.json"
    frame = msgspec.json.encode(msgspec.json.decode(documented.read_bytes()))
    balance = b'{"k":"frame","t":%d,"p":"cryptomus","c":1,"f":' + frame + b"}\n"
    t = msgspec.json.decode(lines[50])["t"]
    recording.write_bytes(b"".join([*lines[:51], balance % t, *lines[51:]]))
    first = replay(setup_for(cache=True), recording, tmp_path / "first")
    file = cache_path(recording, WINDOW, cache_folder)
    assert not file.exists() and file.with_suffix(".none").is_file()
    replay(setup_for(cache=True), recording, tmp_path / "second")
    replay(setup_for(cache=False), recording, tmp_path / "json")
    assert outputs(tmp_path / "first") == outputs(tmp_path / "second") == outputs(tmp_path / "json")
    assert first["counts"]["decode_errors"] == 0
