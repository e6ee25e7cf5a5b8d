"""Parameter sweeps and walk-forward tests: many runs of one strategy, local or on Ray.

A sweep is a list of run specs (strategy, parameters, recording, window, seed) executed by a
backend; results come back as the runs' own summaries. The parts, each a module:

    space        --grid axes, grids and seeded samples
    where        --where constraints, parsed safely (no eval)
    spec         RunSpec and PointResult: what backends take and give
    worker       runs one spec (recordings read once per worker); the time window
    backends     in-process, a local process pool, Ray
    search       grid, random and Optuna search; the best point
    walkforward  folds and their out-of-sample runs
    results      rows, ranking, sweep.csv
    html         sweep.html (Bokeh heatmap, ranked table)
    api          framework.sweep(...)
    command      the ``papertrade sweep`` command
"""

from __future__ import annotations

from framework.sweeps.api import SweepResult as SweepResult
from framework.sweeps.api import sweep as sweep

__all__ = ["SweepResult", "sweep"]
