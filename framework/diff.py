"""Compare two runs event by event: where they part, and by how much.

A *side* is what a run did: its private events in order (each with the recording frame that
produced it and the simulated time, when known), its fills and its summary statistics. Sides
come from three places:

* a run folder (``papertrade run --out DIR``): ``events.jsonl``, ``fills.csv``, ``summary.json``.
  Its events carry no frame index, so frame and time show as unknown for that side;
* a golden folder (written by the pytest plugin, see :func:`write_golden`): the same three
  files, each event line prefixed with its ``frame`` and ``time``;
* a recording replayed here (:func:`replay_side`), one line at a time so that every private
  event is stamped with the frame that produced it and the clock at that moment.

:func:`compare` finds the first event that differs (ignoring the ``id`` field, which is only the
event's sequence number), counts each side's events by kind, and lists the statistics that
differ; :func:`render` prints that as text for a terminal or a failing test, never as a wall of
JSON. This module only reads, apart from the output folder a replay writes.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

import msgspec

from framework import events as ev
from framework.errors import ConfigError
from framework.loop import Engine
from framework.recording import Line
from framework.report.output import iso_time
from framework.run import RunSetup, replay_engine

__all__ = [
    "Diff",
    "Divergence",
    "Side",
    "Step",
    "compare",
    "load_folder",
    "render",
    "replay_side",
    "replay_stamped",
    "stamped_folder",
    "write_golden",
]

EVENTS: Final = "events.jsonl"
FILLS: Final = "fills.csv"
SUMMARY: Final = "summary.json"
# Summary keys that describe how a run was made, not what it did: never compared.
_NOT_COMPARED: Final = frozenset({"fingerprint", "counts"})
_REL_TOL: Final = (
    1e-9  # statistics are floats rounded by the writer; libm may differ in the last bit
)
_COLUMN: Final = 44  # width of one side in the side-by-side view
_ENCODER: Final = msgspec.json.Encoder(order="deterministic")


class Step(msgspec.Struct, frozen=True):
    """One private event and where it came from.

    ``event`` is the Cryptomus frame as a dict without its ``id``; ``frame`` is the 0-based
    index of the recording line (after the header) whose processing produced it, and
    ``ts_ns`` the simulated time then; both are None when the source did not record them.
    """

    event: dict[str, Any]
    frame: int | None = None
    ts_ns: int | None = None


class Side(msgspec.Struct):
    """One run as the comparison sees it."""

    label: str
    steps: list[Step]
    fills: list[dict[str, str]]
    summary: dict[str, Any]


class Divergence(msgspec.Struct, frozen=True):
    """The first event that differs; a side that ended early has None there."""

    index: int  # 0-based position in both event lists
    a: Step | None
    b: Step | None


class Diff(msgspec.Struct, frozen=True):
    """What :func:`compare` found. ``identical`` is True when nothing below differs."""

    a_label: str
    b_label: str
    events: tuple[int, int]
    first: Divergence | None
    fills: tuple[int, int]
    first_fill: int | None  # index of the first differing fill row
    counts: dict[str, tuple[int, int]]  # event kind -> (a, b), only kinds whose counts differ
    statistics: list[tuple[str, Any, Any]]  # (dotted key, a, b) for each differing statistic

    @property
    def identical(self) -> bool:
        return self.first is None and self.first_fill is None and not self.statistics


# --- sides ------------------------------------------------------------------------------------


def load_folder(path: str | Path, label: str | None = None) -> Side:
    """Read a run folder or a golden folder.

    Raises:
        ConfigError: the folder or its ``events.jsonl`` is missing, or a line is not JSON.
    """
    folder = Path(path)
    events = folder / EVENTS
    if not events.is_file():
        raise ConfigError(f"{folder}: not a run folder (no {EVENTS})")
    steps = list(_read_steps(events))
    fills = _read_fills(folder / FILLS)
    summary_path = folder / SUMMARY
    summary: dict[str, Any] = {}
    if summary_path.is_file():
        try:
            summary = msgspec.json.decode(summary_path.read_bytes(), type=dict[str, Any])
        except msgspec.DecodeError as exc:
            raise ConfigError(f"{summary_path}: not a JSON object ({exc})") from exc
    return Side(label or str(folder), steps, fills, summary)


def replay_side(
    setup: RunSetup, recording: str | Path, out_dir: str | Path | None = None, label: str = ""
) -> Side:
    """Replay ``recording`` through ``setup``'s strategies, stamping every private event.

    Lines are fed to the engine one at a time, so the frame index of each event is exact; the
    output files are those of ``papertrade run`` (written to ``out_dir``, or a temporary folder).
    """
    if out_dir is None:
        with tempfile.TemporaryDirectory(prefix="papertrade-diff-") as tmp:
            return replay_side(setup, recording, tmp, label)
    _, _, stamps = replay_stamped(setup, recording, out_dir)
    return stamped_folder(out_dir, stamps, label or str(recording))


def replay_stamped(
    setup: RunSetup, recording: str | Path, out_dir: str | Path
) -> tuple[dict[str, Any], Engine, list[tuple[int, int]]]:
    """Replay as ``papertrade run`` does, noting (frame index, simulated time) of each event.

    Returns:
        The summary, the finished engine, and one (frame, ts_ns) pair per private event.
    """
    stamps: list[tuple[int, int]] = []

    def feed(engine: Engine, batches: Iterable[list[Line]]) -> None:
        write = engine.on_private
        frame = 0

        def stamp(event: ev.PrivateEvent) -> None:
            stamps.append((frame, engine.clock.now_ns))
            if write is not None:
                write(event)

        engine.on_private = stamp
        for batch in batches:
            for line in batch:  # one at a time: the frame index of every event is exact
                engine.process((line,))
                frame += 1

    summary, engine = replay_engine(setup, recording, out_dir, feed=feed)
    return summary, engine, stamps


def stamped_folder(out_dir: str | Path, stamps: list[tuple[int, int]], label: str) -> Side:
    """A run folder read back with the (frame, time) stamps its replay noted."""
    side = load_folder(out_dir, label)
    if len(stamps) != len(side.steps):
        raise ConfigError(
            f"{out_dir}: events.jsonl has {len(side.steps)} events, not {len(stamps)}"
        )
    side.steps = [
        Step(step.event, frame, ts) for step, (frame, ts) in zip(side.steps, stamps, strict=True)
    ]
    return side


def write_golden(side: Side, folder: str | Path) -> None:
    """Write ``side`` as a golden folder: small, line-oriented, stable text.

    ``events.jsonl`` holds one line per event, ``{"frame":..,"time":..,"method":..,"data":..}``
    in the frame's own key order and without sequence ids, so an added event is one added line in a review;
    ``fills.csv`` as the run wrote it; ``summary.json`` the statistics without the fingerprint
    and counts (which name code hashes and versions, not behaviour).
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for step in side.steps:
        head = {"frame": step.frame, "time": None if step.ts_ns is None else iso_time(step.ts_ns)}
        lines.append(msgspec.json.encode({**head, **step.event}))  # the event's own key order
    (out / EVENTS).write_bytes(b"".join(line + b"\n" for line in lines))
    with open(out / FILLS, "w", newline="", encoding="utf-8") as fh:
        if side.fills:
            writer = csv.DictWriter(fh, list(side.fills[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(side.fills)
    stats = {k: v for k, v in side.summary.items() if k not in _NOT_COMPARED}
    text = msgspec.json.format(msgspec.json.encode(stats, order="sorted"), indent=2)
    (out / SUMMARY).write_bytes(text + b"\n")


# --- comparing --------------------------------------------------------------------------------


def compare(a: Side, b: Side) -> Diff:
    """Compare two sides: first differing event and fill, counts by kind, statistics."""
    first = None
    for i in range(max(len(a.steps), len(b.steps))):
        sa = a.steps[i] if i < len(a.steps) else None
        sb = b.steps[i] if i < len(b.steps) else None
        if sa is None or sb is None or sa.event != sb.event:
            first = Divergence(i, sa, sb)
            break
    first_fill = next(
        (i for i, (fa, fb) in enumerate(zip(a.fills, b.fills, strict=False)) if fa != fb),
        None if len(a.fills) == len(b.fills) else min(len(a.fills), len(b.fills)),
    )
    ca, cb = _kinds(a.steps), _kinds(b.steps)
    counts = {k: (ca[k], cb[k]) for k in sorted(ca.keys() | cb.keys()) if ca[k] != cb[k]}
    return Diff(
        a.label,
        b.label,
        (len(a.steps), len(b.steps)),
        first,
        (len(a.fills), len(b.fills)),
        first_fill,
        counts,
        _statistics(a.summary, b.summary),
    )


def render(diff: Diff) -> str:
    """The comparison as text: the first divergence side by side, then counts and statistics."""
    if diff.identical:
        return (
            f"identical: {diff.events[0]} events, {diff.fills[0]} fills, same statistics\n"
            f"  A {diff.a_label}\n  B {diff.b_label}"
        )
    out = [f"A {diff.a_label}", f"B {diff.b_label}", ""]
    if diff.first is not None:
        out += _render_divergence(diff.first, diff.events)
    else:
        out.append(f"events: identical ({diff.events[0]})")
    out.append("")
    out.append(_row("", "A", "B", "delta"))
    out.append(_row("events", *_pair(diff.events)))
    out.append(_row("fills", *_pair(diff.fills)))
    out += [_row(f"  {kind}", *_pair(counts)) for kind, counts in diff.counts.items()]
    if diff.first_fill is not None and diff.first is None:
        out.append(f"first differing fill: row {diff.first_fill + 1} of fills.csv")
    if diff.statistics:
        out.append("")
        out.append("statistics that differ:")
        out += [_row(f"  {key}", _short(va), _short(vb), _delta(va, vb))
                for key, va, vb in diff.statistics]  # fmt: skip
    return "\n".join(out)


# --- helpers ----------------------------------------------------------------------------------


def _read_steps(path: Path) -> Iterator[Step]:
    for number, raw in enumerate(path.read_bytes().splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = msgspec.json.decode(raw, type=dict[str, Any])
        except msgspec.DecodeError as exc:
            raise ConfigError(f"{path}, line {number}: not a JSON object ({exc})") from exc
        if "method" not in line:
            raise ConfigError(f"{path}, line {number}: not a private event (no 'method')")
        line.pop("id", None)
        frame = line.pop("frame", None)
        time = line.pop("time", None)
        yield Step(
            line,
            frame if type(frame) is int else None,
            _parse_time(time) if isinstance(time, str) else None,
        )


def _parse_time(text: str) -> int | None:
    try:
        when = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    except (ValueError, OverflowError):
        return None
    return (int(when.timestamp()) * 1_000 + when.microsecond // 1_000) * 1_000_000


def _read_fills(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a fills.csv ({exc})") from exc


def _kinds(steps: list[Step]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for step in steps:
        method = step.event.get("method", "?")
        data = step.event.get("data")
        kind = data.get("type") if method == "order_update" and isinstance(data, dict) else None
        counts[f"{method} {kind}" if kind else str(method)] += 1
    return counts


def _statistics(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    fa = dict(_flatten({k: v for k, v in a.items() if k not in _NOT_COMPARED}))
    fb = dict(_flatten({k: v for k, v in b.items() if k not in _NOT_COMPARED}))
    out = []
    for key in sorted(fa.keys() | fb.keys()):
        va, vb = fa.get(key), fb.get(key)
        if not _same(va, vb):
            out.append((key, va, vb))
    return out


def _same(a: Any, b: Any) -> bool:
    numbers = isinstance(a, int | float) and isinstance(b, int | float)
    if numbers and (type(a) is float or type(b) is float):
        return math.isclose(a, b, rel_tol=_REL_TOL, abs_tol=1e-12)
    return bool(a == b)


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            yield from _flatten(inner, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _render_divergence(first: Divergence, events: tuple[int, int]) -> list[str]:
    places = {_place(step) for step in (first.a, first.b) if step is not None} - {""}
    if len(places) <= 1:
        out = [f"first divergence at event {first.index + 1}{''.join(places)}"]
    else:  # the two events come from different frames: say where each side was
        out = [f"first divergence at event {first.index + 1}"]
        out += [f"  {name} at{_place(step)[1:]}" for name, step in (("A", first.a), ("B", first.b))
                if step is not None]  # fmt: skip
    if first.a is None or first.b is None:
        short, other = ("A", first.b) if first.a is None else ("B", first.a)
        out.append(f"{short} ends after {min(events)} events; the other goes on with:")
        assert other is not None
        out += [f"  {key:<32} {_short(value)}" for key, value in _flatten(other.event)]
        return out
    fa, fb = dict(_flatten(first.a.event)), dict(_flatten(first.b.event))
    keys = list(fa) + [k for k in fb if k not in fa]
    out.append(f"  {'':<32} {'A':<{_COLUMN}} B")
    for key in keys:
        va, vb = fa.get(key, "-"), fb.get(key, "-")
        mark = "!" if va != vb else " "
        out.append(f"{mark} {key:<32} {_short(va):<{_COLUMN}} {_short(vb)}")
    return out


def _place(step: Step | None) -> str:
    if step is None or step.frame is None:
        return ""
    when = "" if step.ts_ns is None else f", {iso_time(step.ts_ns)}"
    return f", frame {step.frame}{when}"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else _ENCODER.encode(value).decode()
    return text if len(text) <= _COLUMN - 2 else text[: _COLUMN - 5] + "..."


def _pair(values: tuple[int, int]) -> tuple[str, str, str]:
    a, b = values
    return str(a), str(b), "" if a == b else f"{b - a:+d}"


def _delta(a: Any, b: Any) -> str:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        d = b - a
        return f"{d:+d}" if isinstance(d, int) else f"{d:+.6g}"
    return ""


def _row(key: str, a: str, b: str, delta: str) -> str:
    return f"{key:<34} {a:>18} {b:>18} {delta:>12}".rstrip()
