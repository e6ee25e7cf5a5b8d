"""Golden runs: a strategy's private events, fills and statistics kept as text, and compared.

A golden folder holds ``events.jsonl`` (one event a line, each with the recording frame that
produced it and the simulated time), ``fills.csv`` and ``summary.json`` (the statistics, without
the fingerprint's code hashes and versions), written by ``framework.diff.write_golden``. It is
meant to be committed and reviewed in pull requests: a changed behaviour is a small text diff.

Whether a missing or different golden folder is written instead of compared is decided, in
order, by the ``update`` argument, by pytest's ``--papertrade-update-golden`` (the plugin sets
:data:`settings`), and by the environment variable ``PAPERTRADE_UPDATE_GOLDEN=1``. A missing
folder is always written (the first run). This module writes nothing but golden folders.
"""

from __future__ import annotations

import os
from pathlib import Path

from framework.diff import Side, compare, load_folder, render, write_golden

__all__ = ["GoldenSettings", "assert_matches_golden", "settings"]


class GoldenSettings:
    """What the pytest plugin tells golden comparisons: update or compare, and relative to what."""

    def __init__(self) -> None:
        self.update = False
        self.root: Path | None = None  # pytest's rootdir; None: the working directory


settings = GoldenSettings()


def assert_matches_golden(side: Side, folder: str | Path, *, update: bool | None = None) -> None:
    """Compare ``side`` with the golden folder, or write the folder (see the module docstring).

    Raises:
        AssertionError: the run differs; the message is ``papertrade diff``'s account of it.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this module's source
    path = Path(folder)
    if not path.is_absolute() and settings.root is not None:
        path = settings.root / path
    if update is None:
        update = settings.update or os.environ.get("PAPERTRADE_UPDATE_GOLDEN", "") == "1"
    if update or not (path / "events.jsonl").is_file():
        write_golden(side, path)
        return
    golden = load_folder(path, f"golden {folder}")
    result = compare(golden, side)
    if not result.identical:
        raise AssertionError(
            f"the run differs from golden folder {folder}\n{render(result)}\n"
            "(if the change is intended: pytest --papertrade-update-golden, then review and "
            "commit the folder)"
        )
