"""Walk-forward testing: search on a train window, replay the best point on the window after it.

The recording's time span (first to last receive time) is cut into K + 1 equal parts
``P0 .. PK``. Fold ``i`` (1..K) tests on ``Pi`` and trains on:

* **anchored** (the default): ``P0 .. P(i-1)``, everything before the test window, so the train
  window grows fold by fold;
* **rolling**: ``P(i-1)`` only, a train window as long as the test window, sliding forward.

Each fold's search is a full search (grid, samples or trials) restricted to the train window;
its best point is then run once on the test window. Every window is run as
``papertrade run --from ... --to ...`` runs it (``framework.window``): books are primed from the
depth frames before the window, and nothing else from before it reaches the strategy.
The out-of-sample objective is reported next to the in-sample one, per fold.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from framework.errors import ConfigError
from framework.report.output import iso_time
from framework.sweeps.backends import Backend
from framework.sweeps.results import Objective
from framework.sweeps.search import Reporter, Scored, Search, Target, point_scores, run_search
from framework.sweeps.spec import PointResult, RunSpec
from framework.window import Window

__all__ = ["Fold", "FoldResult", "make_folds", "walk_forward"]

WalkMode = Literal["anchored", "rolling"]
_NS = 1_000_000_000


class Fold(msgspec.Struct, frozen=True):
    number: int  # from 1
    train: Window
    test: Window


class FoldResult(msgspec.Struct, kw_only=True):
    """A fold's search, its best point and that point's out-of-sample run."""

    fold: Fold
    search: Scored
    test_spec: RunSpec | None = None
    test_result: PointResult | None = None

    def row(self, objective: Objective) -> dict[str, Any]:
        """The fold's line of walkforward.csv."""
        out_of_sample = None
        if self.test_result is not None and self.test_result.summary is not None:
            scores = point_scores([self.test_spec], [self.test_result], objective)  # type: ignore[list-item]
            out_of_sample = scores[0][1]
        error = self.test_result.error if self.test_result is not None else "no point ran"
        return {
            "fold": self.fold.number,
            "train_from": _iso(self.fold.train.start_ns, "start"),
            "train_to": _iso(self.fold.train.end_ns, "end"),
            "test_from": _iso(self.fold.test.start_ns, "start"),
            "test_to": _iso(self.fold.test.end_ns, "end"),
            **(self.search.best or {}),
            f"in_sample.{objective.stat}": self.search.best_score,
            f"out_of_sample.{objective.stat}": out_of_sample,
            "error": error,
        }


def make_folds(span: tuple[int, int], folds: int, mode: WalkMode) -> list[Fold]:
    """K folds over ``span`` (first and last + 1 receive time, ns; see the module docstring).

    Cuts between windows fall on whole seconds, so that ``papertrade run --from/--to`` with
    the times ``walkforward.csv`` shows replays a fold's window exactly; the first window is
    open at its start and the last at its end.

    Raises:
        ConfigError: fewer than 1 fold, an unknown mode, or a span too short to cut.
    """
    if folds < 1:
        raise ConfigError(f"--folds must be at least 1, got {folds}")
    if mode not in ("anchored", "rolling"):
        raise ConfigError(f"--walk must be anchored or rolling, got {mode!r}")
    start, end = span
    parts = folds + 1
    cuts: list[int | None] = [None]
    for j in range(1, parts):
        cut = start + (end - start) * j // parts
        cuts.append(cut - cut % _NS)
    cuts.append(None)
    inner = [c for c in cuts if c is not None]
    if len(set(inner)) != len(inner) or any(not start < c < end for c in inner):
        raise ConfigError(f"the data is too short to cut into {parts} windows of whole seconds")
    return [
        Fold(
            i,
            Window(start_ns=cuts[0] if mode == "anchored" else cuts[i - 1], end_ns=cuts[i]),
            Window(start_ns=cuts[i], end_ns=cuts[i + 1]),
        )
        for i in range(1, parts)
    ]


def walk_forward(
    search: Search,
    target: Target,
    objective: Objective,
    backend: Backend,
    reporter: Reporter,
    folds: list[Fold],
) -> list[FoldResult]:
    """Run every fold: its search on the train window, then its best point on the test window."""
    out: list[FoldResult] = []
    index = 0
    for fold in folds:
        scored = run_search(
            search, target, objective, backend, reporter,
            window=fold.train, first_index=index, label=f"fold {fold.number} train",
            fold=fold.number,
        )  # fmt: skip
        index += len(scored.specs)
        result = FoldResult(fold=fold, search=scored)
        if scored.best is not None:
            path, digest = target.recordings[0]
            result.test_spec = RunSpec(
                index=index, strategy=target.strategy, params=dict(scored.best), recording=path,
                recording_sha256=digest, seed=target.seed, config=target.config, window=fold.test,
                fold=fold.number, phase="test", record=target.record,
            )  # fmt: skip
            index += 1
            reporter.begin(f"fold {fold.number} test", 1)
            for point in backend.run([result.test_spec]):
                result.test_result = point
                reporter.advance(point, "")
        out.append(result)
    return out


def _iso(ts_ns: int | None, open_side: str) -> str:
    return open_side if ts_ns is None else iso_time(ts_ns)
