"""Searching: turn a search space into run specs, run them on a backend, keep the best.

Three ways to choose points, one objective to rank them by:

* grid: every point of the axes' product that satisfies ``--where``;
* random (``--samples N``): N distinct points of that grid, drawn with ``--search-seed``;
* model-based (``--trials N``, the ``optuna`` extra): Optuna's TPE sampler, seeded with
  ``--search-seed``, proposes points in rounds of :data:`ROUND` and is told each round's
  objective values before the next. The round size is fixed, not the worker count, so the same
  seed proposes the same points with 1, 2 or 64 workers. A proposal that breaks ``--where`` is
  discarded (up to 100 times the trials asked); one seen before is not run again.

A point on several recordings is scored by the mean of its rows' objective values; a point with
any failed row has no score.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

import msgspec

from framework.config import Config
from framework.errors import ConfigError
from framework.sweeps.backends import Backend
from framework.sweeps.results import Objective, check_objective
from framework.sweeps.space import Axis, Value, grid_points, sample_points
from framework.sweeps.spec import PointResult, RunSpec
from framework.sweeps.where import Where
from framework.window import Window

__all__ = ["ROUND", "Reporter", "Scored", "Search", "Target", "run_search"]

ROUND: Final = 8  # Optuna proposals per round (fixed, so workers do not change the points)
_WHOLE: Final = Window()  # no window: the whole recording


class Search(msgspec.Struct, frozen=True, kw_only=True):
    """How points are chosen."""

    axes: tuple[Axis, ...]
    samples: int | None = None
    trials: int | None = None
    where: str | None = None
    search_seed: int = 1


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """What every point runs on: strategy, recordings (path, hash), config and seed."""

    strategy: str
    recordings: tuple[tuple[str, str], ...]
    config: Config
    seed: int
    config_path: str | None = None  # for the command line that reproduces a point
    sets: dict[str, str] = {}  # fixed parameters (``--set``), likewise
    record: bool = False  # workers send each run's run-database rows back (``--db``)


class Scored(msgspec.Struct, kw_only=True):
    """The specs a search ran, their results, and the best point."""

    specs: list[RunSpec]
    results: list[PointResult]
    best: dict[str, Value] | None = None
    best_score: float | None = None


class Reporter(Protocol):
    """Progress: told the number of points (None while unknown) and each result as it comes."""

    def begin(self, label: str, total: int | None) -> None: ...

    def advance(self, result: PointResult, best: str) -> None: ...


def run_search(
    search: Search,
    target: Target,
    objective: Objective,
    backend: Backend,
    reporter: Reporter,
    *,
    window: Window = _WHOLE,
    first_index: int = 0,
    label: str = "sweep",
    fold: int | None = None,
) -> Scored:
    """Run the search on ``target`` (within ``window``) and score every point; ``fold``: the
    walk-forward fold whose train window this is."""
    where = Where(search.where, frozenset(a.name for a in search.axes)) if search.where else None
    if search.trials is not None:
        return _optuna(
            search, target, objective, backend, reporter, where, window, first_index, label, fold
        )
    if search.samples is not None:
        points = sample_points(search.axes, search.samples, search.search_seed, where)
    else:
        points = grid_points(search.axes, where)
    if not points:
        raise ConfigError(f"no point satisfies --where {search.where!r}")
    scored = Scored(specs=_specs(points, target, window, first_index, fold), results=[])
    reporter.begin(label, len(scored.specs))
    _run(scored, backend, objective, reporter)
    return scored


def point_scores(
    specs: Sequence[RunSpec], results: Sequence[PointResult], objective: Objective
) -> list[tuple[dict[str, Value], float | None]]:
    """Each point (in spec order) with its score: the mean objective over its recordings."""
    by_index = {r.index: r for r in results}
    grouped: dict[str, tuple[dict[str, Value], list[float | None]]] = {}
    for spec in specs:
        result = by_index.get(spec.index)
        value = None
        if result is not None and result.summary is not None:
            value = objective.value(_flat_stat(result.summary, objective.stat))
        key = msgspec.json.encode(spec.params, order="sorted").decode()
        grouped.setdefault(key, (spec.params, []))[1].append(value)
    out: list[tuple[dict[str, Value], float | None]] = []
    for params, values in grouped.values():
        numbers = [v for v in values if v is not None]
        score = math.fsum(numbers) / len(numbers) if len(numbers) == len(values) else None
        out.append((params, score))
    return out


def _run(scored: Scored, backend: Backend, objective: Objective, reporter: Reporter) -> None:
    """Run ``scored``'s specs not yet run, keeping the best point up to date as results arrive."""
    done = {r.index for r in scored.results}
    todo = [s for s in scored.specs if s.index not in done]
    for result in backend.run(todo):
        scored.results.append(result)
        if result.summary is not None:
            check_objective(objective, result.summary)
        value = objective.value(_flat_stat(result.summary or {}, objective.stat))
        if value is not None and (
            scored.best_score is None or objective.better(value, scored.best_score)
        ):
            scored.best_score = value
        reporter.advance(result, "" if scored.best_score is None else f"{scored.best_score:.6g}")
    # The best point by the points' scores, in spec order on ties: independent of arrival order.
    scored.best, scored.best_score = None, None
    for params, score in point_scores(scored.specs, scored.results, objective):
        if score is not None and (
            scored.best_score is None or objective.better(score, scored.best_score)
        ):
            scored.best, scored.best_score = params, score


def _specs(
    points: Sequence[dict[str, Value]],
    target: Target,
    window: Window,
    first: int,
    fold: int | None = None,
) -> list[RunSpec]:
    specs: list[RunSpec] = []
    for point in points:
        for path, digest in target.recordings:
            specs.append(
                RunSpec(
                    index=first + len(specs),
                    strategy=target.strategy,
                    params=dict(point),
                    recording=path,
                    recording_sha256=digest,
                    seed=target.seed,
                    config=target.config,
                    window=window,
                    fold=fold,
                    phase="" if fold is None else "train",
                    record=target.record,
                )
            )
    return specs


def _flat_stat(summary: dict[str, Any], stat: str) -> dict[str, Any]:
    """``{stat: value}`` for a dotted statistic name looked up in the nested summary."""
    value: Any = summary
    for part in stat.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return {stat: value}


def _optuna(
    search: Search,
    target: Target,
    objective: Objective,
    backend: Backend,
    reporter: Reporter,
    where: Where | None,
    window: Window,
    first: int,
    label: str,
    fold: int | None,
) -> Scored:
    optuna = _import_optuna()
    trials = search.trials or 0
    if trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")
    sampler = optuna.samplers.TPESampler(seed=search.search_seed)
    study = optuna.create_study(
        direction="maximize" if objective.maximize else "minimize", sampler=sampler
    )
    suggest = _suggesters(search.axes)
    scored = Scored(specs=[], results=[])
    seen: dict[str, float | None] = {}
    reporter.begin(label, trials)
    asked = discarded = 0
    while asked < trials:
        batch: list[tuple[Any, dict[str, Value]]] = []
        while len(batch) < min(ROUND, trials - asked):
            trial = study.ask()
            point = {axis.name: fn(trial) for axis, fn in suggest}
            if where is not None and not where.holds(point):
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                discarded += 1
                if discarded > 100 * trials:
                    raise ConfigError(f"--where {search.where!r} rejects nearly every proposal")
                continue
            batch.append((trial, point))
            asked += 1
        fresh = [p for _, p in batch if _key(p) not in seen]
        unique = list({_key(p): p for p in fresh}.values())
        new_specs = _specs(unique, target, window, first + len(scored.specs), fold)
        scored.specs.extend(new_specs)
        _run(scored, backend, objective, reporter)
        for params, score in point_scores(new_specs, scored.results, objective):
            seen[_key(params)] = score
        for trial, point in batch:
            score = seen[_key(point)]
            if score is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, score)
    return scored


def _suggesters(axes: Sequence[Axis]) -> list[tuple[Axis, Callable[[Any], Value]]]:
    """Integer ranges as Optuna integers; anything else by index into the axis's values, which
    keeps their order for the sampler and their exact values for the run."""
    return [(axis, _suggester(axis)) for axis in axes]


def _suggester(axis: Axis) -> Callable[[Any], Value]:
    name, low, high, step, values = axis.name, axis.low, axis.high, axis.step, axis.values
    if isinstance(step, int) and isinstance(low, int) and isinstance(high, int):

        def integer(trial: Any) -> Value:
            return int(trial.suggest_int(name, low, high, step=step))

        return integer

    def by_index(trial: Any) -> Value:
        return values[int(trial.suggest_int(name, 0, len(values) - 1))]

    return by_index


def _key(point: dict[str, Value]) -> str:
    return msgspec.json.encode(point, order="sorted").decode()


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ConfigError("--trials needs Optuna: pip install 'papertrade[optuna]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna
