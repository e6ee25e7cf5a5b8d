"""Market data for the emulators: batches of happenings or recorded frames in simulated time.

A :class:`Source` yields :class:`Batch` es in non-decreasing simulated time; the harness
(``framework.emulators.server``) paces them on trio's clock and hands each to its provider
emulator. Two sources exist: the seeded market model (:class:`ModelSource`, one
:class:`~framework.emulators.market.MarketModel` per instrument, stepped together) and a
recording (:class:`RecordingSource`, one provider's text frames exactly as they were sent).

This module must not read the wall clock (a live source's start time is the caller's), use
unseeded randomness, sleep, or do any I/O beyond reading the recording it is given.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final, Protocol

import msgspec

from framework.emulators.market import Happening, MarketModel, MarketParams
from framework.emulators.synthetic import params_for
from framework.errors import ConfigError
from framework.recording import Frame, RecordingReader

__all__ = ["Batch", "Generated", "ModelSource", "Recorded", "RecordingSource", "Source"]

_NS: Final = 1_000_000_000


class Generated(msgspec.Struct, frozen=True, gc=False):
    """One happening of the market model, for one instrument (canonical id)."""

    instrument: str
    happening: Happening


class Recorded(msgspec.Struct, frozen=True, gc=False):
    """One text frame from a recording, exactly as the provider sent it."""

    data: str


class Batch(msgspec.Struct, frozen=True, gc=False):
    """What the market produced at one simulated time."""

    ts_ns: int  # simulated time, integer ns since the epoch
    items: tuple[Generated | Recorded, ...]


class Source(Protocol):
    """Market data for an emulator: batches in non-decreasing simulated time."""

    def batches(self) -> Iterator[Batch]: ...


class ModelSource:
    """The seeded market model, one :class:`MarketModel` per instrument, stepped together.

    ``start_ns`` is the simulated start, a whole second (a caller wanting live-looking times
    reads the wall clock); each instrument's model gets its own seed from ``seed``; ``params``
    overrides the presets (or the market derived from the id, ``synthetic.params_for``) by
    instrument. :meth:`add` brings in another instrument while the batches are being served.

    Raises:
        ConfigError: a start time off the model's step.
    """

    def __init__(
        self, instruments: Sequence[str], seed: int, start_ns: int,
        params: dict[str, MarketParams] | None = None,
    ) -> None:  # fmt: skip
        chosen = params or {}
        self.models = [
            (name, MarketModel(chosen.get(name) or params_for(name), _seed(seed, name), start_ns))
            for name in instruments
        ]
        self.start_ns = start_ns
        self.seed = seed
        self._step = min((m.params.step_ns for _, m in self.models), default=_NS)
        self._ts = start_ns  # the simulated time of the batch being made or last made

    def has(self, instrument: str) -> bool:
        """True when ``instrument`` is one of the markets served."""
        return any(name == instrument for name, _ in self.models)

    def add(self, instrument: str, params: MarketParams) -> None:
        """Serve ``instrument`` too, from the next step on (nothing when it is served already).

        Its model starts at the step after the batch last made, with the seed it would have
        had from the start, so the same additions at the same times give the same market.
        """
        if self.has(instrument):
            return
        start = self._ts + self._step
        self.models.append((instrument, MarketModel(params, _seed(self.seed, instrument), start)))

    def batches(self) -> Iterator[Batch]:
        """Endless batches, one per model step that produced anything."""
        self._ts = self.start_ns
        while True:
            items = [
                Generated(name, happening)
                for name, model in self.models
                for happening in model.advance_to(self._ts)
            ]
            if items or not self.models:  # no market yet: empty batches keep the pump paced
                yield Batch(self._ts, tuple(items))
            self._ts += self._step


class RecordingSource:
    """The text frames of ``provider`` in the recording at ``path``, grouped by receive time.

    Raises:
        RecordingError: the file is missing or not a recording.
        ConfigError: the recording has no connection of ``provider``.
    """

    def __init__(self, path: str | Path, provider: str) -> None:
        self.path = Path(path)
        self.provider = provider
        with RecordingReader(self.path) as reader:
            specs = reader.header.providers
        mine = [spec for spec in specs if spec.name == provider]
        if not mine:
            names = ", ".join(sorted({spec.name for spec in specs})) or "no provider"
            raise ConfigError(f"{self.path} records {names}, not {provider}")
        self.subscriptions = tuple(sub for spec in mine for sub in spec.subscriptions)
        self.options = dict(mine[0].options)  # the provider's recorded options (Finazon dataset)

    def batches(self) -> Iterator[Batch]:
        """The frames once, in file order; consecutive frames with one receive time together."""
        ts, items = 0, list[Generated | Recorded]()
        with RecordingReader(self.path) as reader:
            for line in reader:
                if not isinstance(line, Frame) or line.p != self.provider or line.b is not None:
                    continue  # providers push text: a binary frame is not market data
                if items and line.t != ts:
                    yield Batch(ts, tuple(items))
                    items = []
                ts = line.t
                items.append(Recorded(_wire(line)))
        if items:
            yield Batch(ts, tuple(items))


def _seed(seed: int, instrument: str) -> int:
    # A stable per-instrument seed: crc32 does not change between runs (hash() of str does).
    return seed * 1_000_003 + zlib.crc32(instrument.encode("utf-8"))


def _wire(frame: Frame) -> str:
    return frame.s if frame.s is not None else bytes(frame.f).decode("utf-8", "surrogatepass")
