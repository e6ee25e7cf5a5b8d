"""What a sweep asks a backend to run, and what comes back: plain, picklable values.

A :class:`RunSpec` is one run of one point: the strategy (as ``papertrade run`` takes it), the
point's parameters, the recording, an optional time window, the seed and the base config. A
backend (in-process, a process pool, Ray) only executes specs; every one of them runs the same
:func:`framework.sweeps.worker.run_spec`, so a point gives the same summary wherever it ran.
"""

from __future__ import annotations

from typing import Any

import msgspec

from framework.config import Config
from framework.window import Window

__all__ = ["PointResult", "RunSpec", "set_text"]


class RunSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One run: a point of the search on one recording (and window)."""

    index: int  # the row's position in the sweep's output order
    strategy: str  # ``file.py``, ``file.py:Class`` or ``module:Class``
    params: dict[str, Any]  # the point: parameter name -> value
    recording: str  # path of the recording (on a cluster: shipped through the object store)
    recording_sha256: str  # its content hash: workers cache a recording under it
    seed: int
    config: Config  # the base config; the point's params go on top of its [params]
    window: Window = Window()  # the receive times run (framework.window, as --from/--to)
    fold: int | None = None  # walk-forward: the fold (1..K) the run belongs to
    phase: str = ""  # walk-forward: "train" (in-sample) or "test" (out-of-sample)
    record: bool = False  # send the run's run-database rows back (--db)


class PointResult(msgspec.Struct, kw_only=True):
    """What running a spec gave: the run's summary.json content, or the error that stopped it."""

    index: int
    summary: dict[str, Any] | None = None
    error: str = ""
    wall_s: float = 0.0  # wall-clock seconds of the run: the one field that is not reproducible
    # when the worker began and finished the point (time.monotonic, one clock for every process
    # of a machine on Linux): how long a point waited to start and to come back (bench/sweep.py)
    began: float = 0.0
    ended: float = 0.0
    run_rows: dict[str, tuple[list[str], list[tuple[Any, ...]]]] | None = None  # with record


def set_text(value: Any) -> str:
    """A parameter value as ``--set`` text, so that ``papertrade run --set name=TEXT``
    reproduces the point's run (and its config fingerprint) exactly."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
