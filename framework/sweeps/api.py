"""``framework.sweep(...)``: one call that runs a sweep and returns its rows (for notebooks and
the ``papertrade sweep`` command alike), writing ``sweep.csv``, ``sweep.html`` and the best
point's full run when given an output folder.

Outputs (``out``):

* ``sweep.csv``: one row per run (point x recording; with ``folds``, every fold's train runs
  and its test run), in a deterministic order; every column is reproducible except ``wall_s``;
* ``sweep.html``: the ranked table and, for two varied parameters, a heatmap of the objective;
* ``best/``: the best point's full run (``best/<n>/`` per recording when there are several),
  the same files ``papertrade run`` writes;
* with ``folds``: ``walkforward.csv`` (one line per fold: windows, best point, in-sample and
  out-of-sample objective) and ``folds/<k>/``, each fold's out-of-sample run in full.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from framework.config import load_config
from framework.errors import ConfigError
from framework.report.output import iso_time
from framework.run import load_strategy, sha256_file
from framework.sweeps.backends import Backend, make_backend
from framework.sweeps.database import Recorded, SweepWriter
from framework.sweeps.html import write_html
from framework.sweeps.results import Objective, make_rows, null_note, rank, write_csv
from framework.sweeps.search import Reporter, Scored, Search, Target, run_search
from framework.sweeps.space import Axis, Value, axis_of, check_names, parse_axis
from framework.sweeps.spec import PointResult, RunSpec, set_text
from framework.sweeps.walkforward import FoldResult, make_folds, walk_forward
from framework.sweeps.worker import load_recording, release, run_point, time_span
from framework.window import Window, parse_time

__all__ = ["SweepResult", "sweep"]

DEFAULT_OBJECTIVE = "total_return"


class SweepResult(msgspec.Struct, kw_only=True):
    """What a sweep found.

    Attributes:
        rows: one dict per run, in spec order: ``point``, (``fold``, ``phase``), ``recording``,
            the parameters, every summary statistic, ``fingerprint``, ``events_sha256``,
            ``error`` ("" when it ran) and ``wall_s``.
        ranked: the same rows, best first by the objective.
        best: the best point's parameters (None if no point ran).
        objective: the statistic ranked by, and which way.
        params: the names of the parameters searched.
        folds: with walk-forward, one dict per fold (windows, best point, in- and out-of-sample).
        command: a ``papertrade run`` command line that reproduces the best point's run.
        note: one line when runs that ran have no value for the objective (null): how many,
            why, and, when none has one, the statistics that do; "" otherwise.
    """

    rows: list[dict[str, Any]]
    ranked: list[dict[str, Any]]
    best: dict[str, Value] | None
    objective: Objective
    params: list[str]
    folds: list[dict[str, Any]] = []
    command: str = ""
    note: str = ""


class _Silent:
    def begin(self, label: str, total: int | None) -> None:
        pass

    def advance(self, result: PointResult, best: str) -> None:
        pass


def sweep(
    strategy: str | Path,
    recordings: str | Path | Sequence[str | Path],
    *,
    grid: Mapping[str, str | Sequence[Value]] | Sequence[str] = (),
    samples: int | None = None,
    trials: int | None = None,
    where: str | None = None,
    maximize: str | None = None,
    minimize: str | None = None,
    folds: int | None = None,
    walk: str = "anchored",
    window: tuple[str | int | None, str | int | None] | None = None,
    workers: int | None = None,
    backend: str = "local",
    address: str | None = None,
    config: str | Path | None = None,
    params: Mapping[str, Any] | None = None,
    seed: int | None = None,
    search_seed: int = 1,
    out: str | Path | None = None,
    db: str | Path | None = None,
    name: str | None = None,
    progress: Reporter | None = None,
) -> SweepResult:
    """Run ``strategy`` on ``recordings`` at many parameter points; return the rows.

    Args:
        strategy: ``file.py``, ``file.py:Class`` or ``module:Class``.
        recordings: one recording or several (each point runs on each).
        grid: the axes, ``{"fast": "5:30:5", "slow": [20, 30, 50]}`` or ``["fast=5:30:5"]``.
        samples: run this many distinct grid points drawn at random (seeded by ``search_seed``).
        trials: let Optuna propose this many points (needs ``papertrade[optuna]``).
        where: a constraint between parameters, e.g. ``"fast < slow"``.
        maximize, minimize: the summary statistic to rank by (default: maximize total_return).
        folds: walk-forward with this many folds (one recording); ``walk`` anchored or rolling.
        window: ``(from, to)`` receive times (ISO text or ns; None for open) to keep.
        workers: processes (default: the core count); 1 runs in this process.
        backend: ``local`` or ``ray`` (``address``: ``auto`` or ``ray://HOST:PORT``).
        config: a TOML config file (its ``[params]`` are the defaults of every point).
        params: fixed parameter values for every point (as ``--set``).
        seed: the runs' seed (default: the config's ``run.seed``).
        out: a folder for sweep.csv, sweep.html and the best run; None writes nothing.
        db: a run database (``framework.rundb``): every point's run is written to it, with the
            sweep (table ``sweeps``) and the point's place in it (``sweep_runs``).
        name: the sweep's name in the run database (default: strategy and recordings).
        progress: told of each result as it arrives.

    Raises:
        ConfigError: a bad axis, constraint, objective, window, or option combination.
    """
    axes = _axes(grid)
    if not axes:
        raise ConfigError("nothing to search: give at least one --grid axis")
    if samples is not None and trials is not None:
        raise ConfigError("give --samples or --trials, not both")
    if samples is not None and samples < 1:
        raise ConfigError(f"--samples must be at least 1, got {samples}")
    objective = _objective(maximize, minimize)
    paths = [recordings] if isinstance(recordings, str | Path) else list(recordings)
    if not paths:
        raise ConfigError("give at least one recording (--replay)")
    if folds is not None and len(paths) != 1:
        raise ConfigError("--folds splits one recording in time; give exactly one --replay")
    fixed = {k: set_text(v) for k, v in (params or {}).items()}
    base = load_config(config, fixed)
    cls, _ = load_strategy(str(strategy))
    check_names(axes, cls.params())
    target = Target(
        strategy=str(strategy),
        recordings=tuple((str(p), _hash(Path(p))) for p in paths),
        config=base,
        seed=base.run.seed if seed is None else seed,
        config_path=None if config is None else str(config),
        sets=fixed,
        record=db is not None,
    )
    search = Search(
        axes=tuple(axes), samples=samples, trials=trials, where=where, search_seed=search_seed
    )
    reporter = progress or _Silent()
    span = _window(window)
    names = [a.name for a in axes]
    writer = None
    if db is not None:
        writer = SweepWriter(
            db, name=name or _title(target).removeprefix("Sweep of "), strategy=target.strategy,
            recordings=target.recordings, objective=objective, params=names,
            search=_description(search, folds, walk, span), seed=target.seed,
            out_dir="" if out is None else str(out),
        )  # fmt: skip
    try:
        result = _search(search, target, objective, reporter, span, names, out, folds, walk,
                         make_backend(backend, workers, address), writer)  # fmt: skip
    except BaseException:
        if writer is not None:
            writer.finish(None, "failed")
        raise
    finally:
        release()  # what this process read for the sweep (its best run, the folds' span)
    if writer is not None:
        writer.finish(result.best)
    return result


def _search(
    search: Search,
    target: Target,
    objective: Objective,
    reporter: Reporter,
    span: Window,
    names: list[str],
    out: str | Path | None,
    folds: int | None,
    walk: str,
    backend: Backend,
    writer: SweepWriter | None,
) -> SweepResult:
    pool: Backend = backend if writer is None else Recorded(backend, writer)
    with pool:
        if folds is not None:
            loaded = load_recording(*target.recordings[0])
            first, last = time_span(loaded)
            if span.start_ns is not None:
                first = max(first, span.start_ns)
            if span.end_ns is not None:
                last = min(last, span.end_ns)
            results = walk_forward(
                search,
                target,
                objective,
                pool,
                reporter,
                make_folds((first, last), folds, walk),  # type: ignore[arg-type]
            )
            return _walk_result(results, names, objective, target, out)
        scored = run_search(search, target, objective, pool, reporter, window=span)
    return _sweep_result(scored, names, objective, target, out, span)


def _description(search: Search, folds: int | None, walk: str, span: Window) -> dict[str, Any]:
    """The search as the ``sweeps.search`` column holds it."""
    return {
        "grid": {axis.name: list(axis.values) for axis in search.axes},
        "where": search.where,
        "samples": search.samples,
        "trials": search.trials,
        "search_seed": search.search_seed,
        "folds": folds,
        "walk": walk if folds is not None else None,
        "from_ns": span.start_ns,
        "to_ns": span.end_ns,
    }


def _sweep_result(
    scored: Scored,
    names: list[str],
    objective: Objective,
    target: Target,
    out: str | Path | None,
    window: Window,
) -> SweepResult:
    rows = make_rows(scored.specs, scored.results)
    ranked = rank(rows, objective)
    command = _command(target, scored.best, window) if scored.best is not None else ""
    result = SweepResult(
        rows=rows,
        ranked=ranked,
        best=scored.best,
        objective=objective,
        params=names,
        command=command,
        note=null_note(rows, objective, names),
    )
    if out is not None:
        folder = _folder(out)
        write_csv(folder / "sweep.csv", rows, names)
        write_html(folder / "sweep.html", _title(target), ranked, names, objective)
        if scored.best is not None:
            several = len(target.recordings) > 1
            for n, (path, digest) in enumerate(target.recordings, 1):
                _full_run(target, scored.best, path, digest, window,
                          folder / "best" / (str(n) if several else ""))  # fmt: skip
    return result


def _walk_result(
    results: list[FoldResult],
    names: list[str],
    objective: Objective,
    target: Target,
    out: str | Path | None,
) -> SweepResult:
    specs: list[RunSpec] = []
    points: list[PointResult] = []
    extra: dict[int, dict[str, Any]] = {}
    for fold in results:
        for spec in fold.search.specs:
            extra[spec.index] = {"fold": fold.fold.number, "phase": "train"}
        specs += fold.search.specs
        points += fold.search.results
        if fold.test_spec is not None and fold.test_result is not None:
            extra[fold.test_spec.index] = {"fold": fold.fold.number, "phase": "test"}
            specs.append(fold.test_spec)
            points.append(fold.test_result)
    rows = make_rows(specs, points, extra)
    fold_rows = [f.row(objective) for f in results]
    last = results[-1].search.best if results else None
    result = SweepResult(
        rows=rows, ranked=rank(rows, objective), best=last, objective=objective, params=names,
        folds=fold_rows,
        command=_command(target, last, results[-1].fold.test) if last is not None else "",
        note=null_note(rows, objective, names),
    )  # fmt: skip
    if out is not None:
        folder = _folder(out)
        write_csv(folder / "sweep.csv", rows, names)
        fold_names = list(fold_rows[0]) if fold_rows else ["fold"]
        write_csv(folder / "walkforward.csv", fold_rows, [], fold_names)
        write_html(
            folder / "sweep.html", _title(target), result.ranked, names, objective, fold_rows
        )
        path, digest = target.recordings[0]
        for fold in results:
            if fold.search.best is not None:
                _full_run(target, fold.search.best, path, digest, fold.fold.test,
                          folder / "folds" / str(fold.fold.number))  # fmt: skip
    return result


def _full_run(
    target: Target,
    point: dict[str, Value],
    path: str,
    digest: str,
    window: Window,
    out_dir: Path,
) -> None:
    spec = RunSpec(
        index=0, strategy=target.strategy, params=dict(point), recording=path,
        recording_sha256=digest, seed=target.seed, config=target.config, window=window,
    )  # fmt: skip
    run_point(spec, load_recording(path, digest), out_dir)


def _axes(grid: Mapping[str, str | Sequence[Value]] | Sequence[str]) -> list[Axis]:
    if isinstance(grid, Mapping):
        axes = []
        for name, spec in grid.items():
            if isinstance(spec, str):
                axes.append(parse_axis(f"{name}={spec}", "[sweep] grid"))
            else:
                axes.append(axis_of(name, list(spec)))
    else:
        axes = [parse_axis(text) for text in grid]
    names = [a.name for a in axes]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"--grid names {', '.join(dupes)} more than once")
    return axes


def _objective(maximize: str | None, minimize: str | None) -> Objective:
    if maximize is not None and minimize is not None:
        raise ConfigError("give --maximize or --minimize, not both")
    if minimize is not None:
        return Objective(minimize.strip(), maximize=False)
    return Objective((maximize or DEFAULT_OBJECTIVE).strip(), maximize=True)


def _window(window: tuple[str | int | None, str | int | None] | None) -> Window:
    if window is None:
        return Window()
    start, end = window
    if isinstance(start, int) or isinstance(end, int):
        start_ns = (
            start
            if isinstance(start, int)
            else None
            if start is None
            else parse_time(start, "--from")
        )
        end_ns = end if isinstance(end, int) else None if end is None else parse_time(end, "--to")
        if start_ns is not None and end_ns is not None and end_ns <= start_ns:
            raise ConfigError("the window ends before it starts (--to must be after --from)")
        return Window(start_ns=start_ns, end_ns=end_ns)
    return Window.parse(start, end)


def _hash(path: Path) -> str:
    try:
        return sha256_file(path)
    except OSError as exc:
        raise ConfigError(f"cannot read recording {path}: {exc.strerror or exc}") from None


def _folder(out: str | Path) -> Path:
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot write to output directory {folder}: {exc.strerror}") from exc
    return folder


def _title(target: Target) -> str:
    names = ", ".join(Path(p).name for p, _ in target.recordings)
    return f"Sweep of {target.strategy} on {names}"


def _command(target: Target, point: Mapping[str, Value], window: Window) -> str:
    """The ``papertrade run`` command line of the point's run, its window included."""
    words = ["papertrade", "run", target.strategy, "--replay", target.recordings[0][0]]
    if target.config_path is not None:
        words += ["--config", target.config_path]
    for name, value in {**target.sets, **point}.items():
        words += ["--set", f"{name}={set_text(value)}"]
    words += ["--seed", str(target.seed)]
    if window.start_ns is not None:
        words += ["--from", _iso(window.start_ns)]
    if window.end_ns is not None:
        words += ["--to", _iso(window.end_ns)]
    return shlex.join(words)


def _iso(ts_ns: int) -> str:
    """As the outputs write times, or to the microsecond (what ``--from``/``--to`` read) when a
    millisecond is not enough; fold cuts fall on whole seconds."""
    if ts_ns % 1_000_000 == 0:
        return iso_time(ts_ns)
    seconds, ns = divmod(ts_ns, 1_000_000_000)
    return f"{iso_time(seconds * 1_000_000_000)[:-5]}.{ns // 1000:06d}Z"
