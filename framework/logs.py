"""Log lines on stderr, each stamped with the simulated time of the run that logged it.

``-v`` shows papertrade's own debug lines; third-party loggers (trio-websocket, hypercorn ...)
stay at WARNING unless ``-vv``, so a verbose live run is not flooded by their frame-level
chatter. The simulated time is the loop's clock (:func:`follow` is called by every run as it is
built), or ``-`` before a run starts: a strategy's ``self.log`` line says *when in the market*
it happened, which is what a replay reproduces.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from framework.clock import Clock

__all__ = ["FORMAT", "configure", "follow"]

FORMAT: Final = "%(sim_time)s %(levelname)s %(name)s: %(message)s"
_OWN: Final = ("papertrade", "framework")  # our loggers' top-level names
_clock: Clock | None = None


class _SimTime(logging.Filter):
    """Adds ``sim_time`` to every record: the followed run's clock, or "-"."""

    def filter(self, record: logging.LogRecord) -> bool:
        clock = _clock
        if clock is not None and clock.now_ns:
            from framework.report.output import iso_time  # not at import: the CLI starts lighter

            record.sim_time = iso_time(clock.now_ns)
        else:
            record.sim_time = "-"
        return True


def follow(clock: Clock) -> None:
    """Stamp log lines with this clock's time from now on (the run being built)."""
    global _clock
    _clock = clock


def configure(verbosity: int) -> None:
    """Log to stderr: warnings only (0), our debug lines too (1), everyone's debug lines (2+)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(_SimTime())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    for name in _OWN:
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity >= 1 else logging.NOTSET)
