"""Decoding rate of each bundled recording: frames per second, read and decoded into events.

Run by hand (never in CI):  .venv/bin/python bench/decode.py [--repeat 5] [FILES...]

Each recording is read the way replay reads it (``RecordingReader.batches`` with the codec's
wire fast path when the recording has one provider) and every frame is decoded by its
provider's codec into normalized events. The median of the repeats is printed per file, with
the number of frames and events, so a codec regression shows up as a lower rate.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from framework.providers.base import Codec
from framework.recording import Frame, RecordingReader, typed_frame
from framework.run import codecs_for, fewer_collections, wire_type_of

REPLAYS = Path(__file__).resolve().parent.parent / "replays"


def decode_file(path: Path) -> tuple[int, int]:
    """(frames, events) of one full pass over ``path``."""
    frames = events = 0
    with RecordingReader(path) as reader, fewer_collections():
        codecs = codecs_for(reader.header.providers)
        wire_type = wire_type_of(codecs)
        typed: dict[type, Codec] = {}
        if wire_type is not None:
            name, codec = next(iter(codecs.items()))
            typed[typed_frame(wire_type, name)] = codec
        for batch in reader.batches(wire_type):
            for line in batch:
                kind = type(line)
                fast = typed.get(kind)
                if fast is not None:
                    events += len(fast.decode_wire(line.f, line.t))  # type: ignore[union-attr]
                elif kind is Frame:
                    assert isinstance(line, Frame)
                    events += len(codecs[line.p].decode(line.payload(), line.t))
                else:
                    continue
                frames += 1
    return frames, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="recordings (default: replays/*)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    files = args.files or sorted(REPLAYS.glob("*.jsonl*"))
    print(f"median of {args.repeat} passes per file")
    for path in files:
        rates = []
        frames = events = 0
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            frames, events = decode_file(path)
            rates.append(frames / (time.perf_counter() - t0))
        print(
            f"  {path.name:<34} {frames:>8,} frames {events:>8,} events "
            f"{statistics.median(rates):>12,.0f} frames/s"
        )


if __name__ == "__main__":
    main()
